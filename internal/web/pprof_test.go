package web

import (
	"net/http"
	"testing"
)

// TestNoPprof: the console, which faces the users' network, serves none
// of Go's profiling endpoints (only the admin API does, behind its token),
// signed in or not.
func TestNoPprof(t *testing.T) {
	e := newEnv(t)
	agent := e.signIn(t, desk)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline", "/debug/vars"} {
		for _, c := range []*http.Cookie{nil, agent} {
			if w := e.do(t, "GET", p, c, nil); w.Code != http.StatusNotFound {
				t.Errorf("GET %s (signed in: %v) = %d, want 404", p, c != nil, w.Code)
			}
		}
	}
}

package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestDefaultServeMuxEmpty: nothing linked into ticketd leaves a handler
// on http.DefaultServeMux (net/http/pprof registers its profiles there
// when imported, expvar its /debug/vars), which a server with a nil
// Handler would serve to anyone, without the admin token: the profiles
// are served only by the admin API.
func TestDefaultServeMuxEmpty(t *testing.T) {
	for _, p := range []string{"/", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile", "/debug/pprof/cmdline",
		"/debug/pprof/symbol", "/debug/pprof/trace", "/debug/vars", "/metrics", "/healthz"} {
		r := httptest.NewRequest("GET", "http://127.0.0.1:8025"+p, nil)
		if _, pattern := http.DefaultServeMux.Handler(r); pattern != "" {
			t.Errorf("http.DefaultServeMux serves GET %s (pattern %q)", p, pattern)
		}
	}
}

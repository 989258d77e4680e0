package admin

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// pprofPaths are the profiling endpoints of an admin server with Pprof on.
var pprofPaths = []string{
	"/debug/pprof/",
	"/debug/pprof/heap",
	"/debug/pprof/allocs",
	"/debug/pprof/goroutine?debug=1",
	"/debug/pprof/block",
	"/debug/pprof/mutex",
	"/debug/pprof/threadcreate",
	"/debug/pprof/cmdline",
	"/debug/pprof/symbol",
	"/debug/pprof/trace?seconds=0.1",
}

// TestPprofNeedsToken: with Pprof on, every profiling endpoint answers
// 200 to a request with the admin token, and 401 with a JSON error and no
// profile to one without it or with a wrong one.
func TestPprofNeedsToken(t *testing.T) {
	addr, _ := serveOptions(t, ServerOptions{Backend: newLocal(t), Pprof: true})
	for _, p := range pprofPaths {
		if code, _, body := call(t, "GET", "http://"+addr+p, "", bearer(testToken)); code != http.StatusOK || body == "" {
			t.Errorf("GET %s with the token = %d (%d bytes), want 200 and a body", p, code, len(body))
		}
		for name, h := range map[string]map[string]string{"no token": nil, "wrong token": bearer(testToken[1:])} {
			code, hdr, body := call(t, "GET", "http://"+addr+p, "", h)
			if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error"`) {
				t.Errorf("%s: GET %s = %d %q %.80q, want 401 with a JSON error", name, p, code, hdr.Get("Content-Type"), body)
			}
		}
	}
	_, _, index := call(t, "GET", "http://"+addr+"/debug/pprof/", "", bearer(testToken))
	for _, name := range []string{"allocs", "block", "goroutine", "heap", "mutex", "profile", "trace"} {
		if !strings.Contains(index, "href='"+name+"?debug=1'") {
			t.Errorf("the index links no %s profile:\n%s", name, index)
		}
	}
	if _, hdr, heap := call(t, "GET", "http://"+addr+"/debug/pprof/heap", "", bearer(testToken)); len(gunzip(t, "heap", heap)) == 0 {
		t.Error("the heap profile is empty")
	} else if ct := hdr.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("heap profile Content-Type %q, want application/octet-stream", ct)
	}
}

// TestPprofCPUProfile: /debug/pprof/profile?seconds=1 returns a CPU
// profile that go tool pprof reads, as an operator would fetch it with
// curl.
func TestPprofCPUProfile(t *testing.T) {
	addr, _ := serveOptions(t, ServerOptions{Backend: newLocal(t), Pprof: true})
	code, _, body := call(t, "GET", "http://"+addr+"/debug/pprof/profile?seconds=1", "", bearer(testToken))
	if code != http.StatusOK {
		t.Fatalf("GET /debug/pprof/profile?seconds=1 = %d %s", code, body)
	}
	raw := gunzip(t, "cpu", body)
	// The profile's string table names its sample type.
	if !bytes.Contains(raw, []byte("cpu")) || !bytes.Contains(raw, []byte("nanoseconds")) {
		t.Errorf("the CPU profile (%d bytes) names no cpu/nanoseconds sample type", len(raw))
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool pprof to read the profile: %v", err)
	}
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), goBin, "tool", "pprof", "-raw", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "samples/count") || !strings.Contains(string(out), "cpu/nanoseconds") {
		t.Errorf("go tool pprof -raw: %v\n%s", err, out)
	}
}

// TestPprofOff: without Pprof no profiling endpoint is served, even to a
// request with the token.
func TestPprofOff(t *testing.T) {
	addr, _ := serveAPI(t, newLocal(t))
	for _, p := range append(pprofPaths, "/debug/pprof/profile?seconds=1") {
		if code, _, _ := call(t, "GET", "http://"+addr+p, "", bearer(testToken)); code != http.StatusNotFound {
			t.Errorf("GET %s with Pprof off = %d, want 404", p, code)
		}
	}
}

// TestPprofContention: after SampleContention the block profile served
// records a goroutine that waited on a channel, and the runtime samples
// contended mutexes at mutexFraction.
func TestPprofContention(t *testing.T) {
	t.Cleanup(func() { runtime.SetMutexProfileFraction(0); runtime.SetBlockProfileRate(0) })
	SampleContention()
	if got := runtime.SetMutexProfileFraction(-1); got != mutexFraction {
		t.Errorf("mutex profile fraction %d, want %d", got, mutexFraction)
	}
	addr, _ := serveOptions(t, ServerOptions{Backend: newLocal(t), Pprof: true})
	waitOnChannel()
	_, _, body := call(t, "GET", "http://"+addr+"/debug/pprof/block?debug=1", "", bearer(testToken))
	if !strings.Contains(body, "admin.waitOnChannel") {
		t.Errorf("the block profile does not show a 20 ms wait on a channel:\n%s", body)
	}
}

// waitOnChannel blocks for 20 ms receiving from a channel.
func waitOnChannel() {
	ch := make(chan struct{})
	time.AfterFunc(20*time.Millisecond, func() { close(ch) })
	<-ch
}

// gunzip decompresses a profile as served (gzipped protobuf) and fails
// the test when it is not gzip.
func gunzip(t *testing.T, name, body string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s profile (%d bytes) is not gzip: %v", name, len(body), err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s profile: %v", name, err)
	}
	return raw
}

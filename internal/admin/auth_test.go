package admin

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/testlog"
	"github.com/ticketd/ticketd/ticket"
)

// testToken is the token of the servers started by serveAPI.
const testToken = "k8P3vYw0cH2qL9sX5mB7nR1tZ4dF6gJ0aE8uW2oQyTc"

// serveAPI runs the admin API over real HTTP on a loopback port, as the
// daemon does, and returns its address and its log.
func serveAPI(t *testing.T, local *Local) (string, *testlog.Buffer) {
	t.Helper()
	return serveOptions(t, ServerOptions{Backend: local})
}

// serveOptions is serveAPI with opts, whose Token, Listen and Logger it
// sets.
func serveOptions(t *testing.T, opts ServerOptions) (string, *testlog.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	opts.Token, opts.Listen, opts.Logger = testToken, ln.Addr().String(), slog.New(slog.NewTextHandler(logs, nil))
	h, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), logs
}

// call sends one request with the given headers ("Host" sets the Host
// header) and returns the status, the headers and the body.
func call(t *testing.T, method, url, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// protected are the endpoints that read tickets, change something or
// return the store.
var protected = []struct{ method, path, body string }{
	{"GET", "/api/tickets", ""},
	{"GET", "/api/tickets/OTI-2026-000001", ""},
	{"GET", "/api/backup", ""},
	{"GET", "/api/quarantine", ""},
	{"GET", "/api/quarantine/1", ""},
	{"GET", "/api/verify", ""},
	{"POST", "/api/tickets", `{"requester":"ana@unidad.example","subject":"x","body":"y","agent":"agente@oti.example"}`},
	{"POST", "/api/quarantine/1/retry", ""},
	{"GET", "/api/report?from=2026-11-01&to=2026-11-30", ""},
}

// TestAPIRequiresToken: without the token, or with a wrong one, every
// endpoint that reads tickets, changes something or returns the store
// answers 401 with a JSON error, changes nothing, and is logged at warn
// with the caller's address but not the token it sent.
func TestAPIRequiresToken(t *testing.T) {
	local := newLocal(t)
	addr, logs := serveAPI(t, local)
	cases := map[string]map[string]string{
		"no credential":   nil,
		"wrong token":     bearer("k8P3vYw0cH2qL9sX5mB7nR1tZ4dF6gJ0aE8uW2oQyTd"),
		"token prefix":    bearer(testToken[:20]),
		"empty bearer":    {"Authorization": "Bearer "},
		"basic auth":      {"Authorization": "Basic YWRtaW46" + testToken},
		"token not typed": {"Authorization": testToken},
	}
	for name, h := range cases {
		for _, p := range protected {
			hh := map[string]string{"Content-Type": "application/json"}
			for k, v := range h {
				hh[k] = v
			}
			code, hdr, body := call(t, p.method, "http://"+addr+p.path, p.body, hh)
			if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error"`) {
				t.Errorf("%s: %s %s = %d %q %s, want 401 with a JSON error", name, p.method, p.path, code, hdr.Get("Content-Type"), body)
			}
		}
	}
	if ts, err := local.Tickets(t.Context(), ticket.Filter{}); err != nil || len(ts) != 0 {
		t.Errorf("refused requests opened tickets: %v, %v", ts, err)
	}
	log := logs.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "remote=127.0.0.1:") {
		t.Errorf("refusals not logged at warn with the remote address:\n%s", log)
	}
	if strings.Contains(log, testToken[:20]) || strings.Contains(log, "YWRtaW46") {
		t.Errorf("the log shows a token that was sent:\n%s", log)
	}
}

// TestAPIRightToken: with the token, the same endpoints answer.
func TestAPIRightToken(t *testing.T) {
	local := newLocal(t)
	addr, _ := serveAPI(t, local)
	for _, p := range []struct{ method, path, body string }{
		protected[6], protected[0], protected[1], protected[2], protected[3], protected[5],
	} {
		h := bearer(testToken)
		h["Content-Type"] = "application/json"
		if code, _, body := call(t, p.method, "http://"+addr+p.path, p.body, h); code != http.StatusOK {
			t.Errorf("%s %s with the token = %d %s, want 200", p.method, p.path, code, body)
		}
	}
}

// TestPostNeedsJSON: a browser can send a cross-site text/plain, form or
// multipart POST without asking; none of them opens a ticket (so no
// notification is owed either), with or without the token.
func TestPostNeedsJSON(t *testing.T) {
	local := newLocal(t)
	kicked := 0
	local.OnCommit = func() { kicked++ }
	addr, _ := serveAPI(t, local)
	body := protected[6].body
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		for _, h := range []map[string]string{bearer(testToken), nil} {
			hh := map[string]string{"Content-Type": ct}
			for k, v := range h {
				hh[k] = v
			}
			code, _, resp := call(t, "POST", "http://"+addr+"/api/tickets", body, hh)
			want := http.StatusUnsupportedMediaType
			if h == nil {
				want = http.StatusUnauthorized
			}
			if code != want {
				t.Errorf("POST as %q (token %t) = %d %s, want %d", ct, h != nil, code, resp, want)
			}
		}
	}
	if ts, err := local.Tickets(t.Context(), ticket.Filter{}); err != nil || len(ts) != 0 || kicked != 0 {
		t.Errorf("a non-JSON POST opened tickets: %v, %v (outbox kicked %d times)", ts, err, kicked)
	}
	h := bearer(testToken)
	h["Content-Type"] = "application/json; charset=utf-8"
	if code, _, resp := call(t, "POST", "http://"+addr+"/api/tickets", body, h); code != http.StatusOK {
		t.Errorf("POST as application/json; charset=utf-8 = %d %s", code, resp)
	}
}

// TestForeignHostRefused: a page on a name the attacker controls that
// resolves to 127.0.0.1 (DNS rebinding) sends its own Host; refused even
// with the token, while the loopback spellings of the port pass.
func TestForeignHostRefused(t *testing.T) {
	local := newLocal(t)
	addr, _ := serveAPI(t, local)
	_, port, _ := net.SplitHostPort(addr)
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1", "localhost.evil.example:" + port, "192.0.2.7:" + port} {
		for _, path := range []string{"/api/tickets", "/healthz"} {
			h := bearer(testToken)
			h["Host"] = host
			code, _, body := call(t, "GET", "http://"+addr+path, "", h)
			if code != http.StatusMisdirectedRequest || strings.Contains(body, "OTI-") {
				t.Errorf("GET %s with Host %q = %d %s, want 421", path, host, code, body)
			}
		}
	}
	for _, host := range []string{addr, "localhost:" + port, "[::1]:" + port, "LocalHost:" + port} {
		h := bearer(testToken)
		h["Host"] = host
		if code, _, body := call(t, "GET", "http://"+addr+"/api/tickets", "", h); code != http.StatusOK {
			t.Errorf("GET with Host %q = %d %s, want 200", host, code, body)
		}
	}
}

// TestNoCORS: no answer ever carries CORS headers, so a page of another
// origin can neither read an answer nor pass a preflight.
func TestNoCORS(t *testing.T) {
	local := newLocal(t)
	addr, _ := serveAPI(t, local)
	origin := map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization, content-type"}
	for _, m := range []string{"OPTIONS", "GET"} {
		for _, path := range []string{"/api/tickets", "/healthz", "/api/backup"} {
			code, hdr, _ := call(t, m, "http://"+addr+path, "", origin)
			for k := range hdr {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("%s %s: answer carries %s: %s", m, path, k, hdr.Get(k))
				}
			}
			if m == "OPTIONS" && code < 300 {
				t.Errorf("preflight %s = %d, want a refusal", path, code)
			}
		}
	}
	// A browser's cross-site POST, even with a token it somehow had, is refused.
	h := bearer(testToken)
	h["Content-Type"] = "application/json"
	h["Origin"] = "https://evil.example"
	h["Sec-Fetch-Site"] = "cross-site"
	if code, _, _ := call(t, "POST", "http://"+addr+"/api/tickets", protected[6].body, h); code < 400 {
		t.Errorf("cross-site POST = %d, want a refusal", code)
	}
	if ts, _ := local.Tickets(t.Context(), ticket.Filter{}); len(ts) != 0 {
		t.Errorf("a cross-site POST opened %d tickets", len(ts))
	}
}

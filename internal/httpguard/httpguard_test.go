package httpguard

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestHostAllowed(t *testing.T) {
	base, _ := url.Parse("https://soporte.oti.test")
	proxied, _ := url.Parse("http://desk.oti.test:8443/consola")
	cases := []struct {
		listen string
		public *url.URL
		ok, no []string
	}{
		{"127.0.0.1:8025", nil, []string{"127.0.0.1:8025", "localhost:8025", "LOCALHOST:8025", "[::1]:8025", "127.0.0.2:8025"},
			[]string{"evil.example:8025", "127.0.0.1:8026", "127.0.0.1", "", "192.0.2.7:8025", "localhost.evil.example:8025"}},
		{"localhost:80", nil, []string{"localhost", "localhost:80", "127.0.0.1", "[::1]"}, []string{"evil.example", "localhost:8080"}},
		{"[::1]:8025", nil, []string{"[::1]:8025", "localhost:8025", "127.0.0.1:8025"}, []string{"evil.example:8025"}},
		{"0.0.0.0:8025", nil, []string{"192.0.2.7:8025", "[2001:db8::1]:8025", "localhost:8025", "127.0.0.1:8025"},
			[]string{"evil.example:8025", "192.0.2.7:8026", "desk.example:8025"}},
		{":8025", nil, []string{"192.0.2.7:8025", "localhost:8025"}, []string{"evil.example:8025"}},
		{"desk.example:8025", nil, []string{"desk.example:8025", "DESK.example:8025"}, []string{"localhost:8025", "192.0.2.7:8025", "evil.example:8025"}},
		{"unix:/run/ticketd/admin.sock", nil, []string{"ticketd", "localhost"}, []string{"evil.example", "ticketd:80", ""}},
		// Behind a proxy: its host with the scheme's default port or none,
		// and the listen address's loopback spellings.
		{"127.0.0.1:8026", base, []string{"soporte.oti.test", "soporte.oti.test:443", "SOPORTE.oti.test", "127.0.0.1:8026", "localhost:8026"},
			[]string{"soporte.oti.test:80", "soporte.oti.test:8026", "evil.example", "evil.example:8026", "soporte.oti.test.evil.example", "127.0.0.1"}},
		{"127.0.0.1:8026", proxied, []string{"desk.oti.test:8443", "desk.oti.test"}, []string{"desk.oti.test:80", "desk.oti.test:443"}},
	}
	for _, tc := range cases {
		g, err := New(Options{Listen: tc.listen, Public: tc.public, SocketNames: []string{"ticketd"}})
		if err != nil {
			t.Fatalf("New(%q): %v", tc.listen, err)
		}
		for _, h := range tc.ok {
			if !g.HostAllowed(h) {
				t.Errorf("listen %s, public %v: Host %q refused", tc.listen, tc.public, h)
			}
		}
		for _, h := range tc.no {
			if g.HostAllowed(h) {
				t.Errorf("listen %s, public %v: Host %q accepted", tc.listen, tc.public, h)
			}
		}
	}
	if _, err := New(Options{Listen: "8025"}); err == nil {
		t.Error("New accepted a listen address without a port")
	}
}

// TestSetHeaders: every answer gets the policy (the server's, or none at
// all for an API) and the headers that keep it out of frames, sniffing,
// referrers and caches.
func TestSetHeaders(t *testing.T) {
	for csp, want := range map[string]string{"": "default-src 'none'; frame-ancestors 'none'", "default-src 'self'": "default-src 'self'"} {
		g, err := New(Options{Listen: "127.0.0.1:1", CSP: csp})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		g.SetHeaders(h)
		for k, v := range map[string]string{"Content-Security-Policy": want, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin", "Cache-Control": "no-store"} {
			if h.Get(k) != v {
				t.Errorf("CSP %q: %s = %q, want %q", csp, k, h.Get(k), v)
			}
		}
	}
}

// TestCrossOrigin: a browser's cross-site POST is refused, a same-origin
// one, a GET from anywhere and a request of a program (no browser
// headers) are not.
func TestCrossOrigin(t *testing.T) {
	g, err := New(Options{Listen: "127.0.0.1:8026"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, site, origin string
		refused              bool
	}{
		{"POST", "cross-site", "https://evil.example", true},
		{"POST", "", "https://evil.example", true},
		{"POST", "same-origin", "", false},
		{"POST", "", "", false},
		{"GET", "cross-site", "https://evil.example", false},
	} {
		r := httptest.NewRequest(tc.method, "http://127.0.0.1:8026/login", nil)
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if err := g.CrossOrigin(r); (err != nil) != tc.refused {
			t.Errorf("%s Sec-Fetch-Site %q Origin %q: %v, want refused %t", tc.method, tc.site, tc.origin, err, tc.refused)
		}
	}
}

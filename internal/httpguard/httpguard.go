// Package httpguard holds the checks the daemon's two HTTP servers (the
// admin API, internal/admin, and the web console, internal/web) make on
// every request before it reaches a handler: the Host header must name the
// server (against DNS rebinding), a request other than GET or HEAD must not
// come from another site (Sec-Fetch-Site, Origin: the standard library's
// [http.CrossOriginProtection]), and every answer carries the security
// headers that keep it out of frames, sniffing, referrers and caches. It
// does no I/O.
package httpguard

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Options configures [New]. Listen is required.
type Options struct {
	// Listen is the address the server listens on, as configured:
	// "host:port", or "unix:/path" for a unix socket.
	Listen string
	// Public, when set, is the address people reach the server at (a
	// reverse proxy's, such as web.base_url): its host, with its port or
	// the scheme's default, is accepted too.
	Public *url.URL
	// SocketNames are the Host values accepted on a unix socket besides
	// "localhost" (what curl --unix-socket sends).
	SocketNames []string
	// CSP is the Content-Security-Policy of every answer; "" means
	// "default-src 'none'; frame-ancestors 'none'", which lets an answer
	// load nothing and be framed nowhere (right for an API).
	CSP string
}

// Guard makes the checks of one server. It is safe for concurrent use.
type Guard struct {
	host  func(string) bool
	cross *http.CrossOriginProtection
	csp   string
}

// New returns the guard of opts, or an error when opts.Listen is neither
// host:port nor unix:/path.
func New(opts Options) (*Guard, error) {
	host, err := hosts(opts)
	if err != nil {
		return nil, err
	}
	csp := opts.CSP
	if csp == "" {
		csp = "default-src 'none'; frame-ancestors 'none'"
	}
	return &Guard{host: host, cross: http.NewCrossOriginProtection(), csp: csp}, nil
}

// SetHeaders sets the security headers on an answer: the guard's
// Content-Security-Policy, no framing, no content sniffing, no Referer
// (status links carry their capability in the path), its own browsing
// context, and no caching. A handler may replace them for its answer.
func (g *Guard) SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", g.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// HostAllowed reports whether a request's Host header names this server.
// A page whose own host name an attacker made resolve to 127.0.0.1 (DNS
// rebinding) sends that name, so only these are accepted: the Public
// host (with its port, or none); the listen host itself; for a loopback
// listen address any loopback spelling of its port (localhost, 127.0.0.1,
// [::1]); for a wildcard one (0.0.0.0, [::], :port) any IP address or
// localhost with its port, which no rebinding can produce; on a unix
// socket, localhost and the SocketNames.
func (g *Guard) HostAllowed(host string) bool { return g.host(host) }

// CrossOrigin returns an error when r is a cross-site request other than
// GET, HEAD or OPTIONS, as a browser marks it (see
// [http.CrossOriginProtection.Check]); nil otherwise.
func (g *Guard) CrossOrigin(r *http.Request) error { return g.cross.Check(r) }

func hosts(opts Options) (func(string) bool, error) {
	if strings.HasPrefix(opts.Listen, "unix:") {
		names := append([]string{"localhost"}, opts.SocketNames...)
		return func(host string) bool {
			return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(host, n) })
		}, nil
	}
	lhost, lport, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", opts.Listen, err)
	}
	var phost, pport string
	if u := opts.Public; u != nil {
		phost, pport = u.Hostname(), u.Port()
		if pport == "" {
			pport = map[string]string{"https": "443", "http": "80"}[u.Scheme]
		}
	}
	lip := net.ParseIP(lhost)
	return func(host string) bool {
		h, port, err := net.SplitHostPort(host)
		if err != nil { // no port: the scheme's default (RFC 9110 §7.2)
			h, port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ""
		}
		if phost != "" && strings.EqualFold(h, phost) && (port == "" || port == pport) {
			return true
		}
		if port == "" {
			port = "80"
		}
		if port != lport {
			return false
		}
		ip := net.ParseIP(h)
		switch {
		case strings.EqualFold(h, lhost):
			return true
		case lhost == "" || lip != nil && lip.IsUnspecified():
			return ip != nil || isLoopbackName(h)
		case isLoopbackName(lhost) || lip != nil && lip.IsLoopback():
			return isLoopbackName(h) || ip != nil && ip.IsLoopback()
		}
		return false
	}, nil
}

func isLoopbackName(h string) bool { return strings.EqualFold(h, "localhost") }

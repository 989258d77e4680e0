package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ticketd/ticketd/internal/httpguard"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

// Health is what GET /healthz reports.
type Health struct {
	Healthy bool   `json:"healthy"`
	Reason  string `json:"reason,omitempty"`
	// Connected says whether the mailbox connection is up.
	Connected bool `json:"connected"`
	// LastFetch is the end of the last successful look at the mailbox.
	LastFetch time.Time `json:"last_fetch,omitzero"`
	// LastMail is when the last mail was committed.
	LastMail time.Time `json:"last_mail,omitzero"`
	// OldestUnprocessed is the arrival of the oldest mail seen on the
	// server but not yet processed (zero when none is known).
	OldestUnprocessed time.Time `json:"oldest_unprocessed,omitzero"`
	Reconnects        int       `json:"imap_reconnects"`
	OutboxDepth       int       `json:"outbox_depth"`
	// OutboxOldestAge is the age in seconds of the oldest pending
	// notification.
	OutboxOldestAge float64 `json:"outbox_oldest_age_seconds"`
	// OutboxStuck says the oldest pending notification is older than
	// outbox.stuck_after.
	OutboxStuck bool `json:"outbox_stuck"`
	// SMTPUnavailable is the SMTP server's error while it takes no mail.
	SMTPUnavailable string `json:"smtp_unavailable,omitempty"`
	// AlertsUnsent counts the alerts to admin.alert_to not mailed yet.
	AlertsUnsent int `json:"alerts_unsent"`
	Quarantine   int `json:"quarantine"`
}

// ServerOptions configures [NewServer].
type ServerOptions struct {
	Backend Backend
	// Health computes the health report; nil means always healthy.
	Health   func(ctx context.Context) Health
	Gatherer prometheus.Gatherer
	// Token is the secret every request but /healthz and /metrics must
	// carry as "Authorization: Bearer <token>" (see [LoadOrCreateToken]).
	// Required.
	Token string
	// Listen is the address the server listens on, as configured
	// (admin.listen: "host:port" or "unix:/path"); requests whose Host
	// header names another server are refused (see [NewServer]). Required.
	Listen string
	// Pprof serves Go's profiling endpoints under /debug/pprof/ (behind
	// the token, like every route but /healthz and /metrics); false, the
	// zero value, serves none of them.
	Pprof  bool
	Logger *slog.Logger
}

// NewServer returns the admin API as an http.Handler:
//
//	GET  /healthz                      health (503 when unhealthy)
//	GET  /metrics                      Prometheus metrics
//	GET  /api/tickets?state=&level=&group=
//	GET  /api/tickets/{id}
//	POST /api/tickets                  open a ticket (phone request)
//	GET  /api/quarantine
//	GET  /api/quarantine/{id}
//	POST /api/quarantine/{id}/retry
//	GET  /api/aside                    every mail that did not become a ticket change
//	GET  /api/aside/{sha256}/raw       the raw mail of one of them
//	GET  /api/verify
//	GET  /api/backup                   a consistent copy of the store
//	GET  /api/report?from=&to=&by=     the indicators of a period
//	GET  /debug/pprof/...              Go's profiles (only with opts.Pprof)
//
// Every request is refused with 421 when its Host header does not name
// opts.Listen: a web page whose own host name an attacker made resolve to
// 127.0.0.1 (DNS rebinding) sends that name. A loopback listen address
// also accepts the other loopback spellings of its port (localhost,
// 127.0.0.1, [::1]); a wildcard one (0.0.0.0, [::], :port) accepts any IP
// address with its port, which no rebinding can produce; a unix socket
// accepts "ticketd" (what [Client] sends) and "localhost" (curl's
// --unix-socket). Every request but GET /healthz and GET /metrics, which
// show no ticket content, needs the token, or gets 401 and a warning in
// the log with the caller's address. A request other than GET or HEAD
// must be a same-origin one (browsers mark cross-site requests) and carry
// Content-Type application/json, or it gets 403 or 415: a web page can
// send text/plain or form posts anywhere without asking, never JSON. No
// answer carries CORS headers, and no GET changes anything. Every answer
// carries the security headers of package internal/httpguard (a policy
// that loads nothing, no framing, no sniffing, no caching).
//
// NewServer returns an error when opts.Token or opts.Listen is empty.
func NewServer(opts ServerOptions) (http.Handler, error) {
	if opts.Token == "" {
		return nil, errors.New("admin: the server needs a token")
	}
	guard, err := httpguard.New(httpguard.Options{Listen: opts.Listen, SocketNames: []string{unixHost}})
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &server{b: opts.Backend, health: opts.Health, log: log.With("component", "admin"),
		tokenSum: sha256.Sum256([]byte(opts.Token)), guard: guard}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	if opts.Gatherer != nil {
		// Uncompressed: the answer is a few kB, read over loopback or the
		// unix socket, while gzip takes a new compressor of about 0.9 MB
		// per scrape whenever a GC has emptied promhttp's pool (measured
		// live in the daemon's heap while the load tool scraped it).
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{DisableCompression: true}))
	}
	mux.HandleFunc("GET /api/tickets", s.tickets)
	mux.HandleFunc("GET /api/tickets/{id}", s.ticket)
	mux.HandleFunc("POST /api/tickets", s.open)
	mux.HandleFunc("GET /api/quarantine", s.quarantine)
	mux.HandleFunc("GET /api/quarantine/{id}", s.quarantineShow)
	mux.HandleFunc("POST /api/quarantine/{id}/retry", s.quarantineRetry)
	mux.HandleFunc("GET /api/aside", s.aside)
	mux.HandleFunc("GET /api/aside/{sha256}/raw", s.raw)
	mux.HandleFunc("GET /api/verify", s.verify)
	mux.HandleFunc("GET /api/backup", s.backup)
	mux.HandleFunc("GET /api/report", s.report)
	if opts.Pprof {
		handlePprof(mux)
	}
	s.mux = mux
	return s, nil
}

type server struct {
	b        Backend
	health   func(ctx context.Context) Health
	log      *slog.Logger
	mux      *http.ServeMux
	tokenSum [sha256.Size]byte
	guard    *httpguard.Guard
}

// ServeHTTP sets the security headers and checks the Host, the token,
// the origin and the content type, in that order, before the request
// reaches its handler.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.guard.SetHeaders(w.Header())
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	open := safe && (r.URL.Path == "/healthz" || r.URL.Path == "/metrics")
	switch {
	case !s.guard.HostAllowed(r.Host):
		s.refuse(w, r, http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not this server's address", r.Host))
	case !open && !s.authorized(r):
		w.Header().Set("WWW-Authenticate", `Bearer realm="ticketd"`)
		s.refuse(w, r, http.StatusUnauthorized, "missing or wrong admin token (Authorization: Bearer, the content of admin.token_file)")
	case !safe && s.guard.CrossOrigin(r) != nil:
		s.refuse(w, r, http.StatusForbidden, "cross-origin request")
	case !safe && !isJSON(r.Header.Get("Content-Type")):
		s.refuse(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	default:
		s.mux.ServeHTTP(w, r)
	}
}

// authorized reports whether r carries the token. Comparing the hashes
// takes the same time whatever the token sent, its length included.
func (s *server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	// RFC 6750 §2.1, RFC 9110 §11.1: the scheme is case-insensitive.
	const scheme = "bearer "
	if len(auth) <= len(scheme) || !strings.EqualFold(auth[:len(scheme)], scheme) {
		return false
	}
	sum := sha256.Sum256([]byte(auth[len(scheme):]))
	return subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
}

// refuse answers a request that did not pass the checks, and logs it with
// who sent it (never what credential it carried).
func (s *server) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	s.log.Warn("admin request refused", "status", code, "reason", why, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
	writeJSON(w, code, map[string]string{"error": why})
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// LocalOnly reports whether the admin API on addr (admin.listen) can be
// reached only from this machine: a unix socket, or a loopback host
// (localhost, 127.0.0.0/8, ::1). An empty addr (API disabled) is local.
// A wildcard or any other host may be reachable from the network.
func LocalOnly(addr string) bool {
	if addr == "" || strings.HasPrefix(addr, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	h := Health{Healthy: true}
	if s.health != nil {
		h = s.health(r.Context())
	}
	code := http.StatusOK
	if !h.Healthy {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

// ParseFilter reads a ticket filter from its textual form; it is shared by
// the HTTP API and the command line so both accept the same values.
func ParseFilter(state, level, group string) (ticket.Filter, error) {
	var f ticket.Filter
	if state != "" {
		st, err := ticket.ParseState(state)
		if err != nil {
			return f, err
		}
		f.State = st
	}
	if level != "" {
		n, err := strconv.Atoi(level)
		if err != nil || !ticket.Level(n).Valid() {
			return f, fmt.Errorf("level %q must be 1, 2 or 3", level)
		}
		f.Level = ticket.Level(n)
	}
	f.Group = strings.ToLower(group)
	return f, nil
}

// ParseDueFilter adds to f the due fields of their textual form: overdue
// ("", "true" or "false") and within (a duration such as 2h or 30m, ""
// for none); shared by the HTTP API and the command line.
func ParseDueFilter(f ticket.Filter, overdue, within string) (ticket.Filter, error) {
	if overdue != "" {
		b, err := strconv.ParseBool(overdue)
		if err != nil {
			return f, fmt.Errorf("overdue %q must be true or false", overdue)
		}
		f.Overdue = b
	}
	if within != "" {
		d, err := time.ParseDuration(within)
		if err != nil || d <= 0 {
			return f, fmt.Errorf("due within %q must be a positive duration such as 2h or 30m", within)
		}
		f.DueWithin = d
	}
	return f, nil
}

func (s *server) tickets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := ParseFilter(q.Get("state"), q.Get("level"), q.Get("group"))
	if err == nil {
		f, err = ParseDueFilter(f, q.Get("overdue"), q.Get("due_within"))
	}
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	ts, err := s.b.Tickets(r.Context(), f)
	s.reply(w, ts, err)
}

func (s *server) ticket(w http.ResponseWriter, r *http.Request) {
	t, err := s.b.Ticket(r.Context(), ticket.ID(r.PathValue("id")))
	s.reply(w, t, err)
}

func (s *server) open(w http.ResponseWriter, r *http.Request) {
	var req OpenRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("decode request: %w", err))
		return
	}
	res, err := s.b.Open(r.Context(), req)
	s.reply(w, res, err)
}

func (s *server) quarantine(w http.ResponseWriter, r *http.Request) {
	qs, err := s.b.Quarantine(r.Context())
	s.reply(w, qs, err)
}

func (s *server) quarantineShow(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("quarantine id %q is not a number", r.PathValue("id")))
		return
	}
	d, err := s.b.QuarantineShow(r.Context(), id)
	s.reply(w, d, err)
}

func (s *server) quarantineRetry(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("quarantine id %q is not a number", r.PathValue("id")))
		return
	}
	res, err := s.b.QuarantineRetry(r.Context(), id)
	s.reply(w, res, err)
}

func (s *server) verify(w http.ResponseWriter, r *http.Request) {
	rep, err := s.b.Verify(r.Context())
	s.reply(w, rep, err)
}

func (s *server) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := s.b.Backup(r.Context(), w); err != nil {
		s.log.Error("backup failed", "err", err)
	}
}

func (s *server) reply(w http.ResponseWriter, v any, err error) {
	switch {
	case errors.Is(err, record.ErrNotFound):
		s.fail(w, http.StatusNotFound, err)
	case errors.Is(err, ErrNoServiceLevels):
		s.fail(w, http.StatusConflict, err)
	case err != nil:
		s.fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *server) fail(w http.ResponseWriter, code int, err error) {
	if code >= 500 {
		s.log.Error("admin request failed", "err", err)
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

// Listen opens the admin listener: "host:port" for TCP or "unix:/path" for
// a unix socket (a stale socket file is replaced).
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			l.Close()
			return nil, fmt.Errorf("restrict socket %s: %w", path, err)
		}
		return l, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return l, nil
}

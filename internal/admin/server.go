package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ticketd/ticketd/internal/store"
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
	Quarantine      int     `json:"quarantine"`
}

// ServerOptions configures [NewServer].
type ServerOptions struct {
	Backend Backend
	// Health computes the health report; nil means always healthy.
	Health   func(ctx context.Context) Health
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
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
//	GET  /api/verify
//	GET  /api/backup                   a consistent copy of the store
func NewServer(opts ServerOptions) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &server{b: opts.Backend, health: opts.Health, log: log.With("component", "admin")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	if opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /api/tickets", s.tickets)
	mux.HandleFunc("GET /api/tickets/{id}", s.ticket)
	mux.HandleFunc("POST /api/tickets", s.open)
	mux.HandleFunc("GET /api/quarantine", s.quarantine)
	mux.HandleFunc("GET /api/quarantine/{id}", s.quarantineShow)
	mux.HandleFunc("POST /api/quarantine/{id}/retry", s.quarantineRetry)
	mux.HandleFunc("GET /api/verify", s.verify)
	mux.HandleFunc("GET /api/backup", s.backup)
	return mux
}

type server struct {
	b      Backend
	health func(ctx context.Context) Health
	log    *slog.Logger
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
func ParseFilter(state, level, group string) (store.Filter, error) {
	var f store.Filter
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

func (s *server) tickets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := ParseFilter(q.Get("state"), q.Get("level"), q.Get("group"))
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
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, http.StatusNotFound, err)
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

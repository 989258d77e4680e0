// Package web is the desk's read-only web console, served by the daemon
// itself: the queues of open tickets per level and group (updated live by
// server-sent events when a mail is committed), each case with its whole
// history, attachments and raw mails, a search, the indicators of
// internal/report, and each requester's status page. It changes no ticket:
// every change still happens by mail, where senders are authenticated and
// commands are authorised by level; its only form asks for a sign-in link.
//
// Staff sign in with a one-time link sent by mail ([Server] records each
// link's use in the store, so it works once and for 15 minutes), or through
// a header set by a trusted single-sign-on proxy. What a person sees is what
// the procedure lets them see: the service desk (level 1) sees every
// ticket, level-2 and level-3 members the tickets at their levels and those
// they worked on (Options.StaffSeeAll widens it to every ticket). A
// requester reaches her ticket's status page by a capability link
// ([StatusToken]) and sees its state and its public history only.
//
// Every answer carries a strict Content-Security-Policy (no inline script,
// nothing from elsewhere), refuses framing and referrers; requests naming
// another host are refused (DNS rebinding), and so is any cross-site
// request that is not a GET (Sec-Fetch-Site, Origin): the checks of
// package internal/httpguard, shared with the admin API.
// Pages are html/template files embedded in the binary, with one local
// script and one style sheet. Handlers read through [Store], declared here
// and implemented by internal/store.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/httpguard"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/ticket"
)

// Tx is what the console reads and writes of the storage in one
// transaction. Writes are the login links' records only.
type Tx interface {
	// Queues returns the tickets f and p select queue by queue (level,
	// group), each with its count and the page p asks for, without
	// history; and the categories of the tickets f selects.
	Queues(f ticket.Filter, p ticket.Page) (ticket.Listing, error)
	// Each calls fn with each ticket f selects, without its history,
	// oldest first; the ticket is overwritten after fn returns.
	Each(f ticket.Filter, fn func(*ticket.Ticket) error) error
	// Ticket reads ticket id with its history; the error wraps
	// record.ErrNotFound when there is none.
	Ticket(id ticket.ID) (*ticket.Ticket, error)
	// Touched calls fn with each ticket, with its history, that may have
	// an entry within [from, to), one history at a time.
	Touched(from, to time.Time, fn func(*ticket.Ticket) error) error
	// PutLoginLink records or updates a login link by its hash.
	PutLoginLink(l record.LoginLink) error
	// LoginLink returns the login link of hash (record.ErrNotFound when
	// there is none).
	LoginLink(hash string) (record.LoginLink, error)
}

// Store runs transactions over [Tx].
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
}

// Mailer delivers one mail (the login links); *notify.Sender is one.
type Mailer interface {
	Send(ctx context.Context, msg *mail.Msg) error
}

// Reports computes the indicators of a period; *admin.Reports is one.
type Reports interface {
	Report(ctx context.Context, req admin.ReportRequest) (report.Report, error)
}

// Blobs opens a stored raw mail or attachment by its SHA-256;
// *blob.Store is one.
type Blobs interface {
	Open(sha256 string) (io.ReadCloser, error)
}

// Options configures [New]. Store, Desk, Blobs, Mailer, From, Listen and
// BaseURL are required.
type Options struct {
	Store   Store
	Desk    *ticket.Desk
	Blobs   Blobs
	Mailer  Mailer
	Reports Reports // nil: no indicators page
	// From is the From of the login mails (smtp.from).
	From ticket.Address
	// Support is where the actions' mails go (smtp.support_address);
	// ReplyTo, when set, gives a person's own reply address for a ticket
	// (reply tokens) instead.
	Support string
	ReplyTo func(id ticket.ID, addr string) string
	// Prefix is the ticket ID prefix (ticket.id_prefix).
	Prefix string
	// Listen is web.listen, BaseURL web.base_url: requests must name one
	// of their hosts.
	Listen, BaseURL string
	// SessionIdle ends a session unused for that long; zero means 8h.
	SessionIdle time.Duration
	// StatusKey is the secret of the requesters' status links; nil turns
	// the status page off.
	StatusKey []byte
	// TrustedHeader, from a peer in TrustedProxies, names the signed-in
	// address; "" turns it off.
	TrustedHeader  string
	TrustedProxies []netip.Prefix
	// StaffSeeAll lets every staff member see every ticket.
	StaffSeeAll bool
	// Lang is "en" for English, anything else Spanish (ticket.lang).
	Lang string
	// Location is the zone of the times shown (ticket.timezone); nil
	// means UTC.
	Location *time.Location
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Server is the console: an http.Handler, and [Server.Run] serves it.
// It is safe for concurrent use.
type Server struct {
	o        Options
	log      *slog.Logger
	mux      *http.ServeMux
	base     *url.URL
	guard    *httpguard.Guard
	pages    map[string]*template.Template
	w        words
	sessions *sessions
	limits   *limiter
	logins   chan string // addresses that asked for a link, for the mailer

	mu      sync.Mutex
	version uint64        // counts Changed calls
	changed chan struct{} // closed and replaced at each Changed
	done    chan struct{} // closed when Run stops: ends the event streams
}

//go:embed assets
var assets embed.FS

// New returns the console of opts, or an error naming what is missing.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Desk == nil || opts.Blobs == nil || opts.Mailer == nil || opts.From.Addr == "" {
		return nil, errors.New("web: Store, Desk, Blobs, Mailer and From are required")
	}
	base, err := url.Parse(opts.BaseURL)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("web: base URL %q is not an absolute URL", opts.BaseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	guard, err := httpguard.New(httpguard.Options{Listen: opts.Listen, Public: base, CSP: csp})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 8 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{o: opts, log: opts.Logger.With("component", "web"), base: base, guard: guard, w: wordsFor(opts.Lang), sessions: newSessions(),
		limits: newLimiter(), logins: make(chan string, 64), changed: make(chan struct{}), done: make(chan struct{})}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("GET /static/", http.FileServerFS(staticFS()))
	m.HandleFunc("GET /login", s.loginForm)
	m.HandleFunc("POST /login", s.loginAsk)
	m.HandleFunc("GET /login/{token}", s.loginConfirm)
	m.HandleFunc("POST /login/{token}", s.loginUse)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("GET /s/{token}", s.status)
	m.HandleFunc("GET /{$}", s.staff(s.queues))
	m.HandleFunc("GET /events", s.staff(s.events))
	m.HandleFunc("GET /t/{id}", s.staff(s.ticketPage))
	m.HandleFunc("GET /t/{id}/file/{sha}", s.staff(s.attachment))
	m.HandleFunc("GET /t/{id}/raw/{seq}", s.staff(s.raw))
	m.HandleFunc("GET /search", s.staff(s.search))
	m.HandleFunc("GET /reports", s.staff(s.reports))
	m.HandleFunc("GET /reports/page", s.staff(s.reportPage))
	m.HandleFunc("GET /reports/csv", s.staff(s.reportCSV))
	s.mux = m
}

// csp is every page's policy but the report's frame: only this server's
// scripts, styles and images, no plugin, no framing, forms to itself.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP checks the Host and the origin, sets the security headers and
// hands the request to its page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Among them no-referrer: status links carry their capability in the
	// path, never leak it.
	s.guard.SetHeaders(w.Header())
	switch {
	case !s.guard.HostAllowed(r.Host):
		s.log.Warn("web request refused", "reason", "host", "host", r.Host, "remote", r.RemoteAddr)
		http.Error(w, "421 misdirected request: host "+r.Host+" is not this server", http.StatusMisdirectedRequest)
	case s.guard.CrossOrigin(r) != nil:
		s.log.Warn("web request refused", "reason", "cross-origin", "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "403 cross-origin request refused", http.StatusForbidden)
	default:
		s.mux.ServeHTTP(w, r)
	}
}

// Changed tells the open pages that a commit changed tickets; they
// reload their content. It does not block.
func (s *Server) Changed() {
	s.mu.Lock()
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) wait() (uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.changed
}

// events streams server-sent events (text/event-stream): "change" after
// each commit, a comment every 25s to keep proxies from closing it. It
// ends when the client goes away or the server stops.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ user) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	fmt.Fprint(w, "retry: 5000\n\n")
	fl.Flush()
	keep := time.NewTicker(25 * time.Second)
	defer keep.Stop()
	for {
		v, ch := s.wait()
		select {
		case <-ch:
			fmt.Fprintf(w, "event: change\ndata: %d\n\n", v+1)
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		fl.Flush()
	}
}

// Run listens on Options.Listen and serves the console until ctx ends,
// mailing the login links asked for meanwhile; then it ends the event
// streams and lets the requests in hand finish for a few seconds. It
// returns an error when it cannot listen. Run is called once.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.Listen)
	if err != nil {
		return fmt.Errorf("web console: listen on %s: %w", s.o.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is [Server.Run] on an open listener, which it closes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	mailed := make(chan struct{})
	mailCtx, stopMail := context.WithCancel(context.WithoutCancel(ctx))
	go func() { defer close(mailed); s.mailLinks(mailCtx) }()
	s.log.Info("web console listening", "addr", ln.Addr().String(), "base_url", s.base.String())
	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	close(s.done)
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if srv.Shutdown(shut) != nil {
		srv.Close()
	}
	if err == nil {
		if err = <-served; errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	stopMail()
	<-mailed
	return err
}

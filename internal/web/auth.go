package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

// LinkTTL is how long a login link is valid.
const LinkTTL = 15 * time.Minute

// cookieName is the session cookie's name.
const cookieName = "ticketd_session"

// user is who a request is from: a staff address, normalised.
type user struct {
	Addr string
	Name string
}

// sessions are the signed-in sessions, in memory: a restart signs
// everyone out (they ask for a new link), which keeps no session secret on
// disk. Keys are the SHA-256 of the cookie's value.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

type session struct {
	addr string
	last time.Time
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

// create starts a session for addr and returns the cookie's value.
func (ss *sessions) create(addr string, now time.Time) string {
	v := randomToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.m[hashHex(v)] = &session{addr: addr, last: now}
	return v
}

// get returns the address of the session of cookie value v, used now,
// and forgets sessions idle for more than idle.
func (ss *sessions) get(v string, now time.Time, idle time.Duration) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, x := range ss.m {
		if now.Sub(x.last) > idle {
			delete(ss.m, k)
		}
	}
	x, ok := ss.m[hashHex(v)]
	if !ok {
		return "", false
	}
	x.last = now
	return x.addr, true
}

func (ss *sessions) end(v string) {
	ss.mu.Lock()
	delete(ss.m, hashHex(v))
	ss.mu.Unlock()
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// limiter counts the login links asked for per address and per client
// within a window.
type limiter struct {
	mu   sync.Mutex
	hits map[string][]time.Time
}

// Limits of the login form within limitWindow.
const (
	limitWindow  = 15 * time.Minute
	limitPerAddr = 3
	limitPerIP   = 10
)

func newLimiter() *limiter { return &limiter{hits: map[string][]time.Time{}} }

// allow records a hit on key at now and reports whether it stays within
// max hits in the window.
func (l *limiter) allow(key string, max int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, hs := range l.hits { // forget the old ones
		hs = slices.DeleteFunc(hs, func(t time.Time) bool { return now.Sub(t) >= limitWindow })
		if len(hs) == 0 {
			delete(l.hits, k)
		} else {
			l.hits[k] = hs
		}
	}
	if len(l.hits[key]) >= max {
		return false
	}
	l.hits[key] = append(l.hits[key], now)
	return true
}

// clientIP is the address of the peer (the proxy, behind one).
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

// who returns the staff member a request is from: the trusted header from
// a trusted proxy, else the session cookie.
func (s *Server) who(r *http.Request) (user, bool) {
	dir := s.o.Desk.Directory()
	if s.o.TrustedHeader != "" {
		if v := r.Header.Get(s.o.TrustedHeader); v != "" {
			ip := clientIP(r)
			if slices.ContainsFunc(s.o.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(ip) }) {
				addr := ticket.NormalizeAddr(v)
				if dir.IsStaff(addr) {
					return user{Addr: addr, Name: dir.DisplayName(addr)}, true
				}
				return user{}, false
			}
			s.log.Warn("trusted header ignored from an untrusted peer", "header", s.o.TrustedHeader, "remote", r.RemoteAddr)
		}
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return user{}, false
	}
	addr, ok := s.sessions.get(c.Value, s.o.Now(), s.o.SessionIdle)
	if !ok || !dir.IsStaff(addr) { // removed from the groups since: signed out
		return user{}, false
	}
	return user{Addr: addr, Name: dir.DisplayName(addr)}, true
}

// staff wraps a page only signed-in staff may see: others are sent to
// /login (303) or, for the event stream, refused (401).
func (s *Server) staff(page func(http.ResponseWriter, *http.Request, user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.who(r)
		if !ok {
			if r.URL.Path == "/events" || strings.HasPrefix(r.URL.Path, "/t/") && strings.Count(r.URL.Path, "/") > 2 {
				http.Error(w, "401 sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		page(w, r, u)
	}
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", nil, nil)
}

// loginAsk takes an address and answers the same page whoever it is:
// the link is made and mailed by [Server.mailLinks], off the request, so
// that neither the answer nor its timing says who is staff.
func (s *Server) loginAsk(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	raw := strings.TrimSpace(r.PostFormValue("email"))
	a, err := mail.ParseAddress(raw)
	if err != nil || raw == "" {
		s.render(w, r, http.StatusBadRequest, "login", nil, map[string]any{"Error": s.w["login_bad"]})
		return
	}
	addr, now := ticket.NormalizeAddr(a.Address), s.o.Now()
	if !s.limits.allow("ip:"+clientIP(r).String(), limitPerIP, now) || !s.limits.allow("addr:"+addr, limitPerAddr, now) {
		s.log.Warn("login link refused: too many requests", "remote", r.RemoteAddr)
		s.render(w, r, http.StatusTooManyRequests, "login", nil, map[string]any{"Error": s.w["login_limit"]})
		return
	}
	select {
	case s.logins <- addr:
	default:
		s.log.Warn("login link dropped: too many waiting", "remote", r.RemoteAddr)
	}
	s.render(w, r, http.StatusOK, "message", nil, map[string]any{"Title": s.w["login"], "Text": s.w["login_sent"]})
}

// mailLinks mails a login link to each staff address asked for, until
// ctx ends; other addresses get nothing.
func (s *Server) mailLinks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case addr := <-s.logins:
			if err := s.mailLink(ctx, addr); err != nil {
				s.log.Warn("login link not sent", "rcpt", addr, "err", err)
			}
		}
	}
}

// mailLink records a new link for addr and mails it, when addr is staff.
// The mail goes straight to the SMTP server, not through the outbox: a
// link is good for 15 minutes, so retrying it for days would be useless,
// and one lost is simply asked for again.
func (s *Server) mailLink(ctx context.Context, addr string) error {
	if !s.o.Desk.Directory().IsStaff(addr) {
		return nil
	}
	token, now := randomToken(), s.o.Now()
	l := record.LoginLink{Hash: hashHex(token), Addr: addr, Created: now, Expires: now.Add(LinkTTL)}
	if err := s.o.Store.Update(ctx, func(tx Tx) error { return tx.PutLoginLink(l) }); err != nil {
		return err
	}
	link := s.base.String() + "/login/" + token
	body := fmt.Sprintf(s.w["login_mail"], link, int(LinkTTL.Minutes()))
	msg, err := notify.PlainMessage(s.o.From, []string{addr}, s.w["login_subject"], body)
	if err != nil {
		return err
	}
	if err := s.o.Mailer.Send(ctx, msg); err != nil {
		return fmt.Errorf("send login link: %w", err)
	}
	s.log.Info("login link sent", "rcpt", addr)
	return nil
}

// loginConfirm shows a button that uses the link: a GET changes nothing,
// so a mail scanner that follows links does not spend it.
func (s *Server) loginConfirm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "confirm", nil, map[string]any{"Token": r.PathValue("token")})
}

// Errors of a login link.
var (
	errLinkUnknown = errors.New("unknown login link")
	errLinkExpired = errors.New("login link expired")
	errLinkUsed    = errors.New("login link already used")
)

// loginUse spends a link, once, within its 15 minutes, and starts a session.
func (s *Server) loginUse(w http.ResponseWriter, r *http.Request) {
	hash, now := hashHex(r.PathValue("token")), s.o.Now()
	var addr string
	err := s.o.Store.Update(r.Context(), func(tx Tx) error {
		l, err := tx.LoginLink(hash)
		switch {
		case errors.Is(err, record.ErrNotFound):
			return errLinkUnknown
		case err != nil:
			return err
		case !l.Used.IsZero():
			return errLinkUsed
		case !now.Before(l.Expires):
			return errLinkExpired
		}
		l.Used, addr = now, l.Addr
		return tx.PutLoginLink(l)
	})
	if err == nil && !s.o.Desk.Directory().IsStaff(addr) {
		err = errLinkUnknown
	}
	if err != nil {
		s.log.Warn("login refused", "reason", err, "remote", r.RemoteAddr)
		why := map[error]string{errLinkUsed: s.w["link_used"], errLinkExpired: s.w["link_expired"]}[err]
		if why == "" {
			why = s.w["link_unknown"]
		}
		s.render(w, r, http.StatusForbidden, "message", nil, map[string]any{"Title": s.w["login"], "Text": why, "Login": true})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.sessions.create(addr, now), Path: "/", HttpOnly: true,
		Secure: s.base.Scheme == "https", SameSite: http.SameSiteStrictMode})
	s.log.Info("signed in", "addr", addr, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.base.Scheme == "https", SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

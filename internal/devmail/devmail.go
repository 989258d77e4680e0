// Package devmail is a tiny mail system in one process: go-imap v2's
// in-memory IMAP server holding one INBOX per user, and a go-smtp server that
// stores every mail it accepts into the INBOX of each local recipient
// (refusing unknown ones with 550). Like an organisation's submission
// server, it lets the people who have a mailbox log in (AUTH PLAIN) and
// records who did in an Authentication-Results field (RFC 8601) at the top
// of the mail: "<authserv-id>; auth=pass smtp.auth=<login>", or auth=none
// for a session that did not log in; a field with its own authserv-id that
// the client wrote is removed first (RFC 8601 §5). The demo runs ticketd against it, and
// tests use it as real protocol servers on loopback. It keeps everything in
// memory and is not meant for production mail.
package devmail

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/ticketd/ticketd/mailbox/sender"
)

// Delivery is one mail accepted by the SMTP server and stored in the
// INBOX of each of its recipients.
type Delivery struct {
	At   time.Time
	From string   // the envelope sender
	To   []string // the accepted recipients
	// Raw is the mail as stored, without the per-recipient trace headers.
	Raw []byte
}

// System is a tiny mail system: go-imap's in-memory IMAP
// server holding one INBOX per person, and a go-smtp server that stores
// every mail it accepts into the INBOX of each local recipient. Everyone,
// ticketd included, sends through it. It is safe for concurrent use.
type System struct {
	imapLn, smtpLn net.Listener
	imapSrv        *imapserver.Server
	smtpSrv        *smtp.Server
	users          map[string]*imapmemserver.User // by lowercase address; read-only after start
	onDeliver      func(Delivery)
	domain         string
	authservID     string
	password       string

	mu         sync.Mutex
	deliveries []Delivery
	changed    chan struct{} // closed and replaced on every delivery
}

// Options configures [Start].
type Options struct {
	// IMAPAddr and SMTPAddr are where the servers listen ("127.0.0.1:0"
	// picks a free port).
	IMAPAddr, SMTPAddr string
	// Domain names the server in its greeting and in the Message-IDs it
	// adds; "" means "localhost".
	Domain string
	// AuthservID is the authserv-id of the Authentication-Results field
	// the SMTP server adds; "" means Domain.
	AuthservID string
	// Users get one mailbox each (the IMAP login is the address in lower
	// case), all with
	// Password. They may log in to the SMTP server with the same
	// address and password.
	Users    []string
	Password string
	// OnDeliver, if set, is called for each delivery once the mail is in
	// the recipients' INBOX and before it shows in Deliveries, from the SMTP
	// server's goroutine.
	OnDeliver func(Delivery)
	// Logger receives the servers' errors; nil discards them.
	Logger *slog.Logger
}

// Start listens on both addresses and serves until Close.
func Start(opts Options) (*System, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Domain == "" {
		opts.Domain = "localhost"
	}
	ms := &System{users: map[string]*imapmemserver.User{}, onDeliver: opts.OnDeliver, domain: opts.Domain,
		authservID: cmp.Or(opts.AuthservID, opts.Domain), password: opts.Password, changed: make(chan struct{})}
	mem := imapmemserver.New()
	for _, addr := range opts.Users {
		addr = strings.ToLower(addr)
		u := imapmemserver.NewUser(addr, opts.Password)
		// A new user has no mailbox at all until INBOX is created.
		if err := u.Create("INBOX", nil); err != nil {
			return nil, fmt.Errorf("create INBOX of %s: %w", addr, err)
		}
		mem.AddUser(u)
		ms.users[strings.ToLower(addr)] = u
	}

	var err error
	if ms.imapLn, err = net.Listen("tcp", opts.IMAPAddr); err != nil {
		return nil, fmt.Errorf("imap listen: %w", err)
	}
	if ms.smtpLn, err = net.Listen("tcp", opts.SMTPAddr); err != nil {
		ms.imapLn.Close()
		return nil, fmt.Errorf("smtp listen: %w", err)
	}
	ms.imapSrv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		// IMAP4rev1 with IDLE, not IMAP4rev2: the in-memory server's MOVE
		// under IMAP4rev2 sends a bogus "* 0 EXPUNGE", and ticketd leaves
		// processed mail in place here anyway (flagged \Seen).
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIdle: {}},
		InsecureAuth: true,
		Logger:       slog.NewLogLogger(log.With("component", "devmail-imap").Handler(), slog.LevelWarn),
	})
	ms.smtpSrv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{ms: ms, conn: c}, nil
	}))
	ms.smtpSrv.Domain = opts.Domain
	// Loopback only, as in the demo and the tests: AUTH without TLS.
	ms.smtpSrv.AllowInsecureAuth = true
	ms.smtpSrv.MaxMessageBytes = 30 << 20
	ms.smtpSrv.MaxRecipients = 50
	ms.smtpSrv.ReadTimeout = time.Minute
	ms.smtpSrv.WriteTimeout = time.Minute
	ms.smtpSrv.ErrorLog = slog.NewLogLogger(log.With("component", "devmail-smtp").Handler(), slog.LevelWarn)
	imapLn, smtpLn := ms.imapLn, ms.smtpLn
	go func() {
		if err := ms.imapSrv.Serve(imapLn); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Debug("imap server stopped", "err", err)
		}
	}()
	go func() {
		if err := ms.smtpSrv.Serve(smtpLn); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			log.Debug("smtp server stopped", "err", err)
		}
	}()
	return ms, nil
}

// IMAPAddr returns where the IMAP server listens.
func (ms *System) IMAPAddr() string { return ms.imapLn.Addr().String() }

// SMTPAddr returns where the SMTP server listens.
func (ms *System) SMTPAddr() string { return ms.smtpLn.Addr().String() }

// Close stops both servers and drops their connections.
func (ms *System) Close() error {
	err := ms.smtpSrv.Close()
	if ierr := ms.imapSrv.Close(); err == nil {
		err = ierr
	}
	return err
}

// Deliveries returns the deliveries from index from on, the number of
// deliveries so far, and a channel closed at the next delivery.
func (ms *System) Deliveries(from int) ([]Delivery, int, <-chan struct{}) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	n := len(ms.deliveries)
	from = min(from, n)
	return append([]Delivery(nil), ms.deliveries[from:]...), n, ms.changed
}

// deliver stores raw into the INBOX of every recipient, with the trace
// headers a delivery agent adds (RFC 5321 §4.4) and the authentication
// result of login ("" for a session that did not log in).
func (ms *System) deliver(helo, login, from string, to []string, raw []byte) error {
	now := time.Now()
	raw = ms.stripOwnResults(raw)
	// RFC 6409 §8.1, §8.3: a submission server may add the Date and the
	// Message-ID a mail program left out (Python's smtplib does).
	var added bytes.Buffer
	if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw))); err == nil {
		if !h.Has("Date") {
			fmt.Fprintf(&added, "Date: %s\r\n", now.Format(time.RFC1123Z))
		}
		if !h.Has("Message-Id") {
			fmt.Fprintf(&added, "Message-ID: <%d.%d@%s>\r\n", now.UnixNano(), len(raw), ms.domain)
		}
	}
	if login != "" {
		fmt.Fprintf(&added, "Authentication-Results: %s; auth=pass smtp.auth=%s\r\n", ms.authservID, login)
	} else {
		fmt.Fprintf(&added, "Authentication-Results: %s; auth=none\r\n", ms.authservID)
	}
	raw = append(added.Bytes(), raw...)
	for _, rcpt := range to {
		var b bytes.Buffer
		fmt.Fprintf(&b, "Return-Path: <%s>\r\n", from)
		fmt.Fprintf(&b, "Delivered-To: %s\r\n", rcpt)
		fmt.Fprintf(&b, "Received: from %s by %s (ticketd devmail) with SMTP\r\n\tfor <%s>; %s\r\n",
			cmp.Or(helo, "localhost"), ms.domain, rcpt, now.Format(time.RFC1123Z))
		b.Write(raw)
		u := ms.users[strings.ToLower(rcpt)]
		if _, err := u.Append("INBOX", bytes.NewReader(b.Bytes()), &imap.AppendOptions{Time: now}); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mailbox unavailable, try again"}
		}
	}
	d := Delivery{At: now, From: from, To: to, Raw: raw}
	// OnDeliver runs before the delivery shows in Deliveries, so that what
	// it prints comes before anything a waiter on Deliveries prints next.
	if ms.onDeliver != nil {
		ms.onDeliver(d)
	}
	ms.mu.Lock()
	ms.deliveries = append(ms.deliveries, d)
	close(ms.changed)
	ms.changed = make(chan struct{})
	ms.mu.Unlock()
	return nil
}

// stripOwnResults removes the Authentication-Results fields of raw that
// carry this server's authserv-id: the client wrote them, so they would
// pass a forgery off as this server's word (RFC 8601 §5).
func (ms *System) stripOwnResults(raw []byte) []byte {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return raw
	}
	stripped := false
	for fs := h.FieldsByKey("Authentication-Results"); fs.Next(); {
		if id, _, _ := sender.ParseAuthResults(fs.Value()); strings.EqualFold(id, ms.authservID) {
			fs.Del()
			stripped = true
		}
	}
	if !stripped {
		return raw
	}
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		return raw
	}
	_, _ = b.ReadFrom(br)
	return b.Bytes()
}

// session is one SMTP transaction: it accepts any sender and the
// recipients that have a mailbox here.
type session struct {
	ms    *System
	conn  *smtp.Conn
	login string // the address logged in as, "" before AUTH
	from  string
	to    []string
}

// AuthMechanisms offers AUTH PLAIN (RFC 4954, RFC 4616).
func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth logs in a user of the system with the system's password.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		username = strings.ToLower(username)
		if s.ms.users[username] == nil || password != s.ms.password ||
			(identity != "" && !strings.EqualFold(identity, username)) {
			return smtp.ErrAuthFailed
		}
		s.login = username
		return nil
	}), nil
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.ms.users[strings.ToLower(to)] == nil {
		// RFC 3463 5.1.1: bad destination mailbox address.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no mailbox here for " + to}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.ms.deliver(s.conn.Hostname(), s.login, s.from, s.to, raw)
}

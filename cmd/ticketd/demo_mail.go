package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"
)

// demoDomain is the mail domain of the embedded mail system.
const demoDomain = "demo.test"

// demoPerson is one mailbox of the embedded mail system: a person of the
// scripted case, or the support mailbox ticketd reads. The IMAP login is the
// address.
type demoPerson struct {
	Name string
	Addr string
	// Role says who the person is in the procedure, for the operator.
	Role string
	// Group is the ticketd group the person belongs to, "" for none.
	Group string
}

// String formats the person as a mail address with its display name.
func (p demoPerson) String() string { return addrLine(p.Name, p.Addr) }

// demoMail is a mail as the demo reads it: the headers that matter and the
// plain text.
type demoMail struct {
	From       string
	To         string
	Subject    string
	MessageID  string
	References []string
	// Ticket is the X-Ticketd-Ticket header of the mail ticketd sends.
	Ticket string
	// Text is the first text/plain part, decoded.
	Text string
}

// delivery is one mail accepted by the SMTP server and stored in the
// INBOX of each of its recipients.
type delivery struct {
	At   time.Time
	From string   // the envelope sender
	To   []string // the accepted recipients
	Mail demoMail
}

// mailSystem is the demo's tiny mail system: go-imap's in-memory IMAP
// server holding one INBOX per person, and a go-smtp server that stores
// every mail it accepts into the INBOX of each local recipient. Everyone,
// ticketd included, sends through it. It is safe for concurrent use.
type mailSystem struct {
	imapLn, smtpLn net.Listener
	imapSrv        *imapserver.Server
	smtpSrv        *smtp.Server
	users          map[string]*imapmemserver.User // by lowercase address; read-only after start
	onDeliver      func(delivery)

	mu         sync.Mutex
	deliveries []delivery
	changed    chan struct{} // closed and replaced on every delivery
}

// mailSystemOptions configures [startMailSystem].
type mailSystemOptions struct {
	// IMAPAddr and SMTPAddr are where the servers listen ("127.0.0.1:0"
	// picks a free port).
	IMAPAddr, SMTPAddr string
	// People get one mailbox each, with Password.
	People   []demoPerson
	Password string
	// OnDeliver, if set, is called after each delivery, from the SMTP
	// server's goroutine.
	OnDeliver func(delivery)
	// Logger receives the servers' errors; nil discards them.
	Logger *slog.Logger
}

// startMailSystem listens on both addresses and serves until Close.
func startMailSystem(opts mailSystemOptions) (*mailSystem, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ms := &mailSystem{users: map[string]*imapmemserver.User{}, onDeliver: opts.OnDeliver, changed: make(chan struct{})}
	mem := imapmemserver.New()
	for _, p := range opts.People {
		u := imapmemserver.NewUser(p.Addr, opts.Password)
		// A new user has no mailbox at all until INBOX is created.
		if err := u.Create("INBOX", nil); err != nil {
			return nil, fmt.Errorf("create INBOX of %s: %w", p.Addr, err)
		}
		mem.AddUser(u)
		ms.users[strings.ToLower(p.Addr)] = u
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
		Logger:       slog.NewLogLogger(log.With("component", "demo-imap").Handler(), slog.LevelWarn),
	})
	ms.smtpSrv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &demoSMTPSession{ms: ms, conn: c}, nil
	}))
	ms.smtpSrv.Domain = demoDomain
	ms.smtpSrv.MaxMessageBytes = 30 << 20
	ms.smtpSrv.MaxRecipients = 50
	ms.smtpSrv.ReadTimeout = time.Minute
	ms.smtpSrv.WriteTimeout = time.Minute
	ms.smtpSrv.ErrorLog = slog.NewLogLogger(log.With("component", "demo-smtp").Handler(), slog.LevelWarn)
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

// IMAPAddr and SMTPAddr return where the servers listen.
func (ms *mailSystem) IMAPAddr() string { return ms.imapLn.Addr().String() }

// SMTPAddr returns where the SMTP server listens.
func (ms *mailSystem) SMTPAddr() string { return ms.smtpLn.Addr().String() }

// Close stops both servers and drops their connections.
func (ms *mailSystem) Close() error {
	err := ms.smtpSrv.Close()
	if ierr := ms.imapSrv.Close(); err == nil {
		err = ierr
	}
	return err
}

// Deliveries returns the deliveries from index from on, the number of
// deliveries so far, and a channel closed at the next delivery.
func (ms *mailSystem) Deliveries(from int) ([]delivery, int, <-chan struct{}) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	n := len(ms.deliveries)
	from = min(from, n)
	return append([]delivery(nil), ms.deliveries[from:]...), n, ms.changed
}

// deliver stores raw into the INBOX of every recipient, with the trace
// headers a delivery agent adds (RFC 5321 §4.4).
func (ms *mailSystem) deliver(helo, from string, to []string, raw []byte) error {
	now := time.Now()
	// RFC 6409 §8.1, §8.3: a submission server may add the Date and the
	// Message-ID a mail program left out (Python's smtplib does).
	var added bytes.Buffer
	if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw))); err == nil {
		if !h.Has("Date") {
			fmt.Fprintf(&added, "Date: %s\r\n", now.Format(time.RFC1123Z))
		}
		if !h.Has("Message-Id") {
			fmt.Fprintf(&added, "Message-ID: <%d.%d@%s>\r\n", now.UnixNano(), len(raw), demoDomain)
		}
	}
	raw = append(added.Bytes(), raw...)
	for _, rcpt := range to {
		var b bytes.Buffer
		fmt.Fprintf(&b, "Return-Path: <%s>\r\n", from)
		fmt.Fprintf(&b, "Delivered-To: %s\r\n", rcpt)
		fmt.Fprintf(&b, "Received: from %s by %s (ticketd demo) with SMTP\r\n\tfor <%s>; %s\r\n",
			orDefault(helo, "localhost"), demoDomain, rcpt, now.Format(time.RFC1123Z))
		b.Write(raw)
		u := ms.users[strings.ToLower(rcpt)]
		if _, err := u.Append("INBOX", bytes.NewReader(b.Bytes()), &imap.AppendOptions{Time: now}); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mailbox unavailable, try again"}
		}
	}
	d := delivery{At: now, From: from, To: to, Mail: readDemoMail(raw)}
	ms.mu.Lock()
	ms.deliveries = append(ms.deliveries, d)
	close(ms.changed)
	ms.changed = make(chan struct{})
	ms.mu.Unlock()
	if ms.onDeliver != nil {
		ms.onDeliver(d)
	}
	return nil
}

// demoSMTPSession is one SMTP transaction: it accepts any sender and the
// recipients that have a mailbox here.
type demoSMTPSession struct {
	ms   *mailSystem
	conn *smtp.Conn
	from string
	to   []string
}

func (s *demoSMTPSession) Reset() { s.from, s.to = "", nil }

func (s *demoSMTPSession) Logout() error { return nil }

func (s *demoSMTPSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

func (s *demoSMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.ms.users[strings.ToLower(to)] == nil {
		// RFC 3463 5.1.1: bad destination mailbox address.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no mailbox here for " + to}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *demoSMTPSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.ms.deliver(s.conn.Hostname(), s.from, s.to, raw)
}

// readDemoMail decodes the headers and the first plain-text part of raw.
// It never fails: what cannot be read stays empty.
func readDemoMail(raw []byte) demoMail {
	var m demoMail
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return m
	}
	defer r.Close()
	h := r.Header
	if as, err := h.AddressList("From"); err == nil && len(as) > 0 {
		m.From = addrLine(as[0].Name, as[0].Address)
	}
	if as, err := h.AddressList("To"); err == nil {
		var to []string
		for _, a := range as {
			to = append(to, a.Address)
		}
		m.To = strings.Join(to, ", ")
	}
	m.Subject, _ = h.Subject()
	m.MessageID, _ = h.MessageID()
	m.References, _ = h.MsgIDList("References")
	m.Ticket = h.Get("X-Ticketd-Ticket")
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		ih, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			continue
		}
		if ct, _, _ := ih.ContentType(); ct != "text/plain" && ct != "" {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(p.Body, 1<<20))
		m.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
		break
	}
	return m
}

// firstLines returns up to n non-blank lines of text, each clipped.
func firstLines(text string, n int) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() && len(out) < n {
		if line := strings.TrimRight(sc.Text(), " \t"); strings.TrimSpace(line) != "" {
			out = append(out, clip(line, 100))
		}
	}
	return out
}

// demoMUA is one person's mail program: it sends through the SMTP server
// and reads the person's INBOX over IMAP.
type demoMUA struct {
	me       demoPerson
	smtpAddr string
	imapAddr string
	password string
}

// send composes a plain-text mail from the person and sends it over SMTP.
// With parent set it is a reply: In-Reply-To and References thread it
// (RFC 5322 §3.6.4). It returns the new mail's Message-ID.
func (a demoMUA) send(ctx context.Context, to demoPerson, subject, body string, parent *demoMail) (string, error) {
	var h mail.Header
	h.SetDate(time.Now())
	h.SetAddressList("From", []*mail.Address{{Name: a.me.Name, Address: a.me.Addr}})
	h.SetAddressList("To", []*mail.Address{{Name: to.Name, Address: to.Addr}})
	h.SetSubject(subject)
	if err := h.GenerateMessageIDWithHostname(demoDomain); err != nil {
		return "", err
	}
	if parent != nil && parent.MessageID != "" {
		h.SetMsgIDList("In-Reply-To", []string{parent.MessageID})
		h.SetMsgIDList("References", append(append([]string(nil), parent.References...), parent.MessageID))
	}
	h.Set("User-Agent", "ticketd-demo")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8", "format": "flowed"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, strings.ReplaceAll(body, "\n", "\r\n")); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	id, _ := h.MessageID()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", a.smtpAddr)
	if err != nil {
		return "", fmt.Errorf("dial smtp %s: %w", a.smtpAddr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.SendMail(a.me.Addr, []string{to.Addr}, &buf); err != nil {
		return "", fmt.Errorf("send as %s to %s: %w", a.me.Addr, to.Addr, err)
	}
	return id, c.Quit()
}

// inbox reads every mail in the person's INBOX, oldest first, without
// marking it \Seen (EXAMINE, BODY.PEEK[]).
func (a demoMUA) inbox(ctx context.Context) ([]demoMail, error) {
	return readInbox(ctx, a.imapAddr, a.me.Addr, a.password)
}

// readInbox logs in as user and reads every mail of its INBOX.
func readInbox(ctx context.Context, addr, user, password string) ([]demoMail, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial imap %s: %w", addr, err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(user, password).Wait(); err != nil {
		return nil, fmt.Errorf("imap login %s: %w", user, err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, fmt.Errorf("examine INBOX of %s: %w", user, err)
	}
	// Search rather than trust the message count of SELECT.
	sd, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search INBOX of %s: %w", user, err)
	}
	uids := sd.AllUIDs()
	var out []demoMail
	if len(uids) > 0 {
		section := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch INBOX of %s: %w", user, err)
		}
		sortByUID(msgs)
		for _, m := range msgs {
			out = append(out, readDemoMail(m.FindBodySection(section)))
		}
	}
	_ = c.Logout().Wait()
	return out, nil
}

func sortByUID(msgs []*imapclient.FetchMessageBuffer) {
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
}

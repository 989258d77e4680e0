package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/ticket"
)

// captured is one mail the sink accepted.
type captured struct {
	From string
	To   []string
	Data []byte
}

// sink is an in-process SMTP server that records what it accepts. Its
// hooks decide replies; everything is guarded by mu.
type sink struct {
	mu    sync.Mutex
	got   []captured
	conns map[*smtp.Conn]bool // connections seen by NewSession (STARTTLS starts a second session on one)
	// rcpt, when set, answers RCPT TO; a non-nil error refuses it.
	rcpt func(to string) error
	// users, when set, requires AUTH PLAIN with one of these passwords.
	users map[string]string
	// dropAfterAccept, when set, closes the connection right after the
	// reply accepting a mail's data (before the client's RSET).
	dropAfterAccept bool
	// dropOn, when set, cuts the connection at RCPT TO for the recipients
	// it is true for.
	dropOn func(to string) bool

	addr     string
	srv      *smtp.Server
	tlsConf  *tls.Config
	implicit bool
}

// newSink starts a sink on 127.0.0.1:0 (or addr, to come back on the same
// port) and stops it at the end of the test.
func newSink(t testing.TB, addr string) *sink {
	t.Helper()
	s := &sink{}
	s.start(t, addr)
	return s
}

// newTLSSink starts a sink that offers STARTTLS, or (implicit) speaks TLS
// from the first byte, with a certificate for 127.0.0.1 from a fresh CA;
// it returns the CA's pool for the client.
func newTLSSink(t testing.TB, implicit bool) (*sink, *x509.CertPool) {
	t.Helper()
	cert, pool := testCert(t)
	s := &sink{tlsConf: &tls.Config{Certificates: []tls.Certificate{cert}}, implicit: implicit}
	s.start(t, "")
	return s, pool
}

func (s *sink) start(t testing.TB, addr string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a server just closed may linger
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	if s.implicit {
		ln = tls.NewListener(ln, s.tlsConf)
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	if !s.implicit {
		srv.TLSConfig = s.tlsConf // offers STARTTLS when set
	}
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelWarn)
	s.mu.Lock()
	s.addr, s.srv = ln.Addr().String(), srv
	s.mu.Unlock()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// stop closes the listener and every open connection.
func (s *sink) stop() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	srv.Close()
}

func (s *sink) port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, p, _ := net.SplitHostPort(s.addr)
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n
}

func (s *sink) messages() []captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *sink) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *sink) setRcpt(f func(string) error) {
	s.mu.Lock()
	s.rcpt = f
	s.mu.Unlock()
}

func (s *sink) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*smtp.Conn]bool{}
	}
	s.conns[c] = true
	s.mu.Unlock()
	return &session{sink: s, conn: c}, nil
}

type session struct {
	sink     *sink
	conn     *smtp.Conn
	authed   bool
	from     string
	to       []string
	accepted bool // Data took a mail since the last reset
}

func (ss *session) AuthMechanisms() []string {
	ss.sink.mu.Lock()
	defer ss.sink.mu.Unlock()
	if ss.sink.users == nil {
		return nil
	}
	return []string{sasl.Plain, "XOAUTH2"}
}

// xoauth2Server reads "user=U\x01auth=Bearer T\x01\x01" and checks T as
// the user's password.
type xoauth2Server struct {
	check func(user, token string) error
}

func (x xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil
	}
	var user, token string
	for _, f := range strings.Split(string(resp), "\x01") {
		if v, ok := strings.CutPrefix(f, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(f, "auth=Bearer "); ok {
			token = v
		}
	}
	return nil, true, x.check(user, token)
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech == "XOAUTH2" {
		return xoauth2Server{func(user, token string) error {
			ss.sink.mu.Lock()
			defer ss.sink.mu.Unlock()
			if want, ok := ss.sink.users[user]; !ok || want != token {
				return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "invalid token"}
			}
			ss.authed = true
			return nil
		}}, nil
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		ss.sink.mu.Lock()
		defer ss.sink.mu.Unlock()
		if want, ok := ss.sink.users[username]; !ok || want != password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication credentials invalid"}
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.sink.mu.Lock()
	need := ss.sink.users != nil
	ss.sink.mu.Unlock()
	if need && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.sink.mu.Lock()
	f, drop := ss.sink.rcpt, ss.sink.dropOn
	ss.sink.mu.Unlock()
	if drop != nil && drop(to) {
		ss.conn.Conn().Close()
		return refuse(421, "connection cut")
	}
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	ss.sink.got = append(ss.sink.got, captured{From: ss.from, To: slices.Clone(ss.to), Data: b})
	ss.sink.mu.Unlock()
	ss.accepted = true
	return nil
}

// Reset runs on RSET and, in go-smtp, right after the reply to the end of
// DATA has been written: where dropAfterAccept cuts the connection.
func (ss *session) Reset() {
	ss.sink.mu.Lock()
	drop := ss.sink.dropAfterAccept && ss.accepted
	ss.sink.mu.Unlock()
	if drop {
		ss.conn.Conn().Close()
	}
	ss.from, ss.to, ss.accepted = "", nil, false
}

func (ss *session) Logout() error { return nil }

// refuse returns an SMTP error reply.
func refuse(code int, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: msg}
}

// memOutbox is an in-memory Outbox with the store's semantics, for tests.
type memOutbox struct {
	mu      sync.Mutex
	pending map[uint64]*outbox.Item
	tickets map[ticket.ID]*ticket.Ticket
	sent    map[uint64]int // seq -> times marked sent
	marks   []int          // notices marked sent by each MarkSent
	failed  map[uint64]string
	retries []retryRec
}

type retryRec struct {
	Seq    uint64
	Next   time.Time
	At     int // attempts after the failure
	Reason string
}

func newOutbox(ps ...ticket.Pending) *memOutbox {
	o := &memOutbox{pending: map[uint64]*outbox.Item{}, tickets: map[ticket.ID]*ticket.Ticket{},
		sent: map[uint64]int{}, failed: map[uint64]string{}}
	for _, p := range ps {
		o.add(p)
	}
	return o
}

// add keeps p as the store would: a reference to its ticket, of which the
// outbox keeps the latest state.
func (o *memOutbox) add(p ticket.Pending) {
	o.mu.Lock()
	defer o.mu.Unlock()
	it := outbox.Item{Seq: p.Seq, MessageID: p.MessageID, CreatedAt: p.CreatedAt,
		Owed: ticket.Owe(p.Notice, func(ticket.Address) string { return p.MessageID })}
	if len(p.Notice.To) > 0 {
		it.To = p.Notice.To[0]
	}
	o.pending[p.Seq] = &it
	if t := o.tickets[p.Notice.Ticket.ID]; t == nil || len(t.History) < len(p.Notice.Ticket.History) {
		o.tickets[p.Notice.Ticket.ID] = p.Notice.Ticket.Clone()
	}
}

func (o *memOutbox) Due(_ context.Context, now time.Time, max int) ([]outbox.Item, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	seqs := make([]uint64, 0, len(o.pending))
	for s := range o.pending {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	held := map[outbox.Stream]bool{}
	var out []outbox.Item
	for _, s := range seqs {
		p := o.pending[s]
		if held[p.Stream()] {
			continue
		}
		if p.NextAttempt.After(now) {
			held[p.Stream()] = true // order per ticket and recipient
			continue
		}
		if len(out) == max {
			break
		}
		out = append(out, *p)
	}
	return out, nil
}

func (o *memOutbox) Ticket(_ context.Context, id ticket.ID) (*ticket.Ticket, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.tickets[id]
	if !ok {
		return nil, errors.New("no such ticket")
	}
	return t.Clone(), nil
}

// MarkSent removes seqs in one step, as one transaction would: all or none.
func (o *memOutbox) MarkSent(_ context.Context, seqs []uint64, _ time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, seq := range seqs {
		if _, ok := o.pending[seq]; !ok {
			return errors.New("no such notice")
		}
	}
	for _, seq := range seqs {
		delete(o.pending, seq)
		o.sent[seq]++
	}
	o.marks = append(o.marks, len(seqs))
	return nil
}

func (o *memOutbox) Retry(_ context.Context, seq uint64, next time.Time, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, ok := o.pending[seq]
	if !ok {
		return errors.New("no such notice")
	}
	p.Attempts++
	p.NextAttempt = next
	p.LastError = reason
	o.retries = append(o.retries, retryRec{Seq: seq, Next: next, At: p.Attempts, Reason: reason})
	return nil
}

// Failed applies record to the notice's ticket and keeps the reason of the
// delivery failure it appended.
func (o *memOutbox) Failed(_ context.Context, seq uint64, record func(*ticket.Ticket)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, ok := o.pending[seq]
	if !ok {
		return errors.New("no such notice")
	}
	delete(o.pending, seq)
	t := o.tickets[p.Owed.TicketID]
	record(t)
	if e := t.History[len(t.History)-1]; e.Kind == ticket.KindDeliveryFailed {
		o.failed[seq] = e.Text
	}
	return nil
}

func (o *memOutbox) left() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// parsed is a captured mail taken apart.
type parsed struct {
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
	Files   map[string][]byte
}

// parseMail decodes a message as a mail client would: the subject per
// RFC 2047, the parts per RFC 2045/2046.
func parseMail(t testing.TB, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	var dec mime.WordDecoder
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject %q: %v", m.Header.Get("Subject"), err)
	}
	p := parsed{Header: m.Header, Subject: subj, Files: map[string][]byte{}}
	walkPart(t, &p, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), "", m.Body)
	return p
}

func walkPart(t testing.TB, p *parsed, ctype, cte, disp string, body io.Reader) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("content type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("next part: %v", err)
			}
			walkPart(t, p, part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part.Header.Get("Content-Disposition"), part)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // ignores line breaks
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s part: %v", mt, err)
	}
	if strings.HasPrefix(disp, "attachment") {
		_, dp, _ := mime.ParseMediaType(disp)
		var dec mime.WordDecoder
		name, _ := dec.DecodeHeader(dp["filename"])
		p.Files[name] = b
		return
	}
	switch mt {
	case "text/plain":
		p.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
	case "text/html":
		p.HTML = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
}

// testCert makes a CA and a certificate for 127.0.0.1 signed by it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ticketd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// inFlight counts the mails a sink is taking at once.
type inFlight struct {
	mu        sync.Mutex
	now, peak int
}

// watchInFlight makes sk hold each mail at its RCPT for hold and counts
// how many it takes at once.
func watchInFlight(sk *sink, hold time.Duration) *inFlight {
	f := &inFlight{}
	sk.setRcpt(func(string) error {
		f.mu.Lock()
		f.now++
		f.peak = max(f.peak, f.now)
		f.mu.Unlock()
		time.Sleep(hold)
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
		return nil
	})
	return f
}

// most is the most mails taken at once since the start or the last reset.
func (f *inFlight) most() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peak
}

func (f *inFlight) reset() {
	f.mu.Lock()
	f.peak = f.now
	f.mu.Unlock()
}

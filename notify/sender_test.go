package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
	"github.com/wneessen/go-mail"
)

// testLogger sends logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newTestSender(t testing.TB, port int, mod func(*SenderOptions)) *Sender {
	t.Helper()
	opts := SenderOptions{Host: "127.0.0.1", Port: port, TLS: TLSNone, Timeout: 5 * time.Second, Logger: testLogger(t)}
	if mod != nil {
		mod(&opts)
	}
	s, err := NewSender(opts)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testMsg builds a small message to rcpt.
func testMsg(t testing.TB, rcpt, subject string) *mail.Msg {
	t.Helper()
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.From(support.Addr); err != nil {
		t.Fatal(err)
	}
	if err := m.To(rcpt); err != nil {
		t.Fatal(err)
	}
	m.Subject(subject)
	m.SetBodyString(mail.TypeTextPlain, "hola")
	return m
}

func TestSenderReusesOneConnection(t *testing.T) {
	sk := newSink(t, "")
	s := newTestSender(t, sk.port(), nil)
	const n = 25
	for i := 0; i < n; i++ {
		if err := s.Send(t.Context(), testMsg(t, fmt.Sprintf("u%d@example.org", i), "prueba")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if got := len(sk.messages()); got != n {
		t.Errorf("sink got %d mails, want %d", got, n)
	}
	if got := sk.sessionCount(); got != 1 {
		t.Errorf("%d connections for %d mails, want 1", got, n)
	}
}

func TestSenderClassifiesReplies(t *testing.T) {
	sk := newSink(t, "")
	sk.setRcpt(func(to string) error {
		switch {
		case strings.HasPrefix(to, "nadie@"):
			return refuse(550, "no such user")
		case strings.HasPrefix(to, "lleno@"):
			return refuse(452, "mailbox full, try later")
		}
		return nil
	})
	s := newTestSender(t, sk.port(), nil)
	err := s.Send(t.Context(), testMsg(t, "nadie@example.org", "x"))
	if !errors.Is(err, ErrPermanent) {
		t.Errorf("550 to RCPT: %v, want ErrPermanent", err)
	}
	err = s.Send(t.Context(), testMsg(t, "lleno@example.org", "x"))
	if err == nil || errors.Is(err, ErrPermanent) {
		t.Errorf("452 to RCPT: %v, want a temporary error", err)
	}
	if err := s.Send(t.Context(), testMsg(t, "ana@example.org", "x")); err != nil {
		t.Fatalf("send after refusals: %v", err)
	}
	if got := sk.sessionCount(); got != 1 {
		t.Errorf("%d connections: a refused recipient should not cost the connection", got)
	}
	if got := len(sk.messages()); got != 1 {
		t.Errorf("sink got %d mails, want 1", got)
	}
}

func TestSenderServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	s := newTestSender(t, port, nil)
	err = s.Send(t.Context(), testMsg(t, "ana@example.org", "x"))
	if err == nil || errors.Is(err, ErrPermanent) {
		t.Fatalf("send to a closed port: %v, want a temporary error", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say the connection was refused", err)
	}
	if err := s.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Check on a closed port: %v", err)
	}
}

// TestSenderRedialsAfterServerRestart: the server goes away between two
// mails; the second one still goes out, on a new connection, without an
// error: found by the NOOP that checks a connection idle for a while, and
// by MAIL FROM meeting the closed connection on one used moments ago.
func TestSenderRedialsAfterServerRestart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		staleAfter time.Duration
	}{{"idle, checked by NOOP", 0}, {"used moments ago", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			sk := newSink(t, "")
			s := newTestSender(t, sk.port(), nil)
			s.staleAfter = tc.staleAfter
			if err := s.Send(t.Context(), testMsg(t, "a@example.org", "1")); err != nil {
				t.Fatal(err)
			}
			addr := sk.addr
			sk.stop()
			sk.start(t, addr)
			if err := s.Send(t.Context(), testMsg(t, "a@example.org", "2")); err != nil {
				t.Fatalf("send after restart: %v", err)
			}
			if got := len(sk.messages()); got != 2 {
				t.Errorf("sink got %d mails, want 2", got)
			}
			if got := sk.sessionCount(); got != 2 {
				t.Errorf("%d connections, want 2 (one per server life)", got)
			}
		})
	}
}

func TestSenderCheckAuth(t *testing.T) {
	sk := newSink(t, "")
	sk.users = map[string]string{"mesa": "clave-correcta"}
	good := newTestSender(t, sk.port(), func(o *SenderOptions) { o.Username, o.Password = "mesa", "clave-correcta" })
	if err := good.Check(t.Context()); err != nil {
		t.Fatalf("Check with the right password: %v", err)
	}
	if err := good.Send(t.Context(), testMsg(t, "ana@example.org", "x")); err != nil {
		t.Fatalf("Send with the right password: %v", err)
	}
	for _, auth := range []string{AuthPlain, AuthLogin} {
		bad := newTestSender(t, sk.port(), func(o *SenderOptions) { o.Username, o.Password, o.Auth = "mesa", "otra", auth })
		err := bad.Check(t.Context())
		if auth == AuthPlain && !errors.Is(err, ErrAuth) {
			t.Errorf("Check %s with a wrong password: %v, want ErrAuth", auth, err)
		}
		if auth == AuthLogin && !errors.Is(err, ErrAuth) { // the sink offers no LOGIN
			t.Errorf("Check %s on a server without it: %v, want ErrAuth", auth, err)
		}
		if err != nil && strings.Contains(err.Error(), "otra") {
			t.Errorf("the error shows the password: %v", err)
		}
		if err := bad.Send(t.Context(), testMsg(t, "ana@example.org", "x")); err == nil || errors.Is(err, ErrPermanent) {
			t.Errorf("Send %s with a wrong password: %v, want a temporary error", auth, err)
		}
	}
	noauth := newTestSender(t, sk.port(), nil)
	if err := noauth.Send(t.Context(), testMsg(t, "ana@example.org", "x")); err == nil || errors.Is(err, ErrPermanent) {
		t.Errorf("Send without authentication where it is required: %v, want a temporary error", err)
	}
}

func TestSenderTLSMismatch(t *testing.T) {
	sk := newSink(t, "") // plain SMTP, no STARTTLS
	implicit := newTestSender(t, sk.port(), func(o *SenderOptions) { o.TLS = TLSImplicit })
	if err := implicit.Check(t.Context()); !errors.Is(err, ErrTLS) {
		t.Errorf("implicit TLS to a plain server: %v, want ErrTLS", err)
	}
	starttls := newTestSender(t, sk.port(), func(o *SenderOptions) { o.TLS = TLSStartTLS })
	if err := starttls.Check(t.Context()); !errors.Is(err, ErrTLS) {
		t.Errorf("STARTTLS to a server without it: %v, want ErrTLS", err)
	}
}

func TestNewSenderOptions(t *testing.T) {
	tests := []struct {
		name string
		opts SenderOptions
		ok   bool
	}{
		{"no host", SenderOptions{}, false},
		{"plain to remote", SenderOptions{Host: "smtp.example.org", TLS: TLSNone}, false},
		{"plain to remote allowed", SenderOptions{Host: "smtp.example.org", TLS: TLSNone, AllowInsecure: true}, true},
		{"plain to localhost", SenderOptions{Host: "localhost", TLS: TLSNone}, true},
		{"plain to ::1", SenderOptions{Host: "::1", TLS: TLSNone}, true},
		{"plain to 127.3.4.5", SenderOptions{Host: "127.3.4.5", TLS: TLSNone}, true},
		{"unknown tls", SenderOptions{Host: "smtp.example.org", TLS: "ssl"}, false},
		{"unknown auth", SenderOptions{Host: "smtp.example.org", Auth: "cram-md5", Username: "u"}, false},
		{"auth without user", SenderOptions{Host: "smtp.example.org", Auth: AuthPlain}, false},
		{"xoauth2 without token", SenderOptions{Host: "smtp.example.org", Auth: AuthXOAUTH2, Username: "u"}, false},
		{"xoauth2 with token source", SenderOptions{Host: "smtp.example.org", Auth: AuthXOAUTH2, Username: "u",
			Token: func(context.Context) (string, error) { return "t", nil }}, true},
		{"starttls default", SenderOptions{Host: "smtp.example.org", Username: "u", Password: "p"}, true},
		{"bad port", SenderOptions{Host: "smtp.example.org", Port: 70000}, false},
		{"negative connections", SenderOptions{Host: "smtp.example.org", Connections: -1}, false},
		{"four connections", SenderOptions{Host: "smtp.example.org", Connections: 4}, true},
	}
	for _, tt := range tests {
		_, err := NewSender(tt.opts)
		if (err == nil) != tt.ok {
			t.Errorf("%s: NewSender = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	s, err := NewSender(SenderOptions{Host: "smtp.example.org", TLS: TLSImplicit})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "smtp.example.org:465" {
		t.Errorf("implicit TLS default address %s, want port 465", s.Addr())
	}
}

// TestSenderContextCancel: a cancelled context stops a send at once and
// the next send works on a new connection.
func TestSenderContextCancel(t *testing.T) {
	sk := newSink(t, "")
	block := make(chan struct{})
	sk.setRcpt(func(to string) error {
		if strings.HasPrefix(to, "lento@") {
			<-block
		}
		return nil
	})
	t.Cleanup(func() { close(block) })
	s := newTestSender(t, sk.port(), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, testMsg(t, "lento@example.org", "x"))
	if err == nil || errors.Is(err, ErrPermanent) {
		t.Errorf("cancelled send: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled send took %v", d)
	}
	if err := s.Send(t.Context(), testMsg(t, "ana@example.org", "x")); err != nil {
		t.Errorf("send after a cancelled one: %v", err)
	}
}

// TestAccentedSubject sends a rendered notice with accents through SMTP and
// decodes the subject and names as a mail client would.
func TestAccentedSubject(t *testing.T) {
	sk := newSink(t, "")
	s := newTestSender(t, sk.port(), nil)
	r := newTestRenderer(t, "es")
	tk := &ticket.Ticket{ID: "OTI-2026-000100", Subject: "Contraseña del correo: ¿por qué caducó? ñandú ÁÉÍÓÚ — «urgente» " + strings.Repeat("más texto ", 8),
		Requester: ticket.Address{Name: "Íñigo Martínez", Addr: "inigo@example.org"}, Level: 1, Group: "mesa", State: ticket.StateOpen}
	p := ticket.Pending{Seq: 9, MessageID: "OTI-2026-000100.n9@ticketd.test", Notice: ticket.Notice{
		Kind: ticket.NoticeAck, To: []ticket.Address{tk.Requester}, Ticket: tk}}
	msg, err := r.Message(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	got := sk.messages()
	if len(got) != 1 {
		t.Fatalf("sink got %d mails", len(got))
	}
	raw := string(got[0].Data)
	for _, line := range strings.Split(raw[:strings.Index(raw, "\r\n\r\n")], "\r\n") {
		for _, c := range line {
			if c > 127 {
				t.Fatalf("raw 8-bit character in header line %q", line)
			}
		}
	}
	m := parseMail(t, got[0].Data)
	if want := "[OTI-2026-000100] " + strings.Join(strings.Fields(tk.Subject), " "); m.Subject != want {
		t.Errorf("decoded subject = %q, want %q", m.Subject, want)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Íñigo Martínez" {
		t.Errorf("To = %v (%v), want Íñigo Martínez", to, err)
	}
	if !strings.Contains(m.Text, "Hola, Íñigo Martínez:") {
		t.Errorf("text part lost its accents:\n%s", m.Text)
	}
	if got[0].From != support.Addr || len(got[0].To) != 1 || got[0].To[0] != "inigo@example.org" {
		t.Errorf("envelope %s -> %v", got[0].From, got[0].To)
	}
}

// TestSenderTLS: STARTTLS and implicit TLS against a server with a
// certificate from a test CA; PLAIN authentication over TLS; a certificate
// that does not verify is a TLS error.
func TestSenderTLS(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		mode := TLSStartTLS
		if implicit {
			mode = TLSImplicit
		}
		t.Run(mode, func(t *testing.T) {
			sk, pool := newTLSSink(t, implicit)
			sk.users = map[string]string{"mesa": "clave"}
			s := newTestSender(t, sk.port(), func(o *SenderOptions) {
				o.TLS, o.TLSConfig, o.Username, o.Password = mode, &tls.Config{RootCAs: pool}, "mesa", "clave"
			})
			if err := s.Check(t.Context()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			for i := 0; i < 3; i++ {
				if err := s.Send(t.Context(), testMsg(t, "ana@example.org", "x")); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			if got := len(sk.messages()); got != 3 {
				t.Errorf("sink got %d mails", got)
			}
			if got := sk.sessionCount(); got != 2 { // Check's, then one for the three mails
				t.Errorf("%d connections, want 2", got)
			}
			untrusted := newTestSender(t, sk.port(), func(o *SenderOptions) { o.TLS = mode })
			if err := untrusted.Check(t.Context()); !errors.Is(err, ErrTLS) {
				t.Errorf("Check with an unknown CA: %v, want ErrTLS", err)
			}
		})
	}
}

func TestSenderXOAUTH2(t *testing.T) {
	sk := newSink(t, "")
	sk.users = map[string]string{"mesa@entidad.gov.co": "token-2"}
	var mu sync.Mutex
	calls := 0
	s := newTestSender(t, sk.port(), func(o *SenderOptions) {
		o.Auth, o.Username = AuthXOAUTH2, "mesa@entidad.gov.co"
		o.Token = func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return fmt.Sprintf("token-%d", calls), nil
		}
	})
	if err := s.Check(t.Context()); !errors.Is(err, ErrAuth) {
		t.Errorf("Check with an expired token: %v, want ErrAuth", err)
	}
	if err := s.Check(t.Context()); err != nil {
		t.Errorf("Check with a fresh token: %v", err)
	}
	if calls != 2 {
		t.Errorf("token source called %d times, want once per connection (2)", calls)
	}
}

// TestSenderAcceptedThenDropped: the server accepts the data and the
// connection drops before the RSET that follows. The mail is the server's
// now: Send reports it sent (retrying it would deliver it twice), and the
// next mail goes out on a new connection.
func TestSenderAcceptedThenDropped(t *testing.T) {
	sk := newSink(t, "")
	sk.mu.Lock()
	sk.dropAfterAccept = true
	sk.mu.Unlock()
	s := newTestSender(t, sk.port(), nil)
	for i := range 3 {
		m := testMsg(t, "ana@example.org", fmt.Sprint("aceptado ", i))
		if err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("send %d, accepted then dropped: %v, want nil", i, err)
		}
		if !m.IsDelivered() {
			t.Errorf("send %d: message not marked delivered", i)
		}
	}
	if got := len(sk.messages()); got != 3 {
		t.Errorf("sink got %d mails, want 3", got)
	}
	if got := sk.sessionCount(); got != 3 {
		t.Errorf("%d connections, want 3 (one per dropped connection)", got)
	}
}

// TestSenderConnections: concurrent Sends share at most Connections
// connections, each carrying one mail at a time.
func TestSenderConnections(t *testing.T) {
	sk := newSink(t, "")
	pk := watchInFlight(sk, 20*time.Millisecond)
	s := newTestSender(t, sk.port(), func(o *SenderOptions) { o.Connections = 3 })
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Go(func() { errs <- s.Send(t.Context(), testMsg(t, fmt.Sprintf("u%d@example.org", i), "x")) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("send: %v", err)
		}
	}
	if got := len(sk.messages()); got != 12 {
		t.Errorf("sink got %d mails, want 12", got)
	}
	if got := sk.sessionCount(); got != 3 {
		t.Errorf("%d connections, want 3", got)
	}
	if most := pk.most(); most != 3 {
		t.Errorf("at most %d mails in flight at once, want 3", most)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

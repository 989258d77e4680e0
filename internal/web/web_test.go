package web

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/blob"
	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

const (
	desk     = "mesa@oti.example"
	redes    = "redes@oti.example"
	infra    = "infra@oti.example"
	user1    = "ana@example.org"
	stranger = "nadie@example.org"
	base     = "https://soporte.example"
)

// env is a console on a real store, blobs and a devmail SMTP server.
type env struct {
	s     *Server
	db    *store.DB
	mail  *devmail.System
	clock *clock
	blobs *blob.Store
	// tickets: a level-1 one with a note and a file, a level-2 one (redes),
	// a level-3 one (infra).
	t1, t2, t3 *ticket.Ticket
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := devmail.Start(devmail.Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Users: []string{desk, redes, infra, user1, stranger}, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	host, port, _ := net.SplitHostPort(ms.SMTPAddr())
	p, _ := strconv.Atoi(port)
	sender, err := notify.NewSender(notify.SenderOptions{Host: host, Port: p, TLS: notify.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	dirs, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: 1, Kind: "desk", Members: []string{"Marta Mesa <" + desk + ">"}, Default: true},
		{Name: "redes", Level: 2, Kind: "specialist", Members: []string{redes}, Default: true},
		{Name: "infra", Level: 3, Kind: "specialist", Members: []string{infra}, Default: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	dk, err := ticket.NewDesk(dirs)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	e := &env{db: db, mail: ms, clock: c, blobs: blobs}
	ref, err := blobs.Put(strings.NewReader("<script>alert(1)</script>"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := blobs.Put(strings.NewReader("From: ana@example.org\r\nSubject: impresora\r\n\r\nno imprime\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(seq uint64, subject string, level ticket.Level, group string) *ticket.Ticket {
		in := ticket.Inbound{MessageID: "<m" + strconv.Itoa(int(seq)) + "@example.org>", From: ticket.Address{Addr: user1}, Subject: subject,
			Text: "no imprime la impresora del piso 3", Body: "no imprime la impresora del piso 3", RawSHA256: raw.SHA256}
		if seq == 1 {
			in.Attachments = []ticket.Attachment{{Filename: "../../x.html", ContentType: "text/html", Size: ref.Size, SHA256: ref.SHA256}}
		}
		o := dk.Open(ticket.NewID("OTI", 2026, seq), in, "", c.now())
		tk := o.Ticket
		if level > 1 {
			tk.Level, tk.Group = level, group
			tk.Append(ticket.Entry{At: c.now(), Actor: desk, Kind: ticket.KindEscalated, Level: level, Group: group, State: ticket.StateOpen})
		}
		return tk
	}
	e.t1, e.t2, e.t3 = open(1, "Impresora", 1, ""), open(2, "Switch caído", 2, "redes"), open(3, "Servidor", 3, "infra")
	e.t1.Append(ticket.Entry{At: c.now(), Actor: desk, Kind: ticket.KindNoted, Text: "SECRETO interno: el usuario ya llamó tres veces",
		Level: 1, Group: "mesa", State: ticket.StateOpen})
	e.t1.Append(ticket.Entry{At: c.now(), Actor: desk, Kind: ticket.KindReplied, Text: "Vamos a revisarla hoy.", Level: 1, Group: "mesa", State: ticket.StateOpen})
	err = db.Update(t.Context(), func(tx *store.Tx) error {
		for _, tk := range []*ticket.Ticket{e.t1, e.t2, e.t3} {
			if err := tx.PutTicket(tk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.s, err = New(Options{Store: store.Bind(db, func(tx *store.Tx) Tx { return tx }), Desk: dk, Blobs: blobs, Mailer: sender,
		From: ticket.Address{Name: "Mesa", Addr: desk}, Support: "soporte@oti.example", Prefix: "OTI", Listen: "127.0.0.1:8026", BaseURL: base,
		StatusKey: []byte("0123456789abcdef0123456789abcdef"), Now: c.now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	done := make(chan struct{})
	go func() { defer close(done); e.s.mailLinks(ctx) }()
	t.Cleanup(func() { <-done })
	return e
}

// do sends a request as the browser at base would, with cookie c.
func (e *env) do(t *testing.T, method, target string, c *http.Cookie, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, base+target, body)
	r.RemoteAddr = "192.0.2.7:5555"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if c != nil {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	checkHeaders(t, target, w)
	return w
}

// checkHeaders: every answer carries the policy and refuses framing.
func checkHeaders(t *testing.T, target string, w *httptest.ResponseRecorder) {
	t.Helper()
	h := w.Header()
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") && !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("%s: Content-Security-Policy = %q", target, h.Get("Content-Security-Policy"))
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") == "" {
		t.Errorf("%s: headers %v", target, h)
	}
	if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		external := regexp.MustCompile(`(?i)(src|href|action)="(https?:)?//`)
		if m := external.FindString(w.Body.String()); m != "" {
			t.Errorf("%s: page refers to an external resource: %s", target, m)
		}
		if strings.Contains(w.Body.String(), "<script>") || strings.Contains(w.Body.String(), " style=") && !strings.HasPrefix(target, "/reports/page") {
			t.Errorf("%s: inline script or style in the page", target)
		}
	}
}

// signIn asks for a link for addr, takes it from the mail and uses it.
func (e *env) signIn(t *testing.T, addr string) *http.Cookie {
	t.Helper()
	link := e.askLink(t, addr)
	w := e.do(t, "POST", link, nil, url.Values{})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("using the link: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == cookieName {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Strict", c)
			}
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

var linkRE = regexp.MustCompile(regexp.QuoteMeta(base) + `(/login/[A-Za-z0-9_-]+)`)

// askLink asks for a link and returns the path mailed to addr.
func (e *env) askLink(t *testing.T, addr string) string {
	t.Helper()
	_, n, _ := e.mail.Deliveries(0)
	w := e.do(t, "POST", "/login", nil, url.Values{"email": {addr}})
	if w.Code != http.StatusOK {
		t.Fatalf("POST /login: %d %s", w.Code, w.Body)
	}
	deadline := time.After(10 * time.Second)
	for {
		ds, _, ch := e.mail.Deliveries(n)
		for _, d := range ds {
			if len(d.To) == 1 && d.To[0] == addr {
				m := linkRE.FindSubmatch(bytes.ReplaceAll(d.Raw, []byte("=\r\n"), nil))
				if m == nil {
					t.Fatalf("no link in the mail:\n%s", d.Raw)
				}
				return string(m[1])
			}
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no login mail to %s", addr)
		}
	}
}

func httptestRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.8:5555"
	return r
}

func serve(e *env, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	return w
}

package demo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/ticket"
)

// syncBuffer is a bytes.Buffer the demo may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoScriptOnly plays the scripted case as CI does and checks the
// timeline: every step, every change of the ticket, the mail each person
// received (as read back over IMAP), and that the temporary folder is gone.
func TestDemoScriptOnly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	start := time.Now()
	o := DefaultOptions()
	o.ScriptOnly, o.Stdout, o.Stderr = true, &out, &errOut
	if err := Run(ctx, o); err != nil {
		t.Fatalf("demo --script-only: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	t.Logf("demo --script-only took %s", time.Since(start))
	got := out.String()
	if testing.Verbose() {
		t.Log("\n" + got)
	}

	// The console was on (Run waits for it to answer before the script).
	if !regexp.MustCompile(`web console  http://127\.0\.0\.1:\d+/`).MatchString(got) {
		t.Errorf("the console's address is not printed:\n%s", got)
	}

	// Every step, in order.
	last := -1
	for n := 1; n <= 8; n++ {
		i := strings.Index(got, "STEP    "+strconv.Itoa(n)+". ")
		if i < 0 || i < last {
			t.Fatalf("step %d missing or out of order in the timeline:\n%s", n, got)
		}
		last = i
	}
	idm := regexp.MustCompile(`OTI-\d{4}-000001`).FindString(got)
	if idm == "" {
		t.Fatalf("no ticket ID in the timeline:\n%s", got)
	}
	id := ticket.ID(idm)
	// Every change, as the history records it.
	for _, want := range []string{
		string(id) + " #1 opened by " + Requester.Addr + " -> open, level 1, group mesa",
		string(id) + " #2 classified by " + Agent.Addr,
		"category=redes priority=alta",
		string(id) + " #3 escalated by " + Agent.Addr + " -> open, level 2, group redes",
		string(id) + " #4 escalated by " + Network.Addr + " -> open, level 3, group proveedor",
		// The forged #cerrar forzar: refused, the ticket as it was.
		string(id) + " #5 refused by " + Agent.Addr + " -> open, level 3, group proveedor",
		"command=#cerrar forzar ya quedó reason=no se aplicó porque no se pudo verificar el remitente",
		string(id) + " #6 resolved by " + Provider.Addr + " -> resolved, level 3, group proveedor",
		string(id) + " #7 reopened by " + Requester.Addr + " -> open, level 1, group mesa",
		string(id) + " #8 resolved by " + Agent.Addr + " -> resolved, level 1, group mesa",
		string(id) + " #9 closed by " + Agent.Addr + " -> closed, level 1, group mesa",
		"state: closed   level: 1   group: mesa", // printTicket
		"Demo complete: ticket " + string(id) + " is closed.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	// The quoted mail below Laura's #reabrir is left out of the ticket.
	if !strings.Contains(got, "| > Hola, Laura Gómez:") {
		t.Errorf("timeline does not show the mail Laura quoted")
	}
	hist := got[strings.Index(got, "History:"):]
	if strings.Contains(hist, "escribió") || strings.Contains(hist, "> ") {
		t.Errorf("the quoted text reached the ticket's history:\n%s", hist)
	}

	boxes := mailboxes(t, got)
	tag := id.Tag()
	wantMail := []struct {
		who     Person
		markers []string
	}{
		{Requester, []string{tag + " " + demoSubject, subjLevel2, subjLevel3, subjResolved, subjReopenedUser, subjResolved, subjClosed}},
		{Network, []string{subjAssigned2, subjApplied}},
		{Provider, []string{subjAssigned3, subjApplied}},
		{Agent, []string{subjNewTicket, subjApplied, subjTransferred3, subjUnverified, subjResolvedDesk, subjReopened, subjApplied, subjApplied}},
		{OnSite, nil},
	}
	for _, w := range wantMail {
		subjects := boxes[w.who.Addr]
		for _, m := range w.markers {
			i := indexContaining(subjects, m)
			if i < 0 {
				t.Errorf("INBOX of %s lacks %q; it holds %q", w.who.Addr, m, boxes[w.who.Addr])
				continue
			}
			subjects = append(subjects[:i:i], subjects[i+1:]...)
		}
		if w.who == Requester && len(boxes[w.who.Addr]) != 7 {
			t.Errorf("INBOX of %s holds %d mails, want 7: %q", w.who.Addr, len(boxes[w.who.Addr]), boxes[w.who.Addr])
		}
		if len(w.markers) == 0 && len(subjects) != 0 {
			t.Errorf("INBOX of %s holds %q, want nothing", w.who.Addr, subjects)
		}
	}
	if n := len(boxes[Desk.Addr]); n != 8 {
		t.Errorf("the support mailbox holds %d mails, want the 8 the script sent", n)
	}

	// The temporary folder is removed at exit.
	m := regexp.MustCompile(`(?m)^  config\s+(\S+)$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no config line in the output")
	}
	if _, err := os.Stat(filepath.Dir(m[1])); !os.IsNotExist(err) {
		t.Errorf("temporary folder %s still there after the demo (stat: %v)", filepath.Dir(m[1]), err)
	}
}

// mailboxes parses "What each mailbox holds" into subjects by address.
func mailboxes(t *testing.T, out string) map[string][]string {
	t.Helper()
	i := strings.Index(out, "What each mailbox holds")
	if i < 0 {
		t.Fatalf("no mailbox summary in the output:\n%s", out)
	}
	boxes := map[string][]string{}
	cur := ""
	head := regexp.MustCompile(`^  (\S+@\S+): (\d+) mails$`)
	for _, line := range strings.Split(out[i:], "\n")[1:] {
		if m := head.FindStringSubmatch(line); m != nil {
			cur = m[1]
			boxes[cur] = []string{}
			continue
		}
		if s, ok := strings.CutPrefix(line, "    - "); ok && cur != "" {
			boxes[cur] = append(boxes[cur], s)
		}
	}
	return boxes
}

func indexContaining(ss []string, sub string) int {
	for i, s := range ss {
		if strings.Contains(s, sub) {
			return i
		}
	}
	return -1
}

// TestDemoStaysUp runs the demo as an operator would: after the script it
// keeps serving; the generated config reaches the daemon; a mail written by
// hand opens a ticket; the notifications are in the INBOXes over IMAP; and
// cancelling the context (Ctrl-C) ends it cleanly.
func TestDemoStaysUp(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	demoCtx, stop := context.WithCancel(ctx)
	defer stop()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	o := DefaultOptions()
	o.Dir, o.Stdout, o.Stderr = dir, &out, &errOut
	go func() { done <- Run(demoCtx, o) }()

	waitFor(t, ctx, done, "the demo to stay up", func() bool { return strings.Contains(out.String(), "The demo keeps running") }, &out)

	cfgFile := filepath.Join(dir, "ticketd.yaml")
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatalf("load the generated config: %v", err)
	}
	if cfg.IMAP.TLS != config.TLSNone || cfg.SMTP.TLS != config.TLSNone || len(cfg.Groups) != 4 {
		t.Errorf("generated config: imap tls %q, smtp tls %q, %d groups", cfg.IMAP.TLS, cfg.SMTP.TLS, len(cfg.Groups))
	}
	if !strings.Contains(out.String(), "tickets --config "+cfgFile) {
		t.Errorf("the output does not say how to run ticketd tickets --config %s", cfgFile)
	}

	// The generated config reaches the running daemon (the command line's
	// own tests run `ticketd tickets --config` on such a file).
	token, err := admin.ReadToken(cfg.AdminTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	adm := admin.NewClient(cfg.Admin.Listen, token)
	ts, err := adm.Tickets(ctx, ticket.Filter{})
	if err != nil || len(ts) != 1 || ts[0].State != ticket.StateClosed {
		t.Fatalf("tickets = %+v (%v), want one closed ticket", ts, err)
	}

	// The requester's notifications are in her INBOX.
	imapAddr := cfg.IMAP.Host + ":" + strconv.Itoa(cfg.IMAP.Port)
	ms, err := ReadInbox(ctx, imapAddr, Requester.Addr, Password)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 7 {
		t.Errorf("Laura's INBOX holds %d mails, want 7 (ack, level 2, level 3, resolved, reopened, resolved, closed)", len(ms))
	}
	for _, m := range ms {
		if m.Ticket != string(ts[0].ID) || !strings.Contains(m.Subject, ts[0].ID.Tag()) {
			t.Errorf("mail %q for Laura: X-Ticketd-Ticket %q, want %s in both", m.Subject, m.Ticket, ts[0].ID)
		}
	}

	// A mail written by hand opens a second ticket, and Laura is told.
	smtpAddr := cfg.SMTP.Host + ":" + strconv.Itoa(cfg.SMTP.Port)
	laura := demoMUA{me: Requester, smtpAddr: smtpAddr, imapAddr: imapAddr, password: Password}
	if _, err := laura.send(ctx, Desk, "La impresora del piso 2 no imprime", "Sale una hoja en blanco.\n", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, done, "a second ticket and its acknowledgement", func() bool {
		ts, err := adm.Tickets(ctx, ticket.Filter{State: ticket.StateOpen})
		if err != nil || len(ts) != 1 {
			return false
		}
		ms, err := laura.inbox(ctx)
		return err == nil && len(ms) == 8 && strings.Contains(ms[7].Subject, ts[0].ID.Tag())
	}, &out)
	// An unknown recipient is refused by the SMTP server.
	if _, err := laura.send(ctx, Person{Addr: "nadie@" + Domain}, "hola", "hola\n", nil); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("mail to an unknown recipient: err = %v, want a 550", err)
	}

	// The web console answers: the ready link printed for the desk agent
	// signs her in, and her queue shows the open ticket.
	checkConsole(t, ctx, cfg, out.String())

	// Ctrl-C.
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after Ctrl-C: %v\n%s", err, errOut.String())
		}
	case <-ctx.Done():
		t.Fatal("demo did not stop after Ctrl-C")
	}
	if !strings.Contains(out.String(), "Stopping the demo.") {
		t.Errorf("no goodbye in the output")
	}
	if _, err := os.Stat(filepath.Join(dir, "ticketd.log")); err != nil {
		t.Errorf("--dir: the log file is not kept: %v", err)
	}
}

// checkConsole signs in to the demo's console with the ready link printed
// for the desk agent and reads the queue (the one open ticket), a case and
// the requester's printed status page.
func checkConsole(t *testing.T, ctx context.Context, cfg config.Config, out string) {
	t.Helper()
	base := cfg.Web.BaseURL
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.Contains(out, "web console  "+base+"/") {
		t.Fatalf("web.base_url %q, not printed as the console's address:\n%s", base, out)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(Agent.Name) + ` \(mesa\) +(` + regexp.QuoteMeta(base) + `/login/\S+)`).FindStringSubmatch(out)
	if link == nil {
		t.Fatalf("no ready sign-in link for %s in the output:\n%s", Agent.Name, out)
	}
	for _, p := range Staff() {
		if !strings.Contains(out, p.Name+" ("+p.Group+")") {
			t.Errorf("no sign-in link for %s", p.Name)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, link[1], nil)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 {
		t.Fatalf("POST the sign-in link: %s, cookies %v", resp.Status, cookies)
	}
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.AddCookie(cookies[0])
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	open, err := admin.NewClient(cfg.Admin.Listen, mustToken(t, cfg)).Tickets(ctx, ticket.Filter{State: ticket.StateOpen})
	if err != nil || len(open) != 1 {
		t.Fatalf("open tickets %+v (%v)", open, err)
	}
	if q := get("/"); !strings.Contains(q, `href="/t/`+string(open[0].ID)+`"`) {
		t.Errorf("the queue lacks the open ticket %s:\n%s", open[0].ID, q)
	}
	closed := regexp.MustCompile(`status page of (\S+)`).FindStringSubmatch(out)
	if closed == nil {
		t.Fatalf("no status page printed:\n%s", out)
	}
	if c := get("/t/" + closed[1]); !strings.Contains(c, demoSubject) {
		t.Errorf("the case %s lacks its subject %q", closed[1], demoSubject)
	}
	status := regexp.MustCompile(regexp.QuoteMeta(base) + `/s/\S+`).FindString(out)
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, status, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), closed[1]) {
		t.Errorf("the printed status page %s: %s\n%s", status, resp.Status, b)
	}
}

func mustToken(t *testing.T, cfg config.Config) string {
	t.Helper()
	token, err := admin.ReadToken(cfg.AdminTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// waitFor polls cond until it holds, failing if the demo ends or ctx does.
func waitFor(t *testing.T, ctx context.Context, done <-chan error, what string, cond func() bool, out *syncBuffer) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("demo ended while waiting for %s: %v\n%s", what, err, out.String())
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s\n%s", what, out.String())
		case <-tick.C:
		}
	}
}

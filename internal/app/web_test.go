package app

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/web"
	"github.com/ticketd/ticketd/ticket"
)

// TestRunWithConsole runs the whole daemon with the web console on a
// loopback port: staff sign in with a link read by IMAP from their
// mailbox; a mail arrives, the open event stream tells of the commit and
// the queue shows the ticket; its acknowledgement carries the status link,
// which opens the requester's page on the console (the same link as any
// later rendering gives) and, with another ticket's ID, is a 404. At the
// end of the context the console stops with the others, ends the stream,
// and leaves no goroutine behind.
func TestRunWithConsole(t *testing.T) {
	sys := startMail(t)
	cfg := testConfig(t, sys, freeAddr(t))
	cfg.Web.Listen = freeAddr(t)
	cfg.Web.BaseURL = "http://" + cfg.Web.Listen
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	console := cfg.Web.BaseURL
	base := runtime.NumGoroutine()
	d, ctx, cancel, done := startDaemon(t, cfg)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, c *http.Cookie) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", console+path, nil)
		if c != nil {
			req.AddCookie(c)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	// Sign in as the desk's agent, by the link mailed to the agent.
	waitFor(t, done, "the console listening", func() bool {
		res, err := client.PostForm(console+"/login", url.Values{"email": {agentAddr}})
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	var link string
	waitFor(t, done, "a login link in the agent's mailbox", func() bool {
		link = findLink(t, sys, agentAddr, regexp.QuoteMeta(console)+`/login/[A-Za-z0-9_-]+`)
		return link != ""
	})
	res, err := client.PostForm(link, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "ticketd_session" {
			cookie = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("using the login link: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	if code, page := get("/", cookie); code != http.StatusOK || strings.Contains(page, "No tengo red") {
		t.Fatalf("queue before any mail: %d", code)
	}

	// The event stream, open before the mail comes.
	req, _ := http.NewRequestWithContext(ctx, "GET", console+"/events", nil)
	req.AddCookie(cookie)
	stream, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /events: %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	events := make(chan string, 16)
	streamEnded := make(chan struct{})
	go func() {
		defer close(streamEnded)
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: ") {
				events <- sc.Text()
			}
		}
	}()

	send(t, sys, userAddr, deskAddr, "No tengo red", "Desde ayer no hay red en el piso 2.")
	select {
	case ev := <-events:
		if ev != "event: change" {
			t.Fatalf("event %q, want change", ev)
		}
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no event on the stream after the mail")
	}
	code, page := get("/", cookie)
	if code != http.StatusOK || !strings.Contains(page, "No tengo red") {
		t.Fatalf("queue after the mail: %d, without the ticket:\n%s", code, page)
	}

	// The acknowledgement's status link opens the requester's page.
	var status string
	waitFor(t, done, "the acknowledgement with a status link", func() bool {
		status = findLink(t, sys, userAddr, regexp.QuoteMeta(console)+`/s/[A-Za-z0-9.-]+`)
		return status != ""
	})
	path := strings.TrimPrefix(status, console)
	id, _, _ := strings.Cut(strings.TrimPrefix(path, "/s/"), ".")
	if code, page := get(path, nil); code != http.StatusOK || !strings.Contains(page, id) || !strings.Contains(page, "No tengo red") {
		t.Fatalf("status link %s: %d\n%s", status, code, page)
	}
	other := ticket.ID(strings.Replace(id, "-000001", "-000002", 1))
	if other == ticket.ID(id) {
		t.Fatalf("ticket %s is not the first", id)
	}
	if code, _ := get(strings.Replace(path, id, string(other), 1), nil); code != http.StatusNotFound {
		t.Errorf("status link with ticket %s: %d, want 404", other, code)
	}
	// A retried or re-rendered acknowledgement carries the same link: it
	// is computed from the ticket's ID and the key file alone.
	key, err := os.ReadFile(webKeyFile(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	if want := web.StatusLink(cfg.Web.BaseURL, key, ticket.ID(id)); status != want {
		t.Errorf("mailed status link %s, want %s", status, want)
	}
	render, err := d.newRenderer(cfg) // as a reload builds it
	if err != nil {
		t.Fatal(err)
	}
	tk := &ticket.Ticket{ID: ticket.ID(id), Requester: ticket.Address{Addr: userAddr}, Level: ticket.Level1}
	out, err := render.Render(ticket.Pending{Seq: 1, Notice: ticket.Notice{Kind: ticket.NoticeAck, To: []ticket.Address{tk.Requester}, Ticket: tk}})
	if err != nil || !strings.Contains(out.Text, status) {
		t.Errorf("re-rendered acknowledgement (%v) lacks %s:\n%s", err, status, out.Text)
	}

	cancel()
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run after the end of its context: %v", err)
	}
	select {
	case <-streamEnded:
	case <-time.After(10 * time.Second):
		t.Error("the event stream is still open after Run returned")
	}
	stream.Body.Close()
	checkNoLeak(t, base)
	checkStoreClosed(t, cfg)
	if _, err := client.Get(console + "/login"); err == nil {
		t.Error("the console still answers after Run returned")
	}
}

// findLink reads user's INBOX by IMAP and returns the first match of
// pattern in its mails (quoted-printable soft breaks undone), "" when none.
func findLink(t *testing.T, sys *devmail.System, user, pattern string) string {
	t.Helper()
	c, err := imapclient.DialInsecure(sys.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("IMAP login as %s: %v", user, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("select INBOX of %s: %v", user, err)
	}
	if sel.NumMessages == 0 {
		return ""
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: sel.NumMessages}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil {
		t.Fatalf("fetch the INBOX of %s: %v", user, err)
	}
	re := regexp.MustCompile(pattern)
	for _, m := range msgs {
		for _, b := range m.BodySection {
			if found := re.Find(bytes.ReplaceAll(b.Bytes, []byte("=\r\n"), nil)); found != nil {
				return string(found)
			}
		}
	}
	return ""
}

//go:build e2e

package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ticketd/ticketd/internal/web"
	"github.com/ticketd/ticketd/ticket"
)

// strangerWait is how long a stranger's mailbox is watched for a login
// link that must not come, after the staff member's link (asked for
// later, mailed by the same queue) has arrived.
const strangerWait = 5 * time.Second

// TestConsole signs a desk agent in to the web console of the real daemon
// through the link mailed to her, in a real browser: she sees the queue
// with the ticket, opens the case, sends an internal note through the
// case's "#nota" mailto: action, and sees the queue take a new request
// without reloading; the requester's status page shows the case without
// the note; a stranger who asked for a link got the same answer and no
// mail; the spent link is refused. Screenshots of the queue, the case and
// the status page at phone and desktop widths go to e2e/artifacts.
func TestConsole(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario1", "usuario2", "extrano")
	d := newDaemon(t, ppl, daemonOpts{web: true})
	mesa1, stranger := ppl.addr("mesa1"), ppl.addr("extrano")
	subject := "El correo no sincroniza en el celular"
	id, ack := openTicket(t, ppl, "usuario1", subject, "Desde ayer el celular no recibe correo.")
	waitFor(t, 20*time.Second, "the web console", func() (bool, string) {
		resp, err := http.Get(d.webURL + "/login")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	b := newBrowser(t)
	b.view(desktop)
	// The stranger asks first: the links are mailed one after the other,
	// so when the desk agent's arrives, the stranger's request was handled.
	strangerSaw := b.askLink(d, stranger)
	agentSaw := b.askLink(d, mesa1)
	if strangerSaw != agentSaw || agentSaw == "" {
		t.Errorf("the login form answers a stranger %q and staff %q: want the same answer", strangerSaw, agentSaw)
	}
	linkMail := stk.waitMail(t, mesa1, mailWait, "the login link", func(m gotMail) bool { return strings.Contains(m.Text, d.webURL+"/login/") })
	link := regexp.MustCompile(regexp.QuoteMeta(d.webURL) + `/login/[A-Za-z0-9_-]+`).FindString(linkMail.Text)
	if link == "" {
		t.Fatalf("no link in the login mail:\n%s", linkMail.Text)
	}

	// The link's page has a button; pressing it signs in and opens the queue.
	b.useLink(link)
	row := `a[href="/t/` + id + `"]`
	b.run("the queue with "+id, chromedp.WaitVisible(chromedp.CSS(row)))
	if got := value(b, "the queue's text", chromedp.TextContent(chromedp.CSS("main"))); !strings.Contains(got, subject) || !strings.Contains(got, ppl.addr("usuario1")) {
		t.Errorf("the queue lacks the subject or the requester of %s:\n%s", id, got)
	}
	b.screenshot("queue", phone)
	b.screenshot("queue", desktop)

	// The case, with its actions; "Nota interna" opens a mail to the desk.
	b.run("open "+id, chromedp.Navigate(d.webURL+"/t/"+id), chromedp.WaitVisible(chromedp.CSS("ul.actions a")))
	var note mailto
	var labels []string
	for _, l := range b.links(`ul.actions a[href^="mailto:"]`) {
		labels = append(labels, l.Text)
		if l.Text == "Nota interna" {
			note = parseMailto(t, l.Href)
		}
	}
	t.Logf("the case's actions: %q", labels)
	if note.To != d.desk || note.Subject != "Re: ["+id+"] "+subject || strings.TrimSpace(note.Body) != "#nota" {
		t.Fatalf("the note action opens %+v (actions %q)", note, labels)
	}
	if !strings.HasPrefix(note.InReplyTo, "<") {
		t.Errorf("the note action's In-Reply-To %q is no Message-ID of the case's thread", note.InReplyTo)
	}
	const secret = "Clave del router del piso 3: R0uter-2026"
	note.send(t, mesa1, secret)
	d.waitTicket(id, mailWait, "the note recorded", func(tk ticketJSON) bool { return len(tk.entries("noted")) == 1 })
	b.run("reload "+id, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("ol.history li.internal")))
	if !value(b, "the internal entries", chromedp.Evaluate[bool](`Array.from(document.querySelectorAll("ol.history li.internal")).some(li => li.textContent.includes(`+jsString(secret)+`))`)) {
		t.Errorf("the case does not show the note among its internal entries")
	}
	b.screenshot("case", phone)
	b.screenshot("case", desktop)

	// The queue takes a new request by itself: no reload (the marker set
	// on the page survives), the new row appears.
	b.run("back to the queue", chromedp.Navigate(d.webURL+"/"), chromedp.WaitVisible(chromedp.CSS(row)))
	b.run("mark the page", chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	id2, _ := openTicket(t, ppl, "usuario2", "No abre el sistema de nómina", "Sale un error al entrar.")
	b.run("the new row "+id2, chromedp.WaitVisible(chromedp.CSS(`a[href="/t/`+id2+`"]`)))
	if !value(b, "the marker", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Errorf("the queue was reloaded to show %s", id2)
	}

	// The requester's status page: the case, without the note.
	status := statusLink(t, d, id, ack)
	b.run("the status page", chromedp.Navigate(status), chromedp.WaitVisible(chromedp.CSS("ol.history")))
	page := value(b, "the status page's text", chromedp.TextContent(chromedp.CSS("main")))
	if !strings.Contains(page, id) || !strings.Contains(page, subject) {
		t.Errorf("the status page lacks %s or its subject:\n%s", id, page)
	}
	if strings.Contains(page, secret) || strings.Contains(page, "#nota") || strings.Contains(page, "interna") {
		t.Errorf("the status page shows the internal note:\n%s", page)
	}
	b.screenshot("status", phone)
	b.screenshot("status", desktop)

	// The spent link is refused.
	b.useLink(link)
	if got := value(b, "the reused link's answer", chromedp.TextContent(chromedp.CSS("main"))); !strings.Contains(got, "ya se usó") {
		t.Errorf("a reused login link answers:\n%s", got)
	}

	// The stranger got nothing, well after the agent's link arrived.
	time.Sleep(strangerWait)
	if ms := stk.mailbox(t, stranger, "INBOX"); len(ms) != 0 {
		t.Errorf("a stranger who asked for a login link got mail: %v", ms)
	}
}

// askLink fills the login form with addr and returns the answer page's text.
func (b *browser) askLink(d *daemon, addr string) string {
	b.t.Helper()
	b.run("ask a link for "+addr, chromedp.Navigate(d.webURL+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), addr), chromedp.Submit(chromedp.CSS("#email")),
		chromedp.WaitNotPresent(chromedp.CSS("#email")))
	return value(b, "the answer to "+addr, chromedp.TextContent(chromedp.CSS("main")))
}

// useLink opens a login link and presses its page's button.
func (b *browser) useLink(link string) {
	b.t.Helper()
	btn := chromedp.CSS(`form[action^="/login/"] button`)
	b.run("use the login link", chromedp.Navigate(link), chromedp.WaitVisible(btn), chromedp.Click(btn),
		chromedp.WaitNotPresent(btn))
}

// statusLink is the requester's status page of id: the link in her
// acknowledgement when it has one, else built from the daemon's key file
// (web.key in the data directory) as the daemon builds it.
func statusLink(t testing.TB, d *daemon, id string, ack gotMail) string {
	t.Helper()
	if l := regexp.MustCompile(regexp.QuoteMeta(d.webURL) + `/s/[A-Za-z0-9.-]+`).FindString(ack.Text); l != "" {
		t.Logf("status link from the acknowledgement")
		return l
	}
	key, err := os.ReadFile(filepath.Join(d.dataDir, "web.key"))
	if err != nil {
		t.Fatalf("the status links' key: %v", err)
	}
	t.Logf("the acknowledgement has no status link: built from web.key")
	return d.webURL + "/s/" + web.StatusToken(key, ticket.ID(id))
}

package notify

import (
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/notify/replytoken"
	"github.com/ticketd/ticketd/ticket"
)

var hrefRE = regexp.MustCompile(`href="(mailto:[^"]*)"`)

// actionLinks returns the mailto: links of an HTML part that carry a
// query (the one-tap actions; the signature's plain address has none),
// decoded: to, subject, In-Reply-To, body.
func actionLinks(t testing.TB, h string) []url.Values {
	t.Helper()
	var out []url.Values
	for _, m := range hrefRE.FindAllStringSubmatch(h, -1) {
		to, raw, ok := strings.Cut(strings.TrimPrefix(html.UnescapeString(m[1]), "mailto:"), "?")
		if !ok {
			continue
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatalf("%s: %v", m[1], err)
		}
		addr, err := url.PathUnescape(to)
		if err != nil {
			t.Fatal(err)
		}
		q.Set("to", addr)
		out = append(out, q)
	}
	return out
}

// TestOneTapActions: the assignment and new-ticket mails carry, in HTML,
// a link per command their recipient may answer with, to that
// recipient's own reply address, answering that very mail, with the
// command in the body; the text part carries none (a list of URLs of
// some 240 characters each does not read on a phone); no other kind
// carries any.
func TestOneTapActions(t *testing.T) {
	tokens, err := replytoken.New(replytoken.Options{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(RendererOptions{From: support, Hostname: "ticketd.test", People: testDirectory(t),
		ReplyTo: func(id ticket.ID, rcpt string, at time.Time) string {
			return tokens.Address(support.Addr, id, rcpt, at)
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[ticket.NoticeKind][]string{
		ticket.NoticeAssigned:  {"#escalar nivel3 proveedor", "#asignar " + tech, "#resolver ", "#nota "},
		ticket.NoticeNewTicket: {"#clasificar ", "#prioridad alta", "#prioridad media", "#prioridad baja", "#escalar nivel2 redes", "#escalar nivel3 proveedor", "#asignar " + agent1, "#resolver ", "#cerrar forzar ", "#nota "},
	}
	for k, p := range firstOfEachKind(t, walk(t)) {
		out, err := r.Render(p)
		if err != nil {
			t.Fatal(err)
		}
		links := actionLinks(t, out.HTML)
		if strings.Contains(out.Text, "mailto:") {
			t.Errorf("%s: the text part has mailto: URLs", k)
		}
		if want[k] == nil {
			if len(links) > 0 {
				t.Errorf("%s: %d action links, want none", k, len(links))
			}
			continue
		}
		rcpt := p.Notice.To[0].Addr
		var bodies []string
		for _, q := range links {
			bodies = append(bodies, q.Get("body"))
			if got, want := q.Get("to"), tokens.Address(support.Addr, p.Notice.Ticket.ID, rcpt, p.CreatedAt); got != want {
				t.Errorf("%s: link to %q, want the reply address %q", k, got, want)
			}
			if got := q.Get("In-Reply-To"); got != "<"+p.MessageID+">" {
				t.Errorf("%s: In-Reply-To %q, want this mail's <%s>", k, got, p.MessageID)
			}
			if got := q.Get("subject"); got != "Re: [OTI-2026-000042] "+p.Notice.Ticket.Subject {
				t.Errorf("%s: subject %q", k, got)
			}
			body := q.Get("body")
			if strings.HasSuffix(body, " ") {
				body += "x" // the words the person types after it
			}
			if c := ticket.ParseCommands(body); len(c.Commands) != 1 || c.Commands[0].Err != nil {
				t.Errorf("%s: body %q is not one command: %+v", k, q.Get("body"), c.Commands)
			}
		}
		if !slices.Equal(bodies, want[k]) {
			t.Errorf("%s to %s: actions %q\nwant %q", k, rcpt, bodies, want[k])
		}
	}
}

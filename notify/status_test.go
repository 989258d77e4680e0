package notify

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/ticket"
)

// statusURL is a status link of the tests: deterministic, like
// web.StatusURL, and easy to find in a mail.
func statusURL(id ticket.ID) string { return "https://soporte.oti.test/s/" + string(id) + ".estado" }

func newStatusRenderer(t *testing.T, lang string) *Renderer {
	t.Helper()
	r, err := NewRenderer(RendererOptions{From: support, Lang: lang, Attachments: openBlob, MaxAttachTotal: 1024, Hostname: "ticketd.test",
		People: testDirectory(t), StatusURL: statusURL})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestStatusLinkGolden: with status links on, the acknowledgement tells
// the requester where her ticket's status page is, in both parts.
func TestStatusLinkGolden(t *testing.T) {
	ack := firstOfEachKind(t, walk(t))[ticket.NoticeAck]
	for _, lang := range []string{"es", "en"} {
		t.Run(lang, func(t *testing.T) {
			out, err := newStatusRenderer(t, lang).Render(ack)
			if err != nil {
				t.Fatal(err)
			}
			link := statusURL(ack.Notice.Ticket.ID)
			if !strings.Contains(out.Text, link) || !strings.Contains(out.HTML, `<a href="`+link+`">`) {
				t.Errorf("the acknowledgement lacks the link %s:\n%s\n%s", link, out.Text, out.HTML)
			}
			checkGolden(t, filepath.Join("testdata", lang+"_ack_status.golden"), out)
		})
	}
}

// TestStatusLinkOnlyToRequester renders every notice of the walk with
// status links on: the link is in the acknowledgements to the requester
// and in no other mail (staff, third parties, unverified senders, help to
// a stranger); an acknowledgement addressed to anyone else has none.
func TestStatusLinkOnlyToRequester(t *testing.T) {
	const mark = "/s/OTI-"
	for _, lang := range []string{"es", "en"} {
		r := newStatusRenderer(t, lang)
		acks := 0
		for _, p := range walk(t) {
			out, err := r.Render(p)
			if err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(out.Text, mark) || strings.Contains(out.HTML, mark)
			want := p.Notice.Kind == ticket.NoticeAck
			if want {
				acks++
				if p.Notice.To[0].Addr != p.Notice.Ticket.Requester.Addr {
					t.Fatalf("the walk's acknowledgement goes to %s, not the requester", p.Notice.To[0].Addr)
				}
			}
			if has != want {
				t.Errorf("%s %s to %s: status link shown %t, want %t", lang, p.Notice.Kind, p.Notice.To[0].Addr, has, want)
			}
			if !p.Notice.Kind.RevealsTicket() && has {
				t.Errorf("%s %s reveals the ticket's status link", lang, p.Notice.Kind)
			}
		}
		if acks != 3 {
			t.Errorf("%s: %d acknowledgements in the walk, want 3", lang, acks)
		}
		ack := firstOfEachKind(t, walk(t))[ticket.NoticeAck]
		for _, to := range []ticket.Address{outsider, {Addr: agent1}} {
			ack.Notice.To = []ticket.Address{to}
			out, err := r.Render(ack)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.Text, mark) || strings.Contains(out.HTML, mark) {
				t.Errorf("%s: an acknowledgement to %s carries the status link", lang, to.Addr)
			}
		}
	}
}

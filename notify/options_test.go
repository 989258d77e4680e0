package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// people is a directory of display names and group labels for the
// renderer, as *ticket.Directory provides them.
type people struct{}

func (people) DisplayName(addr string) string {
	return map[string]string{agent1: "Carlos Pérez", tech: "Jorge Méndez"}[addr]
}

func (people) GroupLabel(name string) string {
	return map[string]string{"redes": "Redes y comunicaciones"}[name]
}

func (people) Groups() []ticket.Group { return nil }

func assignedNotice(t *testing.T) ticket.Pending {
	t.Helper()
	return firstOfEachKind(t, walk(t))[ticket.NoticeAssigned]
}

// TestMaxAttachTotalZeroAttachesNone: smtp.max_attach_total 0 is
// documented as "forwards none"; it forwarded up to 10 MiB.
func TestMaxAttachTotalZeroAttachesNone(t *testing.T) {
	r, err := NewRenderer(RendererOptions{From: support, Attachments: openBlob, MaxAttachTotal: 0})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.Bytes(assignedNotice(t))
	if err != nil {
		t.Fatal(err)
	}
	m := parseMail(t, raw)
	if len(m.Files) != 0 {
		t.Errorf("MaxAttachTotal 0 attached %d files, want none", len(m.Files))
	}
	if !strings.Contains(m.Text, "foto impresora.jpg (20 B, SHA-256") {
		t.Errorf("the files are not listed instead:\n%s", m.Text)
	}
}

// TestSupportAddressIsReplyTo: smtp.support_address is documented as the
// Reply-To of every mail; the From address was used.
func TestSupportAddressIsReplyTo(t *testing.T) {
	r, err := NewRenderer(RendererOptions{From: ticket.Address{Name: "Mesa", Addr: "no-responder@entidad.gov.co"}, SupportAddress: "soporte.oti@entidad.gov.co"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range firstOfEachKind(t, walk(t)) {
		raw, err := r.Bytes(p)
		if err != nil {
			t.Fatal(err)
		}
		m := parseMail(t, raw)
		if got := m.Header.Get("Reply-To"); !strings.Contains(got, "<soporte.oti@entidad.gov.co>") {
			t.Errorf("%s: Reply-To %q, want the support address", p.Notice.Kind, got)
		}
		if got := m.Header.Get("From"); !strings.Contains(got, "no-responder@entidad.gov.co") {
			t.Errorf("%s: From %q", p.Notice.Kind, got)
		}
	}
}

// TestDatesInLocation: dates in mails are in the configured zone, with
// its abbreviation, not UTC.
func TestDatesInLocation(t *testing.T) {
	bogota, err := time.LoadLocation("America/Bogota")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(RendererOptions{From: support, Location: bogota})
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(assignedNotice(t))
	if err != nil {
		t.Fatal(err)
	}
	// The request came at 14:30 UTC: 09:30 in Bogotá (UTC-5).
	if !strings.Contains(out.Text, "2026-03-09 09:30 -05") || strings.Contains(out.Text, "UTC") {
		t.Errorf("dates not in America/Bogota:\n%s", out.Text)
	}
}

// TestStaffNamesAndGroupLabels: staff are named by their display name and
// groups by their label, in the summary and the history.
func TestStaffNamesAndGroupLabels(t *testing.T) {
	r, err := NewRenderer(RendererOptions{From: support, People: people{}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(assignedNotice(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Lo asignó Carlos Pérez.", "Redes y comunicaciones", "Carlos Pérez: escaló el caso del nivel 1 al nivel 2 (grupo Redes y comunicaciones)"} {
		if !strings.Contains(out.Text, want) || !strings.Contains(out.HTML, want) {
			t.Errorf("mail lacks %q:\n%s", want, out.Text)
		}
	}
	if strings.Contains(out.Text, "agente1@entidad.gov.co") {
		t.Errorf("the agent is named by address:\n%s", out.Text)
	}
}

// TestViewport: every HTML mail carries a viewport, so phones do not
// zoom out.
func TestViewport(t *testing.T) {
	for _, lang := range []string{"es", "en"} {
		r := newTestRenderer(t, lang)
		for k, p := range firstOfEachKind(t, walk(t)) {
			out, err := r.Render(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.HTML, `<meta name="viewport" content="width=device-width, initial-scale=1">`) {
				t.Errorf("%s %s: no viewport", lang, k)
			}
		}
	}
}

// TestAssignmentCommentOnce is the reported defect: the desk classifies
// and escalates in one mail with a comment, and the assignment mail showed
// the comment three times (as the comment, and under each command of the
// history).
func TestAssignmentCommentOnce(t *testing.T) {
	dir, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Members: []string{agent1}},
		{Name: "redes", Level: ticket.Level2, Members: []string{tech}},
	})
	if err != nil {
		t.Fatal(err)
	}
	desk, _ := ticket.NewDesk(dir)
	now := time.Date(2026, 3, 9, 14, 30, 0, 0, time.UTC)
	o := desk.Open("OTI-2026-000050", ticket.Inbound{Sender: ticket.Trusted("t"), MessageID: "a@x", From: requester, Subject: "Sin red", Text: "No tengo red."}, "", now)
	tk := o.Ticket
	o = desk.Reply(tk, ticket.Inbound{Sender: ticket.Trusted("t"), MessageID: "b@x", From: ticket.Address{Addr: agent1},
		Text: "#clasificar redes alta\n#escalar nivel2 redes\nRevisar el punto de red de la oficina 301."}, now.Add(time.Minute))
	var p ticket.Pending
	for _, n := range o.Notices {
		if n.Kind == ticket.NoticeAssigned {
			p = ticket.Pending{Seq: 1, MessageID: "n@x", Notice: n, CreatedAt: now}
		}
	}
	r := newTestRenderer(t, "es")
	out, err := r.Render(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.Text, "Revisar el punto de red"); n != 1 {
		t.Errorf("the comment shows %d times in the text, want once:\n%s", n, out.Text)
	}
	if n := strings.Count(out.HTML, "Revisar el punto de red"); n != 1 {
		t.Errorf("the comment shows %d times in the HTML, want once", n)
	}
}

// TestRequesterReceiptSpeaksPlainly: the answer to a requester's refused
// command says what happened in plain words; "Órdenes" and the syntax of
// the desk's commands are for staff.
func TestRequesterReceiptSpeaksPlainly(t *testing.T) {
	var p ticket.Pending
	for _, q := range walk(t) {
		if q.Notice.Kind == ticket.NoticeReceipt && q.Notice.To[0].Addr == requester.Addr {
			p = q
			break
		}
	}
	for _, lang := range []string{"es", "en"} {
		out, err := newTestRenderer(t, lang).Render(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, jargon := range []string{"Órdenes", "órdenes", "Sintaxis", "Commands", "commands", "syntax"} {
			if strings.Contains(out.Subject, jargon) || strings.Contains(out.Text, jargon) {
				t.Errorf("%s: the requester's receipt says %q:\n%s\n%s", lang, jargon, out.Subject, out.Text)
			}
		}
	}
}

package daemon

import (
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/ticket"
)

// TestMailWithoutSenderIsSeen: a person's request that names no sender at
// all (no From, no Return-Path) opens a ticket the desk sees, with the
// requester unknown, nobody acknowledged and the desk told; a pure-garbage
// mail and an empty one are set aside with why, where an operator lists
// them. On the code before this test both were kept "unthreaded" only.
func TestMailWithoutSenderIsSeen(t *testing.T) {
	db, l := newIngestLoop(t, 1<<20)
	for i, raw := range []string{
		"To: soporte@oti.test\r\nSubject: no imprime\r\nMessage-ID: <nofrom@x>\r\n\r\nSoy Ana, de contabilidad (ext. 214): la impresora no imprime.\r\n",
		"\x00\x01\xff\xfe basura \x89PNG\r\n\x00\x00\x00 \xff\xff",
		"",
	} {
		if err := l.Handle(t.Context(), &mailbox.Message{UIDValidity: 1, UID: uint32(i + 1), Body: strings.NewReader(raw)}); err != nil {
			t.Fatalf("Handle mail %d: %v", i, err)
		}
	}
	var ts []ticket.Ticket
	var full *ticket.Ticket
	var aside []record.Unthreaded
	var owed []string
	_ = db.View(t.Context(), func(tx *store.Tx) error {
		ts, _ = tx.List(ticket.Filter{})
		if len(ts) == 1 {
			full, _ = tx.Ticket(ts[0].ID)
		}
		aside, _ = tx.UnthreadedList()
		items, _ := tx.Pending()
		for _, it := range items {
			owed = append(owed, string(it.Owed.Kind)+" to "+it.To.Addr)
		}
		return nil
	})
	if len(ts) != 1 || full == nil {
		t.Fatalf("tickets = %+v, want one for the request without a sender; set aside: %+v", ts, aside)
	}
	if full.Requester.Addr != "desconocido@invalid" || full.Subject != "no imprime" || !strings.Contains(full.Body, "ext. 214") {
		t.Errorf("ticket = %+v, want the unknown requester and the request's text", full)
	}
	var note string
	for _, e := range full.History {
		if e.Kind == ticket.KindNoted {
			note = e.Text
		}
		if e.Kind == ticket.KindDeliveryFailed {
			t.Errorf("an acknowledgement was tried to the unknown requester: %+v", e)
		}
	}
	if !strings.Contains(note, "desconocido") || !strings.Contains(note, full.History[0].Data["raw_sha256"]) {
		t.Errorf("the desk's note = %q, want it to say the requester is unknown and name the raw mail", note)
	}
	if len(owed) != 1 || !strings.HasPrefix(owed[0], "new_ticket to ") {
		t.Errorf("notifications owed: %q, want only the desk's new_ticket (no acknowledgement)", owed)
	}
	if len(aside) != 2 {
		t.Fatalf("set aside = %+v, want the garbage and the empty mail", aside)
	}
	for _, u := range aside {
		if u.RawSHA256 == "" || u.At.IsZero() || !strings.Contains(u.Reason, "unreadable") {
			t.Errorf("set-aside record %+v, want an ID, the raw mail, a date and the reason", u)
		}
	}
}

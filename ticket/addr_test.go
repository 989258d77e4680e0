package ticket

import (
	"slices"
	"strings"
	"testing"
)

func TestMailable(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"ana@example.org", true},
		{"John.Smith@example.org", true},
		{`"quoted part"@example.org`, true},
		{"ana@example.org.", false},
		{"c d@example.org", false},
		{"ana.@example.org", false},
		{"ana", false},
		{"ana@localhost", true},
	} {
		if err := Mailable(tt.addr); (err == nil) != tt.ok {
			t.Errorf("Mailable(%q) = %v, want ok %v", tt.addr, err, tt.ok)
		}
	}
}

func TestWrittenAddr(t *testing.T) {
	if got := WrittenAddr(" John.Smith@Example.ORG "); got != "John.Smith@example.org" {
		t.Errorf("WrittenAddr = %q", got)
	}
	if !SameAddr("John.Smith@Example.org", "john.smith@example.org") || SameAddr("a@x.org", "b@x.org") {
		t.Error("SameAddr does not compare by the lowercased key")
	}
}

// TestOpenUnmailableRequester opens tickets for requesters whose address
// cannot be mailed: the ticket records at once, for the desk, that the
// acknowledgement did not go and why, and the desk is still alerted.
func TestOpenUnmailableRequester(t *testing.T) {
	d := testDesk(t)
	for _, addr := range []string{"ana@example.org.", "c d@example.org"} {
		o := d.Open("OTI-2026-000010", Inbound{Sender: verified, MessageID: "u@x", From: Address{Name: "Ana", Addr: addr},
			Subject: "s", Text: "No imprime"}, "", t0)
		if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeNewTicket}) {
			t.Errorf("%s: notices = %v, want only the desk alert", addr, got)
		}
		if got := kinds(o.Ticket.History); !slices.Equal(got, []Kind{KindOpened, KindDeliveryFailed}) {
			t.Fatalf("%s: kinds = %v", addr, got)
		}
		e := o.Ticket.History[1]
		if e.Data["recipient"] != addr || !strings.Contains(e.Text, "no admite correo") || !strings.Contains(e.Data["reason_en"], "cannot be mailed") {
			t.Errorf("%s: delivery failure = %+v", addr, e)
		}
		if len(o.Entries) != 2 {
			t.Errorf("%s: entries to store = %d, want 2", addr, len(o.Entries))
		}
	}
}

// TestRequesterCaseKept opens a ticket from John.Smith@Example.org: the
// ticket and its acknowledgement keep the local part as written, and a reply
// from the same address in other case is the requester's.
func TestRequesterCaseKept(t *testing.T) {
	d := testDesk(t)
	o := d.Open("OTI-2026-000011", Inbound{Sender: verified, MessageID: "c@x", From: Address{Addr: "John.Smith@Example.org"},
		Subject: "s", Text: "hola"}, "", t0)
	if o.Ticket.Requester.Addr != "John.Smith@example.org" || o.Notices[0].To[0].Addr != "John.Smith@example.org" {
		t.Fatalf("requester %q, ack to %q; want John.Smith@example.org", o.Ticket.Requester.Addr, o.Notices[0].To[0].Addr)
	}
	if !d.TakesPart(o.Ticket, "JOHN.SMITH@EXAMPLE.ORG") {
		t.Error("the requester in other case does not take part")
	}
}

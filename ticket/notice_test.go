package ticket

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOweRefersToHistoryText checks that a notice whose text is a history
// entry's (the new-ticket alert's request) is owed as a reference to that
// entry, not a copy, and rebuilds with the text; that a text of its own is
// kept; and that a ticket without that entry fails the rebuild.
func TestOweRefersToHistoryText(t *testing.T) {
	tk, o := play(t, testDesk(t))
	var alert Notice
	for _, n := range o.Notices {
		if n.Kind == NoticeNewTicket {
			alert = n
		}
	}
	if alert.Text == "" {
		t.Fatalf("no new-ticket alert with the request among %v", noticeKinds(o.Notices))
	}
	owed := Owe(alert, func(Address) string { return "n1@oti.example" })
	raw, err := json.Marshal(owed)
	if err != nil {
		t.Fatal(err)
	}
	if owed.Text != "" || owed.TextOf != tk.History[0].Seq || strings.Contains(string(raw), alert.Text) {
		t.Errorf("owed alert = %s; want no copy of the request, a reference to entry %d", raw, tk.History[0].Seq)
	}
	n, err := owed.Rebuild(tk, alert.To[0])
	if err != nil || n.Text != alert.Text {
		t.Errorf("Rebuild = text %q, %v; want the request %q", n.Text, err, alert.Text)
	}

	own := Owe(Notice{Kind: NoticeReceipt, To: []Address{{Addr: requester}}, Ticket: tk, Text: "texto propio"},
		func(Address) string { return "n2@oti.example" })
	if n, err := own.Rebuild(tk, own.To[0]); own.TextOf != 0 || err != nil || n.Text != "texto propio" {
		t.Errorf("a notice with a text of its own: TextOf %d, rebuilt text %q, %v; want it kept", own.TextOf, n.Text, err)
	}

	other := tk.Clone()
	other.History[0].Seq = 99
	if _, err := owed.Rebuild(other, alert.To[0]); err == nil {
		t.Error("Rebuild from a ticket without the entry the text is in succeeded")
	}
}

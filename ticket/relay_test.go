package ticket

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// count returns how many notices of o are of kind k.
func count(o Outcome, k NoticeKind) int {
	n := 0
	for _, x := range o.Notices {
		if x.Kind == k {
			n++
		}
	}
	return n
}

// TestRelayBudget: within an hour a ticket relays at most the limit; past
// it mails are recorded, not relayed, and the desk is told once; an hour
// later relaying resumes.
func TestRelayBudget(t *testing.T) {
	d, err := NewDesk(testDirectory(t), WithRelayLimit(5))
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := play(t, d)
	now := t0
	relayed, paused := 0, 0
	for i := range 12 {
		now = now.Add(time.Minute)
		from := requester
		if i%2 == 1 {
			from = agent
		}
		o := d.Reply(tk, Inbound{Sender: verified, MessageID: fmt.Sprintf("b%d@x", i), From: Address{Addr: from}, Text: fmt.Sprintf("mensaje %d", i)}, now)
		relayed += count(o, NoticeReply) + count(o, NoticeRequesterReply)
		paused += count(o, NoticeRelayPaused)
		if o.Entries[0].Kind != KindReplied {
			t.Fatalf("mail %d recorded as %s", i, o.Entries[0].Kind)
		}
		if i >= 5 && o.Entries[0].Data["not_relayed"] == "" {
			t.Errorf("mail %d relayed past the budget", i)
		}
	}
	if relayed != 5 || paused != 1 {
		t.Errorf("relayed %d, paused notices %d; want 5 and 1", relayed, paused)
	}
	if len(tk.Relays) > 5 {
		t.Errorf("the ticket keeps %d relay marks, more than the limit", len(tk.Relays))
	}
	if got := tk.History[len(tk.History)-1]; got.Kind != KindReplied {
		t.Errorf("last entry %s", got.Kind)
	}
	// An hour after the first relays the budget is free again.
	now = now.Add(time.Hour)
	o := d.Reply(tk, Inbound{Sender: verified, MessageID: "later@x", From: Address{Addr: requester}, Text: "¿novedades?"}, now)
	if count(o, NoticeRequesterReply) != 1 || !tk.RelayPaused.IsZero() || len(tk.Relays) != 1 {
		t.Errorf("after the window: notices %v, paused %v, marks %d", noticeKinds(o.Notices), tk.RelayPaused, len(tk.Relays))
	}
}

// TestRelayLoop: the same text relayed back from the other side, or a
// fixed answer a third time, is a loop.
func TestRelayLoop(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d)
	reply := func(id, from, text string, at time.Duration) Outcome {
		return d.Reply(tk, Inbound{Sender: verified, MessageID: id, From: Address{Addr: from}, Text: text}, t0.Add(at))
	}
	reply("e1@x", requester, "Recibido, gracias.", time.Minute)
	o := reply("e2@x", agent, "recibido,   GRACIAS.", 2*time.Minute) // the echo, from the other side
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeRelayPaused}) {
		t.Errorf("echo: notices %v, want relay_paused", got)
	}
	d2 := testDesk(t)
	tk2, _ := play(t, d2)
	var got []NoticeKind
	for i := range 4 {
		o := d2.Reply(tk2, Inbound{Sender: verified, MessageID: fmt.Sprintf("f%d@x", i), From: Address{Addr: requester}, Text: "Estoy fuera de la oficina."}, t0.Add(time.Duration(i+1)*time.Minute))
		got = append(got, noticeKinds(o.Notices)...)
	}
	want := []NoticeKind{NoticeRequesterReply, NoticeRequesterReply, NoticeRelayPaused}
	if !slices.Equal(got, want) {
		t.Errorf("fixed text four times: notices %v, want %v", got, want)
	}
	if e := tk2.History[len(tk2.History)-1]; e.Kind != KindReplied || e.Data["not_relayed"] == "" {
		t.Errorf("the withheld mail is recorded as %s %v", e.Kind, e.Data)
	}
}

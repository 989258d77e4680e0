package ticket

import (
	"testing"
	"time"
)

// A ticket opened from a mail that arrived earlier opens when it arrived;
// the register keeps when it was recorded, and its chain verifies.
func TestOpenAtArrival(t *testing.T) {
	d := testDesk(t)
	arrived := t0.Add(-40 * 24 * time.Hour)
	o := d.Open("OTI-2026-000001", Inbound{MessageID: "old@x", From: Address{Addr: requester},
		Subject: "Impresora", Text: "no imprime", ArrivedAt: arrived}, "", t0)
	tk := o.Ticket
	e := tk.History[0]
	if !tk.CreatedAt.Equal(arrived) || !e.At.Equal(arrived) {
		t.Errorf("CreatedAt %v, opened at %v; want both %v", tk.CreatedAt, e.At, arrived)
	}
	if got := e.Data["recorded_at"]; got != t0.Format(time.RFC3339Nano) {
		t.Errorf("recorded_at %q, want %q", got, t0.Format(time.RFC3339Nano))
	}
	if !tk.LevelSince.Equal(arrived) || !tk.StateSince.Equal(arrived) {
		t.Errorf("LevelSince %v StateSince %v, want the arrival %v", tk.LevelSince, tk.StateSince, arrived)
	}
	if !tk.UpdatedAt.Equal(t0) {
		t.Errorf("UpdatedAt %v, want when it was recorded %v", tk.UpdatedAt, t0)
	}
	if err := Verify(tk.History, tk.Head(), len(tk.History)); err != nil {
		t.Error(err)
	}

	// An arrival that is unknown, in the future or a server's zero date
	// is not believed: the ticket opens now, with no recorded_at.
	for _, a := range []time.Time{{}, t0.Add(time.Hour), time.Unix(0, 0)} {
		o := d.Open("OTI-2026-000002", Inbound{MessageID: "n@x", From: Address{Addr: requester}, ArrivedAt: a}, "", t0)
		if e := o.Ticket.History[0]; !e.At.Equal(t0) || !o.Ticket.CreatedAt.Equal(t0) || e.Data["recorded_at"] != "" {
			t.Errorf("arrival %v: opened at %v created %v recorded_at %q; want now", a, e.At, o.Ticket.CreatedAt, e.Data["recorded_at"])
		}
	}
}

package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

// Seqs returns the sequence numbers of ps.
func Seqs(ps []outbox.Item) []uint64 {
	out := make([]uint64, len(ps))
	for i, p := range ps {
		out[i] = p.Seq
	}
	return out
}

// Pending returns every item in db's outbox, in order.
func Pending(tb testing.TB, db Backend) []outbox.Item {
	tb.Helper()
	var ps []outbox.Item
	View(tb, db, func(tx Tx) (err error) { ps, err = tx.Pending(); return err })
	return ps
}

func testEnqueue(t *testing.T, open func(*testing.T) Backend) {
	desk := Desk(t)
	db := open(t)
	id, ps := OpenTicket(t, db, desk, "<m1@example.org>", T0)

	// An ack to the Requester and an alert to each of the two agents.
	type sent struct {
		kind ticket.NoticeKind
		to   string
	}
	var got []sent
	seen := map[string]bool{}
	for i, p := range ps {
		if i := slices.Index(p.Owed.To, p.To); i < 0 || p.Owed.MessageIDs[i] != p.MessageID {
			t.Errorf("pending %d is for %v with Message-ID %s, not one of its notice's recipients %v, %v", i, p.To, p.MessageID, p.Owed.To, p.Owed.MessageIDs)
		}
		got = append(got, sent{p.Owed.Kind, p.To.Addr})
		if i > 0 && p.Seq <= ps[i-1].Seq {
			t.Errorf("pending %d has seq %d after %d", i, p.Seq, ps[i-1].Seq)
		}
		if seen[p.MessageID] {
			t.Errorf("Message-ID %q given twice", p.MessageID)
		}
		seen[p.MessageID] = true
		if !strings.HasPrefix(p.MessageID, string(id)+".n") || !strings.HasSuffix(p.MessageID, "@"+MsgHost) {
			t.Errorf("Message-ID %q does not carry ticket %s and host %s", p.MessageID, id, MsgHost)
		}
		if got, ok := ticket.IDInMessageID("OTI", p.MessageID); !ok || got != id {
			t.Errorf("IDInMessageID(%q) = %q, %v; want %q", p.MessageID, got, ok, id)
		}
		if !p.CreatedAt.Equal(T0) || !p.NextAttempt.Equal(T0) || p.Attempts != 0 {
			t.Errorf("pending %d: created %v, next %v, attempts %d; want %v, %v, 0", i, p.CreatedAt, p.NextAttempt, p.Attempts, T0, T0)
		}
		if p.Owed.TicketID != id {
			t.Errorf("pending %d is not about ticket %s", i, id)
		}
	}
	want := []sent{{ticket.NoticeAck, Requester}, {ticket.NoticeNewTicket, Agent}, {ticket.NoticeNewTicket, "agente2@oti.example"}}
	if !slices.Equal(got, want) {
		t.Errorf("enqueued %v, want %v", got, want)
	}
	stored := Pending(t, db)
	if JSON(t, stored) != JSON(t, ps) {
		t.Errorf("Pending() = %s,\nwant what Enqueue returned: %s", JSON(t, stored), JSON(t, ps))
	}
	View(t, db, func(tx Tx) error {
		for _, p := range ps {
			if got, ok := tx.Message(p.MessageID); !ok || got != id {
				t.Errorf("Message(%q) = %q, %v; want %q, true", p.MessageID, got, ok, id)
			}
		}
		return nil
	})

	// Nothing owed, nothing queued.
	Update(t, db, func(tx Tx) error {
		got, err := tx.Enqueue(Owe([]ticket.Notice{{Kind: ticket.NoticeAck, Ticket: &ticket.Ticket{ID: id}}}), T0)
		if len(got) != 0 {
			t.Errorf("Enqueue(no recipients) = %v, want none", got)
		}
		return err
	})
}

func testCountsSeeTheirOwnTransaction(t *testing.T, open func(*testing.T) Backend) {
	desk := Desk(t)
	db := open(t)
	OpenTicket(t, db, desk, "<m1@example.org>", T0)
	Update(t, db, func(tx Tx) error {
		PutState(t, tx, "OTI-2026-000100", ticket.StateOpen, 1, "mesa", T0)
		if n := tx.CountTickets(); n != 2 {
			t.Errorf("CountTickets() inside the writing transaction = %d, want 2", n)
		}
		if _, err := tx.Enqueue(Owe([]ticket.Notice{{Kind: ticket.NoticeAck, To: []ticket.Address{{Addr: Requester}}, Ticket: &ticket.Ticket{ID: "OTI-2026-000100"}}}), T0); err != nil {
			return err
		}
		st, err := tx.OutboxStats()
		if st.Depth != 4 {
			t.Errorf("OutboxStats().Depth inside the writing transaction = %d, want 4", st.Depth)
		}
		return err
	})
}

// TestDueKeepsEachTicketInOrder: each recipient gets a ticket's notices in
// order; a notice in backoff holds back the later notices of its ticket to
// the same recipient only.
func testDueKeepsEachTicketInOrder(t *testing.T, open func(*testing.T) Backend) {
	desk := Desk(t)
	db := open(t)
	ob := db.Outbox
	ctx := t.Context()
	idA, a := OpenTicket(t, db, desk, "<a@example.org>", T0)
	_, b := OpenTicket(t, db, desk, "<b@example.org>", T0)
	// A later notice of A to its Requester, written as a mail address
	// program would, in another case.
	var later []outbox.Item
	Update(t, db, func(tx Tx) error {
		tk, err := tx.Ticket(idA)
		if err != nil {
			return err
		}
		later, err = tx.Enqueue(Owe([]ticket.Notice{{Kind: ticket.NoticeReply, Ticket: tk, Text: "más",
			To: []ticket.Address{{Addr: strings.ToUpper(a[0].To.Addr)}}}}), T0)
		return err
	})
	all := append(append(append([]outbox.Item(nil), a...), b...), later...)

	due, err := ob.Due(ctx, T0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(Seqs(due), Seqs(all)) {
		t.Fatalf("Due(t0) = %v, want %v", Seqs(due), Seqs(all))
	}
	if due, _ := ob.Due(ctx, T0, 2); !slices.Equal(Seqs(due), Seqs(all[:2])) {
		t.Errorf("Due(t0, max 2) = %v, want %v", Seqs(due), Seqs(all[:2]))
	}
	if due, _ := ob.Due(ctx, T0.Add(-time.Second), 100); len(due) != 0 {
		t.Errorf("Due(before t0) = %v, want none", Seqs(due))
	}

	// A's first notice (the ack to its Requester) fails for now: A's later
	// notice to the Requester waits behind it; A's to the desk and B's flow.
	next := T0.Add(10 * time.Minute)
	if err := ob.Retry(ctx, a[0].Seq, next, "421 try again later"); err != nil {
		t.Fatal(err)
	}
	for _, now := range []time.Time{T0, T0.Add(9 * time.Minute)} {
		due, err := ob.Due(ctx, now, 100)
		if err != nil {
			t.Fatal(err)
		}
		if want := Seqs(all[1 : len(a)+len(b)]); !slices.Equal(Seqs(due), want) {
			t.Errorf("Due(%v) with A's first notice in backoff = %v, want all but A's to its requester %v", now, Seqs(due), want)
		}
	}
	due, err = ob.Due(ctx, next, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(Seqs(due), Seqs(all)) {
		t.Errorf("Due(%v) = %v, want all again %v", next, Seqs(due), Seqs(all))
	}
	if due[0].Attempts != 1 || !due[0].NextAttempt.Equal(next) || due[0].LastError != "421 try again later" {
		t.Errorf("after Retry: attempts %d, next %v, error %q", due[0].Attempts, due[0].NextAttempt, due[0].LastError)
	}
	if err := ob.Retry(ctx, a[0].Seq, next.Add(time.Hour), "again"); err != nil {
		t.Fatal(err)
	}
	if p := Pending(t, db)[0]; p.Attempts != 2 || p.LastError != "again" {
		t.Errorf("after a second Retry: attempts %d, error %q; want 2, \"again\"", p.Attempts, p.LastError)
	}
	if err := ob.Retry(ctx, 999, next, "x"); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("Retry(unknown seq) = %v, want record.ErrNotFound", err)
	}

	// Once the blocking notice is sent, A's next ones are due.
	if err := ob.MarkSent(ctx, []uint64{a[0].Seq}, T0); err != nil {
		t.Fatal(err)
	}
	due, _ = ob.Due(ctx, T0, 100)
	if want := Seqs(all[1:]); !slices.Equal(Seqs(due), want) {
		t.Errorf("Due after Sent = %v, want %v", Seqs(due), want)
	}
}

func testSentAndOutboxStats(t *testing.T, open func(*testing.T) Backend) {
	desk := Desk(t)
	db := open(t)
	ob := db.Outbox
	ctx := t.Context()
	stats := func() outbox.Stats {
		t.Helper()
		var st outbox.Stats
		View(t, db, func(tx Tx) (err error) { st, err = tx.OutboxStats(); return err })
		return st
	}
	if st := stats(); st.Depth != 0 || !st.Oldest.IsZero() {
		t.Errorf("OutboxStats() of an empty outbox = %+v, want zero", st)
	}
	_, a := OpenTicket(t, db, desk, "<a@example.org>", T0)
	_, b := OpenTicket(t, db, desk, "<b@example.org>", T0.Add(time.Hour))
	if st := stats(); st.Depth != 6 || !st.Oldest.Equal(T0) {
		t.Errorf("OutboxStats() = %+v, want depth 6, oldest %v", st, T0)
	}
	for _, p := range a {
		if err := ob.MarkSent(ctx, []uint64{p.Seq}, T0); err != nil {
			t.Fatal(err)
		}
	}
	if st := stats(); st.Depth != 3 || !st.Oldest.Equal(T0.Add(time.Hour)) {
		t.Errorf("OutboxStats() after sending A's = %+v, want depth 3, oldest %v", st, T0.Add(time.Hour))
	}
	if got := Pending(t, db); !slices.Equal(Seqs(got), Seqs(b)) {
		t.Errorf("Pending() = %v, want %v", Seqs(got), Seqs(b))
	}
	// Sent twice (a retry after a lost acknowledgement) is harmless.
	if err := ob.MarkSent(ctx, []uint64{a[0].Seq}, T0); err != nil {
		t.Errorf("MarkSent(already sent) = %v", err)
	}
	// Several at once (concurrent deliveries), one of them sent already.
	if err := ob.MarkSent(ctx, append(Seqs(b), a[1].Seq), T0); err != nil {
		t.Fatalf("MarkSent(B's and one sent already) = %v", err)
	}
	if st := stats(); st.Depth != 0 || !st.Oldest.IsZero() {
		t.Errorf("OutboxStats() after sending everything = %+v, want zero", st)
	}
}

func testFailed(t *testing.T, open func(*testing.T) Backend) {
	desk := Desk(t)
	db := open(t)
	ob := db.Outbox
	ctx := t.Context()
	id, ps := OpenTicket(t, db, desk, "<a@example.org>", T0)
	ack := ps[0]
	at := T0.Add(5 * time.Minute)

	if err := ob.Failed(ctx, ack.Seq, DeliveryFailed("550 5.1.1 no such user", at)); err != nil {
		t.Fatalf("Failed = %v", err)
	}
	if got := Pending(t, db); !slices.Equal(Seqs(got), Seqs(ps[1:])) {
		t.Errorf("Pending() after Failed = %v, want %v", Seqs(got), Seqs(ps[1:]))
	}
	tk := LoadTicket(t, db, id)
	last := tk.History[len(tk.History)-1]
	if len(tk.History) != 2 || last.Kind != ticket.KindDeliveryFailed || last.Data["recipient"] != Requester ||
		last.Text != "550 5.1.1 no such user" || !last.At.Equal(at) {
		t.Errorf("history after Failed: %d entries, last %+v; want a delivery_failed entry for %s", len(tk.History), last, Requester)
	}
	VerifyClean(t, db)

	if err := ob.Failed(ctx, ack.Seq, DeliveryFailed("again", at)); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("Failed(already removed) = %v, want record.ErrNotFound", err)
	}

	// The removal and the history entry are one transaction: when the
	// ticket cannot be updated, the notice stays.
	var orphan []outbox.Item
	Update(t, db, func(tx Tx) (err error) {
		orphan, err = tx.Enqueue(Owe([]ticket.Notice{{Kind: ticket.NoticeAck, To: []ticket.Address{{Addr: Requester}},
			Ticket: &ticket.Ticket{ID: "OTI-2026-999999"}}}), T0)
		return err
	})
	if err := ob.Failed(ctx, orphan[0].Seq, DeliveryFailed("550", at)); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("Failed(notice of a missing ticket) = %v, want record.ErrNotFound", err)
	}
	if got := Pending(t, db); !slices.Contains(Seqs(got), orphan[0].Seq) {
		t.Errorf("Pending() = %v lost notice %d although Failed rolled back", Seqs(got), orphan[0].Seq)
	}
}

func testTakeAutoReply(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	const limit, window = 2, 10 * time.Minute
	steps := []struct {
		sender string
		after  time.Duration // since T0
		want   bool
	}{
		{"a@example.org", 0, true},
		{"a@example.org", 1 * time.Minute, true},
		{"a@example.org", 2 * time.Minute, false}, // two within the window already
		{"b@example.org", 2 * time.Minute, true},  // another sender has a count of its own
		{"a@example.org", 9 * time.Minute, false},
		{"a@example.org", 10 * time.Minute, true}, // the Reply at 0 left the window
		{"a@example.org", 11 * time.Minute, true}, // and the one at 1 too
		{"a@example.org", 12 * time.Minute, false},
		{"b@example.org", 12 * time.Minute, true},
		{"b@example.org", 13 * time.Minute, true},
		{"b@example.org", 14 * time.Minute, false},
		{"a@example.org", 3 * time.Hour, true},
	}
	for i, st := range steps {
		now := T0.Add(st.after)
		Update(t, db, func(tx Tx) error {
			got, err := tx.TakeAutoReply(st.sender, now, limit, window)
			if got != st.want {
				t.Errorf("step %d: TakeAutoReply(%s, t0+%v) = %v, want %v", i, st.sender, st.after, got, st.want)
			}
			return err
		})
	}
}

// TestEnqueueKeepsHistoryOnlyForStaff checks that a notice to a Requester
// is rebuilt for rendering without the ticket's history (its mail never
// shows it), while one to staff has it.
func testEnqueueKeepsHistoryOnlyForStaff(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	id, _ := OpenTicket(t, db, Desk(t), "m1@x", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	tk := LoadTicket(t, db, id)
	for _, it := range Pending(t, db) {
		p, err := it.Pending(tk)
		if err != nil {
			t.Fatalf("Pending(%s) = %v", id, err)
		}
		if got, want := len(p.Notice.Ticket.History) > 0, p.Notice.Kind.ForStaff(); got != want {
			t.Errorf("%s notice: history shown = %v, want %v", p.Notice.Kind, got, want)
		}
	}
}

// DeliveryFailed is what the notify worker records on a permanent failure.
func DeliveryFailed(reason string, at time.Time) func(*ticket.Ticket) {
	return func(t *ticket.Ticket) { t.DeliveryFailed(Requester, reason, "", at) }
}

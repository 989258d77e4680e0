package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

// T0 is the injected clock of most tests.
var T0 = time.Date(2026, time.March, 2, 9, 30, 0, 0, time.UTC)

// The people of the suite's mails, and the host of its Message-IDs.
const (
	Requester = "ana.perez@example.org"
	Agent     = "agente1@oti.example"
	MsgHost   = "desk.example"
)

// Desk returns the rules engine over a small directory: a desk of two
// agents, two level-2 groups and a level-3 provider.
func Desk(tb testing.TB) *ticket.Desk {
	tb.Helper()
	dir, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Members: []string{Agent, "agente2@oti.example"}},
		{Name: "redes", Level: ticket.Level2, Members: []string{"redes1@oti.example"}},
		{Name: "sitio", Level: ticket.Level2, Kind: ticket.GroupOnSite, Members: []string{"sitio1@oti.example"}, Default: true},
		{Name: "proveedor", Level: ticket.Level3, Kind: ticket.GroupProvider, Members: []string{"soporte@proveedor.example"}},
	})
	if err != nil {
		tb.Fatalf("NewDirectory: %v", err)
	}
	desk, err := ticket.NewDesk(dir)
	if err != nil {
		tb.Fatalf("NewDesk: %v", err)
	}
	return desk
}

// Update runs fn in a transaction of db that must commit.
func Update(tb testing.TB, db Backend, fn func(Tx) error) {
	tb.Helper()
	if err := db.Update(tb.Context(), fn); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

// View runs fn in a read-only transaction of db that must succeed.
func View(tb testing.TB, db Backend, fn func(Tx) error) {
	tb.Helper()
	if err := db.View(tb.Context(), fn); err != nil {
		tb.Fatalf("View: %v", err)
	}
}

// OpenTicket does in one transaction what the service does for a new mail:
// allocate an ID, open the ticket, store it and enqueue what it owes.
func OpenTicket(tb testing.TB, db Backend, desk *ticket.Desk, msgID string, now time.Time) (ticket.ID, []outbox.Item) {
	tb.Helper()
	var id ticket.ID
	var Pending []outbox.Item
	Update(tb, db, func(tx Tx) error {
		var err error
		if id, err = tx.NextID(ticket.DefaultPrefix, now); err != nil {
			return err
		}
		o := desk.Open(id, ticket.Inbound{
			Sender:    ticket.Trusted("test"),
			MessageID: msgID,
			From:      ticket.Address{Name: "Ana Pérez", Addr: Requester},
			Subject:   "No imprime la impresora del piso 3",
			Text:      "Desde esta mañana la impresora no responde.",
		}, "", now)
		if err := tx.PutTicket(o.Ticket); err != nil {
			return err
		}
		Pending, err = tx.Enqueue(Owe(o.Notices), now)
		return err
	})
	return id, Pending
}

// Reply applies a mail from sender with text to ticket id, as the service
// does for a threaded mail, and returns the outcome.
func Reply(tb testing.TB, db Backend, desk *ticket.Desk, id ticket.ID, sender, msgID, text string, now time.Time) ticket.Outcome {
	tb.Helper()
	var o ticket.Outcome
	Update(tb, db, func(tx Tx) error {
		tk, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		o = desk.Reply(tk, ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: msgID, From: ticket.Address{Addr: sender}, Subject: "RE: " + string(id.Tag()), Text: text}, now)
		if err := tx.PutTicket(o.Ticket); err != nil {
			return err
		}
		_, err = tx.Enqueue(Owe(o.Notices), now)
		return err
	})
	return o
}

// JSON returns v as JSON, to compare values that went through a store.
func JSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("json.Marshal: %v", err)
	}
	return string(b)
}

// VerifyClean fails the test unless every ticket's history verifies; it
// returns how many tickets were checked.
func VerifyClean(tb testing.TB, db Backend) int {
	tb.Helper()
	var n int
	View(tb, db, func(tx Tx) error {
		var err error
		n, err = tx.VerifyAll(func(id ticket.ID, err error) { tb.Errorf("VerifyAll: %s: %v", id, err) })
		return err
	})
	return n
}

func testTransactions(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	fn := func(Tx) error { called = true; return nil }
	if err := db.Update(ctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("Update(canceled) = %v, want context.Canceled", err)
	}
	if err := db.View(ctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("View(canceled) = %v, want context.Canceled", err)
	}
	if called {
		t.Error("a canceled transaction ran its function")
	}

	// A failing function rolls back everything it did, the ID included:
	// the ticket change and the mailbox checkpoint go together or not at
	// all.
	boom := errors.New("boom")
	err := db.Update(t.Context(), func(tx Tx) error {
		if _, err := tx.NextID("OTI", T0); err != nil {
			return err
		}
		PutState(t, tx, "OTI-2026-000001", ticket.StateOpen, 1, "mesa", T0)
		if err := tx.RecordUnthreaded(record.Unthreaded{MessageID: "<ooo@example.org>", Reason: "auto", At: T0}); err != nil {
			return err
		}
		if err := tx.SetCheckpoint("INBOX", record.Checkpoint{UIDValidity: 1, UID: 9}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want %v", err, boom)
	}
	Update(t, db, func(tx Tx) error {
		if cp, err := tx.Checkpoint("INBOX"); err != nil || cp != (record.Checkpoint{}) {
			t.Errorf("Checkpoint after rollback = %+v, %v; want zero", cp, err)
		}
		if _, err := tx.Ticket("OTI-2026-000001"); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("Ticket after rollback = %v, want record.ErrNotFound", err)
		}
		if n := tx.CountTickets(); n != 0 {
			t.Errorf("CountTickets after rollback = %d, want 0", n)
		}
		if _, seen := tx.Message("<ooo@example.org>"); seen {
			t.Error("a rolled-back mail's Message-ID is seen")
		}
		if us, err := tx.UnthreadedList(); err != nil || len(us) != 0 {
			t.Errorf("UnthreadedList after rollback = %+v, %v; want none", us, err)
		}
		id, err := tx.NextID("OTI", T0)
		if want := ticket.NewID("OTI", 2026, 1); id != want {
			t.Errorf("NextID after rollback = %q, want %q", id, want)
		}
		return err
	})
}

func testCheckpoint(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	Update(t, db, func(tx Tx) error {
		if cp, err := tx.Checkpoint("INBOX"); err != nil || cp != (record.Checkpoint{}) {
			t.Errorf("Checkpoint(INBOX) of a new store = %+v, %v; want zero", cp, err)
		}
		for _, cp := range []record.Checkpoint{{UIDValidity: 3, UID: 10}, {UIDValidity: 3, UID: 11}, {UIDValidity: 4, UID: 1}} {
			if err := tx.SetCheckpoint("INBOX", cp); err != nil {
				return err
			}
			if got, err := tx.Checkpoint("INBOX"); err != nil || got != cp {
				t.Errorf("Checkpoint(INBOX) = %+v, %v; want %+v", got, err, cp)
			}
		}
		if cp, err := tx.Checkpoint("Otros"); err != nil || cp != (record.Checkpoint{}) {
			t.Errorf("Checkpoint(Otros) = %+v, %v; want zero", cp, err)
		}
		return nil
	})
}

func testQuarantine(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	Update(t, db, func(tx Tx) error {
		if n := tx.QuarantineCount(); n != 0 {
			t.Errorf("QuarantineCount() = %d, want 0", n)
		}
		a, err := tx.Quarantine(record.Quarantined{MessageID: "<a@x>", Reason: "parse", ReceivedAt: T0})
		if err != nil {
			return err
		}
		b, err := tx.Quarantine(record.Quarantined{MessageID: "<b@x>", Reason: "parse", ReceivedAt: T0.Add(time.Second)})
		if err != nil {
			return err
		}
		if a.ID != 1 || b.ID != 2 {
			t.Errorf("quarantine IDs = %d, %d; want 1, 2", a.ID, b.ID)
		}
		// A failed re-run updates the record in place.
		a.Retries++
		if _, err := tx.Quarantine(a); err != nil {
			return err
		}
		if got, err := tx.Quarantined(a.ID); err != nil || got.Retries != 1 {
			t.Errorf("Quarantined(%d) = %+v, %v; want Retries 1", a.ID, got, err)
		}
		if n := tx.QuarantineCount(); n != 2 {
			t.Errorf("QuarantineCount() = %d, want 2", n)
		}
		if err := tx.Release(a.ID); err != nil {
			return err
		}
		if _, err := tx.Quarantined(a.ID); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("Quarantined(%d) after Release = %v, want record.ErrNotFound", a.ID, err)
		}
		list, err := tx.QuarantineList()
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0] != b {
			t.Errorf("QuarantineList() = %+v, want [%+v]", list, b)
		}
		return nil
	})
}

// Owe turns notices into what the outbox keeps, with Message-IDs made as
// the service makes them.
func Owe(ns []ticket.Notice) []ticket.Owed {
	var out []ticket.Owed
	for _, n := range ns {
		out = append(out, ticket.Owe(n, func(ticket.Address) string {
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			return fmt.Sprintf("%s.n%x@%s", n.Ticket.ID, b, MsgHost)
		}))
	}
	return out
}

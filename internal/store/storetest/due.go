package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// testDueIndex: the index of due times holds each ticket once, at its
// current [ticket.Ticket.Due]: Due lists those due by an instant earliest
// first (ties by ID), up to a limit (none below 1); NextDue is the
// earliest; a changed due time moves the ticket, a zero one removes it,
// and a rolled-back change leaves the index as it was.
func testDueIndex(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	View(t, db, func(tx Tx) error {
		if got := tx.NextDue(); !got.IsZero() {
			t.Errorf("NextDue of an empty store = %v", got)
		}
		if got := tx.Due(T0.Add(1000*time.Hour), 10); len(got) != 0 {
			t.Errorf("Due of an empty store = %v", got)
		}
		return nil
	})
	id := func(n int) ticket.ID { return ticket.NewID("OTI", 2026, uint64(n)) }
	setDue := func(tx Tx, n int, due time.Time) error {
		tk, err := tx.Ticket(id(n))
		if err != nil {
			return err
		}
		tk.Due = due
		tk.Append(ticket.Entry{At: T0.Add(time.Minute), Actor: Agent, Kind: ticket.KindNoted})
		return tx.PutTicket(tk)
	}
	Update(t, db, func(tx Tx) error {
		for n := 1; n <= 4; n++ {
			PutState(t, tx, id(n), ticket.StateOpen, 1, "mesa", T0)
		}
		for n, due := range map[int]time.Time{1: T0.Add(3 * time.Hour), 2: T0.Add(time.Hour), 3: T0.Add(time.Hour), 4: T0.Add(2 * time.Hour)} {
			if err := setDue(tx, n, due); err != nil {
				return err
			}
		}
		return nil
	})
	check := func(name string, until time.Time, limit int, want ...ticket.ID) {
		t.Helper()
		View(t, db, func(tx Tx) error {
			if got := tx.Due(until, limit); !slices.Equal(got, want) {
				t.Errorf("%s: Due(T0+%v, %d) = %v, want %v", name, until.Sub(T0), limit, got, want)
			}
			return nil
		})
	}
	nextDue := func(want time.Time) {
		t.Helper()
		View(t, db, func(tx Tx) error {
			if got := tx.NextDue(); !got.Equal(want) {
				t.Errorf("NextDue = %v, want %v", got, want)
			}
			return nil
		})
	}
	check("before any", T0.Add(59*time.Minute), 10)
	check("ties by ID", T0.Add(time.Hour), 10, id(2), id(3))
	check("all", T0.Add(3*time.Hour), 10, id(2), id(3), id(4), id(1))
	check("limit", T0.Add(3*time.Hour), 3, id(2), id(3), id(4))
	check("no limit", T0.Add(3*time.Hour), 0, id(2), id(3), id(4), id(1))
	nextDue(T0.Add(time.Hour))

	// Moved later, cleared: the old keys go.
	Update(t, db, func(tx Tx) error {
		if err := setDue(tx, 2, T0.Add(4*time.Hour)); err != nil {
			return err
		}
		return setDue(tx, 3, time.Time{})
	})
	check("after moving and clearing", T0.Add(5*time.Hour), 0, id(4), id(1), id(2))
	nextDue(T0.Add(2 * time.Hour))

	// A change that fails leaves the index as it was.
	boom := errors.New("boom")
	err := db.Update(t.Context(), func(tx Tx) error {
		if err := setDue(tx, 4, T0.Add(10*time.Minute)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	check("after a rollback", T0.Add(5*time.Hour), 0, id(4), id(1), id(2))
	nextDue(T0.Add(2 * time.Hour))
}

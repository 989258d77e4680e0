package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

func testUnthreaded(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	us := []record.Unthreaded{
		{MessageID: "<ooo@example.org>", From: "jefe@example.org", Subject: "Fuera de la oficina", Reason: "auto-submitted", At: T0, RawSHA256: "ab12"},
		{MessageID: "<list@example.org>", From: "lista@example.org", Subject: "Boletín", Reason: "list", At: T0.Add(time.Minute), RawSHA256: "cd34"},
	}
	Update(t, db, func(tx Tx) error {
		for _, u := range us {
			if err := tx.RecordUnthreaded(u); err != nil {
				return err
			}
		}
		return nil
	})
	View(t, db, func(tx Tx) error {
		got, err := tx.UnthreadedList()
		if err != nil || JSON(t, got) != JSON(t, us) {
			t.Errorf("UnthreadedList() = %+v, %v; want %+v in order", got, err, us)
		}
		for _, u := range us {
			// Seen, and about no ticket: a second copy is a duplicate.
			if id, seen := tx.Message(u.MessageID); !seen || id != "" {
				t.Errorf("Message(%s) = %q, %v; want \"\", true", u.MessageID, id, seen)
			}
		}
		return err
	})
}

func testNextIDPerYear(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	y27 := T0.AddDate(1, 0, 0)
	got := []ticket.ID{NextID(t, db, T0), NextID(t, db, T0), NextID(t, db, y27), NextID(t, db, T0), NextID(t, db, y27)}
	want := []ticket.ID{ticket.NewID("OTI", 2026, 1), ticket.NewID("OTI", 2026, 2), ticket.NewID("OTI", 2027, 1),
		ticket.NewID("OTI", 2026, 3), ticket.NewID("OTI", 2027, 2)}
	if !slices.Equal(got, want) {
		t.Errorf("NextID over two years = %v, want %v", got, want)
	}
}

// testListEveryState stores a ticket in each state of the procedure's
// table and finds each by its state, and all of them with no filter.
func testListEveryState(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	var all []ticket.ID
	Update(t, db, func(tx Tx) error {
		for i, st := range ticket.States() {
			id := ticket.NewID("OTI", 2026, uint64(i+1))
			PutState(t, tx, id, st.State, 1, "mesa", T0.Add(time.Duration(i)*time.Minute))
			all = append(all, id)
		}
		return nil
	})
	View(t, db, func(tx Tx) error {
		for i, st := range ticket.States() {
			got, err := tx.List(ticket.Filter{State: st.State})
			if err != nil || !slices.Equal(IDs(got), all[i:i+1]) {
				t.Errorf("List(state %s) = %v, %v; want %v", st.State, IDs(got), err, all[i:i+1])
			}
		}
		got, err := tx.List(ticket.Filter{})
		if err != nil || !slices.Equal(IDs(got), all) {
			t.Errorf("List(all) = %v, %v; want %v", IDs(got), err, all)
		}
		return nil
	})
}

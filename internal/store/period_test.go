package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// TestTouchedYieldsThePeriodsTickets: Touched yields the tickets that may
// have an entry in the period, each with its whole history, and no other.
func TestTouchedYieldsThePeriodsTickets(t *testing.T) {
	db, _ := newDB(t)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC) }
	put := func(n uint64, created, last time.Time) {
		tk := &ticket.Ticket{ID: ticket.NewID("OTI", 2026, n), Level: ticket.Level1, Group: "mesa", State: ticket.StateOpen, CreatedAt: created}
		tk.Append(ticket.Entry{At: created, Actor: "a@x", Kind: ticket.KindOpened})
		tk.Append(ticket.Entry{At: last, Actor: "a@x", Kind: ticket.KindNoted})
		mustUpdate(t, db, func(tx *Tx) error { return tx.PutTicket(tk) })
	}
	put(1, day(1), day(2))   // all before the period
	put(2, day(3), day(12))  // from before into the period
	put(3, day(11), day(11)) // within
	put(4, day(2), day(25))  // spans the whole period
	put(5, day(20), day(21)) // after
	from, to := day(10), day(15)
	var got []ticket.ID
	mustView(t, db, func(tx *Tx) error {
		return tx.Touched(from, to, func(tk *ticket.Ticket) error {
			if len(tk.History) != 2 {
				t.Errorf("%s yielded with %d history entries, want 2", tk.ID, len(tk.History))
			}
			got = append(got, tk.ID)
			return nil
		})
	})
	want := []ticket.ID{ticket.NewID("OTI", 2026, 2), ticket.NewID("OTI", 2026, 3), ticket.NewID("OTI", 2026, 4)}
	if !slices.Equal(got, want) {
		t.Errorf("Touched = %v, want %v", got, want)
	}
	// From the zero time to year 9999 (a search without dates): all of them.
	got = nil
	mustView(t, db, func(tx *Tx) error {
		return tx.Touched(time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), func(tk *ticket.Ticket) error {
			got = append(got, tk.ID)
			return nil
		})
	})
	if len(got) != 5 {
		t.Errorf("Touched over all time = %v, want the 5 tickets", got)
	}
	stop := errors.New("stop")
	mustView(t, db, func(tx *Tx) error {
		if err := tx.Touched(from, to, func(*ticket.Ticket) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("Touched with a failing fn = %v, want its error", err)
		}
		return nil
	})
}

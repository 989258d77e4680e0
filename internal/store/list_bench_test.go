package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/store/storetest"
	"github.com/ticketd/ticketd/ticket"
)

// scaleStore writes n tickets shaped as the load tool's scenario 5: one in
// ten escalated to level 2 and left open, one in two closed, the rest open
// at level 1; without history, which a listing never reads. It returns the
// store and how many tickets are open at level 2.
func scaleStore(b *testing.B, n int) (*DB, int) {
	b.Helper()
	db, _ := newDB(b)
	const batch = 10000
	open2 := 0
	for done := 0; done < n; {
		mustUpdate(b, db, func(tx *Tx) error {
			for i := 0; i < batch && done < n; i, done = i+1, done+1 {
				now := storetest.T0.Add(time.Duration(done) * time.Second)
				id, err := tx.NextID("OTI", now)
				if err != nil {
					return err
				}
				tk := &ticket.Ticket{ID: id, Subject: fmt.Sprintf("Impresora %d", done), State: ticket.StateOpen, Level: ticket.Level1,
					Group: "mesa", Requester: ticket.Address{Addr: fmt.Sprintf("u%d@unidad.test", done%5000)},
					CreatedAt: now, UpdatedAt: now, LevelSince: now, StateSince: now}
				switch {
				case done%10 == 0:
					tk.Level, tk.Group, tk.LevelSince, tk.UpdatedAt = ticket.Level2, "redes", now.Add(time.Minute), now.Add(time.Minute)
					open2++
				case done%2 == 0:
					tk.State, tk.StateSince, tk.UpdatedAt = ticket.StateClosed, now.Add(time.Minute), now.Add(time.Minute)
				}
				if err := tx.PutTicket(tk); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return db, open2
}

// BenchmarkList measures listing the open level-2 tickets (a tenth of the
// store) in stores of 100,000 and 1,000,000 tickets. console: what the web
// console's queue does, the first page of 50 longest at the level with the
// queue's count ([Tx.Queues]); each: the whole list one row at a time, as
// the admin API and an export walk it ([Tx.Each]); slice: the whole list
// held at once ([Tx.List]). The store is written once per size, off the
// clock; -benchtime=10x keeps the run short.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db, want := scaleStore(b, n)
			f := ticket.Filter{State: ticket.StateOpen, Level: ticket.Level2}
			check := func(got int) error {
				if got != want {
					return fmt.Errorf("listed %d, want %d", got, want)
				}
				return nil
			}
			b.Run("console", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					mustView(b, db, func(tx *Tx) error {
						l, err := tx.Queues(f, ticket.Page{Order: ticket.BySince, Limit: 50})
						if err != nil {
							return err
						}
						if len(l.Queues) != 1 || len(l.Queues[0].Tickets) != 50 {
							return fmt.Errorf("listing %+v, want one queue with a page of 50", l.Queues)
						}
						return check(l.Total)
					})
				}
			})
			b.Run("each", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					mustView(b, db, func(tx *Tx) error {
						got := 0
						if err := tx.Each(f, func(*ticket.Ticket) error { got++; return nil }); err != nil {
							return err
						}
						return check(got)
					})
				}
			})
			b.Run("slice", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					mustView(b, db, func(tx *Tx) error {
						ts, err := tx.List(f)
						if err != nil {
							return err
						}
						return check(len(ts))
					})
				}
			})
		})
	}
}

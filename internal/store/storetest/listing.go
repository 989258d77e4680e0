package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// queueTickets stores 60 open tickets in three queues (level 1 mesa, level
// 2 redes and sitio), created out of ID order, at their level since times
// in yet another order, with three categories, and 10 closed ones. It
// returns them as stored.
func queueTickets(t *testing.T, db Backend) []ticket.Ticket {
	var all []ticket.Ticket
	Update(t, db, func(tx Tx) error {
		for n := range 70 {
			created := T0.Add(time.Duration((n*37)%70) * time.Minute)
			tk := ticket.Ticket{ID: ticket.NewID("OTI", 2026, uint64(n+1)), Subject: fmt.Sprintf("caso %d", n),
				Requester: ticket.Address{Addr: Requester}, State: ticket.StateOpen, Level: ticket.Level1, Group: "mesa",
				Category: []string{"", "impresoras", "Redes"}[n%3], CreatedAt: created, UpdatedAt: created}
			switch {
			case n >= 60:
				tk.State = ticket.StateClosed
			case n%4 == 1:
				tk.Level, tk.Group = ticket.Level2, "redes"
			case n%4 == 3:
				tk.Level, tk.Group = ticket.Level2, "sitio"
			}
			tk.Append(ticket.Entry{At: created, Actor: Requester, Kind: ticket.KindOpened}) // marks the level since
			tk.LevelSince = time.Time{}
			if n%5 != 0 { // some without a mark: their creation counts
				tk.LevelSince = created.Add(time.Duration((n*13)%50) * time.Minute)
			}
			if err := tx.PutTicket(&tk); err != nil {
				return err
			}
			tk.History = nil
			all = append(all, tk)
		}
		return nil
	})
	return all
}

// wantQueues is what Queues must return for f and p, computed from all.
func wantQueues(all []ticket.Ticket, f ticket.Filter, p ticket.Page) ticket.Listing {
	var l ticket.Listing
	cats := map[string]bool{}
	at := func(t *ticket.Ticket) time.Time {
		if p.Order == ticket.BySince && !t.LevelSince.IsZero() {
			return t.LevelSince
		}
		return t.CreatedAt
	}
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b ticket.Ticket) int { return cmp.Or(at(&a).Compare(at(&b)), cmp.Compare(a.ID, b.ID)) })
	byKey := map[string]*ticket.Queue{}
	for _, t := range sorted {
		if !f.Match(&t) {
			continue
		}
		if t.Category != "" {
			cats[t.Category] = true
		}
		if p.Category != "" && !strings.EqualFold(t.Category, p.Category) {
			continue
		}
		k := fmt.Sprint(t.Level, t.Group)
		q := byKey[k]
		if q == nil {
			l.Queues = append(l.Queues, ticket.Queue{Level: t.Level, Group: t.Group})
			q = &l.Queues[len(l.Queues)-1]
			byKey[k] = q
			for i := range l.Queues { // appending may move them
				byKey[fmt.Sprint(l.Queues[i].Level, l.Queues[i].Group)] = &l.Queues[i]
			}
			q = byKey[k]
		}
		if q.Total >= p.Offset && q.Total < p.Offset+p.Limit {
			q.Tickets = append(q.Tickets, t)
		}
		q.Total++
		l.Total++
	}
	slices.SortFunc(l.Queues, func(a, b ticket.Queue) int {
		return cmp.Or(cmp.Compare(a.Level, b.Level), cmp.Compare(a.Group, b.Group))
	})
	for i := range l.Queues {
		if l.Queues[i].Tickets == nil {
			l.Queues[i].Tickets = []ticket.Ticket{}
		}
	}
	for c := range cats {
		l.Categories = append(l.Categories, c)
	}
	slices.Sort(l.Categories)
	return l
}

// testQueues: a listing queue by queue (the console's), each with its
// count and the page asked for, in either order, by any filter and
// category, with the categories of the whole listing; the rows are list
// rows, without history.
func testQueues(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	all := queueTickets(t, db)
	open2 := ticket.Filter{State: ticket.StateOpen, Level: ticket.Level2}
	tests := []struct {
		f ticket.Filter
		p ticket.Page
	}{
		{ticket.Filter{State: ticket.StateOpen}, ticket.Page{Order: ticket.BySince, Limit: 5}},
		{ticket.Filter{State: ticket.StateOpen}, ticket.Page{Order: ticket.ByCreation, Limit: 5}},
		{open2, ticket.Page{Order: ticket.BySince, Offset: 5, Limit: 5}},
		{open2, ticket.Page{Order: ticket.BySince, Offset: 10, Limit: 50}},
		{open2, ticket.Page{Order: ticket.BySince, Offset: 100, Limit: 5}},
		{ticket.Filter{State: ticket.StateOpen, Group: "sitio"}, ticket.Page{Order: ticket.BySince, Limit: 100}},
		{ticket.Filter{}, ticket.Page{Order: ticket.ByCreation, Category: "redes", Limit: 3}},
		{ticket.Filter{Level: ticket.Level1}, ticket.Page{Order: ticket.BySince, Category: "IMPRESORAS", Offset: 2, Limit: 4}},
		{ticket.Filter{}, ticket.Page{}}, // only the counts
		{ticket.Filter{Group: "nadie"}, ticket.Page{Limit: 5}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v %+v", tt.f, tt.p), func(t *testing.T) {
			var got ticket.Listing
			View(t, db, func(tx Tx) (err error) { got, err = tx.Queues(tt.f, tt.p); return err })
			for _, q := range got.Queues {
				for _, tk := range q.Tickets {
					if tk.History != nil || tk.Body != "" {
						t.Errorf("Queues returned %s with its history or body", tk.ID)
					}
				}
			}
			if g, w := JSON(t, got), JSON(t, wantQueues(all, tt.f, tt.p)); g != w {
				t.Errorf("Queues =\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// testEach: Each walks what List returns, oldest created first, hands list
// rows, and stops at fn's first error with that error.
func testEach(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	all := queueTickets(t, db)
	slices.SortFunc(all, func(a, b ticket.Ticket) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	var got []ticket.Ticket
	stop := errors.New("enough")
	var n int
	var stopped error
	View(t, db, func(tx Tx) error {
		if err := tx.Each(ticket.Filter{}, func(tk *ticket.Ticket) error { got = append(got, *tk); return nil }); err != nil {
			return err
		}
		stopped = tx.Each(ticket.Filter{}, func(*ticket.Ticket) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		})
		return nil
	})
	if g, w := JSON(t, got), JSON(t, all); g != w {
		t.Errorf("Each walked\n%s\nwant\n%s", g, w)
	}
	if !errors.Is(stopped, stop) || n != 3 {
		t.Errorf("Each with fn failing at the 3rd ticket = %v after %d calls; want that error after 3", stopped, n)
	}
}

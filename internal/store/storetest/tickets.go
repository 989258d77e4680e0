package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

// NextID allocates the next ID of now's year in a transaction of its own.
func NextID(tb testing.TB, db Backend, now time.Time) ticket.ID {
	tb.Helper()
	var id ticket.ID
	Update(tb, db, func(tx Tx) (err error) {
		id, err = tx.NextID("OTI", now)
		return err
	})
	return id
}

func testNextIDUniqueUnderConcurrency(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	const workers, each = 8, 25
	IDs := make(chan ticket.ID, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := db.Update(t.Context(), func(tx Tx) error {
					id, err := tx.NextID("OTI", T0)
					IDs <- id
					return err
				})
				if err != nil {
					t.Errorf("Update: %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(IDs)
	var got []ticket.ID
	for id := range IDs {
		got = append(got, id)
	}
	slices.Sort(got)
	for i, id := range got {
		if want := ticket.NewID("OTI", 2026, uint64(i+1)); id != want {
			t.Fatalf("sorted IDs[%d] = %q, want %q (IDs: %v)", i, id, want, got)
		}
	}
}

// ThreeEntryTicket opens a ticket and adds two replies: three entries.
func ThreeEntryTicket(tb testing.TB, db Backend, desk *ticket.Desk) ticket.ID {
	tb.Helper()
	id, _ := OpenTicket(tb, db, desk, "<open-"+tb.Name()+"@example.org>", T0)
	Reply(tb, db, desk, id, Agent, "<r1-"+tb.Name()+"@oti.example>", "#clasificar impresoras media", T0.Add(time.Minute))
	Reply(tb, db, desk, id, Agent, "<r2-"+tb.Name()+"@oti.example>", "#nota se pidió tóner", T0.Add(2*time.Minute))
	return id
}

// LoadTicket reads ticket id with its history.
func LoadTicket(tb testing.TB, db Backend, id ticket.ID) *ticket.Ticket {
	tb.Helper()
	var tk *ticket.Ticket
	View(tb, db, func(tx Tx) (err error) { tk, err = tx.Ticket(id); return err })
	return tk
}

func testPutTicketHistoryIsAppendOnly(t *testing.T, open func(*testing.T) Backend) {
	desk := Desk(t)
	db := open(t)
	id := ThreeEntryTicket(t, db, desk)
	stored := LoadTicket(t, db, id)

	tests := []struct {
		name   string
		change func(tk *ticket.Ticket)
	}{
		{"shorter history", func(tk *ticket.Ticket) { tk.History = tk.History[:2] }},
		{"no history", func(tk *ticket.Ticket) { tk.History = nil }},
		{"same length, another last entry", func(tk *ticket.Ticket) {
			tk.History = tk.History[:2]
			tk.Append(ticket.Entry{At: T0.Add(time.Hour), Actor: Agent, Kind: ticket.KindNoted, Text: "otra cosa"})
		}},
		{"longer, diverging history", func(tk *ticket.Ticket) {
			tk.History = tk.History[:1]
			for i := range 4 {
				tk.Append(ticket.Entry{At: T0.Add(time.Hour), Actor: Agent, Kind: ticket.KindNoted, Text: fmt.Sprint(i)})
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := stored.Clone()
			tt.change(tk)
			tk.Subject = "cambiado"
			err := db.Update(t.Context(), func(tx Tx) error { return tx.PutTicket(tk) })
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("PutTicket(%s) = %v, want an append-only error", tt.name, err)
			}
			if got := LoadTicket(t, db, id); JSON(t, got) != JSON(t, stored) {
				t.Errorf("the stored ticket changed after a refused PutTicket:\n got %s\nwant %s", JSON(t, got), JSON(t, stored))
			}
		})
	}
	VerifyClean(t, db)
}

// TestPutTicketLostUpdate is the way a diverging history arises in practice:
// a ticket loaded in one transaction and stored in a later one, after
// another writer appended to it. The second write must fail rather than
// store a record whose head is not the stored last entry.
func testPutTicketLostUpdate(t *testing.T, open func(*testing.T) Backend) {
	desk := Desk(t)
	db := open(t)
	id := ThreeEntryTicket(t, db, desk)
	stale := LoadTicket(t, db, id)

	Reply(t, db, desk, id, Agent, "<first@oti.example>", "#nota primera", T0.Add(time.Hour))
	o := desk.Reply(stale, ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: "<second@oti.example>", From: ticket.Address{Addr: Agent}, Text: "#nota segunda"}, T0.Add(time.Hour))
	err := db.Update(t.Context(), func(tx Tx) error { return tx.PutTicket(o.Ticket) })
	if err == nil {
		t.Error("PutTicket of a ticket loaded before another writer appended to it succeeded")
	}
	VerifyClean(t, db)
	if got := LoadTicket(t, db, id); len(got.History) != 4 || got.History[3].Text != "primera" {
		t.Errorf("history after the refused write: %d entries, last %q; want 4, \"primera\"", len(got.History), got.History[len(got.History)-1].Text)
	}
}

// PutState stores a ticket with one entry at the given position.
func PutState(tb testing.TB, tx Tx, id ticket.ID, s ticket.State, l ticket.Level, group string, created time.Time) {
	tb.Helper()
	tk := &ticket.Ticket{ID: id, Subject: "caso " + string(id), Requester: ticket.Address{Addr: Requester},
		State: s, Level: l, Group: group, CreatedAt: created, UpdatedAt: created}
	tk.Append(ticket.Entry{At: created, Actor: Requester, Kind: ticket.KindOpened})
	if err := tx.PutTicket(tk); err != nil {
		tb.Fatalf("PutTicket(%s): %v", id, err)
	}
}

// IDs returns the IDs of ts, in order.
func IDs(ts []ticket.Ticket) []ticket.ID {
	out := make([]ticket.ID, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func testList(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	id := func(n uint64) ticket.ID { return ticket.NewID("OTI", 2026, n) }
	Update(t, db, func(tx Tx) error {
		// Created out of ID order to check the ordering by creation time.
		PutState(t, tx, id(1), ticket.StateOpen, 1, "mesa", T0.Add(5*time.Minute))
		PutState(t, tx, id(2), ticket.StateOpen, 2, "redes", T0.Add(1*time.Minute))
		PutState(t, tx, id(3), ticket.StateOpen, 2, "sitio", T0.Add(2*time.Minute))
		PutState(t, tx, id(4), ticket.StateResolved, 2, "redes", T0.Add(3*time.Minute))
		PutState(t, tx, id(5), ticket.StateClosed, 1, "mesa", T0.Add(4*time.Minute))
		PutState(t, tx, id(6), ticket.StateOpen, 3, "proveedor", T0.Add(4*time.Minute))
		PutState(t, tx, id(7), ticket.StateOpen, 1, "mesa", T0.Add(4*time.Minute))
		return nil
	})
	// Move 7 from open/1 to closed/1 and 6 from open/3 to resolved/3: the
	// old index keys must go.
	Update(t, db, func(tx Tx) error {
		for _, m := range []struct {
			id ticket.ID
			s  ticket.State
		}{{id(7), ticket.StateClosed}, {id(6), ticket.StateResolved}} {
			tk, err := tx.Ticket(m.id)
			if err != nil {
				return err
			}
			tk.State = m.s
			tk.Append(ticket.Entry{At: T0.Add(time.Hour), Actor: Agent, Kind: ticket.KindNoted})
			if err := tx.PutTicket(tk); err != nil {
				return err
			}
		}
		return nil
	})

	tests := []struct {
		f    ticket.Filter
		want []ticket.ID
	}{
		{ticket.Filter{}, []ticket.ID{id(2), id(3), id(4), id(5), id(6), id(7), id(1)}},
		{ticket.Filter{State: ticket.StateOpen}, []ticket.ID{id(2), id(3), id(1)}},
		{ticket.Filter{State: ticket.StateResolved}, []ticket.ID{id(4), id(6)}},
		{ticket.Filter{State: ticket.StateClosed}, []ticket.ID{id(5), id(7)}},
		{ticket.Filter{Level: 2}, []ticket.ID{id(2), id(3), id(4)}},
		{ticket.Filter{Level: 3}, []ticket.ID{id(6)}},
		{ticket.Filter{State: ticket.StateOpen, Level: 2}, []ticket.ID{id(2), id(3)}},
		{ticket.Filter{State: ticket.StateOpen, Level: 3}, nil},
		{ticket.Filter{Group: "redes"}, []ticket.ID{id(2), id(4)}},
		{ticket.Filter{Group: "mesa", State: ticket.StateOpen}, []ticket.ID{id(1)}},
		{ticket.Filter{State: ticket.StateOpen, Level: 2, Group: "redes"}, []ticket.ID{id(2)}},
		{ticket.Filter{Group: "nadie"}, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.f), func(t *testing.T) {
			var got []ticket.Ticket
			View(t, db, func(tx Tx) (err error) { got, err = tx.List(tt.f); return err })
			if !slices.Equal(IDs(got), tt.want) {
				t.Errorf("List(%+v) = %v, want %v", tt.f, IDs(got), tt.want)
			}
			for _, tk := range got {
				if tk.History != nil {
					t.Errorf("List(%+v) returned %s with its history", tt.f, tk.ID)
				}
			}
		})
	}
}

// TestListNewState: a ticket in a state the procedure adds later (here
// "waiting" and "awaiting", which sort after and before the procedure's
// states) is listed by an unfiltered List and by a level filter, with no
// change to the store.
func testListNewState(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	id := func(n uint64) ticket.ID { return ticket.NewID("OTI", 2026, n) }
	Update(t, db, func(tx Tx) error {
		PutState(t, tx, id(1), ticket.StateOpen, 2, "redes", T0)
		PutState(t, tx, id(2), "waiting", 2, "redes", T0.Add(time.Minute))
		PutState(t, tx, id(3), "awaiting", 1, "mesa", T0.Add(2*time.Minute))
		PutState(t, tx, id(4), ticket.StateClosed, 2, "redes", T0.Add(3*time.Minute))
		return nil
	})
	for _, tt := range []struct {
		f    ticket.Filter
		want []ticket.ID
	}{
		{ticket.Filter{}, []ticket.ID{id(1), id(2), id(3), id(4)}},
		{ticket.Filter{Level: 2}, []ticket.ID{id(1), id(2), id(4)}},
		{ticket.Filter{State: "waiting"}, []ticket.ID{id(2)}},
		{ticket.Filter{Level: 1}, []ticket.ID{id(3)}},
	} {
		var got []ticket.Ticket
		View(t, db, func(tx Tx) (err error) { got, err = tx.List(tt.f); return err })
		if !slices.Equal(IDs(got), tt.want) {
			t.Errorf("List(%+v) = %v, want %v", tt.f, IDs(got), tt.want)
		}
	}
}

func testTicketNotFound(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	View(t, db, func(tx Tx) error {
		if _, err := tx.Ticket("OTI-2026-000001"); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("Ticket(missing) = %v, want record.ErrNotFound", err)
		}
		if h, err := tx.History("OTI-2026-000001"); err != nil || h != nil {
			t.Errorf("History(missing) = %v, %v; want nil, nil", h, err)
		}
		return nil
	})
}

// testListRows: List returns each ticket as its list row (every field a
// listing shows or filters on, as last stored) and nothing else of it: no
// body, attachments, thread, Cc, relay or timer marks, nor history.
func testListRows(t *testing.T, open func(*testing.T) Backend) {
	db := open(t)
	id := ticket.NewID("OTI", 2026, 7)
	at := func(m int) time.Time { return T0.Add(time.Duration(m) * time.Minute) }
	tk := &ticket.Ticket{ID: id, Subject: "No imprime — piso 3", Requester: ticket.Address{Name: "Ana Pérez", Addr: Requester},
		Body: "Desde esta mañana.", Level: ticket.Level1, Group: "mesa", State: ticket.StateOpen, CreatedAt: at(0), UpdatedAt: at(0),
		Attachments: []ticket.Attachment{{Filename: "foto.jpg", Size: 3, SHA256: strings.Repeat("a", 64)}},
		Thread:      []string{"<rows-1@example.org>"}, Cc: []ticket.Address{{Addr: "jefe@example.org"}},
		Relays: []ticket.RelayMark{{At: at(0), Side: "requester"}}}
	tk.Append(ticket.Entry{At: at(0), Actor: Requester, Kind: ticket.KindOpened})
	Update(t, db, func(tx Tx) error { return tx.PutTicket(tk) })
	// The ticket changes: the row follows, the old one is gone.
	Update(t, db, func(tx Tx) error {
		tk, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		tk.Level, tk.Group, tk.Assignee, tk.Category, tk.Priority = ticket.Level2, "redes", "redes1@oti.example", "impresoras", ticket.PriorityHigh
		tk.RelatedTo, tk.UpdatedAt, tk.LevelSince, tk.StateSince, tk.Due = ticket.NewID("OTI", 2026, 1), at(5), at(5), at(0), at(65)
		tk.Timers.Warned = at(5)
		tk.Append(ticket.Entry{At: at(5), Actor: Agent, Kind: ticket.KindEscalated})
		return tx.PutTicket(tk)
	})
	var full *ticket.Ticket
	var all, open2, open1 []ticket.Ticket
	View(t, db, func(tx Tx) (err error) {
		if full, err = tx.Ticket(id); err != nil {
			return err
		}
		if all, err = tx.List(ticket.Filter{}); err != nil {
			return err
		}
		if open2, err = tx.List(ticket.Filter{State: ticket.StateOpen, Level: ticket.Level2, Group: "redes"}); err != nil {
			return err
		}
		open1, err = tx.List(ticket.Filter{Level: ticket.Level1})
		return err
	})
	want := ticket.Ticket{ID: full.ID, Subject: full.Subject, Requester: full.Requester, Level: full.Level, Group: full.Group,
		Assignee: full.Assignee, State: full.State, Category: full.Category, Priority: full.Priority, CreatedAt: full.CreatedAt,
		UpdatedAt: full.UpdatedAt, RelatedTo: full.RelatedTo, LevelSince: full.LevelSince, StateSince: full.StateSince, Due: full.Due}
	if len(all) != 1 || len(open2) != 1 || len(open1) != 0 {
		t.Fatalf("List: all %v, open at level 2 in redes %v, level 1 %v; want the one ticket, at level 2 only", IDs(all), IDs(open2), IDs(open1))
	}
	if got, w := JSON(t, open2[0]), JSON(t, want); got != w {
		t.Errorf("List row = %s\nwant %s", got, w)
	}
	if want.Assignee != "redes1@oti.example" || want.Due.IsZero() || full.Body == "" || len(full.Thread) == 0 {
		t.Errorf("the stored ticket lost fields: %s", JSON(t, full))
	}
}

package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

func nextID(tb testing.TB, db *DB, now time.Time) ticket.ID {
	tb.Helper()
	var id ticket.ID
	mustUpdate(tb, db, func(tx *Tx) (err error) {
		id, err = tx.NextID("OTI", now)
		return err
	})
	return id
}

func TestNextIDAcrossRestartsAndYears(t *testing.T) {
	desk := testDesk(t)
	db, path := newDB(t)
	steps := []struct {
		now     time.Time
		want    ticket.ID
		restart bool // close and reopen the store before this step
	}{
		{t0, "OTI-2026-000001", false},
		{t0.Add(time.Hour), "OTI-2026-000002", false},
		{t0.Add(2 * time.Hour), "OTI-2026-000003", true},
		{time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), "OTI-2026-000004", false},
		{time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), "OTI-2026-000005", true},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "OTI-2027-000001", false},
		{time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC), "OTI-2027-000002", true},
		{time.Date(2027, 6, 1, 8, 0, 0, 0, time.UTC), "OTI-2027-000003", false},
	}
	var opened []ticket.ID
	for i, st := range steps {
		if st.restart {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = openAt(t, path)
		}
		id, _ := openTicket(t, db, desk, fmt.Sprintf("<m%d@example.org>", i), st.now)
		if id != st.want {
			t.Errorf("step %d: NextID(OTI, %s) = %q, want %q", i, st.now.Format(time.RFC3339), id, st.want)
		}
		opened = append(opened, id)
	}
	db.Close()
	db = openAt(t, path)
	mustView(t, db, func(tx *Tx) error {
		for _, id := range opened {
			tk, err := tx.Ticket(id)
			if err != nil {
				t.Errorf("Ticket(%s) = %v", id, err)
				continue
			}
			if tk.ID != id || len(tk.History) != 1 {
				t.Errorf("Ticket(%s) = %s with %d entries, want 1", id, tk.ID, len(tk.History))
			}
		}
		if n := tx.CountTickets(); n != len(opened) {
			t.Errorf("CountTickets() = %d, want %d", n, len(opened))
		}
		return nil
	})
	if got, want := nextID(t, db, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)), ticket.ID("OTI-2026-000006"); got != want {
		t.Errorf("a late 2026 NextID = %q, want %q (2026 IDs are never reused)", got, want)
	}
}

func TestNextIDUniqueUnderConcurrency(t *testing.T) {
	db, _ := newDB(t)
	const workers, each = 8, 25
	ids := make(chan ticket.ID, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := db.Update(t.Context(), func(tx *Tx) error {
					id, err := tx.NextID("OTI", t0)
					ids <- id
					return err
				})
				if err != nil {
					t.Errorf("Update: %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(ids)
	var got []ticket.ID
	for id := range ids {
		got = append(got, id)
	}
	slices.Sort(got)
	for i, id := range got {
		if want := ticket.NewID("OTI", 2026, uint64(i+1)); id != want {
			t.Fatalf("sorted IDs[%d] = %q, want %q (IDs: %v)", i, id, want, got)
		}
	}
}

// threeEntryTicket opens a ticket and adds two replies: three entries.
func threeEntryTicket(tb testing.TB, db *DB, desk *ticket.Desk) ticket.ID {
	tb.Helper()
	id, _ := openTicket(tb, db, desk, "<open-"+tb.Name()+"@example.org>", t0)
	reply(tb, db, desk, id, agent, "<r1-"+tb.Name()+"@oti.example>", "#clasificar impresoras media", t0.Add(time.Minute))
	reply(tb, db, desk, id, agent, "<r2-"+tb.Name()+"@oti.example>", "#nota se pidió tóner", t0.Add(2*time.Minute))
	return id
}

func loadTicket(tb testing.TB, db *DB, id ticket.ID) *ticket.Ticket {
	tb.Helper()
	var tk *ticket.Ticket
	mustView(tb, db, func(tx *Tx) (err error) { tk, err = tx.Ticket(id); return err })
	return tk
}

func TestPutTicketHistoryIsAppendOnly(t *testing.T) {
	desk := testDesk(t)
	db, _ := newDB(t)
	id := threeEntryTicket(t, db, desk)
	stored := loadTicket(t, db, id)

	tests := []struct {
		name   string
		change func(tk *ticket.Ticket)
	}{
		{"shorter history", func(tk *ticket.Ticket) { tk.History = tk.History[:2] }},
		{"no history", func(tk *ticket.Ticket) { tk.History = nil }},
		{"same length, another last entry", func(tk *ticket.Ticket) {
			tk.History = tk.History[:2]
			tk.Append(ticket.Entry{At: t0.Add(time.Hour), Actor: agent, Kind: ticket.KindNoted, Text: "otra cosa"})
		}},
		{"longer, diverging history", func(tk *ticket.Ticket) {
			tk.History = tk.History[:1]
			for i := range 4 {
				tk.Append(ticket.Entry{At: t0.Add(time.Hour), Actor: agent, Kind: ticket.KindNoted, Text: fmt.Sprint(i)})
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := stored.Clone()
			tt.change(tk)
			tk.Subject = "cambiado"
			err := db.Update(t.Context(), func(tx *Tx) error { return tx.PutTicket(tk) })
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("PutTicket(%s) = %v, want an append-only error", tt.name, err)
			}
			if got := loadTicket(t, db, id); jsonString(t, got) != jsonString(t, stored) {
				t.Errorf("the stored ticket changed after a refused PutTicket:\n got %s\nwant %s", jsonString(t, got), jsonString(t, stored))
			}
		})
	}
	verifyClean(t, db)
}

// TestPutTicketLostUpdate is the way a diverging history arises in practice:
// a ticket loaded in one transaction and stored in a later one, after
// another writer appended to it. The second write must fail rather than
// store a record whose head is not the stored last entry.
func TestPutTicketLostUpdate(t *testing.T) {
	desk := testDesk(t)
	db, _ := newDB(t)
	id := threeEntryTicket(t, db, desk)
	stale := loadTicket(t, db, id)

	reply(t, db, desk, id, agent, "<first@oti.example>", "#nota primera", t0.Add(time.Hour))
	o := desk.Reply(stale, ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: "<second@oti.example>", From: ticket.Address{Addr: agent}, Text: "#nota segunda"}, t0.Add(time.Hour))
	err := db.Update(t.Context(), func(tx *Tx) error { return tx.PutTicket(o.Ticket) })
	if err == nil {
		t.Error("PutTicket of a ticket loaded before another writer appended to it succeeded")
	}
	verifyClean(t, db)
	if got := loadTicket(t, db, id); len(got.History) != 4 || got.History[3].Text != "primera" {
		t.Errorf("history after the refused write: %d entries, last %q; want 4, \"primera\"", len(got.History), got.History[len(got.History)-1].Text)
	}
}

func TestVerifyAllDetectsTampering(t *testing.T) {
	tests := []struct {
		name string
		edit func(tb testing.TB, tx *bolt.Tx, id ticket.ID) error
		want string // in the error VerifyAll reports
	}{
		{"entry changed", func(tb testing.TB, tx *bolt.Tx, id ticket.ID) error {
			h := tx.Bucket(bucketHistory)
			var e ticket.Entry
			if err := json.Unmarshal(h.Get(historyKey(id, 2)), &e); err != nil {
				return err
			}
			e.Data["category"] = "otra"
			raw, err := json.Marshal(e)
			if err != nil {
				return err
			}
			return h.Put(historyKey(id, 2), raw)
		}, "entry 2 was changed"},
		{"actor changed in the first entry", func(tb testing.TB, tx *bolt.Tx, id ticket.ID) error {
			h := tx.Bucket(bucketHistory)
			raw := strings.Replace(string(h.Get(historyKey(id, 1))), requester, "otra@example.org", 1)
			return h.Put(historyKey(id, 1), []byte(raw))
		}, "entry 1 was changed"},
		{"last entry removed", func(tb testing.TB, tx *bolt.Tx, id ticket.ID) error {
			return tx.Bucket(bucketHistory).Delete(historyKey(id, 3))
		}, "2 entries found, 3 recorded"},
		{"middle entry removed", func(tb testing.TB, tx *bolt.Tx, id ticket.ID) error {
			return tx.Bucket(bucketHistory).Delete(historyKey(id, 2))
		}, "entry 2 has sequence number 3"},
		{"whole history removed", func(tb testing.TB, tx *bolt.Tx, id ticket.ID) error {
			h := tx.Bucket(bucketHistory)
			for i := 1; i <= 3; i++ {
				if err := h.Delete(historyKey(id, i)); err != nil {
					return err
				}
			}
			return nil
		}, "0 entries found, 3 recorded"},
		{"history entry undecodable", func(tb testing.TB, tx *bolt.Tx, id ticket.ID) error {
			return tx.Bucket(bucketHistory).Put(historyKey(id, 2), []byte("{"))
		}, "decode history"},
		{"ticket record undecodable", func(tb testing.TB, tx *bolt.Tx, id ticket.ID) error {
			return tx.Bucket(bucketTickets).Put([]byte(id), []byte("garbage"))
		}, "does not decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desk := testDesk(t)
			db, path := newDB(t)
			victim := threeEntryTicket(t, db, desk)
			other := threeEntryTicket(t, db, desk)
			if n := verifyClean(t, db); n != 2 {
				t.Fatalf("VerifyAll before the edit checked %d tickets, want 2", n)
			}
			db.Close()

			// Behind the daemon's back: a second handle on the raw file.
			raw, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := raw.Update(func(tx *bolt.Tx) error { return tt.edit(t, tx, victim) }); err != nil {
				t.Fatalf("editing the raw file: %v", err)
			}
			raw.Close()

			db = openAt(t, path)
			bad := map[ticket.ID]error{}
			var n int
			mustView(t, db, func(tx *Tx) (err error) {
				n, err = tx.VerifyAll(func(id ticket.ID, err error) { bad[id] = err })
				return err
			})
			if n != 2 {
				t.Errorf("VerifyAll checked %d tickets, want 2", n)
			}
			if _, ok := bad[other]; ok || len(bad) != 1 {
				t.Errorf("VerifyAll reported %v, want only %s", bad, victim)
			}
			err = bad[victim]
			if !errors.Is(err, ticket.ErrTampered) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("VerifyAll reported %s: %v; want ErrTampered saying %q", victim, err, tt.want)
			}
		})
	}
}

// putState stores a ticket with one entry at the given position.
func putState(tb testing.TB, tx *Tx, id ticket.ID, s ticket.State, l ticket.Level, group string, created time.Time) {
	tb.Helper()
	tk := &ticket.Ticket{ID: id, Subject: "caso " + string(id), Requester: ticket.Address{Addr: requester},
		State: s, Level: l, Group: group, CreatedAt: created, UpdatedAt: created}
	tk.Append(ticket.Entry{At: created, Actor: requester, Kind: ticket.KindOpened})
	if err := tx.PutTicket(tk); err != nil {
		tb.Fatalf("PutTicket(%s): %v", id, err)
	}
}

func ids(ts []ticket.Ticket) []ticket.ID {
	out := make([]ticket.ID, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestList(t *testing.T) {
	db, _ := newDB(t)
	id := func(n uint64) ticket.ID { return ticket.NewID("OTI", 2026, n) }
	mustUpdate(t, db, func(tx *Tx) error {
		// Created out of ID order to check the ordering by creation time.
		putState(t, tx, id(1), ticket.StateOpen, 1, "mesa", t0.Add(5*time.Minute))
		putState(t, tx, id(2), ticket.StateOpen, 2, "redes", t0.Add(1*time.Minute))
		putState(t, tx, id(3), ticket.StateOpen, 2, "sitio", t0.Add(2*time.Minute))
		putState(t, tx, id(4), ticket.StateResolved, 2, "redes", t0.Add(3*time.Minute))
		putState(t, tx, id(5), ticket.StateClosed, 1, "mesa", t0.Add(4*time.Minute))
		putState(t, tx, id(6), ticket.StateOpen, 3, "proveedor", t0.Add(4*time.Minute))
		putState(t, tx, id(7), ticket.StateOpen, 1, "mesa", t0.Add(4*time.Minute))
		return nil
	})
	// Move 7 from open/1 to closed/1 and 6 from open/3 to resolved/3: the
	// old index keys must go.
	mustUpdate(t, db, func(tx *Tx) error {
		for _, m := range []struct {
			id ticket.ID
			s  ticket.State
		}{{id(7), ticket.StateClosed}, {id(6), ticket.StateResolved}} {
			tk, err := tx.Ticket(m.id)
			if err != nil {
				return err
			}
			tk.State = m.s
			tk.Append(ticket.Entry{At: t0.Add(time.Hour), Actor: agent, Kind: ticket.KindNoted})
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
			mustView(t, db, func(tx *Tx) (err error) { got, err = tx.List(tt.f); return err })
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("List(%+v) = %v, want %v", tt.f, ids(got), tt.want)
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
func TestListNewState(t *testing.T) {
	db, _ := newDB(t)
	id := func(n uint64) ticket.ID { return ticket.NewID("OTI", 2026, n) }
	mustUpdate(t, db, func(tx *Tx) error {
		putState(t, tx, id(1), ticket.StateOpen, 2, "redes", t0)
		putState(t, tx, id(2), "waiting", 2, "redes", t0.Add(time.Minute))
		putState(t, tx, id(3), "awaiting", 1, "mesa", t0.Add(2*time.Minute))
		putState(t, tx, id(4), ticket.StateClosed, 2, "redes", t0.Add(3*time.Minute))
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
		mustView(t, db, func(tx *Tx) (err error) { got, err = tx.List(tt.f); return err })
		if !slices.Equal(ids(got), tt.want) {
			t.Errorf("List(%+v) = %v, want %v", tt.f, ids(got), tt.want)
		}
	}
}

// TestListOpenLevel2AmongManyClosed checks that listing the open level-2
// tickets finds them among thousands of closed ones, and reads only their
// records: the closed tickets' records are made unreadable and List must
// not notice.
func TestListOpenLevel2AmongManyClosed(t *testing.T) {
	db, _ := newDB(t)
	const closed = 3000
	var want []ticket.ID
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range closed + 30 {
			id := ticket.NewID("OTI", 2026, uint64(i+1))
			created := t0.Add(time.Duration(i) * time.Second)
			switch {
			case i%100 == 7:
				putState(t, tx, id, ticket.StateOpen, 2, "redes", created)
				want = append(want, id)
			case i%100 == 8:
				putState(t, tx, id, ticket.StateOpen, 1, "mesa", created)
			case i%100 == 9:
				putState(t, tx, id, ticket.StateResolved, 2, "redes", created)
			default:
				putState(t, tx, id, ticket.StateClosed, ticket.Level(1+i%3), "mesa", created)
			}
		}
		return nil
	})
	var closedIDs []ticket.ID
	mustView(t, db, func(tx *Tx) error {
		got, err := tx.List(ticket.Filter{State: ticket.StateClosed})
		closedIDs = ids(got)
		return err
	})
	mustUpdate(t, db, func(tx *Tx) error {
		for _, id := range closedIDs {
			if err := tx.tx.Bucket(bucketTickets).Put([]byte(id), []byte("unreadable")); err != nil {
				return err
			}
		}
		return nil
	})

	var got []ticket.Ticket
	mustView(t, db, func(tx *Tx) (err error) {
		got, err = tx.List(ticket.Filter{State: ticket.StateOpen, Level: ticket.Level2})
		return err
	})
	if !slices.Equal(ids(got), want) {
		t.Errorf("List(open, level 2) = %v, want %v", ids(got), want)
	}
	for _, tk := range got {
		if tk.State != ticket.StateOpen || tk.Level != ticket.Level2 {
			t.Errorf("List(open, level 2) returned %s at %s/%d", tk.ID, tk.State, tk.Level)
		}
	}
	mustView(t, db, func(tx *Tx) error {
		if _, err := tx.List(ticket.Filter{State: ticket.StateClosed}); err == nil {
			t.Error("List(closed) read the unreadable records without error: the check above proves nothing")
		}
		return nil
	})
}

func TestTicketNotFound(t *testing.T) {
	db, _ := newDB(t)
	mustView(t, db, func(tx *Tx) error {
		if _, err := tx.Ticket("OTI-2026-000001"); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("Ticket(missing) = %v, want record.ErrNotFound", err)
		}
		if h, err := tx.History("OTI-2026-000001"); err != nil || h != nil {
			t.Errorf("History(missing) = %v, %v; want nil, nil", h, err)
		}
		return nil
	})
}

// TestHistoryKeysDoNotCollide checks that the history of one ticket does not
// pick up the entries of another whose ID extends it.
func TestHistoryKeysDoNotCollide(t *testing.T) {
	db, _ := newDB(t)
	short, long := ticket.NewID("OTI", 2026, 123456), ticket.NewID("OTI", 2026, 1234567)
	mustUpdate(t, db, func(tx *Tx) error {
		putState(t, tx, short, ticket.StateOpen, 1, "mesa", t0)
		putState(t, tx, long, ticket.StateOpen, 1, "mesa", t0)
		return nil
	})
	for _, id := range []ticket.ID{short, long} {
		if tk := loadTicket(t, db, id); len(tk.History) != 1 {
			t.Errorf("Ticket(%s) has %d entries, want 1", id, len(tk.History))
		}
	}
	verifyClean(t, db)
}

// TestOverlongMessageIDRollsBack documents what a hostile Message-ID longer
// than bbolt's key limit (32 KiB) does: the write fails and the whole
// transaction with it, so the caller must quarantine or shorten it.
func TestOverlongMessageIDRollsBack(t *testing.T) {
	desk := testDesk(t)
	db, _ := newDB(t)
	long := "<" + strings.Repeat("x", bolt.MaxKeySize) + "@example.org>"
	err := db.Update(t.Context(), func(tx *Tx) error {
		id, err := tx.NextID("OTI", t0)
		if err != nil {
			return err
		}
		o := desk.Open(id, ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: long, From: ticket.Address{Addr: requester}, Subject: "x"}, "", t0)
		return tx.PutTicket(o.Ticket)
	})
	if err == nil {
		t.Fatal("PutTicket with a Message-ID over the key limit succeeded")
	}
	mustView(t, db, func(tx *Tx) error {
		if n := tx.CountTickets(); n != 0 {
			t.Errorf("CountTickets() = %d after a failed transaction, want 0", n)
		}
		return nil
	})
	if id := nextID(t, db, t0); id != "OTI-2026-000001" {
		t.Errorf("NextID = %s after the rollback, want OTI-2026-000001", id)
	}
}

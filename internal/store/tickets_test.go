package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketd/ticketd/ticket"

	"github.com/ticketd/ticketd/internal/store/storetest"
)

func TestNextIDAcrossRestartsAndYears(t *testing.T) {
	desk := storetest.Desk(t)
	db, path := newDB(t)
	steps := []struct {
		now     time.Time
		want    ticket.ID
		restart bool // close and reopen the store before this step
	}{
		{storetest.T0, "OTI-2026-000001", false},
		{storetest.T0.Add(time.Hour), "OTI-2026-000002", false},
		{storetest.T0.Add(2 * time.Hour), "OTI-2026-000003", true},
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
		id, _ := storetest.OpenTicket(t, bk(db), desk, fmt.Sprintf("<m%d@example.org>", i), st.now)
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
	if got, want := storetest.NextID(t, bk(db), time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)), ticket.ID("OTI-2026-000006"); got != want {
		t.Errorf("a late 2026 NextID = %q, want %q (2026 IDs are never reused)", got, want)
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
			raw := strings.Replace(string(h.Get(historyKey(id, 1))), storetest.Requester, "otra@example.org", 1)
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
			desk := storetest.Desk(t)
			db, path := newDB(t)
			victim := storetest.ThreeEntryTicket(t, bk(db), desk)
			other := storetest.ThreeEntryTicket(t, bk(db), desk)
			if n := storetest.VerifyClean(t, bk(db)); n != 2 {
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

// TestListOpenLevel2AmongManyClosed checks that listing the open level-2
// tickets finds them among thousands of closed ones, and reads only their
// list rows: the closed tickets' rows in the index and every ticket record
// are made unreadable, and List must not notice.
func TestListOpenLevel2AmongManyClosed(t *testing.T) {
	db, _ := newDB(t)
	const closed = 3000
	var want []ticket.ID
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range closed + 30 {
			id := ticket.NewID("OTI", 2026, uint64(i+1))
			created := storetest.T0.Add(time.Duration(i) * time.Second)
			switch {
			case i%100 == 7:
				storetest.PutState(t, tx, id, ticket.StateOpen, 2, "redes", created)
				want = append(want, id)
			case i%100 == 8:
				storetest.PutState(t, tx, id, ticket.StateOpen, 1, "mesa", created)
			case i%100 == 9:
				storetest.PutState(t, tx, id, ticket.StateResolved, 2, "redes", created)
			default:
				storetest.PutState(t, tx, id, ticket.StateClosed, ticket.Level(1+i%3), "mesa", created)
			}
		}
		return nil
	})
	var closedIDs []ticket.ID
	mustView(t, db, func(tx *Tx) error {
		got, err := tx.List(ticket.Filter{State: ticket.StateClosed})
		closedIDs = storetest.IDs(got)
		return err
	})
	mustUpdate(t, db, func(tx *Tx) error {
		for _, id := range closedIDs {
			var rec ticketRecord
			if err := getJSON(tx.tx.Bucket(bucketTickets), []byte(id), &rec); err != nil {
				return err
			}
			if err := tx.tx.Bucket(bucketIndex).Put(indexKey(rec.State, rec.Level, id), []byte("unreadable")); err != nil {
				return err
			}
		}
		tickets := tx.tx.Bucket(bucketTickets)
		var ids [][]byte
		if err := tickets.ForEach(func(k, _ []byte) error { ids = append(ids, bytes.Clone(k)); return nil }); err != nil {
			return err
		}
		for _, k := range ids {
			if err := tickets.Put(k, []byte("unreadable")); err != nil {
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
	if !slices.Equal(storetest.IDs(got), want) {
		t.Errorf("List(open, level 2) = %v, want %v", storetest.IDs(got), want)
	}
	for _, tk := range got {
		if tk.State != ticket.StateOpen || tk.Level != ticket.Level2 || tk.Group != "redes" || tk.CreatedAt.IsZero() {
			t.Errorf("List(open, level 2) returned %s at %s/%d in %q created %v", tk.ID, tk.State, tk.Level, tk.Group, tk.CreatedAt)
		}
	}
	mustView(t, db, func(tx *Tx) error {
		if _, err := tx.List(ticket.Filter{State: ticket.StateClosed}); err == nil {
			t.Error("List(closed) read the unreadable rows without error: the check above proves nothing")
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
		storetest.PutState(t, tx, short, ticket.StateOpen, 1, "mesa", storetest.T0)
		storetest.PutState(t, tx, long, ticket.StateOpen, 1, "mesa", storetest.T0)
		return nil
	})
	for _, id := range []ticket.ID{short, long} {
		if tk := storetest.LoadTicket(t, bk(db), id); len(tk.History) != 1 {
			t.Errorf("Ticket(%s) has %d entries, want 1", id, len(tk.History))
		}
	}
	storetest.VerifyClean(t, bk(db))
}

// TestOverlongMessageIDRollsBack documents what a hostile Message-ID longer
// than bbolt's key limit (32 KiB) does: the write fails and the whole
// transaction with it, so the caller must quarantine or shorten it.
func TestOverlongMessageIDRollsBack(t *testing.T) {
	desk := storetest.Desk(t)
	db, _ := newDB(t)
	long := "<" + strings.Repeat("x", bolt.MaxKeySize) + "@example.org>"
	err := db.Update(t.Context(), func(tx *Tx) error {
		id, err := tx.NextID("OTI", storetest.T0)
		if err != nil {
			return err
		}
		o := desk.Open(id, ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: long, From: ticket.Address{Addr: storetest.Requester}, Subject: "x"}, "", storetest.T0)
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
	if id := storetest.NextID(t, bk(db), storetest.T0); id != "OTI-2026-000001" {
		t.Errorf("NextID = %s after the rollback, want OTI-2026-000001", id)
	}
}

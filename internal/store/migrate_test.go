package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
	bolt "go.etcd.io/bbolt"

	"github.com/ticketd/ticketd/internal/store/storetest"
)

// v1Outbox reads the outbox items of a schema-1 file as they were stored.
func v1Outbox(t *testing.T, path string) []v1Pending {
	t.Helper()
	var out []v1Pending
	viewFile(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			var p v1Pending
			err := json.Unmarshal(v, &p)
			out = append(out, p)
			return err
		})
	})
	return out
}

// viewFile runs fn in a read-only transaction of the bbolt file at path as
// it lies, before any upgrade.
func viewFile(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.View(fn); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateSchema1 opens a copy of a data file written by schema version
// 1 (testdata/schema1.db, see testdata/README.md) and checks that
// everything in it survives the upgrade: tickets and their verified
// histories, the pending notifications (same Seq, Message-ID and delivery
// state, and the same notice once rebuilt from the ticket), quarantine,
// unthreaded mail, checkpoint and auto-reply counters.
func TestMigrateSchema1(t *testing.T) {
	path := fixtureCopy(t, "testdata/schema1.db")
	old := v1Outbox(t, path)
	if len(old) == 0 {
		t.Fatal("the fixture has no pending notices")
	}
	db := openMigrated(t, path)
	wantIndexed(t, db, 19)
	var states = map[ticket.State]int{}
	var levels = map[ticket.Level]int{}
	mustView(t, db, func(tx *Tx) error {
		ts, err := tx.List(ticket.Filter{})
		for _, tk := range ts {
			states[tk.State]++
			levels[tk.Level]++
		}
		return err
	})
	if states[ticket.StateOpen] == 0 || states[ticket.StateResolved] == 0 || states[ticket.StateClosed] == 0 ||
		levels[ticket.Level2] == 0 || levels[ticket.Level3] == 0 {
		t.Errorf("tickets by state %v and level %v: some did not survive", states, levels)
	}

	items := storetest.Pending(t, bk(db))
	if len(items) != len(old) {
		t.Fatalf("%d pending notices after the migration, want %d", len(items), len(old))
	}
	retried := 0
	for i, it := range items {
		o := old[i]
		if it.Seq != o.Seq || it.MessageID != o.MessageID || it.To != o.Notice.To[0] || it.Delivery != o.Delivery ||
			!it.CreatedAt.Equal(o.CreatedAt) || it.Owed.TicketID != o.Notice.Ticket.ID {
			t.Errorf("notice %d after the migration = %+v, want %+v", o.Seq, it, o)
		}
		if o.Attempts > 0 {
			retried++
		}
		// Still deliverable: rebuilt from the ticket, it is the notice owed.
		p, err := it.Pending(storetest.LoadTicket(t, bk(db), it.Owed.TicketID))
		if err != nil {
			t.Errorf("notice %d cannot be rebuilt: %v", o.Seq, err)
			continue
		}
		if got, want := storetest.JSON(t, p.Notice), storetest.JSON(t, o.Notice); got != want {
			t.Errorf("notice %d rebuilt = %s\nwant %s", o.Seq, got, want)
		}
		if id, ok := messageTicket(t, db, it.MessageID); !ok || id != it.Owed.TicketID {
			t.Errorf("Message-ID %s threads to %q, %v; want %s", it.MessageID, id, ok, it.Owed.TicketID)
		}
	}
	if retried == 0 {
		t.Error("the fixture's notices with failed attempts are gone")
	}
	// A notice sent after the migration leaves the outbox.
	if err := (Outbox{DB: db}).Sent(t.Context(), items[0].Seq, storetest.T0); err != nil {
		t.Errorf("Sent(migrated notice) = %v", err)
	}

	mustUpdate(t, db, func(tx *Tx) error {
		qs, err := tx.QuarantineList()
		if err != nil || len(qs) != 1 || qs[0].MessageID != "broken1@example.org" || qs[0].UID != 41 || qs[0].Retries != 1 {
			t.Errorf("QuarantineList() = %+v, %v; want the fixture's record", qs, err)
		}
		us, err := tx.UnthreadedList()
		if err != nil || len(us) != 1 || us[0].MessageID != "ooo1@example.org" {
			t.Errorf("UnthreadedList() = %+v, %v; want the fixture's record", us, err)
		}
		cp, err := tx.Checkpoint("INBOX")
		if err != nil || cp != (record.Checkpoint{UIDValidity: 1700000000, UID: 42}) {
			t.Errorf("Checkpoint(INBOX) = %+v, %v; want 1700000000/42", cp, err)
		}
		// The fixture's loop sender got nine automatic answers that day.
		evening := time.Date(2026, time.March, 2, 18, 0, 0, 0, time.UTC)
		if ok, err := tx.TakeAutoReply("loop@example.net", evening, 9, 24*time.Hour); ok || err != nil {
			t.Errorf("TakeAutoReply(loop sender) = %v, %v; want its counters kept (false)", ok, err)
		}
		return nil
	})
	// The next ticket continues the fixture's sequence.
	if got, want := storetest.NextID(t, bk(db), storetest.T0), ticket.NewID("OTI", 2026, 20); got != want {
		t.Errorf("NextID after the migration = %s, want %s", got, want)
	}
}

func messageTicket(t *testing.T, db *DB, msgID string) (id ticket.ID, ok bool) {
	t.Helper()
	mustView(t, db, func(tx *Tx) error { id, ok = tx.Message(msgID); return nil })
	return id, ok
}

// TestMigrateSchema2 opens a copy of a data file written by schema version
// 2 (testdata/schema2.db, see testdata/README.md: the state/level index
// without list rows, no index of last changes) and checks the upgrade: the
// tickets and their histories verify, every ticket is listed with the row
// of its record, and Touched finds each ticket of a period through the new
// index exactly as the records say.
func TestMigrateSchema2(t *testing.T) {
	db := openMigrated(t, fixtureCopy(t, "testdata/schema2.db"))
	mustView(t, db, func(tx *Tx) error {
		if cleanlyClosed(tx.tx) {
			t.Error("the clean-close mark is still set while the store is open")
		}
		return nil
	})
	wantIndexed(t, db, 19)
	if got, want := storetest.NextID(t, bk(db), storetest.T0), ticket.NewID("OTI", 2026, 20); got != want {
		t.Errorf("NextID after the migration = %s, want %s", got, want)
	}
}

// wantIndexed checks the indexes of schema 3 against the n ticket records
// of db: List gives each ticket's row as its record has it, and Touched,
// over a period in the middle of the records' times and over all time,
// yields exactly the tickets the records place in it, with their histories.
func wantIndexed(t *testing.T, db *DB, n int) {
	t.Helper()
	var recs []ticketRecord
	var rows []ticket.Ticket
	mustView(t, db, func(tx *Tx) error {
		err := tx.tx.Bucket(bucketTickets).ForEach(func(_, v []byte) error {
			var rec ticketRecord
			err := json.Unmarshal(v, &rec)
			recs = append(recs, rec)
			return err
		})
		if err != nil {
			return err
		}
		rows, err = tx.List(ticket.Filter{})
		return err
	})
	if len(recs) != n || len(rows) != n {
		t.Fatalf("%d ticket records, %d listed; want %d", len(recs), len(rows), n)
	}
	byID := map[ticket.ID]ticket.Ticket{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, rec := range recs {
		r, tk := byID[rec.ID], rec.Ticket
		if r.Subject != tk.Subject || r.Requester != tk.Requester || r.State != tk.State || r.Level != tk.Level ||
			r.Group != tk.Group || r.Assignee != tk.Assignee || r.Category != tk.Category || r.Priority != tk.Priority ||
			!r.CreatedAt.Equal(tk.CreatedAt) || !r.UpdatedAt.Equal(tk.UpdatedAt) || r.RelatedTo != tk.RelatedTo ||
			!r.LevelSince.Equal(tk.LevelSince) || !r.StateSince.Equal(tk.StateSince) || !r.Due.Equal(tk.Due) {
			t.Errorf("listed row of %s = %+v, want the fields of %+v", rec.ID, r, tk)
		}
	}
	first, last := recs[0].CreatedAt, recs[0].UpdatedAt
	for _, rec := range recs {
		if rec.CreatedAt.Before(first) {
			first = rec.CreatedAt
		}
		if rec.UpdatedAt.After(last) {
			last = rec.UpdatedAt
		}
	}
	mid := first.Add(last.Sub(first) / 2)
	for _, p := range [][2]time.Time{{first.Add(-time.Hour), last.Add(time.Hour)}, {mid, mid.Add(last.Sub(first) / 4)}} {
		var want, got []ticket.ID
		for _, rec := range recs {
			if rec.CreatedAt.Before(p[1]) && !rec.UpdatedAt.Before(p[0]) {
				want = append(want, rec.ID)
			}
		}
		if len(want) == 0 || len(want) == n && p[0].After(first) {
			t.Fatalf("the period %v to %v holds %d of %d tickets: it tells nothing", p[0], p[1], len(want), n)
		}
		mustView(t, db, func(tx *Tx) error {
			return tx.Touched(p[0], p[1], func(tk *ticket.Ticket) error {
				if len(tk.History) == 0 {
					t.Errorf("Touched yielded %s without its history", tk.ID)
				}
				got = append(got, tk.ID)
				return nil
			})
		})
		if !slices.Equal(got, want) {
			t.Errorf("Touched(%v, %v) = %v, want %v", p[0], p[1], got, want)
		}
	}
}

// fixtureCopy copies the fixture file name to a new temporary store file,
// whose path it returns.
func fixtureCopy(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ticketd.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// storedTexts reads, from the store file at path as it lies (before any
// upgrade), the text of the notice of each pending outbox item, by Seq.
func storedTexts(t *testing.T, path string) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	viewFile(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			var r itemRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			var rec owedRecord
			if err := json.Unmarshal(tx.Bucket(bucketOwed).Get(u64(r.Notice)), &rec); err != nil {
				return err
			}
			out[r.Seq] = rec.Owed.Text
			return nil
		})
	})
	return out
}

// TestMigrateSchema4 opens a copy of a data file written by schema version
// 4 (testdata/schema4.db, see testdata/README.md: each notice owed kept
// its own copy of its text) and checks that the tickets verify and that
// every pending notice still rebuilds with the text it was owed with.
func TestMigrateSchema4(t *testing.T) {
	path := fixtureCopy(t, "testdata/schema4.db")
	texts := storedTexts(t, path)
	db := openMigrated(t, path)
	items := storetest.Pending(t, bk(db))
	if len(items) != len(texts) {
		t.Fatalf("%d pending notices after the upgrade, the file had %d", len(items), len(texts))
	}
	kinds := map[ticket.NoticeKind]bool{}
	for _, it := range items {
		p, err := it.Pending(storetest.LoadTicket(t, bk(db), it.Owed.TicketID))
		if err != nil {
			t.Errorf("notice %d cannot be rebuilt: %v", it.Seq, err)
			continue
		}
		if p.Notice.Text != texts[it.Seq] {
			t.Errorf("notice %d (%s) rebuilt with text %q, it was owed with %q", it.Seq, it.Owed.Kind, p.Notice.Text, texts[it.Seq])
		}
		if texts[it.Seq] != "" {
			kinds[it.Owed.Kind] = true
		}
	}
	if !kinds[ticket.NoticeNewTicket] {
		t.Errorf("the fixture's pending notices with a text are of kinds %v: no new-ticket alert among them", kinds)
	}
}

// openMigrated opens the fixture copy at path, which Open migrates, and
// checks what every migration must leave: the current schema version and
// the fixture's 19 tickets verifying clean.
func openMigrated(t *testing.T, path string) *DB {
	t.Helper()
	db := openAt(t, path)
	mustView(t, db, func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketMeta).Get(keySchema); len(v) != 8 || v[7] != SchemaVersion {
			t.Errorf("schema version after Open = %x, want %d", v, SchemaVersion)
		}
		return nil
	})
	if n := storetest.VerifyClean(t, bk(db)); n != 19 {
		t.Errorf("VerifyAll checked %d tickets, want the fixture's 19", n)
	}
	return db
}

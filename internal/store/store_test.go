package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

// t0 is the injected clock of most tests.
var t0 = time.Date(2026, time.March, 2, 9, 30, 0, 0, time.UTC)

const (
	requester = "ana.perez@example.org"
	agent     = "agente1@oti.example"
	msgHost   = "desk.example"
)

// testDesk returns the rules engine over a small directory: a desk of two
// agents, two level-2 groups and a level-3 provider.
func testDesk(tb testing.TB) *ticket.Desk {
	tb.Helper()
	dir, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Members: []string{agent, "agente2@oti.example"}},
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

// openAt opens the store at path with a short lock timeout and closes it
// when the test ends (closing twice is harmless).
func openAt(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		tb.Fatalf("Open(%s) = %v", path, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// newDB opens a new store in a fresh directory (which Open creates).
func newDB(tb testing.TB) (*DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "data", "ticketd.db")
	return openAt(tb, path), path
}

func mustUpdate(tb testing.TB, db *DB, fn func(*Tx) error) {
	tb.Helper()
	if err := db.Update(tb.Context(), fn); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

func mustView(tb testing.TB, db *DB, fn func(*Tx) error) {
	tb.Helper()
	if err := db.View(tb.Context(), fn); err != nil {
		tb.Fatalf("View: %v", err)
	}
}

// openTicket does in one transaction what the service does for a new mail:
// allocate an ID, open the ticket, store it and enqueue what it owes.
func openTicket(tb testing.TB, db *DB, desk *ticket.Desk, msgID string, now time.Time) (ticket.ID, []outbox.Item) {
	tb.Helper()
	var id ticket.ID
	var pending []outbox.Item
	mustUpdate(tb, db, func(tx *Tx) error {
		var err error
		if id, err = tx.NextID(ticket.DefaultPrefix, now); err != nil {
			return err
		}
		o := desk.Open(id, ticket.Inbound{
			Sender:    ticket.Trusted("test"),
			MessageID: msgID,
			From:      ticket.Address{Name: "Ana Pérez", Addr: requester},
			Subject:   "No imprime la impresora del piso 3",
			Text:      "Desde esta mañana la impresora no responde.",
		}, "", now)
		if err := tx.PutTicket(o.Ticket); err != nil {
			return err
		}
		pending, err = tx.Enqueue(owe(o.Notices), now)
		return err
	})
	return id, pending
}

// reply applies a mail from sender with text to ticket id, as the service
// does for a threaded mail, and returns the outcome.
func reply(tb testing.TB, db *DB, desk *ticket.Desk, id ticket.ID, sender, msgID, text string, now time.Time) ticket.Outcome {
	tb.Helper()
	var o ticket.Outcome
	mustUpdate(tb, db, func(tx *Tx) error {
		tk, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		o = desk.Reply(tk, ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: msgID, From: ticket.Address{Addr: sender}, Subject: "RE: " + string(id.Tag()), Text: text}, now)
		if err := tx.PutTicket(o.Ticket); err != nil {
			return err
		}
		_, err = tx.Enqueue(owe(o.Notices), now)
		return err
	})
	return o
}

func jsonString(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("json.Marshal: %v", err)
	}
	return string(b)
}

// verifyClean fails the test unless every ticket's history verifies; it
// returns how many tickets were checked.
func verifyClean(tb testing.TB, db *DB) int {
	tb.Helper()
	var n int
	mustView(tb, db, func(tx *Tx) error {
		var err error
		n, err = tx.VerifyAll(func(id ticket.ID, err error) { tb.Errorf("VerifyAll: %s: %v", id, err) })
		return err
	})
	return n
}

func TestReopenKeepsEverything(t *testing.T) {
	desk := testDesk(t)
	db, path := newDB(t)

	id, _ := openTicket(t, db, desk, "<m1@example.org>", t0)
	reply(t, db, desk, id, agent, "<m2@oti.example>", "#clasificar impresoras alta\nRevisamos hoy.", t0.Add(time.Minute))
	reply(t, db, desk, id, requester, "<m3@example.org>", "Gracias, sigo sin imprimir.", t0.Add(2*time.Minute))
	cp := record.Checkpoint{UIDValidity: 7, UID: 42}
	var q record.Quarantined
	un := record.Unthreaded{MessageID: "<ooo@example.org>", From: "jefe@example.org", Subject: "Fuera de la oficina", Reason: "auto-submitted", At: t0, RawSHA256: "ab12"}
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.SetCheckpoint("INBOX", cp); err != nil {
			return err
		}
		var err error
		q, err = tx.Quarantine(record.Quarantined{MessageID: "<bad@example.org>", Reason: "no From", ReceivedAt: t0, RawSHA256: "cd34", RawSize: 900, Mailbox: "INBOX", UID: 41})
		if err != nil {
			return err
		}
		return tx.RecordUnthreaded(un)
	})

	var before struct {
		Ticket  *ticket.Ticket
		Pending []outbox.Item
	}
	mustView(t, db, func(tx *Tx) error {
		var err error
		if before.Ticket, err = tx.Ticket(id); err != nil {
			return err
		}
		before.Pending, err = tx.Pending()
		return err
	})
	if got := len(before.Ticket.History); got != 3 {
		t.Fatalf("history has %d entries before reopen, want 3", got)
	}
	if len(before.Pending) == 0 {
		t.Fatal("no pending notices before reopen")
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openAt(t, path)
	mustView(t, db, func(tx *Tx) error {
		tk, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		if got, want := jsonString(t, tk), jsonString(t, before.Ticket); got != want {
			t.Errorf("ticket after reopen:\n got %s\nwant %s", got, want)
		}
		p, err := tx.Pending()
		if err != nil {
			return err
		}
		if got, want := jsonString(t, p), jsonString(t, before.Pending); got != want {
			t.Errorf("outbox after reopen:\n got %s\nwant %s", got, want)
		}
		if got, err := tx.Checkpoint("INBOX"); err != nil || got != cp {
			t.Errorf("Checkpoint(INBOX) = %+v, %v; want %+v", got, err, cp)
		}
		if got, err := tx.Quarantined(q.ID); err != nil || got != q {
			t.Errorf("Quarantined(%d) = %+v, %v; want %+v", q.ID, got, err, q)
		}
		if got, err := tx.UnthreadedList(); err != nil || len(got) != 1 || got[0] != un {
			t.Errorf("UnthreadedList() = %+v, %v; want [%+v]", got, err, un)
		}
		for _, m := range []string{"<m1@example.org>", "<m2@oti.example>", "<m3@example.org>"} {
			if got, ok := tx.Message(m); !ok || got != id {
				t.Errorf("Message(%q) = %q, %v; want %q, true", m, got, ok, id)
			}
		}
		if got, ok := tx.Message(un.MessageID); !ok || got != "" {
			t.Errorf("Message(%q) = %q, %v; want \"\", true", un.MessageID, got, ok)
		}
		for _, m := range []string{"<never@example.org>", ""} {
			if got, ok := tx.Message(m); ok {
				t.Errorf("Message(%q) = %q, true; want not seen", m, got)
			}
		}
		if n := tx.CountTickets(); n != 1 {
			t.Errorf("CountTickets() = %d, want 1", n)
		}
		return nil
	})
	if n := verifyClean(t, db); n != 1 {
		t.Errorf("VerifyAll checked %d tickets, want 1", n)
	}
}

func TestOpenLockedFails(t *testing.T) {
	_, path := newDB(t)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		db, err := Open(path, Options{Timeout: 100 * time.Millisecond})
		if err == nil {
			db.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open = %v, want ErrLocked", err)
		}
		t.Logf("second Open failed after %v", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("second Open of a locked file still blocks after 10s")
	}
}

func TestOpenReadOnly(t *testing.T) {
	desk := testDesk(t)
	db, path := newDB(t)
	id, _ := openTicket(t, db, desk, "<m1@example.org>", t0)
	db.Close()

	// Readers share the file.
	var ros []*DB
	for range 2 {
		ro, err := Open(path, Options{ReadOnly: true, Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatalf("Open(ReadOnly) = %v", err)
		}
		t.Cleanup(func() { ro.Close() })
		ros = append(ros, ro)
	}
	ro := ros[0]
	if ro.Path() != path {
		t.Errorf("Path() = %q, want %q", ro.Path(), path)
	}
	mustView(t, ro, func(tx *Tx) error {
		_, err := tx.Ticket(id)
		return err
	})
	err := ro.Update(t.Context(), func(tx *Tx) error { return tx.SetCheckpoint("INBOX", record.Checkpoint{UID: 1}) })
	if err == nil {
		t.Error("Update on a read-only store succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	raw, err := bolt.Open(newer, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, u64(SchemaVersion+1))
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		opts Options
		want string
	}{
		{"directory is a file", filepath.Join(file, "sub", "ticketd.db"), Options{}, "create data directory"},
		{"not a bbolt file", junk, Options{}, "open " + junk},
		{"newer schema", newer, Options{}, "upgrade ticketd"},
		{"read-only and missing", filepath.Join(dir, "missing.db"), Options{ReadOnly: true}, "missing.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(tt.path, tt.opts)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error containing %q", tt.path, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q) = %v, want an error containing %q", tt.path, err, tt.want)
			}
			if errors.Is(err, ErrLocked) {
				t.Errorf("Open(%q) = %v, must not be ErrLocked", tt.path, err)
			}
		})
	}
}

func TestSchemaVersionWritten(t *testing.T) {
	db, path := newDB(t)
	db.Close()
	// Reopening an up-to-date file migrates nothing and keeps the version.
	db = openAt(t, path)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketMeta).Get(keySchema)
		if string(raw) != string(u64(SchemaVersion)) {
			t.Errorf("schema version = %x, want %x", raw, u64(SchemaVersion))
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTransactions(t *testing.T) {
	db, _ := newDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	fn := func(*Tx) error { called = true; return nil }
	if err := db.Update(ctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("Update(canceled) = %v, want context.Canceled", err)
	}
	if err := db.View(ctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("View(canceled) = %v, want context.Canceled", err)
	}
	if called {
		t.Error("a canceled transaction ran its function")
	}

	// A failing function rolls back everything it did, the ID included.
	boom := errors.New("boom")
	err := db.Update(t.Context(), func(tx *Tx) error {
		if _, err := tx.NextID("OTI", t0); err != nil {
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
	mustUpdate(t, db, func(tx *Tx) error {
		if cp, err := tx.Checkpoint("INBOX"); err != nil || cp != (record.Checkpoint{}) {
			t.Errorf("Checkpoint after rollback = %+v, %v; want zero", cp, err)
		}
		id, err := tx.NextID("OTI", t0)
		if want := ticket.NewID("OTI", 2026, 1); id != want {
			t.Errorf("NextID after rollback = %q, want %q", id, want)
		}
		return err
	})
}

func TestBackup(t *testing.T) {
	desk := testDesk(t)
	db, _ := newDB(t)
	for i := range 20 {
		id, _ := openTicket(t, db, desk, fmt.Sprintf("<m%d@example.org>", i), t0.Add(time.Duration(i)*time.Minute))
		if i%3 == 0 {
			reply(t, db, desk, id, agent, fmt.Sprintf("<r%d@oti.example>", i), "#nota llamé al usuario", t0.Add(time.Hour))
		}
	}
	var want []ticket.Ticket
	mustView(t, db, func(tx *Tx) (err error) { want, err = tx.List(ticket.Filter{}); return err })

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Backup(f)
	if err != nil {
		t.Fatalf("Backup = %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != n {
		t.Errorf("Backup wrote %d bytes, the file has %v (%v)", n, fi.Size(), err)
	}

	bk := openAt(t, path)
	var got []ticket.Ticket
	mustView(t, bk, func(tx *Tx) (err error) { got, err = tx.List(ticket.Filter{}); return err })
	if len(got) != 20 || jsonString(t, got) != jsonString(t, want) {
		t.Errorf("backup lists %d tickets %s,\nwant %d: %s", len(got), jsonString(t, got), len(want), jsonString(t, want))
	}
	if n := verifyClean(t, bk); n != 20 {
		t.Errorf("VerifyAll on the backup checked %d tickets, want 20", n)
	}

	if _, err := db.Backup(failingWriter{}); err == nil || !strings.Contains(err.Error(), "backup") {
		t.Errorf("Backup(failing writer) = %v, want a backup error", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func TestCheckpoint(t *testing.T) {
	db, _ := newDB(t)
	mustUpdate(t, db, func(tx *Tx) error {
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

func TestQuarantine(t *testing.T) {
	db, _ := newDB(t)
	mustUpdate(t, db, func(tx *Tx) error {
		if n := tx.QuarantineCount(); n != 0 {
			t.Errorf("QuarantineCount() = %d, want 0", n)
		}
		a, err := tx.Quarantine(record.Quarantined{MessageID: "<a@x>", Reason: "parse", ReceivedAt: t0})
		if err != nil {
			return err
		}
		b, err := tx.Quarantine(record.Quarantined{MessageID: "<b@x>", Reason: "parse", ReceivedAt: t0.Add(time.Second)})
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

// TestCorruptRecords checks that records which do not decode are reported
// as errors, not taken for missing or zero values.
func TestCorruptRecords(t *testing.T) {
	inTx := func(fn func(*Tx) error) func(context.Context, *DB) error {
		return func(ctx context.Context, db *DB) error { return db.Update(ctx, fn) }
	}
	tests := []struct {
		name   string
		bucket []byte
		key    []byte
		read   func(context.Context, *DB) error
	}{
		{"checkpoint", bucketCheckpoint, []byte("INBOX"), inTx(func(tx *Tx) error { _, err := tx.Checkpoint("INBOX"); return err })},
		{"quarantine list", bucketQuarantine, u64(1), inTx(func(tx *Tx) error { _, err := tx.QuarantineList(); return err })},
		{"quarantine record", bucketQuarantine, u64(1), inTx(func(tx *Tx) error { _, err := tx.Quarantined(1); return err })},
		{"unthreaded list", bucketUnthreaded, u64(1), inTx(func(tx *Tx) error { _, err := tx.UnthreadedList(); return err })},
		{"outbox pending", bucketOutbox, u64(1), inTx(func(tx *Tx) error { _, err := tx.Pending(); return err })},
		{"outbox stats", bucketOutbox, u64(1), inTx(func(tx *Tx) error { _, err := tx.OutboxStats(); return err })},
		{"outbox due", bucketOutbox, u64(1), func(ctx context.Context, db *DB) error { _, err := Outbox{DB: db}.Due(ctx, t0, 10); return err }},
		{"outbox retry", bucketOutbox, u64(1), func(ctx context.Context, db *DB) error { return Outbox{DB: db}.Retry(ctx, 1, t0, "x") }},
		{"outbox failed", bucketOutbox, u64(1), func(ctx context.Context, db *DB) error { return Outbox{DB: db}.Failed(ctx, 1, deliveryFailed("x", t0)) }},
		{"ticket", bucketTickets, []byte("OTI-2026-000001"), inTx(func(tx *Tx) error { _, err := tx.Ticket("OTI-2026-000001"); return err })},
		{"ticket put", bucketTickets, []byte("OTI-2026-000001"), inTx(func(tx *Tx) error {
			return tx.PutTicket(&ticket.Ticket{ID: "OTI-2026-000001", State: ticket.StateOpen, Level: 1})
		})},
		{"ticket list", bucketIndex, indexKey(ticket.StateOpen, 1, "OTI-2026-000001"), inTx(func(tx *Tx) error { _, err := tx.List(ticket.Filter{}); return err })},
		{"history", bucketHistory, historyKey("OTI-2026-000001", 1), inTx(func(tx *Tx) error { _, err := tx.History("OTI-2026-000001"); return err })},
		{"auto-reply", bucketAutoReply, []byte("x@example.org"), inTx(func(tx *Tx) error {
			_, err := tx.TakeAutoReply("x@example.org", t0, 3, time.Hour)
			return err
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := newDB(t)
			mustUpdate(t, db, func(tx *Tx) error { return tx.tx.Bucket(tt.bucket).Put(tt.key, []byte("{not json")) })
			err := tt.read(t.Context(), db)
			if err == nil {
				t.Errorf("reading a corrupt %s record succeeded, want an error", tt.name)
			}
		})
	}
}

// owe turns notices into what the outbox keeps, with Message-IDs made as
// the service makes them.
func owe(ns []ticket.Notice) []ticket.Owed {
	var out []ticket.Owed
	for _, n := range ns {
		out = append(out, ticket.Owe(n, func(ticket.Address) string {
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			return fmt.Sprintf("%s.n%x@%s", n.Ticket.ID, b, msgHost)
		}))
	}
	return out
}

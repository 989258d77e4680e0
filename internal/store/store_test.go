package store

import (
	"context"
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

	"github.com/ticketd/ticketd/internal/store/storetest"
)

func TestReopenKeepsEverything(t *testing.T) {
	desk := storetest.Desk(t)
	db, path := newDB(t)

	id, _ := storetest.OpenTicket(t, bk(db), desk, "<m1@example.org>", storetest.T0)
	storetest.Reply(t, bk(db), desk, id, storetest.Agent, "<m2@oti.example>", "#clasificar impresoras alta\nRevisamos hoy.", storetest.T0.Add(time.Minute))
	storetest.Reply(t, bk(db), desk, id, storetest.Requester, "<m3@example.org>", "Gracias, sigo sin imprimir.", storetest.T0.Add(2*time.Minute))
	cp := record.Checkpoint{UIDValidity: 7, UID: 42}
	var q record.Quarantined
	un := record.Unthreaded{MessageID: "<ooo@example.org>", From: "jefe@example.org", Subject: "Fuera de la oficina", Reason: "auto-submitted", At: storetest.T0, RawSHA256: "ab12"}
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.SetCheckpoint("INBOX", cp); err != nil {
			return err
		}
		var err error
		q, err = tx.Quarantine(record.Quarantined{MessageID: "<bad@example.org>", Reason: "no From", ReceivedAt: storetest.T0, RawSHA256: "cd34", RawSize: 900, Mailbox: "INBOX", UID: 41})
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
		if got, want := storetest.JSON(t, tk), storetest.JSON(t, before.Ticket); got != want {
			t.Errorf("ticket after reopen:\n got %s\nwant %s", got, want)
		}
		p, err := tx.Pending()
		if err != nil {
			return err
		}
		if got, want := storetest.JSON(t, p), storetest.JSON(t, before.Pending); got != want {
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
	if n := storetest.VerifyClean(t, bk(db)); n != 1 {
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
	desk := storetest.Desk(t)
	db, path := newDB(t)
	id, _ := storetest.OpenTicket(t, bk(db), desk, "<m1@example.org>", storetest.T0)
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

func TestBackup(t *testing.T) {
	desk := storetest.Desk(t)
	db, _ := newDB(t)
	for i := range 20 {
		id, _ := storetest.OpenTicket(t, bk(db), desk, fmt.Sprintf("<m%d@example.org>", i), storetest.T0.Add(time.Duration(i)*time.Minute))
		if i%3 == 0 {
			storetest.Reply(t, bk(db), desk, id, storetest.Agent, fmt.Sprintf("<r%d@oti.example>", i), "#nota llamé al usuario", storetest.T0.Add(time.Hour))
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

	copied := openAt(t, path)
	var got []ticket.Ticket
	mustView(t, copied, func(tx *Tx) (err error) { got, err = tx.List(ticket.Filter{}); return err })
	if len(got) != 20 || storetest.JSON(t, got) != storetest.JSON(t, want) {
		t.Errorf("backup lists %d tickets %s,\nwant %d: %s", len(got), storetest.JSON(t, got), len(want), storetest.JSON(t, want))
	}
	if n := storetest.VerifyClean(t, bk(copied)); n != 20 {
		t.Errorf("VerifyAll on the backup checked %d tickets, want 20", n)
	}

	if _, err := db.Backup(failingWriter{}); err == nil || !strings.Contains(err.Error(), "backup") {
		t.Errorf("Backup(failing writer) = %v, want a backup error", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

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
		{"outbox due", bucketOutbox, u64(1), func(ctx context.Context, db *DB) error {
			_, err := Outbox{DB: db}.Due(ctx, storetest.T0, 10)
			return err
		}},
		{"outbox retry", bucketOutbox, u64(1), func(ctx context.Context, db *DB) error { return Outbox{DB: db}.Retry(ctx, 1, storetest.T0, "x") }},
		{"outbox failed", bucketOutbox, u64(1), func(ctx context.Context, db *DB) error {
			return Outbox{DB: db}.Failed(ctx, 1, storetest.DeliveryFailed("x", storetest.T0))
		}},
		{"ticket", bucketTickets, []byte("OTI-2026-000001"), inTx(func(tx *Tx) error { _, err := tx.Ticket("OTI-2026-000001"); return err })},
		{"ticket put", bucketTickets, []byte("OTI-2026-000001"), inTx(func(tx *Tx) error {
			return tx.PutTicket(&ticket.Ticket{ID: "OTI-2026-000001", State: ticket.StateOpen, Level: 1})
		})},
		{"ticket list", bucketIndex, indexKey(ticket.StateOpen, 1, "OTI-2026-000001"), inTx(func(tx *Tx) error { _, err := tx.List(ticket.Filter{}); return err })},
		{"history", bucketHistory, historyKey("OTI-2026-000001", 1), inTx(func(tx *Tx) error { _, err := tx.History("OTI-2026-000001"); return err })},
		{"auto-reply", bucketAutoReply, []byte("x@example.org"), inTx(func(tx *Tx) error {
			_, err := tx.TakeAutoReply("x@example.org", storetest.T0, 3, time.Hour)
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

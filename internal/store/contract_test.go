package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/store/storetest"
)

// TestContract runs the storage contract against bbolt.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		db, _ := newDB(t)
		return bk(db)
	})
}

// bk returns db as the contract suite drives it.
func bk(db *DB) storetest.Backend {
	return storetest.Backend{Store: Bind(db, func(tx *Tx) storetest.Tx { return tx }), Outbox: Outbox{DB: db}}
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

// mustUpdate and mustView run fn in a transaction of db that must succeed,
// for the tests that reach into bbolt itself.
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

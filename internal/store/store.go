// Package store keeps ticketd's state in one bbolt file: tickets and their
// history, the indexes that find them (by state and level, by Message-ID),
// the IMAP checkpoint, the outbox of notifications owed, the quarantine of
// mails that could not become tickets, and the records of mails that
// belong to no ticket. A ticket's body, the text of its opening history
// entry, is kept once, in that entry.
//
// The outbox keeps each notice owed once, as a reference to its ticket and
// the point of its history ([ticket.Owed]; its text, when an entry of that
// history holds it, as that entry's Seq), and one item per recipient with
// its delivery state ([outbox.Item]); the Message-IDs and history entries
// are made by the caller, never here.
//
// It implements the storage its consumers declare (service.Tx,
// daemon.Tx, admin.Tx, notify.Outbox): [Bind] hands each the bbolt
// transaction as its own interface, and internal/store/storetest is the
// contract it passes (TestContract). The records it keeps besides tickets
// are internal/record's values. Nothing outside this package names a bbolt
// type.
//
// Everything one inbound mail causes is written in one [DB.Update]
// transaction: the ticket change, its history entries, the notifications it
// owes and the mailbox checkpoint. A crash loses either all of it or none.
package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/ticketd/ticketd/internal/record"
)

// SchemaVersion is the layout version this code writes.
const SchemaVersion = 5

// Errors matched with errors.Is.
var (
	ErrLocked = errors.New("store: the data file is in use by another process (is the daemon running?)")
	// ErrDamaged is returned by [Open] for a file that is not a whole store:
	// empty, cut short, or with pages that do not check.
	ErrDamaged = errors.New("store: the data file is damaged")
)

var (
	bucketMeta       = []byte("meta")
	bucketTickets    = []byte("tickets")
	bucketHistory    = []byte("history")
	bucketIndex      = []byte("index_state_level")
	bucketMessages   = []byte("messages")
	bucketCheckpoint = []byte("checkpoints")
	bucketOutbox     = []byte("outbox")
	bucketOwed       = []byte("owed")
	bucketQuarantine = []byte("quarantine")
	bucketUnthreaded = []byte("unthreaded")
	bucketAutoReply  = []byte("autoreply")
	bucketDue        = []byte("due")
	bucketWebLogin   = []byte("web_login")
	bucketChanged    = []byte("changed")
	allBuckets       = [][]byte{bucketMeta, bucketTickets, bucketHistory, bucketIndex, bucketMessages,
		bucketCheckpoint, bucketOutbox, bucketOwed, bucketQuarantine, bucketUnthreaded, bucketAutoReply, bucketDue, bucketWebLogin,
		bucketChanged}
	keySchema = []byte("schema_version")
)

// migrations[v] upgrades a store of schema version v to v+1. Version 0 is a
// new, empty file.
var migrations = map[int]func(*bolt.Tx) error{
	0: func(*bolt.Tx) error { return nil },
	1: migrateOutboxV2,
	2: migrateRowsV3,
	// Schema 4 leaves out of a ticket record the body its opening history
	// entry holds (ticketRecord.BodyOpened); records with their body read
	// as before, so nothing is rewritten, but an older ticketd must not
	// read the new ones.
	3: func(*bolt.Tx) error { return nil },
	// Schema 5 leaves out of a notice owed a text its ticket's history
	// holds (ticket.Owed.TextOf); notices with their text read as before,
	// but an older ticketd would send the new ones without it.
	4: func(*bolt.Tx) error { return nil },
}

// Options configures [Open]. The zero value is usable.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file; zero means 1s. After it, Open fails with ErrLocked.
	Timeout time.Duration
	// ReadOnly opens the file for reading only (several readers may share it).
	ReadOnly bool
}

// DB is an open store. It is safe for concurrent use; bbolt serialises
// writers.
type DB struct {
	bolt *bolt.DB
	// damaged is set when a transaction met a page that does not read
	// back; Close then leaves the file unmarked, so the next Open walks it.
	damaged atomic.Bool
}

// Open opens (creating if needed) the store file at path, creating its
// directory, and upgrades its schema.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	if err := checkFile(path, opts.Timeout); err != nil {
		return nil, err
	}
	b, err := openBolt(path, opts.Timeout, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b}
	if !opts.ReadOnly {
		if err := db.migrate(); err != nil {
			b.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	return db, nil
}

func openBolt(path string, timeout time.Duration, readOnly bool) (*bolt.DB, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: readOnly})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), err != nil && strings.HasPrefix(err.Error(), "file size too small"):
		return nil, damaged(path, err.Error())
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return b, nil
}

func damaged(path, why string) error {
	return fmt.Errorf("open %s: %w (%s); stop ticketd, move the file aside and put in its place the last copy "+
		"written by `ticketd backup`; if this is a new installation with nothing in it yet, remove the file", path, ErrDamaged, why)
}

func (db *DB) migrate() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := 0
		if raw := meta.Get(keySchema); raw != nil {
			v = int(binary.BigEndian.Uint64(raw))
		}
		if v > SchemaVersion {
			return fmt.Errorf("schema version %d is newer than this ticketd (%d): upgrade ticketd", v, SchemaVersion)
		}
		for ; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
			}
		}
		if err := meta.Delete(keyCleanClose); err != nil {
			return fmt.Errorf("clear the clean-close mark: %w", err)
		}
		return meta.Put(keySchema, u64(uint64(SchemaVersion)))
	})
}

// Close closes the file. A store opened for writing, in which no
// transaction met a damaged page, is first marked as closed cleanly, so
// that the next [Open] need not walk every key.
func (db *DB) Close() error {
	if !db.bolt.IsReadOnly() && !db.damaged.Load() {
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyCleanClose, []byte{1})
		}); err != nil {
			db.bolt.Close()
			return fmt.Errorf("mark the store closed cleanly: %w", err)
		}
	}
	return db.bolt.Close()
}

// Path returns the file's path.
func (db *DB) Path() string { return db.bolt.Path() }

// Update runs fn in one read-write transaction, committed when fn returns
// nil and rolled back otherwise.
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer db.guard(&err, debug.SetPanicOnFault(true))
	return db.bolt.Update(func(tx *bolt.Tx) error { packAppended(tx); return fn(&Tx{tx: tx}) })
}

// appendedBuckets are the buckets whose new keys sort after every key
// already there (sequence numbers, ticket IDs, a ticket's history entries,
// times): a new ticket's records are appended, not inserted.
var appendedBuckets = [][]byte{bucketTickets, bucketHistory, bucketOutbox, bucketOwed, bucketChanged, bucketQuarantine, bucketUnthreaded}

// packAppended has tx fill the pages of the appended buckets before
// starting new ones. bbolt splits a full page at half of it by default,
// which suits keys inserted anywhere; appended keys never go back to the
// left half, so every page stayed half empty: the file, and the pages a
// drain reads and bbolt's mapping keeps resident, were twice what the
// records take. FillPercent is a property of the bucket handle, not of
// the file, so it is set in every write transaction.
func packAppended(tx *bolt.Tx) {
	for _, name := range appendedBuckets {
		if b := tx.Bucket(name); b != nil {
			b.FillPercent = 1
		}
	}
}

// View runs fn in one read-only transaction.
func (db *DB) View(ctx context.Context, fn func(*Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer db.guard(&err, debug.SetPanicOnFault(true))
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// guard, deferred around a transaction with the goroutine's previous
// SetPanicOnFault (it is on while the transaction runs), turns a panic or a memory fault
// raised inside bbolt (which asserts on a page it cannot make sense of)
// into an error wrapping ErrDamaged: a page garbled after Open checked the
// file fails the transaction that reads it, not the process. bbolt rolls
// the transaction back as the panic unwinds. A panic from fn's own code is
// raised again.
func (db *DB) guard(err *error, panicOnFault bool) {
	debug.SetPanicOnFault(panicOnFault)
	r := recover()
	if r == nil {
		return
	}
	if !fromBolt() {
		panic(r)
	}
	db.damaged.Store(true)
	*err = fmt.Errorf("%w: a page of %s does not read back (%v); run `ticketd verify`, and restore the last `ticketd backup` if it fails",
		ErrDamaged, db.Path(), r)
}

// Backup writes a consistent copy of the whole file to w while other
// transactions go on.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// Tx is a transaction. Its methods must not be used after the function
// given to Update or View returns.
type Tx struct {
	tx *bolt.Tx
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, raw)
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return record.ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %q: %w", key, err)
	}
	return nil
}

// countKeys counts the keys of b. Bucket.Stats is no substitute: it walks
// the committed pages only, so inside a write transaction it misses what the
// transaction itself added or deleted.
func countKeys(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// OnCommit has fn called after the transaction commits; never when it
// rolls back or is read-only.
func (t *Tx) OnCommit(fn func()) { t.tx.OnCommit(fn) }

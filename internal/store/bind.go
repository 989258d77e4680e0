package store

import "context"

// Bound is a DB as one consumer sees it: its Update and View hand fn the
// transaction as T, the consumer's own transaction interface
// (service.Tx, daemon.Tx, admin.Tx), which *Tx implements. Backup, Path
// and Close are the DB's.
//
// Each consumer declares its store as `Update(ctx, func(Tx) error) error`
// over its own Tx, so that it names nothing of bbolt. Go does not take a
// func(*Tx) for a func(service.Tx), so *DB cannot satisfy those interfaces
// itself; Bound converts, and the conversion is the function given to
// [Bind], `func(tx *store.Tx) service.Tx { return tx }`, which the compiler
// checks where the wiring calls Bind. A generic adapter rather than one
// per consumer in the wiring, because all of them would be the same two
// methods.
type Bound[T any] struct {
	*DB
	as func(*Tx) T
}

// Bind returns db seen through as, the conversion of a transaction to the
// consumer's interface T.
func Bind[T any](db *DB, as func(*Tx) T) Bound[T] { return Bound[T]{DB: db, as: as} }

// Update runs fn in one read-write transaction ([DB.Update]).
func (b Bound[T]) Update(ctx context.Context, fn func(T) error) error {
	return b.DB.Update(ctx, func(tx *Tx) error { return fn(b.as(tx)) })
}

// View runs fn in one read-only transaction ([DB.View]).
func (b Bound[T]) View(ctx context.Context, fn func(T) error) error {
	return b.DB.View(ctx, func(tx *Tx) error { return fn(b.as(tx)) })
}

package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/record"
)

// TestLoginLinks: a login link's record survives a reopen with its use,
// and records expired for over a day are dropped at the next put.
func TestLoginLinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	old := record.LoginLink{Hash: "aa", Addr: "mesa@example.org", Created: t0, Expires: t0.Add(15 * time.Minute)}
	ctx := t.Context()
	if err := db.Update(ctx, func(tx *Tx) error { return tx.PutLoginLink(old) }); err != nil {
		t.Fatal(err)
	}
	old.Used = t0.Add(time.Minute)
	if err := db.Update(ctx, func(tx *Tx) error { return tx.PutLoginLink(old) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(ctx, func(tx *Tx) error {
		got, err := tx.LoginLink("aa")
		if err != nil || !got.Used.Equal(old.Used) || got.Addr != old.Addr {
			t.Errorf("LoginLink(aa) = %+v, %v; want it used", got, err)
		}
		if _, err := tx.LoginLink("bb"); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("LoginLink(bb) error = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(48 * time.Hour)
	fresh := record.LoginLink{Hash: "bb", Addr: "mesa@example.org", Created: t1, Expires: t1.Add(15 * time.Minute)}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.PutLoginLink(fresh) }); err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx *Tx) error {
		if _, err := tx.LoginLink("aa"); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("a link expired two days ago is still recorded (err %v)", err)
		}
		if _, err := tx.LoginLink("bb"); err != nil {
			t.Errorf("LoginLink(bb): %v", err)
		}
		return nil
	})
}

package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
	bolt "go.etcd.io/bbolt"

	"github.com/ticketd/ticketd/internal/store/storetest"
)

// damagedEnv names the store file the damaged-store helper opens and reads;
// unset, the helper is skipped.
const damagedEnv = "TICKETD_STORE_DAMAGED_CHILD"

// TestHelperDamaged is not a test: TestDamagedFileIsRefused runs the test
// binary again with only this function selected, so that a read that kills
// the process (SIGBUS on a page past the end of a cut file) kills the child,
// not the test. It exits 3 when Open refuses the file (printing the error),
// 0 when Open accepted it and every ticket could be read.
func TestHelperDamaged(t *testing.T) {
	path := os.Getenv(damagedEnv)
	if path == "" {
		t.Skip("helper process of TestDamagedFileIsRefused")
	}
	db, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	err = db.View(t.Context(), func(tx *Tx) error {
		_, err := tx.VerifyAll(func(ticket.ID, error) {})
		return err
	})
	fmt.Fprintln(os.Stderr, "opened and read:", err)
	os.Exit(0)
}

// realStoreFile writes a store of n tickets and returns its path, closed,
// and how many bytes its pages take (bbolt grows the file ahead of them).
func realStoreFile(t *testing.T, n int) (string, int) {
	t.Helper()
	db, path := newDB(t)
	desk := storetest.Desk(t)
	for i := range n {
		storetest.OpenTicket(t, bk(db), desk, fmt.Sprintf("<damaged-%d@example.org>", i), storetest.T0)
	}
	var used int64
	if err := db.bolt.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, int(used)
}

// wantRefused writes raw to a new store file, opens it with opts and
// checks that Open refuses it clearly: ErrDamaged, naming the file and what
// to do. It returns the file's path.
func wantRefused(t *testing.T, raw []byte, what string, opts Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ticketd.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	wantRefusedAt(t, path, what, opts)
	return path
}

// wantRefusedAt checks that Open refuses the file at path clearly.
func wantRefusedAt(t *testing.T, path, what string, opts ...Options) {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Timeout = time.Second
	db, err := Open(path, o)
	if err == nil {
		db.Close()
		t.Fatalf("Open of %s (read-only %v) succeeded", what, o.ReadOnly)
	}
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("Open of %s (read-only %v) = %v, want ErrDamaged", what, o.ReadOnly, err)
	}
	wantDamaged(t, err.Error(), path)
}

// wantDamaged checks that msg is the clear refusal, naming the file and
// what to do.
func wantDamaged(t *testing.T, msg, path string) {
	t.Helper()
	for _, want := range []string{path, "damaged", "ticketd backup"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

func TestDamagedFileIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path, _ := realStoreFile(t, 300)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "ticketd.db")
	if err := os.WriteFile(cut, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("store file of %d bytes cut to %d", len(raw), len(raw)/2)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDamaged$")
	cmd.Env = append(os.Environ(), damagedEnv+"="+cut)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		t.Fatalf("opening the cut file killed the process with %v; stderr:\n%s", ws.Signal(), stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("the cut file was not refused at open (exit %d, %v); stderr:\n%s", code, err, stderr.String())
	}
	wantDamaged(t, stderr.String(), cut)
}

func TestDamagedFileIsRefusedInProcess(t *testing.T) {
	path, used := realStoreFile(t, 300)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{used / 2, used - 4096, 3 * 4096, 100} {
		for _, ro := range []bool{false, true} {
			wantRefused(t, raw[:size], fmt.Sprintf("the file cut to %d bytes", size), Options{ReadOnly: ro})
		}
	}
}

func TestEmptyFileIsRefused(t *testing.T) {
	path := wantRefused(t, nil, "an existing empty file (it would be taken for a new store)", Options{})
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was changed: %v, %v", fi, err)
	}
}

func TestFileWithGarbledPagesIsRefused(t *testing.T) {
	path, used := realStoreFile(t, 300)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the middle of the used pages, as a bad disk or a partial
	// copy over the file would.
	for i := used / 3; i < used/2; i++ {
		raw[i] = 0xA5
	}
	wantRefused(t, raw, "a file with garbled pages", Options{})
}

// TestCleanCloseMark: Close marks the file as closed cleanly and Open
// clears the mark, so a file left by a crash (or copied while the store was
// open) is walked key by key at its next open, and one closed cleanly is not.
func TestCleanCloseMark(t *testing.T) {
	path, _ := realStoreFile(t, 3)
	marked := func() (ok bool) {
		t.Helper()
		b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.View(func(tx *bolt.Tx) error { ok = cleanlyClosed(tx); return nil }); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !marked() {
		t.Fatal("a store closed by Close is not marked as closed cleanly")
	}
	db := openAt(t, path)
	raw, err := os.ReadFile(path) // what a crash now would leave
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if marked() {
		t.Error("a store still open is marked as closed cleanly: a crash would skip the walk")
	}
	db = openAt(t, path)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !marked() {
		t.Error("the store reopened after a crash and closed is not marked")
	}
}

// TestPageGarbledAfterOpenFailsTheTransaction: pages garbled after Open
// checked the file (a failing disk under a running daemon) fail the
// transaction that reads them with ErrDamaged, not the process; the store
// is then not marked as closed cleanly, and the next Open refuses it.
func TestPageGarbledAfterOpenFailsTheTransaction(t *testing.T) {
	path, used := realStoreFile(t, 300)
	db, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, used/2-used/3), int64(used/3)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = db.View(t.Context(), func(tx *Tx) error {
		_, err := tx.VerifyAll(func(ticket.ID, error) {})
		return err
	})
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("reading every ticket over garbled pages = %v, want ErrDamaged", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wantRefusedAt(t, path, "a file garbled while it was open")
}

// TestPanicInTransactionIsNotDamage: a panic raised by the code a
// transaction runs is not taken for a damaged page: it goes on up.
func TestPanicInTransactionIsNotDamage(t *testing.T) {
	db, _ := newDB(t)
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the transaction's own panic", r)
		}
		if db.damaged.Load() {
			t.Error("the store was marked damaged by a panic of the caller's code")
		}
	}()
	_ = db.View(t.Context(), func(*Tx) error { panic("boom") })
}

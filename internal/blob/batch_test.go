package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// A batch's blobs are readable through it before Sync, stored under their
// hash only by Sync, and a blob put twice in a batch is kept once.
func TestBatchSyncsOnce(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batch()
	a, err := b.Put(strings.NewReader("first"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	c, err := b.Put(strings.NewReader("second"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(a.SHA256); ok {
		t.Error("a blob is visible under its hash before Sync")
	}
	r, err := b.Open(a.SHA256)
	if err != nil {
		t.Fatalf("open a blob before Sync: %v", err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "first" {
		t.Errorf("read %q before Sync, want %q", got, "first")
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []Ref{a, c} {
		if ok, err := s.Has(ref.SHA256); !ok || err != nil {
			t.Errorf("blob %s after Sync: stored %v (%v)", ref.SHA256, ok, err)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(s.Dir(), tempPrefix+"*")); len(tmps) != 0 {
		t.Errorf("temporary files left after Sync: %v", tmps)
	}

	// Discarded, a batch leaves nothing behind.
	if _, err := b.Put(strings.NewReader("dropped")); err != nil {
		t.Fatal(err)
	}
	b.Discard()
	if tmps, _ := filepath.Glob(filepath.Join(s.Dir(), tempPrefix+"*")); len(tmps) != 0 {
		t.Errorf("temporary files left after Discard: %v", tmps)
	}
}

// A slice of a blob not yet synced syncs the batch first: the reference
// never points at a blob a crash could lose.
func TestBatchSliceOfPendingBlob(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batch()
	raw, err := b.Put(strings.NewReader("header\r\n\r\nforwarded part"))
	if err != nil {
		t.Fatal(err)
	}
	part := "forwarded part"
	sum := sha256.Sum256([]byte(part))
	sha := hex.EncodeToString(sum[:])
	if _, err := b.PutSlice(sha, raw.SHA256, int64(len("header\r\n\r\n")), int64(len(part))); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Has(raw.SHA256); !ok || err != nil {
		t.Errorf("target of a slice not stored: %v (%v)", ok, err)
	}
	r, err := s.Open(sha)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); string(got) != part {
		t.Errorf("slice reads %q, want %q", got, part)
	}
}

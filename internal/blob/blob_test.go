package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func readAll(t testing.TB, s *Store, sha string) []byte {
	t.Helper()
	rc, err := s.Open(sha)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tempFiles lists in-progress writes left in the store's root.
func tempFiles(t testing.TB, s *Store) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.Dir(), tempPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPutOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("hola\n")},
		{"binary", bytes.Repeat([]byte{0, 1, 2, 255}, 100_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			ref, err := s.Put(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			want := Ref{SHA256: sum(tt.data), Size: int64(len(tt.data))}
			if ref != want {
				t.Fatalf("Put = %+v, want %+v", ref, want)
			}
			if got := readAll(t, s, ref.SHA256); !bytes.Equal(got, tt.data) {
				t.Fatalf("Open(%s) returned %d bytes, want %d", ref.SHA256, len(got), len(tt.data))
			}
			p := filepath.Join(s.Dir(), ref.SHA256[:2], ref.SHA256[2:])
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("blob not sharded at %s: %v", p, err)
			}
			if ok, err := s.Has(ref.SHA256); !ok || err != nil {
				t.Fatalf("Has(%s) = %v, %v; want true, nil", ref.SHA256, ok, err)
			}
			if tf := tempFiles(t, s); len(tf) != 0 {
				t.Fatalf("temporary files left: %v", tf)
			}
		})
	}
}

func TestDuplicate(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	a, err := s.Put(strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put(strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("Put twice = %+v, %+v; want equal refs", a, b)
	}
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temporary files left: %v", tf)
	}
}

func TestAbort(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("discard me")); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	w.Abort() // idempotent
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temporary files left after Abort: %v", tf)
	}
	if ok, _ := s.Has(sum([]byte("discard me"))); ok {
		t.Fatal("aborted blob is visible")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Abort succeeded")
	}
	if _, err := w.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
}

func TestCommitThenAbort(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	fmt.Fprint(w, "kept")
	ref, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if got := readAll(t, s, ref.SHA256); string(got) != "kept" {
		t.Fatalf("Open after Commit+Abort = %q, want %q", got, "kept")
	}
	if _, err := w.Commit(); err == nil {
		t.Fatal("second Commit succeeded")
	}
}

func TestInvalidRef(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	valid := sum([]byte("x"))
	tests := []string{
		"",
		"../../etc/passwd",
		strings.ToUpper(valid),
		valid[:63],
		valid + "0",
		"zz" + valid[2:],
		valid[:2] + "/" + valid[3:],
	}
	for _, sha := range tests {
		t.Run(fmt.Sprintf("%q", sha), func(t *testing.T) {
			if _, err := s.Open(sha); !errors.Is(err, ErrInvalidRef) {
				t.Errorf("Open(%q) error = %v, want ErrInvalidRef", sha, err)
			}
			if ok, err := s.Has(sha); ok || !errors.Is(err, ErrInvalidRef) {
				t.Errorf("Has(%q) = %v, %v; want false, ErrInvalidRef", sha, ok, err)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	sha := sum([]byte("never stored"))
	if _, err := s.Open(sha); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open(%s) error = %v, want ErrNotFound", sha, err)
	}
	if ok, err := s.Has(sha); ok || err != nil {
		t.Fatalf("Has(%s) = %v, %v; want false, nil", sha, ok, err)
	}
}

// errReader fails after yielding some bytes.
type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("boom")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestPutReadError(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	if _, err := s.Put(&errReader{n: 10}); err == nil {
		t.Fatal("Put with failing reader succeeded")
	}
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temporary files left: %v", tf)
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	var wg sync.WaitGroup
	refs := make([]Ref, 32)
	errs := make([]error, 32)
	for i := range refs {
		wg.Go(func() {
			// Half the writers store the same content.
			data := bytes.Repeat([]byte{byte(i % 2)}, 1<<16+i%2)
			refs[i], errs[i] = s.Put(bytes.NewReader(data))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		want := sum(bytes.Repeat([]byte{byte(i % 2)}, 1<<16+i%2))
		if refs[i].SHA256 != want {
			t.Fatalf("writer %d: sha %s, want %s", i, refs[i].SHA256, want)
		}
		if got := readAll(t, s, want); sum(got) != want {
			t.Fatalf("writer %d: stored content has the wrong hash", i)
		}
	}
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temporary files left: %v", tf)
	}
}

// TestSweep: the temporary file a crash left between writing a blob and
// naming it is removed once old; a write in progress and the blobs stay.
func TestSweep(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Put(strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batch()
	if _, err := b.Put(strings.NewReader("left by a crash")); err != nil {
		t.Fatal(err)
	}
	left, err := filepath.Glob(filepath.Join(s.Dir(), tempPrefix+"*"))
	if err != nil || len(left) != 1 {
		t.Fatalf("temporary files = %v, %v; want one", left, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(left[0], old, old); err != nil {
		t.Fatal(err)
	}
	w, err := s.Create() // in progress
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	n, err := s.Sweep(time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(left[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the crash's file is still there: %v", err)
	}
	now, _ := filepath.Glob(filepath.Join(s.Dir(), tempPrefix+"*"))
	if len(now) != 1 {
		t.Errorf("temporary files after the sweep = %v; want the write in progress", now)
	}
	if ok, err := s.Has(ref.SHA256); !ok || err != nil {
		t.Errorf("Has(kept) = %v, %v", ok, err)
	}
}

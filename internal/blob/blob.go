// Package blob is a content-addressed file store: each blob is a file named
// by the SHA-256 of its content, under a directory sharded by the first two
// hex digits of that hash (dir/ab/cdef...).
//
// Writes stream into a temporary file in the store's directory while the
// hash is computed, and are made visible with an fsync followed by an atomic
// rename, so a reader never sees a partial blob. Storing the same content
// twice keeps one file. A [Batch] defers the syncs of many writes to one.
// The store never deletes blobs; [Store.Sweep] removes what unfinished
// writes left.
//
// Content that lies verbatim inside another blob may be stored as a
// reference to those bytes instead of a copy ([Store.PutSlice]); a copy of
// the store must keep each reference together with the blob it points into.
package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrNotFound is returned (wrapped) by [Store.Open] when no blob has the
// requested hash.
var ErrNotFound = errors.New("blob: not found")

// ErrInvalidRef is returned (wrapped) when a hash is not 64 lowercase
// hexadecimal digits. Such a string is never used to build a path.
var ErrInvalidRef = errors.New("blob: invalid sha256")

// errDone is returned by a [Writer] used after Commit or Abort.
var errDone = errors.New("blob: writer already committed or aborted")

// tempPrefix names in-progress writes; it cannot clash with a shard
// directory, whose names are two hex digits.
const tempPrefix = ".tmp-"

// Ref identifies a stored blob.
type Ref struct {
	SHA256 string // 64 lowercase hex digits
	Size   int64  // bytes
}

// Store is a content-addressed file store rooted at one directory.
// It is safe for concurrent use by several goroutines, and by several
// processes sharing the directory.
type Store struct {
	dir string
}

// Open returns the store rooted at dir, creating the directory if needed.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open blob store %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("open blob store %q: %w", dir, err)
	}
	return &Store{dir: abs}, nil
}

// Sweep removes the temporary files of writes that never finished (a crash
// between writing a blob and naming it) and were last written more than
// age ago; a write in progress, in this process or another, is younger. It
// returns how many it removed.
func (s *Store) Sweep(age time.Duration) (int, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("sweep blob store %q: %w", s.dir, err)
	}
	cutoff := time.Now().Add(-age)
	n := 0
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // named or removed meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("sweep blob store %q: %w", s.dir, err)
		}
		if info.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("sweep blob store %q: %w", s.dir, err)
		}
		n++
	}
	return n, nil
}

// Dir returns the absolute directory of the store.
func (s *Store) Dir() string { return s.dir }

// ValidSHA256 reports whether sha is 64 lowercase hexadecimal digits, the
// only form of hash the store accepts.
func ValidSHA256(sha string) bool {
	if len(sha) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(sha); i++ {
		c := sha[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// path returns the file name of a blob; sha must be valid.
func (s *Store) path(sha string) string {
	return filepath.Join(s.dir, sha[:2], sha[2:])
}

// Create starts a new blob. The caller writes the content to the returned
// [Writer] and then calls [Writer.Commit], or [Writer.Abort] to discard it.
// Deferring Abort right after Create is safe: it does nothing after Commit.
func (s *Store) Create() (*Writer, error) {
	f, err := os.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	return &Writer{s: s, f: f, h: sha256.New()}, nil
}

// Put stores everything read from r until io.EOF and returns its reference.
func (s *Store) Put(r io.Reader) (Ref, error) {
	w, err := s.Create()
	if err != nil {
		return Ref{}, err
	}
	defer w.Abort()
	if err := copyTo(w, r); err != nil {
		return Ref{}, fmt.Errorf("put blob: %w", err)
	}
	return w.Commit()
}

// copyTo copies r to w through a pooled buffer: io.Copy would allocate
// 32 KiB for each blob of a reader without WriteTo.
func copyTo(w *Writer, r io.Reader) error {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	_, err := io.CopyBuffer(w, r, *buf)
	return err
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Open opens the blob with the given hash for reading. The error wraps
// [ErrInvalidRef] when sha is malformed and [ErrNotFound] when no such blob
// exists. A blob stored with [Store.PutSlice] reads as its range of the
// target blob, and its error wraps ErrNotFound when the target is missing.
func (s *Store) Open(sha string) (io.ReadCloser, error) {
	if !ValidSHA256(sha) {
		return nil, fmt.Errorf("open blob %q: %w", sha, ErrInvalidRef)
	}
	f, err := os.Open(s.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		if r, err := s.openRef(sha); err != errNoRef {
			return r, err
		}
		return nil, fmt.Errorf("open blob %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", sha, err)
	}
	return f, nil
}

// Has reports whether a blob with the given hash is stored. The error wraps
// [ErrInvalidRef] when sha is malformed; a missing blob is not an error,
// but a [Store.PutSlice] reference whose target is missing is, as in
// [Store.Open].
func (s *Store) Has(sha string) (bool, error) {
	if !ValidSHA256(sha) {
		return false, fmt.Errorf("stat blob %q: %w", sha, ErrInvalidRef)
	}
	_, err := os.Stat(s.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return s.hasRef(sha)
	}
	if err != nil {
		return false, fmt.Errorf("stat blob %s: %w", sha, err)
	}
	return true, nil
}

// Writer streams one new blob to a temporary file while hashing it.
// A Writer is not safe for concurrent use; distinct Writers are independent.
type Writer struct {
	s    *Store
	f    *os.File // nil once committed or aborted
	h    hash.Hash
	n    int64
	werr error // first write error: Commit refuses a blob with a hole
}

// Write appends p to the blob.
func (w *Writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, errDone
	}
	if w.werr != nil {
		return 0, w.werr
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		w.werr = fmt.Errorf("write blob: %w", err)
		return n, w.werr
	}
	return n, nil
}

// Size returns the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Commit makes the blob durable and visible under its hash, and returns its
// reference. If the store already holds that content, the temporary file is
// dropped. After Commit the Writer is done, whatever the result.
func (w *Writer) Commit() (Ref, error) {
	if w.f == nil {
		return Ref{}, errDone
	}
	f := w.f
	w.f = nil
	tmp := f.Name()
	fail := func(err error) (Ref, error) {
		f.Close()
		os.Remove(tmp)
		return Ref{}, err
	}
	if w.werr != nil {
		return fail(w.werr)
	}
	ref := Ref{SHA256: hex.EncodeToString(w.h.Sum(nil)), Size: w.n}
	final := w.s.path(ref.SHA256)
	if _, err := os.Stat(final); err == nil {
		f.Close() // same content already stored: keep the existing file
		os.Remove(tmp)
		return ref, nil
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("commit blob %s: %w", ref.SHA256, err))
	}
	if err := f.Close(); err != nil {
		return fail(fmt.Errorf("commit blob %s: %w", ref.SHA256, err))
	}
	shard := filepath.Dir(final)
	if err := os.MkdirAll(shard, 0o750); err != nil {
		os.Remove(tmp)
		return Ref{}, fmt.Errorf("commit blob %s: %w", ref.SHA256, err)
	}
	// Renaming over an identical blob written concurrently is harmless.
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return Ref{}, fmt.Errorf("commit blob %s: %w", ref.SHA256, err)
	}
	if err := syncDir(shard); err != nil {
		return Ref{}, fmt.Errorf("commit blob %s: %w", ref.SHA256, err)
	}
	return ref, nil
}

// Abort discards the blob. It does nothing after Commit or a previous Abort.
func (w *Writer) Abort() {
	if w.f == nil {
		return
	}
	w.f.Close()
	os.Remove(w.f.Name())
	w.f = nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

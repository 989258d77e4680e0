package parse

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"testing"
)

// memSink keeps what Read hands over in memory, content-addressed like
// the daemon's blob store, so tests can see what would reach the disk.
// It takes slices of raw mails on trust: a slice that is not the content
// it is named by shows when a test reads it back (checkBlobs).
type memSink struct {
	mu     sync.Mutex
	blobs  map[string][]byte
	slices map[string]slice
	bad    []string // slices asked for beyond a raw mail
}

// slice is where a blob kept by reference lies.
type slice struct {
	raw    string
	off, n int64
}

// refCost is about what a reference takes on disk.
const refCost = 100

func newSink(testing.TB) *memSink {
	return &memSink{blobs: make(map[string][]byte), slices: make(map[string]slice)}
}

func (s *memSink) PutSlice(rawSHA string, off, n int64, sha string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, ok := s.blobs[rawSHA]
	if !ok || off < 0 || n <= 0 || off+n > int64(len(raw)) {
		s.bad = append(s.bad, fmt.Sprintf("[%d, %d+%d) of %d bytes", off, off, n, len(raw)))
		return fmt.Errorf("slice [%d, %d+%d) of %q (%d bytes): out of range", off, off, n, rawSHA, len(raw))
	}
	if _, ok := s.blobs[sha]; !ok {
		s.slices[sha] = slice{raw: rawSHA, off: off, n: n}
	}
	return nil
}

func (s *memSink) Put(r io.Reader) (string, int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", 0, err
	}
	sha := sha(b)
	s.mu.Lock()
	s.blobs[sha] = b
	s.mu.Unlock()
	return sha, int64(len(b)), nil
}

// stored returns the bytes the sink holds in all, each blob counted once,
// as a content-addressed store would keep them on disk.
func (s *memSink) stored() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, b := range s.blobs {
		n += int64(len(b))
	}
	return n + refCost*int64(len(s.slices))
}

func (s *memSink) get(t testing.TB, ref string) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[ref]
	if sl, isSlice := s.slices[ref]; !ok && isSlice {
		b, ok = s.blobs[sl.raw][sl.off:sl.off+sl.n], true
	}
	if !ok {
		t.Fatalf("blob %s not handed to the sink", ref)
	}
	return b
}

// checkBlobs fails t unless every attachment of m reads back from the sink
// as content of its SHA-256 and size.
func (s *memSink) checkBlobs(t testing.TB, m *Mail) {
	t.Helper()
	s.mu.Lock()
	bad := s.bad
	s.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("slices asked for beyond the raw mail: %q", bad)
	}
	for _, a := range m.Attachments {
		if b := s.get(t, a.SHA256); sha(b) != a.SHA256 || int64(len(b)) != a.Size {
			t.Fatalf("attachment %+v reads back as %d bytes of SHA-256 %s", a, len(b), sha(b))
		}
	}
}

// hashSink hashes what it gets and keeps nothing, for mails too large to
// hold in a test's memory.
type hashSink struct{}

func (hashSink) Put(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// failSink refuses everything, as a full disk would.
type failSink struct{ err error }

func (s failSink) Put(io.Reader) (string, int64, error) { return "", 0, s.err }

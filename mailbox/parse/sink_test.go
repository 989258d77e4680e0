package parse

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sync"
	"testing"
)

// memSink keeps what Read hands over in memory, content-addressed like
// the daemon's blob store, so tests can see what would reach the disk.
type memSink struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func newSink(testing.TB) *memSink { return &memSink{blobs: make(map[string][]byte)} }

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
	return n
}

func (s *memSink) get(t testing.TB, ref string) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[ref]
	if !ok {
		t.Fatalf("blob %s not handed to the sink", ref)
	}
	return b
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

package blob

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Batch puts blobs whose durability is deferred to one [Batch.Sync], so that
// a run of blobs costs one sync of the file system rather than two fsyncs
// each. Until Sync each blob is a temporary file in the store's directory;
// Sync makes the data of all of them durable, then gives each its name and
// makes the names durable. A blob is thus never visible under its hash with
// less than its whole content, even after a crash, and a reference returned
// by [Batch.Put] may be recorded elsewhere once Sync has returned nil.
//
// A Batch is not safe for concurrent use.
type Batch struct {
	s       *Store
	pending []pendingBlob
}

// pendingBlob is a blob written to tmp, not yet synced nor named.
type pendingBlob struct {
	tmp string
	sha string
}

// Batch returns an empty batch of the store.
func (s *Store) Batch() *Batch { return &Batch{s: s} }

// Put stores everything read from r until io.EOF, as [Store.Put] does but
// without syncing it: the blob is durable and readable once [Batch.Sync]
// returns nil.
func (b *Batch) Put(r io.Reader) (Ref, error) {
	w, err := b.s.Create()
	if err != nil {
		return Ref{}, err
	}
	defer w.Abort()
	if err := copyTo(w, r); err != nil {
		return Ref{}, fmt.Errorf("put blob: %w", err)
	}
	if w.werr != nil {
		return Ref{}, w.werr
	}
	ref := Ref{SHA256: hex.EncodeToString(w.h.Sum(nil)), Size: w.n}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return Ref{}, fmt.Errorf("put blob %s: %w", ref.SHA256, err)
	}
	if _, err := os.Stat(b.s.path(ref.SHA256)); err == nil {
		os.Remove(f.Name()) // same content already stored
		return ref, nil
	}
	b.pending = append(b.pending, pendingBlob{tmp: f.Name(), sha: ref.SHA256})
	return ref, nil
}

// PutSlice is [Store.PutSlice] within the batch. A reference must never
// point at a blob a crash could lose: when target is one of the batch's
// blobs not yet synced, the batch is synced first (a forwarded message
// costs its mail that one sync more).
func (b *Batch) PutSlice(sha, target string, off, n int64) (Ref, error) {
	if slices.ContainsFunc(b.pending, func(p pendingBlob) bool { return p.sha == target }) {
		if err := b.Sync(); err != nil {
			return Ref{}, fmt.Errorf("put slice %s of %s: %w", sha, target, err)
		}
	}
	return b.s.PutSlice(sha, target, off, n)
}

// Sync makes every blob put since the last Sync or Discard durable and
// visible under its hash. On failure the blobs not yet named are discarded
// (put them again); the ones named are whole and harmless.
func (b *Batch) Sync() error {
	if len(b.pending) == 0 {
		return nil
	}
	defer b.Discard()
	tmps := make([]string, len(b.pending))
	for i, p := range b.pending {
		tmps[i] = p.tmp
	}
	// First the content: a name must never point at data still in memory.
	if err := syncPaths(b.s.dir, tmps); err != nil {
		return fmt.Errorf("sync %d blobs: %w", len(tmps), err)
	}
	var named []string
	shards := make(map[string]bool)
	for _, p := range b.pending {
		final := b.s.path(p.sha)
		if _, err := os.Stat(final); err == nil {
			os.Remove(p.tmp) // put twice in the batch, or meanwhile by another writer
			continue
		}
		shard := filepath.Dir(final)
		if !shards[shard] {
			if _, err := os.Stat(shard); errors.Is(err, os.ErrNotExist) && !shards[b.s.dir] {
				shards[b.s.dir] = true // a new shard is a name in the root
				named = append(named, b.s.dir)
			}
			if err := os.MkdirAll(shard, 0o750); err != nil {
				return fmt.Errorf("commit blob %s: %w", p.sha, err)
			}
			shards[shard] = true
			named = append(named, shard)
		}
		// Renaming over an identical blob written concurrently is harmless.
		if err := os.Rename(p.tmp, final); err != nil {
			return fmt.Errorf("commit blob %s: %w", p.sha, err)
		}
	}
	// Then the names.
	if err := syncPaths(b.s.dir, named); err != nil {
		return fmt.Errorf("sync %d blob directories: %w", len(named), err)
	}
	return nil
}

// Discard drops the blobs put since the last Sync or Discard.
func (b *Batch) Discard() {
	for _, p := range b.pending {
		os.Remove(p.tmp) // already gone once named
	}
	b.pending = nil
}

// Open opens the blob with the given hash, put in the batch and not yet
// synced or already stored, as [Store.Open] does.
func (b *Batch) Open(sha string) (io.ReadCloser, error) {
	for _, p := range b.pending {
		if p.sha == sha {
			if f, err := os.Open(p.tmp); err == nil {
				return f, nil
			}
			break
		}
	}
	return b.s.Open(sha)
}

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyCleanClose is set in the meta bucket by [DB.Close] and deleted by
// [Open]: present, the last process that wrote the file closed it cleanly,
// and the walk over every key at the next open is skipped.
var keyCleanClose = []byte("clean_close")

// checkFile refuses an existing store file that is not whole, before it is
// opened for writing: an empty file (bbolt would take it for a new store,
// and the mailbox checkpoint would be lost), a file shorter than its pages
// (bbolt maps the missing pages, and the first read of one kills the
// process with SIGBUS), or one whose pages cannot be read back.
//
// The file is opened read-only for this, which reads only the meta pages
// until the size is known to be right. Then every page in use is scanned
// ([scanPages]: its header names itself, its elements lie within it), which
// costs one pass over the file's pages and no decoding. Only when the last
// writer did not close the file cleanly (a crash, a power loss, a copy of
// a running store) is every bucket and key walked as well, as bbolt will
// read them; that walk grows with the number of keys, and is paid once.
func checkFile(path string, timeout time.Duration) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil // a new store
	case err != nil:
		return fmt.Errorf("open %s: %w", path, err)
	case fi.Size() == 0:
		return damaged(path, "the file is empty")
	}
	b, err := openBolt(path, timeout, true)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.View(func(tx *bolt.Tx) error {
		if need := tx.Size(); need > fi.Size() {
			return damaged(path, fmt.Sprintf("the file has %d bytes, its pages need %d: it was cut short", fi.Size(), need))
		}
		if err := scanPages(path, tx.Size()); err != nil {
			return damaged(path, err.Error())
		}
		if err := walk(tx, cleanlyClosed); err != nil {
			return damaged(path, err.Error())
		}
		return nil
	})
}

// cleanlyClosed reports whether the clean-close marker is in tx's meta
// bucket.
func cleanlyClosed(tx *bolt.Tx) bool {
	meta := tx.Bucket(bucketMeta)
	return meta != nil && meta.Get(keyCleanClose) != nil
}

// walk reads every bucket and key of tx, unless skip (called first, on the
// same guard) says the file needs no walk. bbolt meets a garbled page with
// a failed assertion (a panic) or a read outside the mapping (a fault), so
// both are turned into an error here. bbolt's own [bolt.Tx.Check] cannot be
// used: it asserts in a goroutine of its own, where no recover reaches.
func walk(tx *bolt.Tx, skip func(*bolt.Tx) bool) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("a page does not read back: %v", r)
		}
	}()
	if skip(tx) {
		return nil
	}
	var bucket func(b *bolt.Bucket) error
	bucket = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if sub := b.Bucket(k); v == nil && sub != nil {
				return bucket(sub)
			}
			return nil
		})
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return bucket(b) })
}

// The on-disk layout of bbolt 1.4 (go.etcd.io/bbolt/internal/common), in
// the machine's byte order: a page header is id (8 bytes), flags (2), count
// (2), overflow (4); a meta page's body is magic, version, page size,
// flags (4 bytes each), root bucket (16), freelist page, high-water page,
// txid (8 each) and an FNV-64a checksum of what precedes it.
const (
	pageHeader    = 16
	flagBranch    = 0x01
	flagLeaf      = 0x02
	flagMeta      = 0x04
	flagFreelist  = 0x10
	boltMagic     = 0xED0CDAED
	metaChecksum  = 56 // offset of the checksum within the meta body
	elementSize   = 16 // a branch or leaf element
	freelistCount = 0xFFFF
)

var native = binary.NativeEndian

// boltMeta is what scanPages needs of a meta page.
type boltMeta struct {
	pageSize       int
	freelist, high uint64
	txid           uint64
}

// readMeta decodes and checks the meta page at off of m.
func readMeta(m []byte, off int) (boltMeta, bool) {
	if len(m) < off+pageHeader+metaChecksum+8 {
		return boltMeta{}, false
	}
	body := m[off+pageHeader:]
	h := fnv.New64a()
	h.Write(body[:metaChecksum])
	if native.Uint32(body) != boltMagic || native.Uint64(body[metaChecksum:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: int(native.Uint32(body[8:])), freelist: native.Uint64(body[32:]),
		high: native.Uint64(body[40:]), txid: native.Uint64(body[48:])}, true
}

// scanPages checks every page of the file at path below size (the pages
// the current meta page counts) that its freelist does not list as free:
// its header names the page itself with a known type, its overflow stays
// below the high-water mark, and each of its elements (and the child page
// a branch element names) lies within bounds. These are the reads bbolt
// trusts without a check, so a page that passes does not make bbolt read
// outside the file. It reads the file through a read-only mapping, once,
// and decodes nothing.
func scanPages(path string, size int64) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map the file: %w", err)
	}
	defer syscall.Munmap(m)
	_ = syscall.Madvise(m, syscall.MADV_SEQUENTIAL)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("a page does not read back: %v", r)
		}
	}()
	meta, ok := readMeta(m, 0)
	if other, ok1 := readMeta(m, meta.pageSize); ok1 && (!ok || other.txid > meta.txid) {
		meta, ok = other, true
	}
	if !ok || meta.pageSize < 512 {
		return errors.New("no meta page checks")
	}
	ps, high := meta.pageSize, meta.high
	if int64(high)*int64(ps) > size {
		return fmt.Errorf("the meta page counts %d pages, the file holds %d", high, size/int64(ps))
	}
	page := func(id uint64) []byte { return m[id*uint64(ps):] }
	free, err := freePages(page, meta, ps)
	if err != nil {
		return err
	}
	for id := uint64(2); id < high; {
		if free[id] {
			id++
			continue
		}
		p := page(id)
		over := uint64(native.Uint32(p[12:]))
		if got := native.Uint64(p); got != id {
			return fmt.Errorf("page %d says it is page %d", id, got)
		}
		if id+over >= high {
			return fmt.Errorf("page %d runs %d pages past the last one", id, id+over+1-high)
		}
		if err := checkElements(p[:(over+1)*uint64(ps)], high); err != nil {
			return fmt.Errorf("page %d: %w", id, err)
		}
		id += over + 1
	}
	return nil
}

// freePages reads the freelist page meta names: the page IDs it lists
// (freed pages keep stale bytes, so they are not scanned).
func freePages(page func(uint64) []byte, meta boltMeta, ps int) (map[uint64]bool, error) {
	if meta.freelist < 2 || meta.freelist >= meta.high {
		return nil, fmt.Errorf("the freelist page %d is outside the file's %d pages", meta.freelist, meta.high)
	}
	p := page(meta.freelist)
	over := uint64(native.Uint32(p[12:]))
	if native.Uint64(p) != meta.freelist || native.Uint16(p[8:])&flagFreelist == 0 || meta.freelist+over >= meta.high {
		return nil, fmt.Errorf("page %d is not the freelist the meta page names", meta.freelist)
	}
	body := p[pageHeader : (over+1)*uint64(ps)]
	n := int(native.Uint16(p[10:]))
	if n == freelistCount {
		n, body = int(native.Uint64(body)), body[8:]
	}
	if n*8 > len(body) {
		return nil, fmt.Errorf("the freelist counts %d pages, its page holds %d", n, len(body)/8)
	}
	free := make(map[uint64]bool, n)
	for i := range n {
		free[native.Uint64(body[8*i:])] = true
	}
	return free, nil
}

// checkElements checks that the elements of the branch or leaf page p
// (with its overflow) lie within it, and that a branch's children are
// pages of the file.
func checkElements(p []byte, high uint64) error {
	flags, count := native.Uint16(p[8:]), int(native.Uint16(p[10:]))
	switch flags {
	case flagBranch, flagLeaf:
	case flagFreelist:
		return nil
	default:
		return fmt.Errorf("unknown page type %#x", flags)
	}
	if pageHeader+count*elementSize > len(p) {
		return fmt.Errorf("%d elements do not fit in the page", count)
	}
	for i := range count {
		e := p[pageHeader+i*elementSize:]
		at := pageHeader + i*elementSize
		var pos, size uint64
		if flags == flagBranch {
			pos, size = uint64(native.Uint32(e)), uint64(native.Uint32(e[4:]))
			if child := native.Uint64(e[8:]); child < 2 || child >= high {
				return fmt.Errorf("element %d points to page %d, outside the file", i, child)
			}
		} else {
			pos, size = uint64(native.Uint32(e[4:])), uint64(native.Uint32(e[8:]))+uint64(native.Uint32(e[12:]))
		}
		if uint64(at)+pos+size > uint64(len(p)) {
			return fmt.Errorf("element %d lies outside the page", i)
		}
	}
	return nil
}

// fromBolt reports whether the panic being recovered was raised inside
// bbolt (a failed assertion or a fault on a page it read), rather than by
// the code a transaction runs.
func fromBolt() bool {
	pc := make([]uintptr, 32)
	frames := runtime.CallersFrames(pc[:runtime.Callers(3, pc)])
	for {
		fr, more := frames.Next()
		switch {
		case strings.HasPrefix(fr.Function, "runtime."):
		case strings.HasPrefix(fr.Function, "go.etcd.io/bbolt"):
			return true
		default:
			return false
		}
		if !more {
			return false
		}
	}
}

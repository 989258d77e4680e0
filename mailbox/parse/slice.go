package parse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
)

const (
	// probeLen is how many of a part's first bytes are searched for in
	// the raw mail.
	probeLen = 256
	// maxProbes is how many places of the raw mail that start like a part
	// are compared with it before it is stored as a copy.
	maxProbes = 16
)

// verbatim reports whether a part's body is its bytes in the raw mail as
// sent: an identity transfer encoding (RFC 2045 §6.1), the usual case of
// message/rfc822 (RFC 2046 §5.2.1).
func verbatim(cte string) bool {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// spoolHashed copies src into a spool, as [newSpool] does, and returns the
// SHA-256 of what it copied.
func (p *parser) spoolHashed(src io.Reader) (*spool, string, error) {
	h := sha256.New()
	sp, err := newSpool(io.TeeReader(src, h), p.maxSize, p.tempDir)
	if err != nil {
		return nil, "", err
	}
	return sp, hex.EncodeToString(h.Sum(nil)), nil
}

// keep hands the spooled content of a part (sum is its SHA-256) to the
// Sink: as a slice of the raw mail when the Sink is a [SliceSink] and the
// bytes are found there verbatim, else as a copy.
func (p *parser) keep(sp *spool, sum string, isVerbatim bool) (stored, error) {
	if ss, ok := p.sink.(SliceSink); ok && isVerbatim && sp.size > 0 {
		if off, found := p.locate(sp); found {
			// A Sink that cannot take the slice may still take a copy.
			if err := ss.PutSlice(p.m.RawSHA256, off, sp.size, sum); err == nil {
				p.rawDone = off + sp.size
				return stored{SHA256: sum, Size: sp.size}, nil
			}
		}
	}
	return p.put(sp.reader())
}

// locate finds the bytes of sp in the kept raw mail, between the end of the
// last slice found (parts come in the order of the raw mail) and what the
// parser has read of the raw mail so far: the part was read from there.
// Each place that starts like sp is compared with it whole; after
// maxProbes places, or when the bytes are not there, it gives up.
func (p *parser) locate(sp *spool) (int64, bool) {
	n := sp.size
	end := min(p.rawRead, p.raw.size) // sp ends at or before it
	probe := make([]byte, min(n, probeLen))
	if _, err := io.ReadFull(sp.reader(), probe); err != nil {
		return 0, false
	}
	// Chunks overlap by less than a probe: a match starts in one chunk only.
	const chunk = 64 << 10
	buf := make([]byte, chunk+len(probe)-1)
	tries := 0
	for base := p.rawDone; base+n <= end; base += chunk {
		k, err := p.raw.r.ReadAt(buf[:min(int64(len(buf)), end-base)], base)
		if err != nil && err != io.EOF {
			return 0, false
		}
		for i := 0; ; {
			j := bytes.Index(buf[i:k], probe)
			if j < 0 {
				break
			}
			off := base + int64(i+j)
			if off+n > end {
				return 0, false
			}
			if sameBytes(io.NewSectionReader(p.raw.r, off, n), sp.reader(), n) {
				return off, true
			}
			if tries++; tries == maxProbes {
				return 0, false
			}
			i += j + 1
		}
	}
	return 0, false
}

// sameBytes reports whether the next n bytes of a and b are equal; both
// hold at least n bytes.
func sameBytes(a, b io.Reader, n int64) bool {
	ba, bb := make([]byte, 32<<10), make([]byte, 32<<10)
	for n > 0 {
		k := min(n, int64(len(ba)))
		if _, err := io.ReadFull(a, ba[:k]); err != nil {
			return false
		}
		if _, err := io.ReadFull(b, bb[:k]); err != nil {
			return false
		}
		if !bytes.Equal(ba[:k], bb[:k]) {
			return false
		}
		n -= k
	}
	return true
}

// tally counts the bytes read through it into *n.
type tally struct {
	r io.Reader
	n *int64
}

func (t tally) Read(b []byte) (int, error) {
	k, err := t.r.Read(b)
	*t.n += int64(k)
	return k, err
}

// rawReader returns a reader of the kept raw mail from its start for the
// walk, which counts in p.rawRead how far it got.
func (p *parser) rawReader() io.Reader {
	p.rawRead = 0
	return tally{r: p.raw.reader(), n: &p.rawRead}
}

package parse

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spoolMemory is the most bytes a spool keeps in memory; beyond it, they go
// to a temporary file.
const spoolMemory = 256 << 10

// spool keeps bytes the parser reads more than once (a raw mail, a
// winmail.dat, a forwarded message it stores and unpacks): in memory when
// small, in an unlinked temporary file otherwise.
type spool struct {
	r    io.ReaderAt
	size int64
	f    *os.File // nil when in memory
}

// newSpool copies at most max bytes of r into a spool in dir ("" means
// os.TempDir). A read error of r is returned as is; a failure of the
// temporary file is wrapped.
func newSpool(r io.Reader, max int64, dir string) (*spool, error) {
	memCap := min(max, spoolMemory)
	b, err := io.ReadAll(io.LimitReader(r, memCap))
	if err != nil {
		return nil, err
	}
	if n := int64(len(b)); n < memCap || n == max {
		return &spool{r: bytes.NewReader(b), size: n}, nil
	}
	f, err := os.CreateTemp(dir, "ticketd-mail-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// Unlinked at once: the file goes away with the process, even on a crash.
	os.Remove(f.Name())
	s := &spool{r: f, f: f}
	if _, err := f.Write(b); err != nil {
		s.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, max-int64(len(b))))
	if err != nil {
		s.Close()
		return nil, err
	}
	s.size = int64(len(b)) + n
	return s, nil
}

// reader returns a reader of the spooled bytes from the start; each call
// is independent of the others.
func (s *spool) reader() io.Reader { return io.NewSectionReader(s.r, 0, s.size) }

// Close frees the temporary file, if any.
func (s *spool) Close() {
	if s.f != nil {
		s.f.Close()
	}
}

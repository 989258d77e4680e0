package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A slice is a blob whose content lies verbatim inside another blob, such
// as a forwarded message inside the raw mail that carries it. It is kept as
// a small reference file, named like the blob with refSuffix, that says
// where its bytes are; [Store.Open] reads them from there. A reference
// points only at an ordinary blob, never at another reference.
//
// The suffix keeps references apart from content: an attachment whose
// bytes happen to read like a reference is an ordinary blob, and is never
// followed.
const refSuffix = ".ref"

// refVersion begins the one line of a reference file:
// "ref1 <target sha256> <offset> <length>\n".
const refVersion = "ref1"

// maxRefFile is more than any reference file holds.
const maxRefFile = 256

// ErrBadSlice is returned (wrapped) by [Store.PutSlice] when the range
// does not lie inside the target blob or does not hash to the given SHA-256.
var ErrBadSlice = errors.New("blob: range does not hold the content")

// errNoRef is returned by openRef when no reference file exists.
var errNoRef = errors.New("blob: no reference")

// refPath returns the file name of the reference for sha; sha must be valid.
func (s *Store) refPath(sha string) string { return s.path(sha) + refSuffix }

// PutSlice stores, under sha, the n bytes at offset off of the blob target
// without copying them: a reference file that [Store.Open] follows. It
// first checks that target is an ordinary blob (not itself a reference),
// that the range lies inside it and that its bytes hash to sha; the error
// wraps [ErrBadSlice] when they do not, [ErrNotFound] when target is
// missing and [ErrInvalidRef] when a hash is malformed. When the store
// holds sha already, PutSlice only checks and writes nothing. The reference
// is durable (fsync and atomic rename) when PutSlice returns.
//
// A reference is meaningful only next to its target: a copy of the store
// must keep both.
func (s *Store) PutSlice(sha, target string, off, n int64) (Ref, error) {
	if !ValidSHA256(sha) || !ValidSHA256(target) {
		return Ref{}, fmt.Errorf("put slice %q of %q: %w", sha, target, ErrInvalidRef)
	}
	f, err := os.Open(s.path(target))
	if errors.Is(err, fs.ErrNotExist) {
		if _, rerr := os.Stat(s.refPath(target)); rerr == nil {
			return Ref{}, fmt.Errorf("put slice %s of %s: the target is a reference itself: %w", sha, target, ErrBadSlice)
		}
		return Ref{}, fmt.Errorf("put slice %s of %s: %w", sha, target, ErrNotFound)
	}
	if err != nil {
		return Ref{}, fmt.Errorf("put slice %s of %s: %w", sha, target, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Ref{}, fmt.Errorf("put slice %s of %s: %w", sha, target, err)
	}
	if off < 0 || n <= 0 || off > fi.Size()-n {
		return Ref{}, fmt.Errorf("put slice %s: bytes [%d, %d+%d) of %s (%d bytes): %w", sha, off, off, n, target, fi.Size(), ErrBadSlice)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		return Ref{}, fmt.Errorf("put slice %s of %s: %w", sha, target, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return Ref{}, fmt.Errorf("put slice %s: bytes [%d, %d+%d) of %s hash to %s: %w", sha, off, off, n, target, got, ErrBadSlice)
	}
	ref := Ref{SHA256: sha, Size: n}
	if ok, err := s.Has(sha); err == nil && ok {
		return ref, nil
	}
	line := fmt.Sprintf("%s %s %d %d\n", refVersion, target, off, n)
	if err := s.writeRef(sha, line); err != nil {
		return Ref{}, fmt.Errorf("put slice %s of %s: %w", sha, target, err)
	}
	return ref, nil
}

// writeRef makes the reference file of sha hold line, durably.
func (s *Store) writeRef(sha, line string) error {
	f, err := os.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.WriteString(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	final := s.refPath(sha)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(final), 0o750)
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(final))
}

// sliceFile reads a range of an open blob file.
type sliceFile struct {
	*io.SectionReader
	f *os.File
}

// Close closes the target file.
func (r sliceFile) Close() error { return r.f.Close() }

// openRef opens the content of the reference of sha: a reader over the
// range of its target. It returns errNoRef when sha has no reference, and
// an error wrapping [ErrNotFound] when the reference's target is missing.
func (s *Store) openRef(sha string) (io.ReadCloser, error) {
	b, err := os.ReadFile(s.refPath(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoRef
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", sha, err)
	}
	target, off, n, err := parseRef(b)
	if err != nil {
		return nil, fmt.Errorf("open blob %s: reference file %s: %w", sha, s.refPath(sha), err)
	}
	f, err := os.Open(s.path(target))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: it is bytes [%d, %d+%d) of blob %s, which is missing (restore both from the same backup): %w",
			sha, off, off, n, target, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: target %s: %w", sha, target, err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size()-n < off {
		f.Close()
		return nil, fmt.Errorf("open blob %s: it is bytes [%d, %d+%d) of blob %s, which is shorter", sha, off, off, n, target)
	}
	return sliceFile{SectionReader: io.NewSectionReader(f, off, n), f: f}, nil
}

// parseRef reads the line of a reference file.
func parseRef(b []byte) (target string, off, n int64, err error) {
	if len(b) > maxRefFile {
		return "", 0, 0, fmt.Errorf("%d bytes, not a reference", len(b))
	}
	line, _, ok := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if !ok || len(f) != 4 || f[0] != refVersion || !ValidSHA256(f[1]) {
		return "", 0, 0, fmt.Errorf("%q is not a %s reference", line, refVersion)
	}
	off, err1 := strconv.ParseInt(f[2], 10, 64)
	n, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || off < 0 || n <= 0 {
		return "", 0, 0, fmt.Errorf("%q: bad range", line)
	}
	return f[1], off, n, nil
}

// hasRef reports whether sha is stored as a reference whose target is
// there.
func (s *Store) hasRef(sha string) (bool, error) {
	r, err := s.openRef(sha)
	if err == errNoRef {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.Close()
	return true, nil
}

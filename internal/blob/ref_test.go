package blob

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// putBytes stores b and returns its hash.
func putBytes(t *testing.T, s *Store, b []byte) string {
	t.Helper()
	ref, err := s.Put(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return ref.SHA256
}

// TestSlice: a range of a blob stored by reference reads back as those
// bytes, seekably, takes a reference file rather than a copy, and is
// refused when the range or its hash is wrong.
func TestSlice(t *testing.T) {
	s := openStore(t)
	raw := []byte("Subject: fwd\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x\r\n\r\nforwarded body\r\n--b--\r\n")
	rawSHA := putBytes(t, s, raw)
	off := int64(bytes.Index(raw, []byte("From: x")))
	part := raw[off : len(raw)-len("\r\n--b--\r\n")]
	sha, n := sum(part), int64(len(part))

	if ok, err := s.Has(sha); ok || err != nil {
		t.Fatalf("Has before PutSlice = %v, %v", ok, err)
	}
	ref, err := s.PutSlice(sha, rawSHA, off, n)
	if err != nil || ref != (Ref{SHA256: sha, Size: n}) {
		t.Fatalf("PutSlice = %+v, %v", ref, err)
	}
	if got := readAll(t, s, sha); !bytes.Equal(got, part) {
		t.Fatalf("Open(slice) = %q, want %q", got, part)
	}
	if ok, err := s.Has(sha); !ok || err != nil {
		t.Errorf("Has(slice) = %v, %v", ok, err)
	}
	if _, err := os.Stat(s.path(sha)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the slice was copied: %v", err)
	}
	if fi, err := os.Stat(s.refPath(sha)); err != nil || fi.Size() > maxRefFile {
		t.Errorf("reference file: %v, %v", fi, err)
	}
	rc, _ := s.Open(sha)
	if sk, ok := rc.(io.ReadSeeker); !ok {
		t.Errorf("Open(slice) is a %T, not seekable", rc)
	} else if _, err := sk.Seek(-5, io.SeekEnd); err != nil {
		t.Error(err)
	} else if b, _ := io.ReadAll(sk); string(b) != string(part[n-5:]) {
		t.Errorf("after Seek(-5, end): %q", b)
	}
	rc.Close()
	// Again: nothing changes.
	if _, err := s.PutSlice(sha, rawSHA, off, n); err != nil {
		t.Errorf("PutSlice again: %v", err)
	}

	for _, c := range []struct {
		name   string
		off, n int64
		sha    string
	}{
		{"past the end", off, n + 1, sum(raw[off:])},
		{"negative offset", -1, n, sha},
		{"empty", off, 0, sum(nil)},
		{"wrong hash", off + 1, n - 1, sha},
	} {
		if _, err := s.PutSlice(c.sha, rawSHA, c.off, c.n); !errors.Is(err, ErrBadSlice) {
			t.Errorf("%s: PutSlice = %v, want ErrBadSlice", c.name, err)
		}
	}
	if _, err := s.PutSlice(sum(part[1:]), sha, 1, n-1); !errors.Is(err, ErrBadSlice) {
		t.Errorf("a reference to a reference: %v, want ErrBadSlice", err)
	}
	if _, err := s.PutSlice(sha, sum([]byte("absent")), 0, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing target: %v, want ErrNotFound", err)
	}
	if _, err := s.PutSlice("../x", rawSHA, 0, 1); !errors.Is(err, ErrInvalidRef) {
		t.Errorf("bad hash: %v, want ErrInvalidRef", err)
	}
}

// TestSliceTargetMissing: a reference whose target is gone says so, for
// Open and for Has, and names the missing blob.
func TestSliceTargetMissing(t *testing.T) {
	s := openStore(t)
	raw := []byte("0123456789")
	rawSHA := putBytes(t, s, raw)
	sha := sum(raw[2:6])
	if _, err := s.PutSlice(sha, rawSHA, 2, 4); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.path(rawSHA)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Open(sha)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(fmt.Sprint(err), rawSHA) {
		t.Errorf("Open with the target missing: %v, want ErrNotFound naming %s", err, rawSHA)
	}
	if ok, err := s.Has(sha); ok || !errors.Is(err, ErrNotFound) {
		t.Errorf("Has with the target missing = %v, %v", ok, err)
	}
}

// TestContentLikeAReference: content that reads like a reference file is an
// ordinary blob: Open returns it, never the bytes it names.
func TestContentLikeAReference(t *testing.T) {
	s := openStore(t)
	secret := putBytes(t, s, []byte("another mail"))
	fake := []byte(fmt.Sprintf("%s %s 0 7\n", refVersion, secret))
	sha := putBytes(t, s, fake)
	if got := readAll(t, s, sha); !bytes.Equal(got, fake) {
		t.Errorf("Open = %q, want the blob's own bytes", got)
	}
}

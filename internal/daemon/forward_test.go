package daemon

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// forwardChain wraps a mail carrying file (base64, as mailers send it) in
// levels of forwarded message/rfc822 parts (7bit, RFC 2046 §5.2.1). It
// returns the whole mail and the bytes of its outermost forwarded message.
func forwardChain(levels int, file []byte) (raw, outer []byte) {
	enc := base64.StdEncoding.EncodeToString(file)
	var b bytes.Buffer
	b.WriteString("From: ana@unidad.test\r\nSubject: fichero\r\nMessage-ID: <f0@x>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=datos.bin\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	for i := 1; i <= levels; i++ {
		outer = bytes.Clone(b.Bytes())
		b.Reset()
		fmt.Fprintf(&b, "From: ana@unidad.test\r\nSubject: Fwd %d\r\nMessage-ID: <f%d@x>\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=\"f%d\"\r\n\r\n--f%d\r\nContent-Type: text/plain\r\n\r\nreenvío %d\r\n"+
			"--f%d\r\nContent-Type: message/rfc822\r\n\r\n%s\r\n--f%d--\r\n", i, i, i, i, i, i, outer, i)
	}
	return b.Bytes(), outer
}

// diskBytes is what the files under dir take, by their sizes.
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNestedForwardsOnDisk: 19 forwarded messages nested around a 2 MiB
// file take on disk the raw mail and the decoded file, once each (they once
// took 33 MiB, then twice the raw mail): the outermost forwarded message
// lies verbatim in the raw mail and is kept as a reference into it.
func TestNestedForwardsOnDisk(t *testing.T) {
	file := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{19}).Read(file)
	for _, levels := range []int{3, 19} {
		t.Run(fmt.Sprint(levels), func(t *testing.T) {
			_, l := newIngestLoop(t, 64<<20)
			raw, outer := forwardChain(levels, file)
			// As the intake takes it: in a batch, synced at the commit.
			pm, err := l.parse(bytes.NewReader(raw), 0, l.batch)
			if err == nil {
				err = l.batch.Sync()
			}
			if err != nil {
				t.Fatal(err)
			}
			got, limit := diskBytes(t, l.opts.Blobs.Dir()), int64(len(raw)+len(file))+8<<10
			t.Logf("%d levels: %d bytes on disk for a %d-byte mail around a %d-byte file", levels, got, len(raw), len(file))
			if got > limit {
				t.Errorf("%d levels: %d bytes on disk for a %d-byte mail around a %d-byte file, want at most %d", levels, got, len(raw), len(file), limit)
			}
			want := map[string][]byte{"message/rfc822": outer}
			if levels < 5 {
				// Deeper than Limits.Forwards, the file stays unopened
				// inside the forwarded message.
				want["application/octet-stream"] = file
			}
			for _, a := range pm.Attachments {
				b, ok := want[a.ContentType]
				if !ok {
					t.Errorf("unexpected attachment %+v", a)
					continue
				}
				delete(want, a.ContentType)
				content := openAll(t, l, a.SHA256)
				if sum := sha256.Sum256(content); hex.EncodeToString(sum[:]) != a.SHA256 || !bytes.Equal(content, b) || a.Size != int64(len(b)) {
					t.Errorf("Open(%s) of %s gave %d bytes that are not its content (%d bytes)", a.SHA256, a.ContentType, len(content), len(b))
				}
			}
			if len(want) > 0 {
				t.Errorf("attachments %+v: %d missing", pm.Attachments, len(want))
			}
		})
	}
}

// openAll reads the blob sha whole.
func openAll(t *testing.T, l *Loop, sha string) []byte {
	t.Helper()
	if ok, err := l.opts.Blobs.Has(sha); !ok || err != nil {
		t.Errorf("Has(%s) = %v, %v", sha, ok, err)
	}
	r, err := l.opts.Blobs.Open(sha)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTruncatedForwardOnDisk: a mail over the size limit, cut inside its
// forwarded message, keeps what was kept of that message as a slice of the
// stored raw mail, never reaching beyond it.
func TestTruncatedForwardOnDisk(t *testing.T) {
	file := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{1}).Read(file)
	raw, _ := forwardChain(2, file)
	maxSize := int64(len(raw) / 2)
	_, l := newIngestLoop(t, maxSize)
	pm, err := l.parse(bytes.NewReader(raw), 0, l.opts.Blobs)
	if err != nil {
		t.Fatal(err)
	}
	if !pm.Truncated || len(pm.Attachments) == 0 {
		t.Fatalf("Truncated = %v, attachments %+v", pm.Truncated, pm.Attachments)
	}
	for _, a := range pm.Attachments {
		content := openAll(t, l, a.SHA256)
		if sum := sha256.Sum256(content); hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(content)) != a.Size {
			t.Errorf("Open(%s) of %s: %d bytes that are not its content", a.SHA256, a.ContentType, len(content))
		}
		if a.ContentType == "message/rfc822" && (a.Size == 0 || !bytes.Contains(raw[:maxSize], content)) {
			t.Errorf("forwarded message of %d bytes is not within the %d bytes kept", a.Size, maxSize)
		}
	}
	if got := diskBytes(t, l.opts.Blobs.Dir()); got > maxSize+int64(len(file))+8<<10 {
		t.Errorf("%d bytes on disk for %d bytes kept of the mail", got, maxSize)
	}
}

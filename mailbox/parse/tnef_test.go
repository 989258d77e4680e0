package parse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/ticketd/ticketd/internal/blob"
)

// hashPut stands in for blob.Store.Put: it hashes instead of storing.
func hashPut(r io.Reader) (blob.Ref, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return blob.Ref{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, err
}

func TestDecodeTNEF(t *testing.T) {
	t.Parallel()
	full := buildTNEF(winmailFiles)
	tests := []struct {
		name    string
		in      []byte
		want    []string // names
		wantErr bool
	}{
		{"full", full, []string{"Presupuesto de renovación 2027.xlsx", "NOTAS.TXT", "..\\diagrama de red.png"}, false},
		{"title only", buildTNEF([]tnefSpec{{title: "A.TXT", data: []byte("a")}}), []string{"A.TXT"}, false},
		{"empty data", buildTNEF([]tnefSpec{{title: "E.TXT", data: nil}}), []string{"E.TXT"}, false},
		{"no attachments", buildTNEF(nil), nil, false},
		{"bad signature", []byte("not tnef at all"), nil, true},
		{"empty", nil, nil, true},
		{"truncated", full[:len(full)-40], []string{"Presupuesto de renovación 2027.xlsx", "NOTAS.TXT"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files, err := decodeTNEF(bytes.NewReader(tt.in), hashPut)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decodeTNEF error = %v, want error %v", err, tt.wantErr)
			}
			var names []string
			for _, f := range files {
				names = append(names, f.Name())
			}
			if len(names) != len(tt.want) {
				t.Fatalf("decodeTNEF names = %q, want %q", names, tt.want)
			}
			for i := range names {
				if names[i] != tt.want[i] {
					t.Fatalf("decodeTNEF names = %q, want %q", names, tt.want)
				}
			}
		})
	}

	t.Run("content", func(t *testing.T) {
		t.Parallel()
		files, err := decodeTNEF(bytes.NewReader(full), hashPut)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			want, _ := hashPut(bytes.NewReader(winmailFiles[i].data))
			if f.Ref != want {
				t.Errorf("file %d (%s): ref %+v, want %+v", i, f.Name(), f.Ref, want)
			}
			if f.MIMETag != winmailFiles[i].mime {
				t.Errorf("file %d: MIME tag %q, want %q", i, f.MIMETag, winmailFiles[i].mime)
			}
		}
	})

	t.Run("store error", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("disk full")
		_, err := decodeTNEF(bytes.NewReader(full), func(io.Reader) (blob.Ref, error) { return blob.Ref{}, boom })
		var se storeError
		if !errors.As(err, &se) || !errors.Is(err, boom) {
			t.Fatalf("decodeTNEF error = %v, want a storeError wrapping %v", err, boom)
		}
	})
}

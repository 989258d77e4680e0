package parse

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// hashPut stands in for the parser's put: it hashes instead of storing.
func hashPut(r io.Reader) (stored, error) {
	sha, n, err := hashSink{}.Put(r)
	return stored{SHA256: sha, Size: n}, err
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
		_, err := decodeTNEF(bytes.NewReader(full), func(io.Reader) (stored, error) { return stored{}, boom })
		var se storeError
		if !errors.As(err, &se) || !errors.Is(err, boom) {
			t.Fatalf("decodeTNEF error = %v, want a storeError wrapping %v", err, boom)
		}
	})
}

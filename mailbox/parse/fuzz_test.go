package parse

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzRead(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	store := newSink(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Read(bytes.NewReader(raw), Options{Sink: store, MaxText: 4096})
		if err != nil {
			t.Fatalf("Read error on malformed input: %v", err)
		}
		if m.RawSize != int64(len(raw)) {
			t.Fatalf("RawSize = %d, want %d", m.RawSize, len(raw))
		}
		if utf8.RuneCountInString(m.Text) > 4096 {
			t.Fatalf("Text has %d runes, over MaxText", utf8.RuneCountInString(m.Text))
		}
		for _, s := range append([]string{m.Text, m.NewText, m.Subject, m.From.Name}, m.Problems...) {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in output %q", s)
			}
		}
		for _, a := range m.Attachments {
			if strings.ContainsAny(a.Filename, "/\\") || a.Filename == ".." {
				t.Fatalf("unsafe file name %q", a.Filename)
			}
		}
	})
}

func FuzzExtractReply(f *testing.F) {
	for _, s := range []string{
		"Hecho.\n\nEl lun, 3 nov 2026 a las 10:00, Ana <ana@example.com>\nescribió:\n> x",
		"ok\n-----Original Message-----\nFrom: a\nSent: b\nTo: c\nSubject: d",
		"a\n____________\n\nDe: a\nEnviado: b\nPara: c\nAsunto: d",
		"> q\nreply\n-- \nsig",
		"Sent from my iPhone\n> On Mon, wrote:",
		"---------- Mensaje reenviado ----------\nDe: a\nFecha: b\nAsunto: c\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := ExtractReply(s)
		if len(out) > len(s)+len(strings.Split(s, "\n")) {
			t.Fatalf("ExtractReply grew %d bytes into %d", len(s), len(out))
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("ExtractReply made invalid UTF-8: %q", out)
		}
	})
}

func FuzzTNEF(f *testing.F) {
	f.Add(buildTNEF(winmailFiles))
	f.Add(buildTNEF([]tnefSpec{{title: "A", data: []byte("a"), dataInProps: true}}))
	f.Add(buildTNEF(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		files, _ := decodeTNEF(bytes.NewReader(b), hashPut)
		var total int64
		for _, file := range files {
			total += file.Ref.Size
			if !utf8.ValidString(file.Name()) || !utf8.ValidString(file.MIMETag) {
				t.Fatalf("invalid UTF-8 in %+v", file)
			}
		}
		if total > int64(len(b)) {
			t.Fatalf("decoded %d bytes of content from a %d-byte stream", total, len(b))
		}
	})
}

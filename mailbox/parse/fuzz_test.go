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
	f.Add(nestedForwards(4, []byte("datos")))
	// HTML bodies as mail programs write them, for the HTML walker.
	htmls, _ := filepath.Glob(filepath.Join("testdata", "html", "*.html"))
	for _, file := range htmls {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte("From: a@b.c\r\nContent-Type: text/html\r\n\r\n"), b...))
	}
	// Raw GBK and Shift_JIS header fields, declared and not, and encoded
	// words with surplus padding, for the header decoder.
	f.Add([]byte("From: \xd5\xc5\xce\xb0 <a@b.c>\r\nSubject: \xd7\xaa\xb7\xa2: =?gb2312?B?16q3og====?=\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n\xc4\xfa\xba\xc3\r\n" +
		"--b\r\nContent-Disposition: attachment; filename=\"\xb1\xa8\xb8\xe6.txt\"\r\n\r\nx\r\n--b--\r\n"))
	f.Add([]byte("From: \x8eR\x93c <a@b.c>\r\nSubject: \x93]\x91\x97: \x89\xef\x8bc\r\n\r\n\x82\xa0"))
	f.Add([]byte("Subject: " + strings.Repeat("[OTI-2026-000001] ", 10) + "\r\n" + strings.Repeat("X: y\r\n", 20) + "\r\nhola"))
	store := newSink(f)
	// Tight limits, so that the fuzzer reaches every one of them.
	tight := Limits{Subject: 20, HeaderBytes: 512, HeaderFields: 8, Depth: 3, Parts: 6, Forwards: 1}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Read(bytes.NewReader(raw), Options{Sink: store, MaxText: 4096})
		if err != nil {
			t.Fatalf("Read error on malformed input: %v", err)
		}
		lm, err := Read(bytes.NewReader(raw), Options{Sink: store, MaxText: 4096, Limits: tight})
		if err != nil {
			t.Fatalf("Read with tight limits: error on malformed input: %v", err)
		}
		store.checkBlobs(t, m)
		store.checkBlobs(t, lm)
		if !bytes.Equal(store.get(t, lm.RawSHA256), raw) || lm.RawSize != int64(len(raw)) {
			t.Fatalf("tight limits: raw copy not kept whole")
		}
		if n := utf8.RuneCountInString(lm.Subject); n > tight.Subject {
			t.Fatalf("tight limits: subject of %d runes, over %d", n, tight.Subject)
		}
		parts := 0
		for _, a := range lm.Attachments {
			if !a.FromTNEF {
				parts++
			}
		}
		if parts > tight.Parts {
			t.Fatalf("tight limits: %d attachments from at most %d parts", parts, tight.Parts)
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
			if !utf8.ValidString(a.Filename) {
				t.Fatalf("invalid UTF-8 in file name %q", a.Filename)
			}
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

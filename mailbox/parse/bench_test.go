package parse

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkReadKinds measures Read on the three shapes of mail the issue
// names: a small plain-text request, an HTML-only Outlook mail, and a mail
// with a 10 MiB attachment (base64 on the wire, stored through the sink).
func BenchmarkReadKinds(b *testing.B) {
	html, err := os.ReadFile(filepath.Join("testdata", "outlook-html-1252.eml"))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		raw  []byte
	}{
		{"plain-small", []byte("From: Ana <ana@unidad.test>\r\nTo: soporte@oti.test\r\nSubject: No tengo red\r\n" +
			"Message-ID: <b1@unidad.test>\r\nDate: Thu, 26 Nov 2026 10:00:00 -0500\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
			strings.Repeat("Desde esta mañana no tengo red en el piso 3.\r\n", 10))},
		{"html-only", html},
		{"attachment-10MiB", withAttachment(10 << 20)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.raw)))
			for b.Loop() {
				if _, err := Read(bytes.NewReader(c.raw), Options{Sink: hashSink{}, MaxSize: 64 << 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// withAttachment returns a request carrying size bytes of attachment.
func withAttachment(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: Ana <ana@unidad.test>\r\nTo: soporte@oti.test\r\nSubject: Informe adjunto\r\n" +
		"Message-ID: <att@unidad.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAdjunto el informe.\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"informe.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	file := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	enc := base64.NewEncoder(base64.StdEncoding, &crlfLines{w: &b})
	enc.Write(file)
	enc.Close()
	b.WriteString("\r\n--b--\r\n")
	return b.Bytes()
}

// BenchmarkExtractReply measures taking the new text out of a reply that
// quotes a long history (Gmail's "El ... escribió:" header and > lines).
func BenchmarkExtractReply(b *testing.B) {
	var t strings.Builder
	t.WriteString("Sigue sin funcionar después de reiniciar.\n\nGracias,\nAna\n\n")
	t.WriteString("El jue, 26 nov 2026 a las 10:00, Mesa <soporte@oti.test> escribió:\n")
	for range 200 {
		t.WriteString("> Por favor reinicie el equipo y díganos si el problema sigue.\n")
	}
	text := t.String()
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if got := ExtractReply(text); !strings.HasPrefix(got, "Sigue sin funcionar") {
			b.Fatalf("ExtractReply = %q", got)
		}
	}
}

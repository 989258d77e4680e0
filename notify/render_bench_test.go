package notify

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/ticket"
)

// BenchmarkRender measures rendering each notice template (subject, text
// and HTML, es) from a notice of the whole procedure.
func BenchmarkRender(b *testing.B) {
	r := newTestRenderer(b, "es")
	byKind := firstOfEachKind(b, walk(b))
	for _, k := range Kinds() {
		p := byKind[k]
		b.Run(string(k), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMessageAttachment10MiB measures an assignment mail carrying a
// 10 MiB file (smtp.max_attach_total's default), from the stored file to
// the bytes written on the SMTP connection: what it allocates beyond a
// mail without files is what attaching costs in memory.
func BenchmarkMessageAttachment10MiB(b *testing.B) {
	const size = 10 << 20
	path := filepath.Join(b.TempDir(), "blob")
	if err := os.WriteFile(path, bytes.Repeat([]byte("0123456789abcdef"), size/16), 0o600); err != nil {
		b.Fatal(err)
	}
	sha := strings.Repeat("c", 64)
	r, err := NewRenderer(RendererOptions{
		From: support, Lang: "es", MaxAttachTotal: size, Hostname: "ticketd.test", People: testDirectory(b),
		Attachments: func(string) (io.ReadCloser, error) { return os.Open(path) },
	})
	if err != nil {
		b.Fatal(err)
	}
	p := firstOfEachKind(b, walk(b))[ticket.NoticeAssigned]
	t := *p.Notice.Ticket
	t.Attachments = []ticket.Attachment{{Filename: "datos.bin", ContentType: "application/octet-stream", Size: size, SHA256: sha}}
	p.Notice.Ticket = &t
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		m, err := r.Message(p)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.GetAttachments()) != 1 {
			b.Fatal("the file is not attached")
		}
		if _, err := m.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

package daemon

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/blob"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/ticket"
)

// BenchmarkHandleNewRequest measures what one new request costs the
// daemon once fetched: MIME parsing, storing the raw mail, routing, opening
// the ticket and committing it with its notices and the checkpoint (one
// bbolt transaction and one blob sync, a batch of one: a mail arriving
// alone).
func BenchmarkHandleNewRequest(b *testing.B) {
	l := benchLoop(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := l.Handle(b.Context(), benchMessage(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleBacklog is BenchmarkHandleNewRequest for a backlog: the
// poller stages mails and commits them by batches of [mailbox.MaxBatch]
// (one transaction, one blob sync each). Figures are per mail.
func BenchmarkHandleBacklog(b *testing.B) {
	l := benchLoop(b)
	b.ReportAllocs()
	staged := 0
	for i := 0; b.Loop(); i++ {
		if err := l.Stage(b.Context(), benchMessage(i)); err != nil {
			b.Fatal(err)
		}
		if staged++; staged == mailbox.MaxBatch {
			if _, err := l.Commit(b.Context()); err != nil {
				b.Fatal(err)
			}
			staged = 0
		}
	}
	if _, err := l.Commit(b.Context()); err != nil {
		b.Fatal(err)
	}
}

// benchLoop is a loop over a fresh store with a one-group desk.
func benchLoop(b *testing.B) *Loop {
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	blobs, _ := blob.Open(filepath.Join(dir, "blobs"))
	d, _ := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{agentAddr, "otro@oti.test"}}})
	desk, _ := ticket.NewDesk(d)
	svc, _ := service.New(service.Options{Store: serviceStore(db), Desk: desk, AutoReplyLimit: 1 << 30})
	l, err := New(Options{Store: loopStore(db), Service: svc, Blobs: blobs, Senders: checker(b)})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

var benchBody = strings.Repeat("Desde esta mañana la impresora del piso 3 no imprime; sale una hoja en blanco.\r\n", 20)

// benchMessage is new request i, UID i+1.
func benchMessage(i int) *mailbox.Message {
	raw := fmt.Sprintf("From: Ana <ana%d@unidad.test>\r\nTo: soporte@oti.test\r\nSubject: =?UTF-8?Q?Impresora_n=C2=BA_%d?=\r\nMessage-ID: <bench%d@unidad.test>\r\nDate: Thu, 26 Nov 2026 10:00:00 -0500\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", i, i, i, benchBody)
	return &mailbox.Message{UIDValidity: 1, UID: uint32(i + 1), Body: strings.NewReader(raw)}
}

// BenchmarkHandleAttachment25MiB is BenchmarkHandleNewRequest for a new
// request carrying a 25 MiB attachment, base64 on the wire (34 MiB of
// mail): what it allocates beyond a small mail is what the attachment costs
// in memory (`-benchmem`, `-memprofile`).
func BenchmarkHandleAttachment25MiB(b *testing.B) {
	l := benchLoop(b)
	raw := attachmentMessage(25 << 20)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	id := bytes.Index(raw, []byte("<adj")) + len("<adj")
	for i := 0; b.Loop(); i++ {
		// Each mail a new request, not a duplicate of the first.
		copy(raw[id:], fmt.Sprintf("%08d", i))
		m := &mailbox.Message{UIDValidity: 1, UID: uint32(i + 1), Size: int64(len(raw)), Body: bytes.NewReader(raw)}
		if err := l.Handle(b.Context(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// attachmentMessage is a new request with size bytes of attachment, base64
// in lines of 76 as mail clients send it.
func attachmentMessage(size int) []byte {
	var w bytes.Buffer
	w.WriteString("From: Ana <ana@unidad.test>\r\nTo: soporte@oti.test\r\nSubject: Adjunto grande\r\nMessage-ID: <adj00000000@unidad.test>\r\n" +
		"Date: Thu, 26 Nov 2026 10:00:00 -0500\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + benchBody +
		"\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"datos.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for line := range slices.Chunk(bytes.Repeat([]byte("0123456789abcdef"), size/16), 57) {
		w.WriteString(base64.StdEncoding.EncodeToString(line) + "\r\n")
	}
	w.WriteString("--b--\r\n")
	return w.Bytes()
}

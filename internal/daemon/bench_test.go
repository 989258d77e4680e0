package daemon

import (
	"fmt"
	"path/filepath"
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

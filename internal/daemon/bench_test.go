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
// bbolt transaction, with fsync).
func BenchmarkHandleNewRequest(b *testing.B) {
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	blobs, _ := blob.Open(filepath.Join(dir, "blobs"))
	d, _ := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{agentAddr, "otro@oti.test"}}})
	desk, _ := ticket.NewDesk(d)
	svc, _ := service.New(service.Options{Store: serviceStore(db), Desk: desk, AutoReplyLimit: 1 << 30})
	l, err := New(Options{Store: loopStore(db), Service: svc, Blobs: blobs, Senders: checker(b)})
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("Desde esta mañana la impresora del piso 3 no imprime; sale una hoja en blanco.\r\n", 20)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		raw := fmt.Sprintf("From: Ana <ana%d@unidad.test>\r\nTo: soporte@oti.test\r\nSubject: =?UTF-8?Q?Impresora_n=C2=BA_%d?=\r\nMessage-ID: <bench%d@unidad.test>\r\nDate: Thu, 26 Nov 2026 10:00:00 -0500\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", i, i, i, body)
		m := &mailbox.Message{UIDValidity: 1, UID: uint32(i + 1), Body: strings.NewReader(raw)}
		if err := l.Handle(b.Context(), m); err != nil {
			b.Fatal(err)
		}
	}
}

package store

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
	bolt "go.etcd.io/bbolt"

	"github.com/ticketd/ticketd/internal/store/storetest"
)

// BenchmarkCommitNewTicket measures what one new mail costs: one
// transaction that allocates an ID, opens the ticket, stores it and
// enqueues its ack and alerts (three outbox items here).
func BenchmarkCommitNewTicket(b *testing.B) {
	desk := storetest.Desk(b)
	db, _ := newDB(b)
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		err := db.Update(ctx, func(tx *Tx) error {
			id, err := tx.NextID("OTI", storetest.T0)
			if err != nil {
				return err
			}
			o := desk.Open(id, ticket.Inbound{
				Sender:    ticket.Trusted("test"),
				MessageID: fmt.Sprintf("<bench-%d@example.org>", i),
				From:      ticket.Address{Name: "Ana Pérez", Addr: storetest.Requester},
				Subject:   "No imprime la impresora del piso 3",
				Text:      "Desde esta mañana la impresora no responde.\nGracias.",
			}, "", storetest.T0)
			if err := tx.PutTicket(o.Ticket); err != nil {
				return err
			}
			_, err = tx.Enqueue(storetest.Owe(o.Notices), storetest.T0)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyCommand measures one reply with commands on an existing
// ticket: one transaction that loads the ticket, applies the mail through
// Desk.Reply, stores it and enqueues the receipt. Every notice carries the
// whole ticket, so a fresh ticket is opened (off the clock) every 20 replies
// to keep histories at a realistic length.
func BenchmarkApplyCommand(b *testing.B) {
	desk := storetest.Desk(b)
	db, _ := newDB(b)
	ctx := b.Context()
	const perTicket = 20
	texts := []string{
		"#clasificar impresoras alta\nLo revisamos hoy.",
		"#nota se pidió tóner al proveedor",
		"#prioridad media",
	}
	var id ticket.ID
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%perTicket == 0 {
			b.StopTimer()
			id, _ = storetest.OpenTicket(b, bk(db), desk, fmt.Sprintf("<open-%d@example.org>", i), storetest.T0)
			b.StartTimer()
		}
		i++
		now := storetest.T0.Add(time.Duration(i) * time.Second)
		err := db.Update(ctx, func(tx *Tx) error {
			tk, err := tx.Ticket(id)
			if err != nil {
				return err
			}
			o := desk.Reply(tk, ticket.Inbound{
				Sender:    ticket.Trusted("test"),
				MessageID: fmt.Sprintf("<reply-%d@oti.example>", i),
				From:      ticket.Address{Addr: storetest.Agent},
				Subject:   "RE: " + id.Tag(),
				Text:      texts[i%len(texts)],
			}, now)
			if o.Refused {
				return fmt.Errorf("reply %d refused: %+v", i, o.Results)
			}
			if err := tx.PutTicket(o.Ticket); err != nil {
				return err
			}
			_, err = tx.Enqueue(storetest.Owe(o.Notices), now)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenCheck measures the check [Open] makes of an existing file
// before using it on a large store: 2,000 tickets with a 50 KiB body each,
// a file of over 100 MiB (reported as MiB). clean: the file was closed
// cleanly (the size of its pages against the file's, then the scan of
// every page in use); after_crash: it was not, and every bucket and key is
// walked as well.
func BenchmarkOpenCheck(b *testing.B) {
	desk := storetest.Desk(b)
	db, path := newDB(b)
	body := strings.Repeat("Texto de la solicitud, línea tras línea.\n", 50<<10/42)
	for batch := range 20 {
		mustUpdate(b, db, func(tx *Tx) error {
			for i := range 100 {
				id, err := tx.NextID("OTI", storetest.T0)
				if err != nil {
					return err
				}
				o := desk.Open(id, ticket.Inbound{MessageID: fmt.Sprintf("<big-%d-%d@example.org>", batch, i),
					From: ticket.Address{Addr: storetest.Requester}, Subject: "Solicitud", Text: body}, "", storetest.T0)
				if err := tx.PutTicket(o.Ticket); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := checkFile(path, time.Second); err != nil {
				b.Fatal(err)
			}
		}
		if fi, err := os.Stat(path); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
		}
	}
	b.Run("clean", run)
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := raw.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyCleanClose) }); err != nil {
		b.Fatal(err)
	}
	raw.Close()
	b.Run("after_crash", run)
}

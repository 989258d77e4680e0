package store

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/ticket"
	bolt "go.etcd.io/bbolt"

	"github.com/ticketd/ticketd/internal/store/storetest"
)

// usedBytes is how much of the file the store's pages take (bbolt grows the
// file itself in large steps ahead of them).
func usedBytes(tb testing.TB, db *DB) int64 {
	tb.Helper()
	var n int64
	if err := db.bolt.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestOutboxKeepsNoTicketCopies opens a ticket for a 2 MiB request with a
// desk of 12 agents: the new-ticket alert owed to each of them must not
// store the request (or the ticket) once per storetest.Agent. The store keeps the
// request twice by design (the ticket's body and its opening history entry),
// so the file may grow by a few times the request, never by one copy per
// recipient.
func TestOutboxKeepsNoTicketCopies(t *testing.T) {
	const agents = 12
	var members []string
	for i := range agents {
		members = append(members, fmt.Sprintf("agente%d@oti.example", i))
	}
	dir, err := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: ticket.Level1, Members: members}})
	if err != nil {
		t.Fatal(err)
	}
	desk, err := ticket.NewDesk(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, path := newDB(t)
	storetest.OpenTicket(t, bk(db), desk, "<warm-up@example.org>", storetest.T0) // the buckets exist
	before, fileBefore := usedBytes(t, db), fileSize(t, path)
	body := strings.Repeat("Adjunto el registro del error, línea a línea.\n", 2<<20/47)
	var notices int
	mustUpdate(t, db, func(tx *Tx) error {
		id, err := tx.NextID("OTI", storetest.T0)
		if err != nil {
			return err
		}
		o := desk.Open(id, ticket.Inbound{MessageID: "<big@example.org>", From: ticket.Address{Addr: storetest.Requester},
			Subject: "Registro del error", Text: body}, "", storetest.T0)
		if err := tx.PutTicket(o.Ticket); err != nil {
			return err
		}
		ps, err := tx.Enqueue(storetest.Owe(o.Notices), storetest.T0)
		notices = len(ps)
		return err
	})
	grew, fileGrew := usedBytes(t, db)-before, fileSize(t, path)-fileBefore
	t.Logf("a %d-byte request owing %d notices grew the store's pages by %d bytes (%.1f× the request), the file by %d",
		len(body), notices, grew, float64(grew)/float64(len(body)), fileGrew)
	if notices != agents+1 {
		t.Fatalf("%d notices owed, want %d", notices, agents+1)
	}
	if limit := int64(4 * len(body)); grew > limit {
		t.Errorf("the store grew by %d bytes, more than %d (4× the request): the outbox keeps copies per recipient", grew, limit)
	}
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// TestAppendedPagesFilled opens 400 tickets, one transaction each as a
// mail arriving alone is committed, and checks that the pages of the
// buckets whose keys are appended (tickets, outbox items, owed notices)
// are filled beyond the half bbolt's default split leaves (34-47 % here
// before, 63-87 % after: a record that does not fit in a page's rest
// starts the next), since the file and the pages a drain reads were twice
// the records.
func TestAppendedPagesFilled(t *testing.T) {
	db, _ := newDB(t)
	desk := storetest.Desk(t)
	for i := range 400 {
		storetest.OpenTicket(t, bk(db), desk, fmt.Sprintf("<m%d@example.org>", i), storetest.T0)
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketTickets, bucketOutbox, bucketOwed} {
			s := tx.Bucket(name).Stats()
			pages := s.LeafPageN + s.LeafOverflowN
			fill := float64(s.LeafInuse) / float64(pages*tx.DB().Info().PageSize)
			t.Logf("%s: %d keys in %d leaf pages, %.0f %% in use", name, s.KeyN, pages, 100*fill)
			if fill < 0.6 {
				t.Errorf("%s: leaf pages %.0f %% in use, want at least 60 %%", name, 100*fill)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

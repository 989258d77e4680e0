// Package storetest is the contract every implementation of ticketd's
// storage passes: what the consumers declare (service.Tx, daemon.Tx,
// admin.Tx and their stores, notify.Outbox) and what they rely on beyond
// the method signatures — one transaction commits all of its writes or
// none (the mailbox checkpoint with the ticket change), ticket IDs run per
// year and are never reused, history is append-only, Message-IDs thread to
// their tickets, listings find every state of the procedure's table, the
// outbox keeps each ticket's notices in order and counts its retries, and
// the auto-Reply allowances count per key within their window.
//
// internal/store runs it against bbolt (TestContract); a second
// implementation runs [Run] with its own open function.
package storetest

import (
	"context"
	"testing"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/daemon"
	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

// Tx is a transaction of the store under test: every method a consumer
// declares, and the reads the suite checks the writes with (which the
// health checks and tools use too).
type Tx interface {
	daemon.Tx // the service's with the checkpoint and quarantine
	admin.Tx
	// Queues returns the tickets f and p select queue by queue, each with
	// its count and page (the web console's).
	Queues(f ticket.Filter, p ticket.Page) (ticket.Listing, error)
	// List returns what Each walks, as a slice.
	List(f ticket.Filter) ([]ticket.Ticket, error)
	// Pending returns every outbox item, in Seq order.
	Pending() ([]outbox.Item, error)
	// OutboxStats counts the outbox.
	OutboxStats() (outbox.Stats, error)
	// History returns the history of ticket id (nil when it has none).
	History(id ticket.ID) ([]ticket.Entry, error)
	// CountTickets returns how many tickets exist.
	CountTickets() int
	// QuarantineCount returns how many mails are quarantined.
	QuarantineCount() int
	// UnthreadedList returns the mails recorded without a ticket, in the
	// order they were recorded.
	UnthreadedList() ([]record.Unthreaded, error)
}

// Store runs transactions of the store under test: Update commits all of
// fn's writes when it returns nil and none otherwise; View only reads.
// Both fail with ctx's error, running nothing, when ctx is done.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Backend is one open, empty store under test: its transactions and its
// outbox as the notification worker sees it.
type Backend struct {
	Store
	Outbox notify.Outbox
}

// Run runs the contract against the stores open makes, a new empty one
// for each case (open closes it when t ends).
func Run(t *testing.T, open func(t *testing.T) Backend) {
	cases := []struct {
		name string
		fn   func(*testing.T, func(*testing.T) Backend)
	}{
		{"Enqueue", testEnqueue},
		{"CountsSeeTheirOwnTransaction", testCountsSeeTheirOwnTransaction},
		{"DueKeepsEachTicketInOrder", testDueKeepsEachTicketInOrder},
		{"SentAndOutboxStats", testSentAndOutboxStats},
		{"Failed", testFailed},
		{"TakeAutoReply", testTakeAutoReply},
		{"EnqueueKeepsHistoryOnlyForStaff", testEnqueueKeepsHistoryOnlyForStaff},
		{"Transactions", testTransactions},
		{"Checkpoint", testCheckpoint},
		{"Quarantine", testQuarantine},
		{"NextIDUniqueUnderConcurrency", testNextIDUniqueUnderConcurrency},
		{"PutTicketHistoryIsAppendOnly", testPutTicketHistoryIsAppendOnly},
		{"PutTicketLostUpdate", testPutTicketLostUpdate},
		{"List", testList},
		{"ListNewState", testListNewState},
		{"TicketNotFound", testTicketNotFound},
		{"Unthreaded", testUnthreaded},
		{"NextIDPerYear", testNextIDPerYear},
		{"ListEveryState", testListEveryState},
		{"DueIndex", testDueIndex},
		{"ListRows", testListRows},
		{"Queues", testQueues},
		{"Each", testEach},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

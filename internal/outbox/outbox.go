// Package outbox holds the values of the notification outbox shared by the
// store that keeps it (internal/store) and those that use it (notify's
// worker, the health checks): one item owed to one recipient with its
// delivery state, and the outbox's statistics. It does no I/O.
package outbox

import (
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// Item is one notification owed to one recipient: the notice (which may
// name several recipients, and is kept once for all of them), the address
// this item is for, the Message-ID of its mail and its delivery state.
type Item struct {
	Seq       uint64         `json:"seq"`
	Owed      ticket.Owed    `json:"owed"`
	To        ticket.Address `json:"to"`
	MessageID string         `json:"message_id"`
	CreatedAt time.Time      `json:"created_at"`
	Delivery
}

// Delivery is how delivering an item went so far.
type Delivery struct {
	// Attempts counts failed delivery attempts; NextAttempt is when the next
	// one is due and LastError what the last one met.
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
}

// Pending returns the notice to render for it, from t, its ticket as read at
// send time.
func (it Item) Pending(t *ticket.Ticket) (ticket.Pending, error) {
	n, err := it.Owed.Rebuild(t, it.To)
	if err != nil {
		return ticket.Pending{}, err
	}
	return ticket.Pending{Seq: it.Seq, MessageID: it.MessageID, Notice: n, CreatedAt: it.CreatedAt}, nil
}

// Stream names what the outbox keeps in order: the notices of one ticket to
// one recipient. A recipient reads a ticket's notices in the order they were
// committed ("opened" before "closed"), so a later notice of a stream waits
// while an earlier one is owed; streams do not wait for each other, so a
// recipient whose server refuses mail for now holds back only its own later
// notices of that ticket, never the desk's or the requester's.
type Stream struct {
	Ticket ticket.ID
	// Rcpt is the recipient's address as ticket.NormalizeAddr gives it.
	Rcpt string
}

// Stream returns the stream it belongs to.
func (it Item) Stream() Stream {
	return Stream{Ticket: it.Owed.TicketID, Rcpt: ticket.NormalizeAddr(it.To.Addr)}
}

// Stats describes the outbox, for health checks and metrics.
type Stats struct {
	Depth int `json:"depth"`
	// Oldest is when the oldest pending notice was committed (zero when the
	// outbox is empty).
	Oldest time.Time `json:"oldest,omitzero"`
}

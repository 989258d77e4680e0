package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// Enqueue writes the notices owed, one outbox item per recipient, in the
// transaction of the change that caused them. Each item gets a sequence
// number and a Message-ID that encodes the ticket ID, and the Message-ID is
// indexed so that replies to it thread back to the ticket.
func (t *Tx) Enqueue(notices []ticket.Notice, now time.Time) ([]ticket.Pending, error) {
	ob := t.tx.Bucket(bucketOutbox)
	var out []ticket.Pending
	for _, n := range notices {
		for _, rcpt := range n.To {
			seq, err := ob.NextSequence()
			if err != nil {
				return nil, fmt.Errorf("enqueue notice: %w", err)
			}
			one := n
			one.To = []ticket.Address{rcpt}
			if !n.Kind.ForStaff() && n.Ticket != nil {
				// A mail to a requester never shows the history: don't
				// store it once per recipient.
				snap := *n.Ticket
				snap.History = nil
				one.Ticket = &snap
			}
			p := ticket.Pending{
				Seq:         seq,
				MessageID:   fmt.Sprintf("%s.n%d.%s@%s", n.Ticket.ID, seq, randomHex(4), t.host),
				Notice:      one,
				CreatedAt:   now.UTC(),
				NextAttempt: now.UTC(),
			}
			if err := putJSON(ob, u64(seq), p); err != nil {
				return nil, fmt.Errorf("enqueue notice %d: %w", seq, err)
			}
			if err := t.RecordMessage(p.MessageID, n.Ticket.ID); err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// OutboxStats describes the outbox, for health checks and metrics.
type OutboxStats struct {
	Depth int `json:"depth"`
	// Oldest is when the oldest pending notice was committed (zero when the
	// outbox is empty).
	Oldest time.Time `json:"oldest,omitzero"`
}

// OutboxStats counts the pending notices.
func (t *Tx) OutboxStats() (OutboxStats, error) {
	var s OutboxStats
	ob := t.tx.Bucket(bucketOutbox)
	s.Depth = countKeys(ob)
	if k, v := ob.Cursor().First(); k != nil {
		var p ticket.Pending
		if err := json.Unmarshal(v, &p); err != nil {
			return s, fmt.Errorf("decode outbox item: %w", err)
		}
		s.Oldest = p.CreatedAt
	}
	return s, nil
}

// Pending returns every notice in the outbox, in order.
func (t *Tx) Pending() ([]ticket.Pending, error) {
	var out []ticket.Pending
	err := t.tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
		var p ticket.Pending
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("decode outbox item: %w", err)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// Outbox adapts a DB to what the notification worker needs; it implements
// notify.Outbox.
type Outbox struct{ DB *DB }

// Due returns up to max notices due at now in sequence order, holding back
// every notice of a ticket behind an earlier one of the same ticket that is
// not yet due, so that each ticket's notices go out in order.
func (o Outbox) Due(ctx context.Context, now time.Time, max int) ([]ticket.Pending, error) {
	var out []ticket.Pending
	err := o.DB.View(ctx, func(tx *Tx) error {
		blocked := map[ticket.ID]bool{}
		c := tx.tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			var p ticket.Pending
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode outbox item %d: %w", binary.BigEndian.Uint64(k), err)
			}
			id := p.Notice.Ticket.ID
			if blocked[id] {
				continue
			}
			if p.NextAttempt.After(now) {
				blocked[id] = true
				continue
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// Sent removes notice seq after the server accepted it.
func (o Outbox) Sent(ctx context.Context, seq uint64, _ time.Time) error {
	return o.DB.Update(ctx, func(tx *Tx) error {
		return tx.tx.Bucket(bucketOutbox).Delete(u64(seq))
	})
}

// Retry records a transient failure of notice seq and when to try again.
func (o Outbox) Retry(ctx context.Context, seq uint64, next time.Time, reason string) error {
	return o.DB.Update(ctx, func(tx *Tx) error {
		ob := tx.tx.Bucket(bucketOutbox)
		var p ticket.Pending
		if err := getJSON(ob, u64(seq), &p); err != nil {
			return fmt.Errorf("retry notice %d: %w", seq, err)
		}
		p.Attempts++
		p.NextAttempt = next.UTC()
		p.LastError = reason
		return putJSON(ob, u64(seq), p)
	})
}

// Failed records a permanent failure of notice seq: it leaves the outbox and
// a delivery failure is appended to its ticket's history, in one
// transaction.
func (o Outbox) Failed(ctx context.Context, seq uint64, reason string, at time.Time) error {
	return o.DB.Update(ctx, func(tx *Tx) error {
		ob := tx.tx.Bucket(bucketOutbox)
		var p ticket.Pending
		if err := getJSON(ob, u64(seq), &p); err != nil {
			return fmt.Errorf("fail notice %d: %w", seq, err)
		}
		if err := ob.Delete(u64(seq)); err != nil {
			return fmt.Errorf("fail notice %d: %w", seq, err)
		}
		tk, err := tx.Ticket(p.Notice.Ticket.ID)
		if err != nil {
			return fmt.Errorf("fail notice %d: %w", seq, err)
		}
		rcpt := ""
		if len(p.Notice.To) > 0 {
			rcpt = p.Notice.To[0].Addr
		}
		tk.DeliveryFailed(rcpt, reason, "", at)
		return tx.PutTicket(tk)
	})
}

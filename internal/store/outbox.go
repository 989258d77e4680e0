package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
	bolt "go.etcd.io/bbolt"
)

// owedRecord is a notice as stored, once for all its recipients (bucket
// owed); Left counts its items still in the outbox, and the record goes with
// the last of them.
type owedRecord struct {
	Owed ticket.Owed `json:"owed"`
	Left int         `json:"left"`
}

// itemRecord is one recipient's item as stored (bucket outbox, keyed by
// Seq): the key of its notice instead of the notice itself.
type itemRecord struct {
	Seq       uint64         `json:"seq"`
	Notice    uint64         `json:"notice"`
	To        ticket.Address `json:"to"`
	MessageID string         `json:"message_id"`
	CreatedAt time.Time      `json:"created_at"`
	outbox.Delivery
}

// Enqueue writes the notices owed, in the transaction of the change that
// caused them: each notice once, and one outbox item per recipient with its
// sequence number and the Message-ID the caller made for it. The
// Message-IDs are indexed so that replies to them thread back to the ticket.
func (t *Tx) Enqueue(notices []ticket.Owed, now time.Time) ([]outbox.Item, error) {
	ob, owed := t.tx.Bucket(bucketOutbox), t.tx.Bucket(bucketOwed)
	var out []outbox.Item
	for _, n := range notices {
		if len(n.MessageIDs) != len(n.To) {
			return nil, fmt.Errorf("enqueue %s notice of %s: %d Message-IDs for %d recipients", n.Kind, n.TicketID, len(n.MessageIDs), len(n.To))
		}
		if len(n.To) == 0 {
			continue
		}
		key, err := owed.NextSequence()
		if err != nil {
			return nil, fmt.Errorf("enqueue notice: %w", err)
		}
		if err := putJSON(owed, u64(key), owedRecord{Owed: n, Left: len(n.To)}); err != nil {
			return nil, fmt.Errorf("enqueue notice: %w", err)
		}
		for i, rcpt := range n.To {
			seq, err := ob.NextSequence()
			if err != nil {
				return nil, fmt.Errorf("enqueue notice: %w", err)
			}
			r := itemRecord{Seq: seq, Notice: key, To: rcpt, MessageID: n.MessageIDs[i], CreatedAt: now.UTC(),
				Delivery: outbox.Delivery{NextAttempt: now.UTC()}}
			if err := putJSON(ob, u64(seq), r); err != nil {
				return nil, fmt.Errorf("enqueue notice %d: %w", seq, err)
			}
			if err := t.RecordMessage(r.MessageID, n.TicketID); err != nil {
				return nil, err
			}
			out = append(out, r.item(n))
		}
	}
	return out, nil
}

func (r itemRecord) item(n ticket.Owed) outbox.Item {
	return outbox.Item{Seq: r.Seq, Owed: n, To: r.To, MessageID: r.MessageID, CreatedAt: r.CreatedAt, Delivery: r.Delivery}
}

// OutboxStats counts the pending notices.
func (t *Tx) OutboxStats() (outbox.Stats, error) {
	var s outbox.Stats
	ob := t.tx.Bucket(bucketOutbox)
	s.Depth = countKeys(ob)
	if k, v := ob.Cursor().First(); k != nil {
		var r itemRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return s, fmt.Errorf("decode outbox item: %w", err)
		}
		s.Oldest = r.CreatedAt
	}
	return s, nil
}

// Pending returns every item in the outbox, in order.
func (t *Tx) Pending() ([]outbox.Item, error) {
	var out []outbox.Item
	err := t.items(func(it outbox.Item) bool { out = append(out, it); return true })
	return out, err
}

// items calls fn with each outbox item in Seq order until it returns false.
func (t *Tx) items(fn func(outbox.Item) bool) error {
	notices := map[uint64]ticket.Owed{}
	c := t.tx.Bucket(bucketOutbox).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r itemRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode outbox item %d: %w", binary.BigEndian.Uint64(k), err)
		}
		n, ok := notices[r.Notice]
		if !ok {
			var rec owedRecord
			if err := getJSON(t.tx.Bucket(bucketOwed), u64(r.Notice), &rec); err != nil {
				return fmt.Errorf("notice %d of outbox item %d: %w", r.Notice, r.Seq, err)
			}
			n, notices[r.Notice] = rec.Owed, rec.Owed
		}
		if !fn(r.item(n)) {
			return nil
		}
	}
	return nil
}

// Outbox adapts a DB to what the notification worker needs; it implements
// notify.Outbox.
type Outbox struct{ DB *DB }

// Due returns up to max notices due at now in sequence order, holding back
// every notice of a stream (a ticket's notices to one recipient, see
// [outbox.Stream]) behind an earlier one of the same stream that is not yet
// due, so that each recipient gets a ticket's notices in order.
func (o Outbox) Due(ctx context.Context, now time.Time, max int) ([]outbox.Item, error) {
	var out []outbox.Item
	err := o.DB.View(ctx, func(tx *Tx) error {
		blocked := map[outbox.Stream]bool{}
		return tx.items(func(it outbox.Item) bool {
			s := it.Stream()
			switch {
			case blocked[s]:
			case it.NextAttempt.After(now):
				blocked[s] = true
			default:
				out = append(out, it)
			}
			return len(out) < max
		})
	})
	return out, err
}

// Ticket loads ticket id with its history, for rendering at send time.
func (o Outbox) Ticket(ctx context.Context, id ticket.ID) (*ticket.Ticket, error) {
	var t *ticket.Ticket
	err := o.DB.View(ctx, func(tx *Tx) (err error) { t, err = tx.Ticket(id); return err })
	return t, err
}

// Sent removes notice seq after the server accepted it. A notice already
// removed is no error (a retry after a lost acknowledgement).
func (o Outbox) Sent(ctx context.Context, seq uint64, at time.Time) error {
	return o.MarkSent(ctx, []uint64{seq}, at)
}

// MarkSent removes the notices seqs after the server accepted them, in one
// transaction (one sync for the marks of concurrent deliveries). A notice
// already removed is no error.
func (o Outbox) MarkSent(ctx context.Context, seqs []uint64, _ time.Time) error {
	return o.DB.Update(ctx, func(tx *Tx) error {
		for _, seq := range seqs {
			if _, err := tx.removeItem(seq); err != nil && !errors.Is(err, record.ErrNotFound) {
				return err
			}
		}
		return nil
	})
}

// Retry records a transient failure of notice seq and when to try again.
func (o Outbox) Retry(ctx context.Context, seq uint64, next time.Time, reason string) error {
	return o.DB.Update(ctx, func(tx *Tx) error {
		ob := tx.tx.Bucket(bucketOutbox)
		var r itemRecord
		if err := getJSON(ob, u64(seq), &r); err != nil {
			return fmt.Errorf("retry notice %d: %w", seq, err)
		}
		r.Attempts++
		r.NextAttempt = next.UTC()
		r.LastError = reason
		return putJSON(ob, u64(seq), r)
	})
}

// Failed records a permanent failure of notice seq: it leaves the outbox,
// and apply (the caller's, which appends the failure to the history) is
// applied to its ticket, in one transaction.
func (o Outbox) Failed(ctx context.Context, seq uint64, apply func(*ticket.Ticket)) error {
	return o.DB.Update(ctx, func(tx *Tx) error {
		id, err := tx.removeItem(seq)
		if err != nil {
			return fmt.Errorf("fail notice %d: %w", seq, err)
		}
		tk, err := tx.Ticket(id)
		if err != nil {
			return fmt.Errorf("fail notice %d: %w", seq, err)
		}
		apply(tk)
		return tx.PutTicket(tk)
	})
}

// removeItem deletes outbox item seq, and its notice with its last item; it
// returns the notice's ticket.
func (t *Tx) removeItem(seq uint64) (ticket.ID, error) {
	ob, owed := t.tx.Bucket(bucketOutbox), t.tx.Bucket(bucketOwed)
	var r itemRecord
	if err := getJSON(ob, u64(seq), &r); err != nil {
		return "", fmt.Errorf("outbox item %d: %w", seq, err)
	}
	var rec owedRecord
	if err := getJSON(owed, u64(r.Notice), &rec); err != nil {
		return "", fmt.Errorf("notice %d of outbox item %d: %w", r.Notice, seq, err)
	}
	if err := ob.Delete(u64(seq)); err != nil {
		return "", err
	}
	if rec.Left--; rec.Left <= 0 {
		return rec.Owed.TicketID, owed.Delete(u64(r.Notice))
	}
	return rec.Owed.TicketID, putJSON(owed, u64(r.Notice), rec)
}

// v1Pending is an outbox item of schema version 1: a whole copy of the
// notice with its ticket, and the delivery state.
type v1Pending struct {
	Seq       uint64        `json:"seq"`
	MessageID string        `json:"message_id"`
	Notice    ticket.Notice `json:"notice"`
	CreatedAt time.Time     `json:"created_at"`
	outbox.Delivery
}

// migrateOutboxV2 turns every outbox item of schema version 1 (a copy of the
// ticket in each) into a notice record and an item that refers to it,
// keeping its Seq, Message-ID and delivery state.
func migrateOutboxV2(tx *bolt.Tx) error {
	ob := tx.Bucket(bucketOutbox)
	owed, err := tx.CreateBucketIfNotExists(bucketOwed)
	if err != nil {
		return err
	}
	var old []v1Pending
	if err := ob.ForEach(func(k, v []byte) error {
		var p v1Pending
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("decode outbox item %d: %w", binary.BigEndian.Uint64(k), err)
		}
		old = append(old, p)
		return nil
	}); err != nil {
		return err
	}
	for _, p := range old {
		if p.Notice.Ticket == nil || len(p.Notice.To) != 1 {
			return fmt.Errorf("outbox item %d: no ticket or not one recipient", p.Seq)
		}
		n := ticket.Owe(p.Notice, func(ticket.Address) string { return p.MessageID })
		// Seq is unique, so it serves as the key of the notice too.
		if err := putJSON(owed, u64(p.Seq), owedRecord{Owed: n, Left: 1}); err != nil {
			return err
		}
		r := itemRecord{Seq: p.Seq, Notice: p.Seq, To: p.Notice.To[0], MessageID: p.MessageID, CreatedAt: p.CreatedAt, Delivery: p.Delivery}
		if err := putJSON(ob, u64(p.Seq), r); err != nil {
			return err
		}
	}
	return owed.SetSequence(ob.Sequence())
}

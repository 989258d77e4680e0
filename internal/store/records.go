package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/internal/record"
)

// Checkpoint returns the checkpoint of mailbox (zero when none).
func (t *Tx) Checkpoint(mailbox string) (record.Checkpoint, error) {
	var cp record.Checkpoint
	err := getJSON(t.tx.Bucket(bucketCheckpoint), []byte(mailbox), &cp)
	if err == record.ErrNotFound {
		return record.Checkpoint{}, nil
	}
	return cp, err
}

// SetCheckpoint records the checkpoint of mailbox.
func (t *Tx) SetCheckpoint(mailbox string, cp record.Checkpoint) error {
	return putJSON(t.tx.Bucket(bucketCheckpoint), []byte(mailbox), cp)
}

// Quarantine records q and returns it with its ID.
func (t *Tx) Quarantine(q record.Quarantined) (record.Quarantined, error) {
	b := t.tx.Bucket(bucketQuarantine)
	if q.ID == 0 {
		id, err := b.NextSequence()
		if err != nil {
			return q, fmt.Errorf("quarantine: %w", err)
		}
		q.ID = id
	}
	return q, putJSON(b, u64(q.ID), q)
}

// Quarantined returns the quarantine record id.
func (t *Tx) Quarantined(id uint64) (record.Quarantined, error) {
	var q record.Quarantined
	if err := getJSON(t.tx.Bucket(bucketQuarantine), u64(id), &q); err != nil {
		return q, fmt.Errorf("quarantine record %d: %w", id, err)
	}
	return q, nil
}

// QuarantineList returns every quarantine record, oldest first.
func (t *Tx) QuarantineList() ([]record.Quarantined, error) {
	var out []record.Quarantined
	err := t.tx.Bucket(bucketQuarantine).ForEach(func(_, v []byte) error {
		var q record.Quarantined
		if err := json.Unmarshal(v, &q); err != nil {
			return fmt.Errorf("decode quarantine record: %w", err)
		}
		out = append(out, q)
		return nil
	})
	return out, err
}

// QuarantineCount returns the number of quarantined mails.
func (t *Tx) QuarantineCount() int { return countKeys(t.tx.Bucket(bucketQuarantine)) }

// Release removes quarantine record id (after a successful re-run).
func (t *Tx) Release(id uint64) error {
	return t.tx.Bucket(bucketQuarantine).Delete(u64(id))
}

// RecordUnthreaded keeps u and marks its Message-ID as seen, unless it was
// seen already (a duplicate keeps the ticket its first copy went to).
func (t *Tx) RecordUnthreaded(u record.Unthreaded) error {
	b := t.tx.Bucket(bucketUnthreaded)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("record unthreaded mail: %w", err)
	}
	if err := putJSON(b, u64(seq), u); err != nil {
		return fmt.Errorf("record unthreaded mail: %w", err)
	}
	if _, seen := t.Message(u.MessageID); seen {
		return nil
	}
	return t.RecordMessage(u.MessageID, "")
}

// UnthreadedList returns the mails recorded without a ticket.
func (t *Tx) UnthreadedList() ([]record.Unthreaded, error) {
	var out []record.Unthreaded
	err := t.tx.Bucket(bucketUnthreaded).ForEach(func(_, v []byte) error {
		var u record.Unthreaded
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("decode unthreaded mail: %w", err)
		}
		out = append(out, u)
		return nil
	})
	return out, err
}

// TakeAutoReply counts an automatic reply to sender at now, unless sender
// already had limit of them within window before now; it reports whether the
// reply may go out. It is the last guard against mail loops.
func (t *Tx) TakeAutoReply(sender string, now time.Time, limit int, window time.Duration) (bool, error) {
	b := t.tx.Bucket(bucketAutoReply)
	var times []int64
	if raw := b.Get([]byte(sender)); raw != nil {
		if err := json.Unmarshal(raw, &times); err != nil {
			return false, fmt.Errorf("decode auto-reply count of %s: %w", sender, err)
		}
	}
	cutoff := now.Add(-window).UnixNano()
	kept := times[:0]
	for _, ts := range times {
		if ts > cutoff {
			kept = append(kept, ts)
		}
	}
	if len(kept) >= limit {
		return false, putJSON(b, []byte(sender), kept)
	}
	kept = append(kept, now.UnixNano())
	return true, putJSON(b, []byte(sender), kept)
}

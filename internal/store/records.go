package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Checkpoint is how far the mailbox has been processed: the last UID whose
// mail is committed, under a UIDVALIDITY (RFC 9051 §2.3.1.1: UIDs are only
// stable while UIDVALIDITY is unchanged).
type Checkpoint struct {
	UIDValidity uint32 `json:"uidvalidity"`
	UID         uint32 `json:"uid"`
}

// Checkpoint returns the checkpoint of mailbox (zero when none).
func (t *Tx) Checkpoint(mailbox string) (Checkpoint, error) {
	var cp Checkpoint
	err := getJSON(t.tx.Bucket(bucketCheckpoint), []byte(mailbox), &cp)
	if err == ErrNotFound {
		return Checkpoint{}, nil
	}
	return cp, err
}

// SetCheckpoint records the checkpoint of mailbox.
func (t *Tx) SetCheckpoint(mailbox string, cp Checkpoint) error {
	return putJSON(t.tx.Bucket(bucketCheckpoint), []byte(mailbox), cp)
}

// Quarantined is a mail that could not be turned into a ticket change. The
// raw mail stays in the blob store under RawSHA256 so that an operator can
// re-run it after a fix.
type Quarantined struct {
	ID         uint64    `json:"id"`
	MessageID  string    `json:"message_id"`
	Reason     string    `json:"reason"`
	ReceivedAt time.Time `json:"received_at"`
	RawSHA256  string    `json:"raw_sha256"`
	RawSize    int64     `json:"raw_size"`
	Mailbox    string    `json:"mailbox,omitempty"`
	UID        uint32    `json:"uid,omitempty"`
	// Retries counts operator re-runs that failed again.
	Retries int `json:"retries,omitempty"`
}

// Quarantine records q and returns it with its ID.
func (t *Tx) Quarantine(q Quarantined) (Quarantined, error) {
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
func (t *Tx) Quarantined(id uint64) (Quarantined, error) {
	var q Quarantined
	if err := getJSON(t.tx.Bucket(bucketQuarantine), u64(id), &q); err != nil {
		return q, fmt.Errorf("quarantine record %d: %w", id, err)
	}
	return q, nil
}

// QuarantineList returns every quarantine record, oldest first.
func (t *Tx) QuarantineList() ([]Quarantined, error) {
	var out []Quarantined
	err := t.tx.Bucket(bucketQuarantine).ForEach(func(_, v []byte) error {
		var q Quarantined
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

// Unthreaded is a mail recorded without a ticket: an automatic mail (out of
// office, list, bounce) that belongs to no ticket and must not open one.
type Unthreaded struct {
	MessageID string    `json:"message_id"`
	From      string    `json:"from"`
	Subject   string    `json:"subject"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
	RawSHA256 string    `json:"raw_sha256"`
}

// RecordUnthreaded keeps u and marks its Message-ID as seen.
func (t *Tx) RecordUnthreaded(u Unthreaded) error {
	b := t.tx.Bucket(bucketUnthreaded)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("record unthreaded mail: %w", err)
	}
	if err := putJSON(b, u64(seq), u); err != nil {
		return fmt.Errorf("record unthreaded mail: %w", err)
	}
	return t.RecordMessage(u.MessageID, "")
}

// UnthreadedList returns the mails recorded without a ticket.
func (t *Tx) UnthreadedList() ([]Unthreaded, error) {
	var out []Unthreaded
	err := t.tx.Bucket(bucketUnthreaded).ForEach(func(_, v []byte) error {
		var u Unthreaded
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

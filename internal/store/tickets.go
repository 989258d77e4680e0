package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/ticket"
)

// ticketRecord is a ticket as stored: without its history, which lives in its own
// bucket, but with the length and head of the hash chain so that a removed
// last entry is noticed.
type ticketRecord struct {
	ticket.Ticket
	HistoryLen  int    `json:"history_len"`
	HistoryHead string `json:"history_head"`
	// BodyOpened says the record leaves out Body because it is the text of
	// the opening history entry (schema 4): kept once, under the hash chain.
	BodyOpened bool `json:"body_opened,omitempty"`
}

// NextID allocates the next ticket ID of now's year. IDs are sequential
// within a year, start again at 1 each year, and are never reused.
func (t *Tx) NextID(prefix string, now time.Time) (ticket.ID, error) {
	meta := t.tx.Bucket(bucketMeta)
	year := now.UTC().Year()
	key := []byte("seq/" + strconv.Itoa(year))
	var n uint64
	if raw := meta.Get(key); raw != nil {
		n = binary.BigEndian.Uint64(raw)
	}
	n++
	if err := meta.Put(key, u64(n)); err != nil {
		return "", fmt.Errorf("allocate ticket id: %w", err)
	}
	return ticket.NewID(prefix, year, n), nil
}

// Ticket loads a ticket with its whole history.
func (t *Tx) Ticket(id ticket.ID) (*ticket.Ticket, error) {
	rec, err := t.record(id)
	if err != nil {
		return nil, err
	}
	tk := rec.Ticket
	tk.History, err = t.History(id)
	if err != nil {
		return nil, err
	}
	if rec.BodyOpened {
		if len(tk.History) == 0 || tk.History[0].Kind != ticket.KindOpened {
			return nil, fmt.Errorf("load ticket %s: its body is in the opening entry, which is missing: %w", id, ticket.ErrTampered)
		}
		tk.Body = tk.History[0].Text
	}
	return &tk, nil
}

func (t *Tx) record(id ticket.ID) (*ticketRecord, error) {
	var rec ticketRecord
	if err := getJSON(t.tx.Bucket(bucketTickets), []byte(id), &rec); err != nil {
		return nil, fmt.Errorf("load ticket %s: %w", id, err)
	}
	return &rec, nil
}

// History loads the history entries stored for id, in order.
func (t *Tx) History(id ticket.ID) ([]ticket.Entry, error) {
	prefix := append([]byte(id), 0)
	var out []ticket.Entry
	c := t.tx.Bucket(bucketHistory).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var e ticket.Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("decode history of %s: %w", id, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func historyKey(id ticket.ID, seq int) []byte {
	k := append([]byte(id), 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(k[len(id)+1:], uint32(seq))
	return k
}

// PutTicket stores tk: its fields, the history entries not stored yet
// (history is append-only: stored entries are never rewritten), the
// state/level index with its list row, the index of last changes (by
// [ticket.Ticket.UpdatedAt]), the index of due times (by
// [ticket.Ticket.Due]), and the Message-IDs of its thread.
func (t *Tx) PutTicket(tk *ticket.Ticket) error {
	tickets := t.tx.Bucket(bucketTickets)
	idx := t.tx.Bucket(bucketIndex)
	stored := 0
	var old ticketRecord
	switch err := getJSON(tickets, []byte(tk.ID), &old); {
	case err == nil:
		stored = old.HistoryLen
		if err := idx.Delete(indexKey(old.State, old.Level, tk.ID)); err != nil {
			return fmt.Errorf("update index of %s: %w", tk.ID, err)
		}
		if err := t.tx.Bucket(bucketChanged).Delete(changedKey(old.UpdatedAt, tk.ID)); err != nil {
			return fmt.Errorf("update the index of last changes of %s: %w", tk.ID, err)
		}
		if !old.Due.IsZero() {
			if err := t.tx.Bucket(bucketDue).Delete(dueKey(old.Due, tk.ID)); err != nil {
				return fmt.Errorf("update due index of %s: %w", tk.ID, err)
			}
		}
	case err != record.ErrNotFound:
		return err
	}
	if len(tk.History) < stored {
		return fmt.Errorf("store ticket %s: history has %d entries, %d are stored: history is append-only", tk.ID, len(tk.History), stored)
	}
	if stored > 0 && tk.History[stored-1].Hash != old.HistoryHead {
		return fmt.Errorf("store ticket %s: its history does not extend the %d stored entries (loaded in another transaction?): history is append-only", tk.ID, stored)
	}
	hist := t.tx.Bucket(bucketHistory)
	for _, e := range tk.History[stored:] {
		if err := putJSON(hist, historyKey(tk.ID, e.Seq), e); err != nil {
			return fmt.Errorf("store history of %s: %w", tk.ID, err)
		}
	}
	rec := ticketRecord{Ticket: *tk, HistoryLen: len(tk.History), HistoryHead: tk.Head()}
	rec.History = nil
	if h := tk.History; len(h) > 0 && h[0].Kind == ticket.KindOpened && tk.Body != "" && h[0].Text == tk.Body {
		rec.Body, rec.BodyOpened = "", true
	}
	if err := putJSON(tickets, []byte(tk.ID), rec); err != nil {
		return fmt.Errorf("store ticket %s: %w", tk.ID, err)
	}
	if err := idx.Put(indexKey(tk.State, tk.Level, tk.ID), encodeRow(tk)); err != nil {
		return fmt.Errorf("update index of %s: %w", tk.ID, err)
	}
	if err := t.tx.Bucket(bucketChanged).Put(changedKey(tk.UpdatedAt, tk.ID), nanos(tk.CreatedAt)); err != nil {
		return fmt.Errorf("update the index of last changes of %s: %w", tk.ID, err)
	}
	if !tk.Due.IsZero() {
		if err := t.tx.Bucket(bucketDue).Put(dueKey(tk.Due, tk.ID), nil); err != nil {
			return fmt.Errorf("update due index of %s: %w", tk.ID, err)
		}
	}
	for _, m := range tk.Thread {
		if err := t.RecordMessage(m, tk.ID); err != nil {
			return err
		}
	}
	return nil
}

func indexKey(s ticket.State, l ticket.Level, id ticket.ID) []byte {
	return []byte(string(s) + "\x00" + strconv.Itoa(int(l)) + "\x00" + string(id))
}

// indexedStates lists the states the index holds tickets in, whatever
// they are (a state added to the procedure is listed with no change here).
// It reads one key per state: after each it seeks past that state's keys.
func (t *Tx) indexedStates() []ticket.State {
	var out []ticket.State
	c := t.tx.Bucket(bucketIndex).Cursor()
	for k, _ := c.First(); k != nil; {
		s, _, _ := bytes.Cut(k, []byte{0})
		out = append(out, ticket.State(s))
		k, _ = c.Seek(append([]byte(string(s)), 1)) // the first key after "<state>\x00…"
	}
	return out
}

// VerifyAll checks the hash chain of every ticket's history against what the
// ticket record says, calling bad for each ticket that fails. It returns
// how many tickets it checked.
func (t *Tx) VerifyAll(bad func(id ticket.ID, err error)) (int, error) {
	n := 0
	err := t.tx.Bucket(bucketTickets).ForEach(func(k, v []byte) error {
		var rec ticketRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			bad(ticket.ID(k), fmt.Errorf("%w: the ticket record does not decode: %v", ticket.ErrTampered, err))
			n++
			return nil
		}
		h, err := t.History(rec.ID)
		if err != nil {
			bad(rec.ID, fmt.Errorf("%w: %v", ticket.ErrTampered, err))
		} else if err := ticket.Verify(h, rec.HistoryHead, rec.HistoryLen); err != nil {
			bad(rec.ID, err)
		}
		n++
		return nil
	})
	return n, err
}

// RecordMessage remembers that the mail msgID belongs to ticket id (or to
// no ticket, when id is empty), for dedupe and threading.
func (t *Tx) RecordMessage(msgID string, id ticket.ID) error {
	if msgID == "" {
		return nil
	}
	if err := t.tx.Bucket(bucketMessages).Put([]byte(msgID), []byte(id)); err != nil {
		return fmt.Errorf("record message %s: %w", msgID, err)
	}
	return nil
}

// Message reports whether the mail msgID was seen, and the ticket it
// belongs to (empty when it belongs to none).
func (t *Tx) Message(msgID string) (ticket.ID, bool) {
	if msgID == "" {
		return "", false
	}
	v := t.tx.Bucket(bucketMessages).Get([]byte(msgID))
	if v == nil {
		return "", false
	}
	return ticket.ID(v), true
}

// CountTickets returns how many tickets exist.
func (t *Tx) CountTickets() int { return countKeys(t.tx.Bucket(bucketTickets)) }

// dueKey orders the due index by instant, then ticket ID: 8 bytes of
// big-endian Unix nanoseconds (instants before 1970 sort as 1970), then the
// ID.
func dueKey(at time.Time, id ticket.ID) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(max(at.UnixNano(), 0)))
	return append(k, id...)
}

// Due returns the IDs of up to limit tickets due at or before until,
// earliest first, from the index of due times; a limit below 1 means no
// limit.
func (t *Tx) Due(until time.Time, limit int) []ticket.ID {
	if limit < 1 {
		limit = math.MaxInt
	}
	var out []ticket.ID
	end := uint64(max(until.UnixNano(), 0))
	c := t.tx.Bucket(bucketDue).Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		if len(k) < 8 || binary.BigEndian.Uint64(k[:8]) > end {
			break
		}
		out = append(out, ticket.ID(k[8:]))
	}
	return out
}

// NextDue returns the earliest due instant of any ticket, the zero time
// when none is due: it reads one key.
func (t *Tx) NextDue() time.Time {
	k, _ := t.tx.Bucket(bucketDue).Cursor().First()
	if len(k) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()
}

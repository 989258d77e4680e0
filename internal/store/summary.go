package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketd/ticketd/ticket"
)

// A list row is what the state/level index keeps as the value of each
// ticket's key, so that [Tx.List] reads no ticket record: the fields a
// listing shows or filters on (see [Tx.List]). It is written in a compact
// binary form rather than JSON, since a listing decodes one per ticket:
// a version byte, then each string as a uvarint length and its bytes, the
// level as a uvarint, and each time as a length byte and its
// [time.Time.MarshalBinary] form (length 0 for the zero time).
const rowVersion = 1

var errRow = errors.New("the list row does not decode")

// encodeRow writes t's list row.
func encodeRow(t *ticket.Ticket) []byte {
	b := make([]byte, 1, 128+len(t.Subject))
	b[0] = rowVersion
	for _, s := range []string{string(t.ID), t.Subject, t.Requester.Name, t.Requester.Addr, t.Group, t.Assignee,
		string(t.State), t.Category, string(t.Priority), string(t.RelatedTo)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(t.Level))
	for _, at := range []time.Time{t.CreatedAt, t.UpdatedAt, t.LevelSince, t.StateSince, t.Due} {
		if at.IsZero() {
			b = append(b, 0)
			continue
		}
		n := len(b)
		b, _ = at.AppendBinary(append(b, 0)) // fails only for offsets not in whole minutes
		b[n] = byte(len(b) - n - 1)
	}
	return b
}

// decodeRow reads a list row into t. Its strings share one copy of raw
// (which bbolt owns only for the transaction).
func decodeRow(raw []byte, t *ticket.Ticket) error {
	if len(raw) == 0 || raw[0] != rowVersion {
		return errRow
	}
	s, i := string(raw), 1
	str := func() string {
		n, w := binary.Uvarint(raw[i:])
		if w <= 0 || uint64(len(raw)-i-w) < n {
			i = len(raw) + 1
			return ""
		}
		i += w + int(n)
		return s[i-int(n) : i]
	}
	t.ID, t.Subject, t.Requester.Name, t.Requester.Addr = ticket.ID(str()), str(), str(), str()
	t.Group, t.Assignee, t.State, t.Category = str(), str(), ticket.State(str()), str()
	t.Priority, t.RelatedTo = ticket.Priority(str()), ticket.ID(str())
	if i > len(raw) {
		return errRow
	}
	level, w := binary.Uvarint(raw[i:])
	if w <= 0 {
		return errRow
	}
	t.Level, i = ticket.Level(level), i+w
	for _, at := range []*time.Time{&t.CreatedAt, &t.UpdatedAt, &t.LevelSince, &t.StateSince, &t.Due} {
		if i >= len(raw) || i+1+int(raw[i]) > len(raw) {
			return errRow
		}
		n := int(raw[i])
		if n > 0 {
			if err := at.UnmarshalBinary(raw[i+1 : i+1+n]); err != nil {
				return errRow
			}
		}
		i += 1 + n
	}
	return nil
}

// changedKey orders the index of last changes by the instant a ticket last
// changed ([ticket.Ticket.UpdatedAt]), then its ID; the value is when the
// ticket was created ([nanos]), so that [Tx.Touched] reads no ticket
// outside a period.
func changedKey(at time.Time, id ticket.ID) []byte { return append(nanos(at), id...) }

// migrateRowsV3 fills schema 3's indexes from the ticket records: each
// state/level key gets the ticket's list row, and the index of last
// changes its key.
func migrateRowsV3(tx *bolt.Tx) error {
	idx, changed := tx.Bucket(bucketIndex), tx.Bucket(bucketChanged)
	return tx.Bucket(bucketTickets).ForEach(func(k, v []byte) error {
		var rec ticketRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode ticket %s: %w", k, err)
		}
		tk := &rec.Ticket
		if err := idx.Put(indexKey(tk.State, tk.Level, tk.ID), encodeRow(tk)); err != nil {
			return fmt.Errorf("index ticket %s: %w", k, err)
		}
		if err := changed.Put(changedKey(tk.UpdatedAt, tk.ID), nanos(tk.CreatedAt)); err != nil {
			return fmt.Errorf("index the last change of ticket %s: %w", k, err)
		}
		return nil
	})
}

// nanos is at as 8 bytes of big-endian Unix nanoseconds, instants before
// 1970 (the zero time among them) as 0 and after 2262 as the largest.
func nanos(at time.Time) []byte { return u64(unixNanos(at)) }

func unixNanos(at time.Time) uint64 {
	switch {
	case at.Before(time.Unix(0, 0)):
		return 0
	case at.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return uint64(at.UnixNano())
}

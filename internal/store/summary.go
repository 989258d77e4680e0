package store

import (
	"cmp"
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

// rowReader reads the fields of a list row in order; after a field that
// does not decode, bad is set and every later field reads as empty.
type rowReader struct {
	raw []byte
	i   int
	bad bool
}

// field returns the next string field's bytes.
func (r *rowReader) field() []byte {
	if r.bad {
		return nil
	}
	n, w := binary.Uvarint(r.raw[r.i:])
	if w <= 0 || uint64(len(r.raw)-r.i-w) < n {
		r.bad = true
		return nil
	}
	r.i += w + int(n)
	return r.raw[r.i-int(n) : r.i]
}

// level returns the level field.
func (r *rowReader) level() ticket.Level {
	if r.bad {
		return 0
	}
	n, w := binary.Uvarint(r.raw[r.i:])
	if w <= 0 || n > math.MaxInt32 {
		r.bad = true
		return 0
	}
	r.i += w
	return ticket.Level(n)
}

// instant returns the next time field in its [time.Time.MarshalBinary]
// form, nil for the zero time.
func (r *rowReader) instant() []byte {
	if r.bad || r.i >= len(r.raw) || r.i+1+int(r.raw[r.i]) > len(r.raw) {
		r.bad = true
		return nil
	}
	n := int(r.raw[r.i])
	r.i += 1 + n
	if n == 0 {
		return nil
	}
	return r.raw[r.i-n : r.i]
}

// decodeRow reads a list row into t. Its strings share one copy of raw
// (which bbolt owns only for the transaction).
func decodeRow(raw []byte, t *ticket.Ticket) error {
	if len(raw) == 0 || raw[0] != rowVersion {
		return errRow
	}
	s, r := string(raw), rowReader{raw: raw, i: 1}
	str := func() string {
		b := r.field()
		return s[r.i-len(b) : r.i]
	}
	t.ID, t.Subject, t.Requester.Name, t.Requester.Addr = ticket.ID(str()), str(), str(), str()
	t.Group, t.Assignee, t.State, t.Category = str(), str(), ticket.State(str()), str()
	t.Priority, t.RelatedTo = ticket.Priority(str()), ticket.ID(str())
	t.Level = r.level()
	for _, at := range []*time.Time{&t.CreatedAt, &t.UpdatedAt, &t.LevelSince, &t.StateSince, &t.Due} {
		*at = time.Time{}
		if b := r.instant(); b != nil {
			if err := at.UnmarshalBinary(b); err != nil {
				return errRow
			}
		}
	}
	if r.bad {
		return errRow
	}
	return nil
}

// rowHead is what a listing sorts and selects a row by, read from the row
// without copying (it points into the row): see [skimRow].
type rowHead struct {
	id, group, category []byte
	level               ticket.Level
	created, since      instant
}

// instant is a time as seconds since year 1 and nanoseconds: what
// [time.Time.MarshalBinary] writes, compared without decoding a zone.
type instant struct {
	sec  int64
	nsec int32
}

func instantOf(b []byte) instant {
	if len(b) < 13 {
		return instant{}
	}
	return instant{int64(binary.BigEndian.Uint64(b[1:9])), int32(binary.BigEndian.Uint32(b[9:13]))}
}

func (a instant) compare(b instant) int {
	return cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec))
}

// skimRow reads into h the fields of raw a listing sorts and selects by;
// it allocates nothing.
func skimRow(raw []byte, h *rowHead) error {
	if len(raw) == 0 || raw[0] != rowVersion {
		return errRow
	}
	r := rowReader{raw: raw, i: 1}
	h.id = r.field()
	for range 3 { // subject, requester name and address
		r.field()
	}
	h.group = r.field()
	r.field() // assignee
	r.field() // state
	h.category = r.field()
	r.field() // priority
	r.field() // related to
	h.level = r.level()
	h.created = instantOf(r.instant())
	r.instant() // updated
	h.since = instantOf(r.instant())
	if h.since == (instant{}) {
		h.since = h.created
	}
	if r.bad {
		return errRow
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

package store

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ticketd/ticketd/ticket"
)

// A listing walks the state/level index, whose values are the list rows
// (see summary.go): the tickets of a state, or of a state and level, are
// one run of keys, so listing the open tickets of a level reads neither the
// other tickets nor any ticket record. A row is skimmed in place for what
// the listing selects and sorts by; only the rows handed out are decoded.

// walk calls fn with each index row f's State, Level and Group select, in
// index order (state, level, ID). v is bbolt's, valid for the transaction;
// h points into it.
func (t *Tx) walk(f ticket.Filter, fn func(v []byte, h *rowHead) error) error {
	states := []ticket.State{f.State}
	if f.State == "" {
		states = t.indexedStates()
	}
	c := t.tx.Bucket(bucketIndex).Cursor()
	var h rowHead
	for _, s := range states {
		p := []byte(string(s) + "\x00")
		if f.Level != 0 {
			p = strconv.AppendInt(p, int64(f.Level), 10)
			p = append(p, 0)
		}
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if err := skimRow(v, &h); err != nil {
				return fmt.Errorf("list: index entry %q: %w", k, err)
			}
			if f.Group != "" && string(h.group) != f.Group {
				continue
			}
			if err := fn(v, &h); err != nil {
				return err
			}
		}
	}
	return nil
}

// ranked is a row with the key a listing sorts it by.
type ranked struct {
	at  instant
	id  []byte
	row []byte
}

func (a *ranked) compare(b *ranked) int {
	if c := a.at.compare(b.at); c != 0 {
		return c
	}
	return bytes.Compare(a.id, b.id)
}

func rank(o ticket.Order, v []byte, h *rowHead) ranked {
	if o == ticket.BySince {
		return ranked{h.since, h.id, v}
	}
	return ranked{h.created, h.id, v}
}

// Each calls fn with each ticket f's State, Level and Group select, oldest
// created first (then by ID), as its list row: ID, subject, requester,
// state, level, group, assignee, category, priority, created and updated
// times, the ticket followed up, the level and state since times and the
// due time; no body, attachments, thread, Cc, relay or timer marks, nor
// history ([Tx.Ticket] has them). The ticket is the same value at each
// call, overwritten: fn copies what it keeps. It stops at fn's first
// error and returns it. Nothing is allocated per ticket but its strings.
func (t *Tx) Each(f ticket.Filter, fn func(*ticket.Ticket) error) error {
	var tk ticket.Ticket
	return t.byCreation(f, func(row, id []byte) error {
		if err := decodeRow(row, &tk); err != nil {
			return fmt.Errorf("list: the row of %s: %w", id, err)
		}
		return fn(&tk)
	})
}

// byCreation calls fn with each row f selects, oldest created first, then
// by ID. Rows come in ID order, which is mostly creation order already: a
// first pass counts them and checks, and only when they are not in order
// are they held and sorted.
func (t *Tx) byCreation(f ticket.Filter, fn func(row, id []byte) error) error {
	n, sorted := 0, true
	var prev ranked
	err := t.walk(f, func(v []byte, h *rowHead) error {
		r := rank(ticket.ByCreation, v, h)
		if n > 0 && sorted && prev.compare(&r) > 0 {
			sorted = false
		}
		prev, n = r, n+1
		return nil
	})
	if err != nil {
		return err
	}
	if sorted {
		return t.walk(f, func(v []byte, h *rowHead) error { return fn(v, h.id) })
	}
	rows := make([]ranked, 0, n)
	if err := t.walk(f, func(v []byte, h *rowHead) error {
		rows = append(rows, rank(ticket.ByCreation, v, h))
		return nil
	}); err != nil {
		return err
	}
	slices.SortFunc(rows, func(a, b ranked) int { return a.compare(&b) })
	for i := range rows {
		if err := fn(rows[i].row, rows[i].id); err != nil {
			return err
		}
	}
	return nil
}

// Queues returns the tickets f's State, Level and Group select (and p's
// Category), queue by queue (a level and a group), each with its count and
// the page p asks for in p's order, as list rows (see [Tx.Each]); and the
// categories of the tickets f selects. It skims every selected row once,
// keeping per queue the first p.Offset+p.Limit by a bounded heap, and
// decodes only the rows of the page: what a desk's console shows, page by
// page, of a queue of any length.
func (t *Tx) Queues(f ticket.Filter, p ticket.Page) (ticket.Listing, error) {
	type queue struct {
		level ticket.Level
		group string
		total int
		top   []ranked // a max-heap of the first keep rows
	}
	var qs []*queue
	keep := 0
	if p.Limit > 0 {
		keep = max(p.Offset, 0) + p.Limit
	}
	cats := map[string]bool{}
	cat := []byte(p.Category)
	err := t.walk(f, func(v []byte, h *rowHead) error {
		if len(h.category) > 0 && !cats[string(h.category)] {
			cats[string(h.category)] = true
		}
		if len(cat) > 0 && !bytes.EqualFold(h.category, cat) {
			return nil
		}
		var q *queue
		for _, c := range qs {
			if c.level == h.level && c.group == string(h.group) {
				q = c
				break
			}
		}
		if q == nil {
			q = &queue{level: h.level, group: string(h.group)}
			qs = append(qs, q)
		}
		q.total++
		if keep > 0 {
			q.top = pushBounded(q.top, keep, rank(p.Order, v, h))
		}
		return nil
	})
	if err != nil {
		return ticket.Listing{}, err
	}
	var out ticket.Listing
	for _, q := range qs {
		slices.SortFunc(q.top, func(a, b ranked) int { return a.compare(&b) })
		page := q.top[min(max(p.Offset, 0), len(q.top)):]
		tq := ticket.Queue{Level: q.level, Group: q.group, Total: q.total, Tickets: make([]ticket.Ticket, len(page))}
		for i := range page {
			if err := decodeRow(page[i].row, &tq.Tickets[i]); err != nil {
				return ticket.Listing{}, fmt.Errorf("list: the row of %s: %w", page[i].id, err)
			}
		}
		out.Queues = append(out.Queues, tq)
		out.Total += q.total
	}
	slices.SortFunc(out.Queues, func(a, b ticket.Queue) int {
		if a.Level != b.Level {
			return int(a.Level - b.Level)
		}
		return strings.Compare(a.Group, b.Group)
	})
	for c := range cats {
		out.Categories = append(out.Categories, c)
	}
	slices.Sort(out.Categories)
	return out, nil
}

// pushBounded adds r to the max-heap h of at most n rows, the n first by
// [ranked.compare]: r takes the root's place when it comes before it.
func pushBounded(h []ranked, n int, r ranked) []ranked {
	if len(h) < n {
		h = append(h, r)
		for i := len(h) - 1; i > 0; {
			parent := (i - 1) / 2
			if h[parent].compare(&h[i]) >= 0 {
				break
			}
			h[parent], h[i] = h[i], h[parent]
			i = parent
		}
		return h
	}
	if r.compare(&h[0]) >= 0 {
		return h
	}
	h[0] = r
	for i := 0; ; {
		big, l := i, 2*i+1
		if l < len(h) && h[l].compare(&h[big]) > 0 {
			big = l
		}
		if l+1 < len(h) && h[l+1].compare(&h[big]) > 0 {
			big = l + 1
		}
		if big == i {
			return h
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// List returns what [Tx.Each] walks, as a slice: for listings small enough
// to hold at once (the store tests' and the contract suite's: the daemon's
// consumers read a queue of any size by [Tx.Queues], the whole of a large
// one by [Tx.Each]).
func (t *Tx) List(f ticket.Filter) ([]ticket.Ticket, error) {
	var out []ticket.Ticket
	err := t.Each(f, func(tk *ticket.Ticket) error {
		out = append(out, *tk) // a row holds no slice Each reuses
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

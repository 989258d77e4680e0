package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// Touched calls fn with each ticket, with its whole history, that may have
// a history entry within [from, to): created before to and last changed at
// or after from. It reads one ticket's history at a time, so a period of a
// million tickets never holds more than one history in memory; the ticket
// records themselves are all read (they are small, and hold no history).
// fn must not keep the ticket beyond the call if memory matters; an error
// from fn stops the walk and is returned.
func (t *Tx) Touched(from, to time.Time, fn func(*ticket.Ticket) error) error {
	c := t.tx.Bucket(bucketTickets).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var rec ticketRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode ticket %s: %w", k, err)
		}
		if !rec.CreatedAt.Before(to) || rec.UpdatedAt.Before(from) {
			continue
		}
		tk := rec.Ticket
		h, err := t.History(tk.ID)
		if err != nil {
			return err
		}
		tk.History = h
		if err := fn(&tk); err != nil {
			return err
		}
	}
	return nil
}

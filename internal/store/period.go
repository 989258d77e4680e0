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

var keyMonthlyReport = []byte("report/monthly_sent")

// MonthlyReportSent returns the last month (YYYY-MM) whose report was
// mailed, "" when none was.
func (t *Tx) MonthlyReportSent() string {
	return string(t.tx.Bucket(bucketMeta).Get(keyMonthlyReport))
}

// SetMonthlyReportSent records that the report of month (YYYY-MM) was
// mailed.
func (t *Tx) SetMonthlyReportSent(month string) error {
	if err := t.tx.Bucket(bucketMeta).Put(keyMonthlyReport, []byte(month)); err != nil {
		return fmt.Errorf("record the monthly report of %s as sent: %w", month, err)
	}
	return nil
}

package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// Touched calls fn with each ticket, with its whole history, that may have
// a history entry within [from, to): created before to and last changed at
// or after from, in ID order. It finds them in the index of last changes
// (which also holds each ticket's creation time), so the tickets last
// changed before the period are not read at all, and it reads one
// ticket's history at a time, so a period of a million tickets never holds
// more than one history in memory. fn must not keep the ticket beyond the
// call if memory matters; an error from fn stops the walk and is returned.
func (t *Tx) Touched(from, to time.Time, fn func(*ticket.Ticket) error) error {
	var ids []ticket.ID
	end := unixNanos(to)
	c := t.tx.Bucket(bucketChanged).Cursor()
	for k, v := c.Seek(nanos(from)); k != nil; k, v = c.Next() {
		if len(k) < 8 || len(v) != 8 {
			return fmt.Errorf("the index of last changes has a bad entry %q", k)
		}
		if binary.BigEndian.Uint64(v) < end {
			ids = append(ids, ticket.ID(k[8:]))
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		tk, err := t.Ticket(id)
		if err != nil {
			return err
		}
		if err := fn(tk); err != nil {
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

package report

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

// benchTickets is the size of the benchmark's store: 1,000,000, or
// TICKETD_BENCH_TICKETS for a smaller trial run.
func benchTickets(b *testing.B) int {
	n := 1_000_000
	if s := os.Getenv("TICKETD_BENCH_TICKETS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("TICKETD_BENCH_TICKETS=%q: want a positive number", s)
		}
		n = v
	}
	return n
}

// buildBenchStore writes n small tickets spread evenly over 2025 and 2026
// (about n/24 a month), each opened at level 1; one in two escalated to
// level 2; each resolved; two in three closed.
func buildBenchStore(b *testing.B, path string, n int) *store.DB {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 2 * 365 * 24 * time.Hour / time.Duration(n)
	const batch = 10_000
	for lo := 0; lo < n; lo += batch {
		err := db.Update(context.Background(), func(tx *store.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				at := start.Add(time.Duration(i) * step)
				tk := &ticket.Ticket{ID: ticket.NewID("OTI", at.Year(), uint64(i+1)), Subject: "s", Level: ticket.Level1, Group: "mesa",
					State: ticket.StateOpen, CreatedAt: at}
				tk.Append(ticket.Entry{At: at, Actor: "u@x", Kind: ticket.KindOpened})
				at = at.Add(time.Hour)
				if i%2 == 0 {
					tk.Level, tk.Group = ticket.Level2, "redes"
					tk.Append(ticket.Entry{At: at, Actor: "a@x", Kind: ticket.KindEscalated})
					at = at.Add(time.Duration(i%40) * time.Hour)
				}
				tk.State = ticket.StateResolved
				tk.Append(ticket.Entry{At: at, Actor: "a@x", Kind: ticket.KindResolved})
				if i%3 != 0 {
					tk.State = ticket.StateClosed
					tk.Append(ticket.Entry{At: at.Add(2 * time.Hour), Actor: "a@x", Kind: ticket.KindClosed})
				}
				if err := tx.PutTicket(tk); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkMonthlyReport runs the report of one month (November 2026, by
// level, with targets) over a store of 1,000,000 tickets, built once
// before the timed loop. Run it alone: make bench, or
// go test -run '^$' -bench MonthlyReport -benchtime=1x ./internal/report.
func BenchmarkMonthlyReport(b *testing.B) {
	n := benchTickets(b)
	db := buildBenchStore(b, filepath.Join(b.TempDir(), "bench.db"), n)
	defer db.Close()
	src := store.Bind(db, func(tx *store.Tx) Source { return tx })
	from, to, err := Period("2026-11-01", "2026-11-30", time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{From: from, To: to, By: ByLevel, ServiceLevels: targets}
	var r Report
	b.ReportAllocs()
	for b.Loop() {
		err := src.View(context.Background(), func(s Source) error {
			var err error
			r, err = Run(s, opts)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if r.Opened == 0 || r.Resolved == 0 {
		b.Fatalf("the month's report is empty: %+v", r.Figures)
	}
	b.ReportMetric(float64(n), "tickets")
	b.ReportMetric(float64(r.Opened), "opened_in_month")
}

package app

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
	"github.com/ticketd/ticketd/ticket/sla"
)

// TestMonthlyReportOnceAcrossRestarts: the report of the month just ended
// is mailed on the first business day, once, also after a restart; a
// month whose day the daemon missed goes at its next start.
func TestMonthlyReportOnceAcrossRestarts(t *testing.T) {
	sys := startMail(t)
	cfg := testConfig(t, sys, "")
	cfg.Report.Monthly, cfg.Report.MailTo = true, []string{alertAddr}
	s, err := NewSender(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := filepath.Join(t.TempDir(), "ticketd.db")
	var now time.Time
	// open is one run of the daemon: the store opened, a mailer on it.
	open := func() (*monthlyMail, func()) {
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		dir, err := Directory(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return &monthlyMail{reports: &admin.Reports{Store: reportStore(db), Settings: admin.ReportSettings{Location: time.UTC}, Directory: dir,
			Now: func() time.Time { return now }}, store: newMonthlyStore(db), sender: s, from: fromAddress(cfg), to: cfg.Report.MailTo,
			lang: "es", now: func() time.Time { return now }, log: slog.New(slog.DiscardHandler), every: time.Minute}, func() { db.Close() }
	}
	// A November ticket, so the report has something to say.
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tk := &ticket.Ticket{ID: ticket.NewID("OTI", 2026, 1), Level: ticket.Level1, Group: "mesa", State: ticket.StateOpen, CreatedAt: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	tk.Append(ticket.Entry{At: tk.CreatedAt, Actor: userAddr, Kind: ticket.KindOpened})
	if err := db.Update(t.Context(), func(tx *store.Tx) error { return tx.PutTicket(tk) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	mailed := func() []string {
		ds, _, _ := sys.Deliveries(0)
		var out []string
		for _, d := range ds {
			out = append(out, string(d.Raw))
		}
		return out
	}
	check := func(at time.Time) {
		t.Helper()
		now = at
		m, done := open()
		defer done()
		if err := m.check(t.Context()); err != nil {
			t.Fatalf("check at %v: %v", at, err)
		}
	}
	// The first start with report.monthly: October's report was never
	// sent, November is not over.
	check(time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC))
	if got := mailed(); len(got) != 1 || !strings.Contains(got[0], "2026-10") {
		t.Fatalf("%d mails at the first start, want October's", len(got))
	}
	check(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)) // Tuesday 1 December
	check(time.Date(2026, 12, 1, 8, 10, 0, 0, time.UTC))
	check(time.Date(2026, 12, 15, 8, 0, 0, 0, time.UTC)) // after a restart
	got := mailed()
	if len(got) != 2 {
		t.Fatalf("%d mails after November's, want 2 (October's, November's once)", len(got))
	}
	for _, want := range []string{"Subject: =?UTF-8?q?Indicadores_de_soporte_t=C3=A9cnico,_2026-11?=", "Periodo: 2026-11-01", "Abiertos", "indicadores-2026-11.html", "text/html"} {
		if !strings.Contains(got[1], want) {
			t.Errorf("the November mail lacks %q:\n%s", want, got[1])
		}
	}
	// 1 January 2027 is a Friday; the daemon was down until the 4th.
	check(time.Date(2027, 1, 4, 12, 0, 0, 0, time.UTC))
	if got := mailed(); len(got) != 3 || !strings.Contains(got[2], "2026-12") {
		t.Fatalf("after the missed day: %d mails, want December's", len(got))
	}
	// 1 August 2026 is a Saturday: nothing before Monday the 3rd.
	if d := firstBusinessDay(time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), nil); d.Day() != 3 {
		t.Errorf("first business day of August 2026 = %v, want Monday 3", d)
	}
	// With the sla calendar, a holiday on Monday 3 August moves it to the 4th.
	cal, err := sla.New("mon-fri 07:00-17:00", []string{"2026-08-03"}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if d := firstBusinessDay(time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), cal.Business); d.Day() != 4 {
		t.Errorf("first business day of August 2026 with a holiday on the 3rd = %v, want Tuesday 4", d)
	}
}

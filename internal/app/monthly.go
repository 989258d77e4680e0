package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

// monthlyTx is what the monthly mail keeps in the store: the last month
// it mailed.
type monthlyTx interface {
	MonthlyReportSent() string
	SetMonthlyReportSent(month string) error
}

// monthlyStore is the store of [monthlyMail].
type monthlyStore interface {
	View(ctx context.Context, fn func(monthlyTx) error) error
	Update(ctx context.Context, fn func(monthlyTx) error) error
}

func newMonthlyStore(db *store.DB) monthlyStore {
	return store.Bind(db, func(tx *store.Tx) monthlyTx { return tx })
}

// mailSender delivers one mail; *notify.Sender implements it.
type mailSender interface {
	Send(ctx context.Context, msg *mail.Msg) error
}

// monthlyMail mails the report of the month just ended (report.monthly) to
// report.mail_to on the first business day of each month. It records the
// month in the store once the SMTP server took the mail, so a restart
// neither repeats it nor, when the daemon was down that day, loses it: it
// goes at the next start. A crash between the server taking it and the
// record can send it twice, as for notices. It does not go through the
// outbox, whose notices each belong to a ticket and a point of its
// history; a failed send is tried again at the next check.
type monthlyMail struct {
	reports *admin.Reports
	store   monthlyStore
	sender  mailSender
	from    ticket.Address
	to      []string
	lang    string
	now     func() time.Time
	log     *slog.Logger
	// every is how often Run checks whether a report is due.
	every time.Duration
}

// Run checks at once and then every m.every whether a report is due, and
// mails it; it returns nil when ctx ends.
func (m *monthlyMail) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := m.check(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("monthly report not mailed; trying again later", "err", err, "retry_in", m.every)
		}
		t.Reset(m.every)
	}
}

// firstBusinessDay returns the first business day of the month that
// starts at first: the first day with business time in bt (the sla
// calendar, holidays included), or, when bt is nil, the first Monday to
// Friday.
func firstBusinessDay(first time.Time, bt report.BusinessTime) time.Time {
	for day := first; day.Month() == first.Month(); day = day.AddDate(0, 0, 1) {
		if bt != nil && bt(day, day.AddDate(0, 0, 1)) > 0 || bt == nil && day.Weekday() != time.Saturday && day.Weekday() != time.Sunday {
			return day
		}
	}
	return first
}

// check mails the report of the month before now's when it is due (from
// the first business day on) and not yet sent.
func (m *monthlyMail) check(ctx context.Context) error {
	now := m.now()
	loc := m.reports.Settings.Location
	if loc == nil {
		loc = time.Local
	}
	first, _ := report.MonthOf(now, loc)
	if now.Before(firstBusinessDay(first, m.reports.Settings.Business)) {
		return nil
	}
	start := first.AddDate(0, -1, 0)
	month := start.Format("2006-01")
	var sent string
	if err := m.store.View(ctx, func(tx monthlyTx) error { sent = tx.MonthlyReportSent(); return nil }); err != nil {
		return fmt.Errorf("read the last monthly report sent: %w", err)
	}
	if sent >= month {
		return nil
	}
	r, err := m.reports.Report(ctx, admin.ReportRequest{From: start.Format(time.DateOnly), To: first.AddDate(0, 0, -1).Format(time.DateOnly), By: report.ByLevel})
	if err != nil {
		return fmt.Errorf("compute the report of %s: %w", month, err)
	}
	msg, err := m.message(r, month)
	if err != nil {
		return err
	}
	if err := m.sender.Send(ctx, msg); err != nil {
		return fmt.Errorf("mail the report of %s: %w", month, err)
	}
	if err := m.store.Update(ctx, func(tx monthlyTx) error { return tx.SetMonthlyReportSent(month) }); err != nil {
		return err
	}
	m.log.Info("monthly report mailed", "month", month, "rcpt", m.to)
	return nil
}

// message is the mail of r: the table as text, the page attached.
func (m *monthlyMail) message(r report.Report, month string) (*mail.Msg, error) {
	var text, page bytes.Buffer
	if err := report.Write(&text, r, report.FormatTable, m.lang); err != nil {
		return nil, err
	}
	if err := report.Write(&page, r, report.FormatHTML, m.lang); err != nil {
		return nil, err
	}
	msg, err := notify.PlainMessage(m.from, m.to, report.MailSubject(month, m.lang), text.String())
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s.html", report.MailFile(m.lang), month)
	if err := msg.AttachReader(name, &page, mail.WithFileContentType(mail.TypeTextHTML)); err != nil {
		return nil, fmt.Errorf("attach the report of %s: %w", month, err)
	}
	return msg, nil
}

// newMonthlyMail returns the monthly mail of d's configuration, checking
// every ten minutes.
func (d *Daemon) newMonthlyMail() *monthlyMail {
	return &monthlyMail{
		reports: &admin.Reports{Store: reportStore(d.DB), Settings: ReportSettings(d.Cfg), Directory: d.Directory, Now: d.now},
		store:   newMonthlyStore(d.DB), sender: d.sender, from: fromAddress(d.Cfg), to: d.Cfg.Report.MailTo, lang: d.Cfg.Ticket.Lang,
		now: d.now, log: d.Log.With("component", "report"), every: 10 * time.Minute,
	}
}

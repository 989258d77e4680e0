package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/ticket"
)

// ReportRequest asks for the indicators of a period: From and To are
// dates (YYYY-MM-DD, both inclusive, in the report's time zone); an empty
// From means the first day of the current month, an empty To today.
type ReportRequest struct {
	From string           `json:"from,omitempty"`
	To   string           `json:"to,omitempty"`
	By   report.Dimension `json:"by,omitempty"`
}

// ReportSettings are what reports take from the configuration.
type ReportSettings struct {
	// Location is the time zone of the dates (ticket.timezone); nil means
	// the machine's.
	Location *time.Location
	// Business is the business calendar (sla.business_hours, holidays);
	// nil counts wall-clock time.
	Business report.BusinessTime
	// ServiceLevels holds the targets (sla.targets, targets_by_priority)
	// the desk holds level visits to; nil means none.
	ServiceLevels *ticket.ServiceLevels
}

// ReportStore is the storage reports read: read-only transactions that
// walk the tickets of a period.
type ReportStore interface {
	View(ctx context.Context, fn func(report.Source) error) error
}

// Reports computes reports; [Local] uses one, and the monthly mail too.
type Reports struct {
	Store     ReportStore
	Settings  ReportSettings
	Directory *ticket.Directory
	Now       func() time.Time
}

// Options returns the report options of req at now (the defaults of an
// empty From or To filled in), or an error naming the bad date.
func (rs *Reports) Options(req ReportRequest, now time.Time) (report.Options, error) {
	loc := rs.Settings.Location
	if loc == nil {
		loc = time.Local
	}
	first, _ := report.MonthOf(now, loc)
	if req.From == "" {
		req.From = first.Format(time.DateOnly)
	}
	if req.To == "" {
		req.To = now.In(loc).Format(time.DateOnly)
	}
	by, err := report.ParseDimension(string(req.By))
	if err != nil {
		return report.Options{}, err
	}
	from, to, err := report.Period(req.From, req.To, loc)
	if err != nil {
		return report.Options{}, err
	}
	return report.Options{From: from, To: to, Location: loc, By: by, Business: rs.Settings.Business,
		ServiceLevels: rs.Settings.ServiceLevels, Directory: rs.Directory}, nil
}

// Report computes the report req asks for, in one read-only transaction.
func (rs *Reports) Report(ctx context.Context, req ReportRequest) (report.Report, error) {
	now := time.Now
	if rs.Now != nil {
		now = rs.Now
	}
	opts, err := rs.Options(req, now())
	if err != nil {
		return report.Report{}, badRequest{err}
	}
	var r report.Report
	err = rs.Store.View(ctx, func(src report.Source) error {
		var err error
		r, err = report.Run(src, opts)
		return err
	})
	return r, err
}

// badRequest marks an error of the request itself (answered with 400).
type badRequest struct{ error }

func (b badRequest) Unwrap() error { return b.error }

// Report computes the indicators of a period.
func (l *Local) Report(ctx context.Context, req ReportRequest) (report.Report, error) {
	if l.Reports == nil {
		return report.Report{}, errors.New("reports are not set up on this backend")
	}
	return l.Reports.Report(ctx, req)
}

// Report asks the daemon for the indicators of a period.
func (c *Client) Report(ctx context.Context, req ReportRequest) (report.Report, error) {
	q := url.Values{}
	for k, v := range map[string]string{"from": req.From, "to": req.To, "by": string(req.By)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var r report.Report
	err := c.do(ctx, http.MethodGet, "/api/report?"+q.Encode(), nil, &r)
	return r, err
}

func (s *server) report(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rep, err := s.b.Report(r.Context(), ReportRequest{From: q.Get("from"), To: q.Get("to"), By: report.Dimension(q.Get("by"))})
	var bad badRequest
	if errors.As(err, &bad) {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	s.reply(w, rep, err)
}

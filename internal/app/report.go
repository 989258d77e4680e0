package app

import (
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

// ReportSettings returns what reports take from cfg: the time zone of the
// dates (ticket.timezone), the business calendar (sla.business_hours and
// holidays; 24x7 without an sla section) and the level targets
// (sla.targets; targets_by_priority is not applied to reports).
func ReportSettings(cfg config.Config) admin.ReportSettings {
	loc, err := cfg.Ticket.Location()
	if err != nil { // validated by config.Load
		loc = time.Local
	}
	rs := admin.ReportSettings{Location: loc}
	if !cfg.SLA.Enabled() {
		return rs
	}
	if cal, err := cfg.SLA.Calendar(loc); err == nil { // validated by config.Load
		rs.Business = cal.Business
	}
	rs.Targets = map[ticket.Level]time.Duration{}
	for l, d := range map[ticket.Level]time.Duration{ticket.Level1: cfg.SLA.Targets.Level1, ticket.Level2: cfg.SLA.Targets.Level2, ticket.Level3: cfg.SLA.Targets.Level3} {
		if d > 0 {
			rs.Targets[l] = d
		}
	}
	return rs
}

// reportStore returns db as reports read it.
func reportStore(db *store.DB) admin.ReportStore {
	return store.Bind(db, func(tx *store.Tx) report.Source { return tx })
}

// OpenReports opens the store read-only (failing with store.ErrLocked
// while a daemon holds it) for computing reports; the caller calls close.
func OpenReports(cfg config.Config, now func() time.Time) (rs *admin.Reports, close func() error, err error) {
	dir, err := Directory(cfg)
	if err != nil {
		return nil, nil, err
	}
	db, err := store.Open(storePath(cfg), store.Options{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	return &admin.Reports{Store: reportStore(db), Settings: ReportSettings(cfg), Directory: dir, Now: now}, db.Close, nil
}

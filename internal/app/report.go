package app

import (
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/internal/store"
)

// ReportSettings returns what reports take from cfg: the time zone of the
// dates (ticket.timezone), the business calendar (sla.business_hours and
// holidays; 24x7 without an sla section) and the service levels the desk
// holds level visits to (sla.targets and targets_by_priority).
func ReportSettings(cfg config.Config) admin.ReportSettings {
	loc, err := cfg.Ticket.Location()
	if err != nil { // validated by config.Load
		loc = time.Local
	}
	rs := admin.ReportSettings{Location: loc}
	if sl, err := slaPolicy(cfg); err == nil && sl != nil { // validated by config.Load
		rs.Business = sl.Calendar.Business
		rs.ServiceLevels = sl
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

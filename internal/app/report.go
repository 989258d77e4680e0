package app

import (
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/internal/store"
)

// ReportSettings returns what reports take from cfg: the time zone of the
// dates, the business calendar and the level targets.
func ReportSettings(cfg config.Config) admin.ReportSettings {
	loc, err := cfg.Ticket.Location()
	if err != nil { // validated by config.Load
		loc = time.Local
	}
	return admin.ReportSettings{Location: loc}
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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/internal/store"
)

// loadConfig reads and validates the configuration and logs its warnings.
// Only with secrets does it read the secret files (the mail passwords):
// run, check and demo need them, the commands that read tickets or talk to
// the admin API do not, so an operator who may not read them can run those.
func (c *cli) loadConfig(log *slog.Logger, secrets bool) (config.Config, error) {
	load := config.LoadWithoutSecrets
	if secrets {
		load = config.Load
	}
	cfg, err := load(c.configPath)
	if log != nil {
		for _, w := range cfg.Warnings {
			log.Warn(w)
		}
	}
	if err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// newLogger builds the process logger from the log section.
func newLogger(w io.Writer, lc config.LogConfig) *slog.Logger {
	log, _ := newLevelLogger(w, lc)
	return log
}

// newLevelLogger builds the process logger from the log section, with the
// level that a reload of the configuration sets again.
func newLevelLogger(w io.Writer, lc config.LogConfig) (*slog.Logger, *slog.LevelVar) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(lc.Level)) // validated by config
	lv := new(slog.LevelVar)
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), lv
	}
	return slog.New(slog.NewTextHandler(w, opts)), lv
}

// backend returns how a command reaches the tickets: the running daemon's
// admin API when it answers, else the store opened directly.
func (c *cli) backend(ctx context.Context) (admin.Backend, func(), error) {
	cfg, err := c.loadConfig(nil, false)
	if err != nil {
		return nil, nil, err
	}
	c.loc, _ = cfg.Ticket.Location() // validated by Load
	if cl, err := daemonClient(ctx, cfg); cl != nil || err != nil {
		return cl, func() {}, err
	}
	co, err := app.Open(cfg, newLogger(c.stderr, cfg.Log), time.Now)
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, fmt.Errorf("%w, and its admin API does not answer on %q (admin.listen)", err, cfg.Admin.Listen)
	}
	if err != nil {
		return nil, nil, err
	}
	// Re-runs of quarantined mail check each sender again, as the daemon does.
	senders, _, err := app.NewSenderChecker(cfg, co.Log)
	if err != nil {
		co.DB.Close()
		return nil, nil, err
	}
	loop, err := app.NewLoop(co, senders, nil, nil, nil, time.Now)
	if err != nil {
		co.DB.Close()
		return nil, nil, err
	}
	return &admin.Local{Store: app.AdminStore(co.DB), Service: co.Service, Directory: co.Directory, Retrier: loop, Blobs: co.Blobs}, func() { co.DB.Close() }, nil
}

// daemonClient returns the running daemon's admin API with its token, or
// nil when no daemon answers on admin.listen.
func daemonClient(ctx context.Context, cfg config.Config) (*admin.Client, error) {
	if cfg.Admin.Listen == "" || !admin.NewClient(cfg.Admin.Listen, "").Ping(ctx) {
		return nil, nil
	}
	token, err := admin.ReadToken(cfg.AdminTokenFile())
	if err != nil {
		return nil, fmt.Errorf("the daemon answers on %q (admin.listen), but: %w", cfg.Admin.Listen, err)
	}
	return admin.NewClient(cfg.Admin.Listen, token), nil
}

// reporter is what computes a report: the running daemon, or the store
// opened read-only.
type reporter interface {
	Report(ctx context.Context, req admin.ReportRequest) (report.Report, error)
}

// withReporter runs fn on the running daemon's admin API when it answers,
// else on the store opened read-only.
func (c *cli) withReporter(ctx context.Context, cfg config.Config, fn func(reporter) error) error {
	cl, err := daemonClient(ctx, cfg)
	if err != nil {
		return err
	}
	if cl != nil {
		return fn(cl)
	}
	rs, closeStore, err := app.OpenReports(cfg, time.Now)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w, and its admin API does not answer on %q (admin.listen)", err, cfg.Admin.Listen)
	}
	if err != nil {
		return err
	}
	defer closeStore()
	return fn(rs)
}

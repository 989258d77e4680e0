package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/notify"
)

// reloadable are the settings a reload puts in force at once (a key, or a
// section when it ends in "."); every other setting takes effect at the
// next restart, because it is held by a connection, a listener, the store
// or a goroutine started with it.
var reloadable = []string{
	"groups.", "ticket.relay_limit_per_hour", "notify.", // the rules (service)
	"ticket.lang", "ticket.timezone", "templates.", "smtp.max_attach_total", // the notices (outbox worker)
	"limits.",   // what is unpacked of a mail (intake)
	"log.level", // when the logger's level can change (ticketd run)
	"sla.",      // the timers (the desk; due times computed again)
}

// isReloadable reports whether key takes effect on reload; log.level only
// when the daemon was given a level to set.
func (d *Daemon) isReloadable(key string) bool {
	if key == "log.level" && d.level == nil {
		return false
	}
	for _, r := range reloadable {
		if key == r || strings.HasSuffix(r, ".") && strings.HasPrefix(key, r) {
			return true
		}
	}
	return false
}

// reload reads the configuration file again (SIGHUP) and puts in force
// what can change while running: the groups and their members, the desk's
// limits, the service levels (sla; the timer goroutine then computes every
// open ticket's due time again), the templates and language of the
// notices, the parser's limits and the log level. It logs the keys that changed (never a value), and at
// warn level those that wait for a restart. A configuration that does not
// load or validate, or groups or templates that do not build, change
// nothing: the error is logged and the one in use stays. Only Run's
// goroutine calls it.
func (d *Daemon) reload() error {
	log := d.Log
	if d.applied.File == "" {
		return errors.New("no configuration file to reload (the daemon was started without --config)")
	}
	cfg, err := config.Load(d.applied.File)
	if err != nil { // each problem names the file and the key
		return err
	}
	desk, err := NewDesk(cfg)
	if err != nil {
		return err
	}
	render, err := d.newRenderer(cfg)
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil { // validated by config
		return fmt.Errorf("log.level: %w", err)
	}

	// What a reload applies is compared with the last reload, what waits
	// for a restart with what the daemon started with: it is reported at
	// every reload until the restart.
	var now, later []string
	for _, k := range config.Changed(d.applied, cfg) {
		if d.isReloadable(k) {
			now = append(now, k)
		}
	}
	for _, k := range config.Changed(d.Cfg, cfg) {
		if !d.isReloadable(k) {
			later = append(later, k)
		}
	}
	d.Service.SetDesk(desk)
	if fp := slaFingerprint(cfg); fp != slaFingerprint(d.applied) {
		d.retimeWith(fp)
	}
	d.worker.SetRenderer(render)
	d.loop.SetLimits(ParseLimits(cfg))
	if d.level != nil {
		d.level.Set(level)
	}
	d.applied = cfg

	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	log.Info("configuration reloaded", "file", cfg.File, "changed", now)
	if len(later) > 0 {
		log.Warn("settings changed that only a restart applies; restart ticketd for them", "file", cfg.File, "restart_needed", later)
	}
	return nil
}

// CheckTemplates parses the notices' templates of cfg (the embedded ones
// with the overrides of templates.dir) and renders a sample of each, as
// the daemon does at start and at reload; for `ticketd check`.
func CheckTemplates(cfg config.Config) error {
	_, err := notify.NewRenderer(notify.RendererOptions{From: fromAddress(cfg), Lang: cfg.Ticket.Lang,
		TemplateDir: cfg.Templates.Dir, MaxAttachTotal: cfg.SMTP.MaxAttachTotal})
	return err
}

// CheckDataDir makes sure data_dir exists (creating it as the daemon
// would) and that a file can be written in it; for `ticketd check`.
func CheckDataDir(cfg config.Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(cfg.DataDir, ".ticketd-check-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// retimeWith hands fp to the timer goroutine, replacing one it has not
// taken yet; nothing happens while Run has not started it.
func (d *Daemon) retimeWith(fp string) {
	if d.retime == nil {
		return
	}
	for {
		select {
		case d.retime <- fp:
			return
		default:
			select {
			case <-d.retime:
			default:
			}
		}
	}
}

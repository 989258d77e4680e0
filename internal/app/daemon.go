package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/alert"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/daemon"
	"github.com/ticketd/ticketd/internal/oauth"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/internal/web"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

// Options are what [Build] takes besides the configuration.
type Options struct {
	// Version is logged at start.
	Version string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// FlushTimeout bounds how long [Daemon.Run] waits for the outbox to
	// drain at the end; zero means 10s.
	FlushTimeout time.Duration
	// Level is the level of Logger, set again from log.level when the
	// configuration is reloaded; nil leaves log.level to a restart.
	Level *slog.LevelVar
}

// Daemon is a wired daemon, ready to run.
type Daemon struct {
	*Core
	version string
	now     func() time.Time
	poller  *mailbox.Poller
	sender  *notify.Sender
	// tokens are the OAuth token sources in use (nil entries when none).
	tokens  []*oauth.Token
	worker  *notify.Worker
	loop    *daemon.Loop
	watcher *alert.Watcher // nil without admin.alert_to
	monthly *monthlyMail   // nil without report.monthly
	// warnings are the sender policy's, logged at every start.
	warnings []string
	registry *prometheus.Registry
	admin    http.Handler // nil without admin.listen
	web      *web.Server  // nil without web.listen
	// flushTimeout bounds how long Run waits for the outbox to drain.
	flushTimeout time.Duration
	// level is Options.Level; applied is the configuration in force, as
	// last (re)loaded: only Run's goroutine touches it.
	level   *slog.LevelVar
	applied config.Config
	// retime hands the timer goroutine the sla fingerprint of a reload
	// that changed the sla section, for [rescheduleTimers].
	retime chan string
}

// Build wires the whole daemon from the configuration. It opens the store
// (failing with store.ErrLocked when another daemon holds it) but connects
// to nothing; [Daemon.Run] does, and closes the store when it returns.
func Build(cfg config.Config, o Options) (*Daemon, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FlushTimeout == 0 {
		o.FlushTimeout = 10 * time.Second
	}
	log, now := o.Logger, o.Now
	c, err := Open(cfg, log, now)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Core: c, version: o.Version, now: now, registry: prometheus.NewRegistry(), flushTimeout: o.FlushTimeout,
		level: o.Level, applied: cfg}
	fail := func(err error) (*Daemon, error) {
		c.DB.Close()
		return nil, err
	}
	imapTok, smtpTok := NewToken("imap", cfg.IMAP.OAuth), NewToken("smtp", cfg.SMTP.OAuth)
	d.tokens = []*oauth.Token{imapTok, smtpTok}
	if d.poller, err = NewPoller(cfg, log, imapTok); err != nil {
		return fail(err)
	}
	if d.sender, err = NewSender(cfg, log, smtpTok); err != nil {
		return fail(err)
	}
	render, err := c.newRenderer(cfg)
	if err != nil {
		return fail(err)
	}
	d.worker, err = notify.NewWorker(notify.WorkerOptions{Outbox: store.Outbox{DB: c.DB}, Renderer: render, Sender: d.sender,
		MinBackoff: cfg.Outbox.RetryMin, MaxBackoff: cfg.Outbox.RetryMax, GiveUpAfter: cfg.Outbox.GiveUpAfter, Parallel: cfg.SMTP.Connections, Now: now, Logger: log,
		// d.loop is made below, before any goroutine runs.
		Busy: func() bool { return d.loop.Backlogged() }})
	if err != nil {
		return fail(err)
	}
	senders, warnings, err := NewSenderChecker(cfg, log)
	if err != nil {
		return fail(err)
	}
	d.warnings = warnings
	if cfg.Web.Enabled() {
		if d.web, err = d.webConsole(); err != nil {
			return fail(err)
		}
	}
	if d.loop, err = NewLoop(c, senders, d.poller, d.committed(), daemon.NewMetrics(d.registry), now); err != nil {
		return fail(err)
	}
	if len(cfg.Admin.AlertTo) > 0 {
		d.watcher, err = alert.NewWatcher(alert.Options{After: cfg.Admin.AlertAfter, Mailbox: fmt.Sprintf("%s de %s", cfg.IMAP.Mailbox, cfg.IMAP.Host),
			Status: d.poller.Status, Tokens: d.tokens, Sender: d.sender, From: fromAddress(cfg), To: cfg.Admin.AlertTo, Now: now, Logger: log,
			Outbox: d.outboxStats, StuckAfter: cfg.Outbox.StuckAfter, SMTPError: func() string { return d.worker.Stats().Unavailable }})
		if err != nil {
			return fail(err)
		}
	}
	if cfg.Report.Monthly {
		d.monthly = d.newMonthlyMail()
	}
	d.registerMetrics()
	if cfg.Admin.Listen != "" {
		if d.admin, err = d.adminHandler(); err != nil {
			return fail(err)
		}
	}
	return d, nil
}

// adminHandler builds the admin API with the token of admin.token_file,
// which it creates at the first start; a token file that others may read
// is an error, so the daemon does not start.
func (d *Daemon) adminHandler() (http.Handler, error) {
	token, created, err := admin.LoadOrCreateToken(d.Cfg.AdminTokenFile())
	if err != nil {
		return nil, err
	}
	if created {
		d.Log.Info("admin token created", "file", d.Cfg.AdminTokenFile())
	}
	if !admin.LocalOnly(d.Cfg.Admin.Listen) {
		d.Log.Warn("the admin API may be reachable from other machines", "admin_listen", d.Cfg.Admin.Listen)
	}
	if d.Cfg.Admin.Pprof {
		admin.SampleContention()
	}
	return admin.NewServer(admin.ServerOptions{
		Backend: &admin.Local{Store: AdminStore(d.DB), Service: d.Service, Directory: d.Directory, Retrier: d.loop, Blobs: d.Blobs, OnCommit: d.worker.Kick, Now: d.now,
			Reports: d.reports()},
		Health:   d.health(d.Cfg.Admin.AlertAfter),
		Gatherer: prometheus.Gatherers{d.registry},
		Token:    token,
		Listen:   d.Cfg.Admin.Listen,
		Pprof:    d.Cfg.Admin.Pprof,
		Logger:   d.Log,
	})
}

// newRenderer returns the notices' renderer of cfg (templates, language,
// attachments), on c's blobs, reply tokens and status links.
func (c *Core) newRenderer(cfg config.Config) (*notify.Renderer, error) {
	loc, err := cfg.Ticket.Location()
	if err != nil {
		return nil, fmt.Errorf("ticket.timezone: %w", err)
	}
	dir, err := Directory(cfg) // the names and labels of cfg, also on a reload
	if err != nil {
		return nil, err
	}
	status, err := c.statusLinks()
	if err != nil {
		return nil, err
	}
	return notify.NewRenderer(notify.RendererOptions{
		From: fromAddress(cfg), Lang: cfg.Ticket.Lang, TemplateDir: cfg.Templates.Dir,
		Attachments: c.Blobs.Open, MaxAttachTotal: cfg.SMTP.MaxAttachTotal, ReplyTo: c.replyTo(),
		SupportAddress: cfg.SMTP.SupportAddress, Location: loc, People: dir, StatusURL: status,
	})
}

// replyTo returns the Reply-To of each recipient's notification: the
// support address with that recipient's reply token; nil without tokens.
func (c *Core) replyTo() func(ticket.ID, string, time.Time) string {
	if c.ReplyTokens == nil {
		return nil
	}
	return func(id ticket.ID, rcpt string, at time.Time) string {
		return c.ReplyTokens.Address(c.Cfg.SMTP.SupportAddress, id, rcpt, at)
	}
}

// Run starts the daemon's goroutines (the outbox worker, the poller with
// the intake loop, the timers of the service levels, the alert watcher when admin.alert_to is set, the admin
// API when admin.listen is) and runs until ctx ends or one of them fails;
// meanwhile each SIGHUP reloads the configuration file (see reload.go).
// Then it stops them in order: fetching stops and the mail in hand is
// finished, the timers stop; the worker stops and the outbox is flushed for at most
// FlushTimeout; the alert watcher and the admin API stop; the SMTP
// connection and the store close. It returns only when every goroutine it
// started has returned, with the error of the ones that failed (nil after a
// clean stop). Run is called once; the Daemon is done after it.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.DB.Close()
	defer d.sender.Close()
	cfg, log := d.Cfg, d.Log
	log.Info("ticketd starting", "version", d.version, "mailbox", cfg.IMAP.Mailbox, "imap", fmt.Sprintf("%s:%d", cfg.IMAP.Host, cfg.IMAP.Port),
		"smtp", fmt.Sprintf("%s:%d", cfg.SMTP.Host, cfg.SMTP.Port), "data_dir", cfg.DataDir,
		"command_auth", cfg.Security.CommandAuth, "authserv_id", cfg.Security.AuthservID)
	for _, w := range d.warnings {
		if !slices.Contains(cfg.Warnings, w) { // the configuration's own are logged where it is loaded
			log.Warn(w)
		}
	}

	// SIGHUP reloads the configuration; without this it would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	failed := make(chan struct{}, 1)
	base := context.WithoutCancel(ctx)
	worker := start(base, "outbox worker", failed, d.worker.Run)
	fetch := start(base, "poller", failed, d.loop.Run)
	d.retime = make(chan string, 1)
	d.retime <- slaFingerprint(cfg) // the pass at start, when the store's fingerprint differs
	timers := start(base, "timers", failed, (&timerLoop{svc: d.Service, now: d.now, kick: d.worker.Kick, log: d.Log.With("component", "timers"),
		retime: d.retime, reschedule: func(ctx context.Context, fp string) error {
			_, _, err := rescheduleTimers(ctx, d.DB, d.Service.Desk(), fp, d.Log.With("component", "timers"))
			return err
		}}).Run)
	var alerts, api *task
	if d.watcher != nil {
		alerts = start(base, "alert watcher", failed, d.watcher.Run)
	}
	if cfg.Admin.Listen != "" {
		api = start(base, "admin API", failed, d.serveAdmin)
	}
	var console *task
	if d.web != nil {
		console = start(base, "web console", failed, d.web.Run)
	}
	var monthly *task
	if d.monthly != nil {
		monthly = start(base, "monthly report", failed, d.monthly.Run)
	}

	d.wait(ctx, failed, hup)
	errs := []error{fetch.stop(), timers.stop()}
	log.Info("fetching stopped; flushing the outbox", "timeout", d.flushTimeout)
	errs = append(errs, worker.stop())
	flushCtx, cancel := context.WithTimeout(base, d.flushTimeout)
	if err := d.worker.Flush(flushCtx); err != nil {
		log.Warn("outbox not fully flushed; pending notifications go out at the next start", "err", err)
	}
	cancel()
	errs = append(errs, monthly.stop(), alerts.stop(), api.stop(), console.stop())
	err := errors.Join(errs...)
	if err != nil {
		log.Error("ticketd stopped", "err", err)
	} else {
		log.Info("ticketd stopped")
	}
	return err
}

// wait returns when ctx ends or a part fails, reloading the configuration
// at every SIGHUP meanwhile.
func (d *Daemon) wait(ctx context.Context, failed <-chan struct{}, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			d.Log.Info("stopping")
			return
		case <-failed:
			d.Log.Error("a part of the daemon failed; stopping the others")
			return
		case <-hup:
			if err := d.reload(); err != nil {
				d.Log.Error("configuration not reloaded; the one in use stays", "err", err)
			}
		}
	}
}

// task is one goroutine [Daemon.Run] started.
type task struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done closes
}

// start runs run in a goroutine of its own. Returning before it is
// stopped, with or without an error, is a failure: it is signalled on
// failed so that Run stops the others.
func start(parent context.Context, name string, failed chan<- struct{}, run func(context.Context) error) *task {
	ctx, cancel := context.WithCancel(parent)
	t := &task{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		err := run(ctx)
		if ctx.Err() != nil && err == nil {
			return
		}
		if err == nil {
			err = errors.New("stopped by itself")
		}
		t.err = fmt.Errorf("%s: %w", name, err)
		select {
		case failed <- struct{}{}:
		default:
		}
	}()
	return t
}

// stop cancels the task and waits for its goroutine to return; it returns
// the task's failure, if any. A nil task is a part not started.
func (t *task) stop() error {
	if t == nil {
		return nil
	}
	t.cancel()
	<-t.done
	return t.err
}

// serveAdmin listens on admin.listen and serves the admin API until ctx
// ends; then it lets the requests in hand finish for a few seconds.
func (d *Daemon) serveAdmin(ctx context.Context) error {
	ln, err := admin.Listen(d.Cfg.Admin.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.admin, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	d.Log.Info("admin API listening", "addr", ln.Addr().String())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), adminShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// adminShutdownTimeout bounds how long the admin API's requests in hand
// may take once the daemon stops.
const adminShutdownTimeout = 5 * time.Second

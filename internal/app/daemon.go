package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/alert"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/daemon"
	"github.com/ticketd/ticketd/internal/oauth"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/notify"
)

// Options are what [Build] takes besides the configuration.
type Options struct {
	// Version is logged at start.
	Version string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Daemon is a wired daemon, ready to run.
type Daemon struct {
	*Core
	version string
	now     func() time.Time
	poller  *mailbox.Poller
	sender  *notify.Sender
	// tokens are the OAuth token sources in use (nil entries when none).
	tokens   []*oauth.Token
	worker   *notify.Worker
	loop     *daemon.Loop
	registry *prometheus.Registry
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
	log, now := o.Logger, o.Now
	c, err := Open(cfg, log, now)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Core: c, version: o.Version, now: now, registry: prometheus.NewRegistry()}
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
	render, err := notify.NewRenderer(notify.RendererOptions{
		From: fromAddress(cfg), Lang: cfg.Ticket.Lang, TemplateDir: cfg.Templates.Dir,
		Attachments: c.Blobs.Open, MaxAttachTotal: cfg.SMTP.MaxAttachTotal,
	})
	if err != nil {
		return fail(err)
	}
	d.worker, err = notify.NewWorker(notify.WorkerOptions{Outbox: store.Outbox{DB: c.DB}, Renderer: render, Sender: d.sender,
		MinBackoff: cfg.Outbox.RetryMin, MaxBackoff: cfg.Outbox.RetryMax, Now: now, Logger: log})
	if err != nil {
		return fail(err)
	}
	d.loop, err = daemon.New(daemon.Options{DB: c.DB, Service: c.Service, Blobs: c.Blobs, Fetcher: d.poller, Outbox: d.worker,
		Mailbox: cfg.IMAP.Mailbox, MaxSize: cfg.IMAP.MaxMessageSize, Metrics: daemon.NewMetrics(d.registry), Now: now, Logger: log})
	if err != nil {
		return fail(err)
	}
	d.registerMetrics()
	return d, nil
}

// Run runs the daemon, its admin API and its alert watch until ctx ends,
// then closes the SMTP connection and the store.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.DB.Close()
	defer d.sender.Close()
	cfg, log := d.Cfg, d.Log
	log.Info("ticketd starting", "version", d.version, "mailbox", cfg.IMAP.Mailbox, "imap", fmt.Sprintf("%s:%d", cfg.IMAP.Host, cfg.IMAP.Port),
		"smtp", fmt.Sprintf("%s:%d", cfg.SMTP.Host, cfg.SMTP.Port), "data_dir", cfg.DataDir)
	if cfg.Admin.Listen != "" {
		srv, err := d.adminServer()
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if len(cfg.Admin.AlertTo) > 0 {
		w, err := alert.NewWatcher(alert.Options{After: cfg.Admin.AlertAfter, Mailbox: fmt.Sprintf("%s de %s", cfg.IMAP.Mailbox, cfg.IMAP.Host),
			Status: d.poller.Status, Tokens: d.tokens, Sender: d.sender, From: fromAddress(cfg), To: cfg.Admin.AlertTo, Now: d.now, Logger: log})
		if err != nil {
			return err
		}
		go w.Run(ctx)
	}
	err := d.loop.Run(ctx)
	log.Info("ticketd stopped")
	return err
}

func (d *Daemon) adminServer() (*http.Server, error) {
	ln, err := admin.Listen(d.Cfg.Admin.Listen)
	if err != nil {
		return nil, err
	}
	h := admin.NewServer(admin.ServerOptions{
		Backend:  &admin.Local{DB: d.DB, Service: d.Service, Directory: d.Directory, Retrier: d.loop, Blobs: d.Blobs, OnCommit: d.worker.Kick, Now: d.now},
		Health:   d.health(d.Cfg.Admin.AlertAfter),
		Gatherer: prometheus.Gatherers{d.registry},
		Logger:   d.Log,
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.Log.Error("admin server stopped", "err", err)
		}
	}()
	d.Log.Info("admin API listening", "addr", ln.Addr().String())
	return srv, nil
}

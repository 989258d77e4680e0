package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/blob"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/daemon"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

// loadConfig reads and validates the configuration and logs its warnings.
func (c *cli) loadConfig(log *slog.Logger) (config.Config, error) {
	cfg, err := config.Load(c.configPath)
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
	var level slog.Level
	_ = level.UnmarshalText([]byte(lc.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// directory turns the groups of the configuration into the domain's.
func directory(cfg config.Config) (*ticket.Directory, error) {
	names := make([]string, 0, len(cfg.Groups))
	for n := range cfg.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	groups := make([]ticket.Group, 0, len(names))
	for _, n := range names {
		g := cfg.Groups[n]
		groups = append(groups, ticket.Group{Name: n, Level: ticket.Level(g.Level), Kind: ticket.GroupKind(g.Kind), Members: g.Members, Default: g.Default})
	}
	d, err := ticket.NewDirectory(groups)
	if err != nil {
		return nil, fmt.Errorf("groups in %s: %w", cfg.File, err)
	}
	return d, nil
}

func storePath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "ticketd.db") }

func fromAddress(cfg config.Config) ticket.Address {
	a, err := mail.ParseAddress(cfg.SMTP.From)
	if err != nil { // validated by config
		return ticket.Address{Addr: cfg.SMTP.From}
	}
	return ticket.Address{Name: a.Name, Addr: a.Address}
}

// core is what every way of running ticketd shares: the store, the blobs,
// the rules and the service.
type core struct {
	cfg   config.Config
	log   *slog.Logger
	db    *store.DB
	blobs *blob.Store
	dir   *ticket.Directory
	svc   *service.Service
}

// openCore opens the store (failing with store.ErrLocked when a daemon
// holds it) and builds the rules on it.
func openCore(cfg config.Config, log *slog.Logger, now func() time.Time) (*core, error) {
	dir, err := directory(cfg)
	if err != nil {
		return nil, err
	}
	desk, err := ticket.NewDesk(dir)
	if err != nil {
		return nil, err
	}
	from := fromAddress(cfg)
	_, host, _ := strings.Cut(from.Addr, "@")
	db, err := store.Open(storePath(cfg), store.Options{MessageIDHost: host})
	if err != nil {
		return nil, err
	}
	blobs, err := blob.Open(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		db.Close()
		return nil, err
	}
	svc, err := service.New(service.Options{DB: db, Desk: desk, Prefix: cfg.Ticket.IDPrefix,
		Self:           []string{from.Addr, cfg.SMTP.SupportAddress, cfg.IMAP.Username},
		AutoReplyLimit: cfg.Ticket.AutoReplyLimit, AutoReplyWindow: cfg.Ticket.AutoReplyWindow, Now: now, Logger: log})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &core{cfg: cfg, log: log, db: db, blobs: blobs, dir: dir, svc: svc}, nil
}

// daemonParts is a wired daemon, ready to run.
type daemonParts struct {
	*core
	poller *mailbox.Poller
	sender *notify.Sender
	// tokens are the OAuth token sources in use (nil entries when none).
	tokens   []*oauthToken
	worker   *notify.Worker
	loop     *daemon.Loop
	registry *prometheus.Registry
}

func newPoller(cfg config.Config, log *slog.Logger, tok *oauthToken) (*mailbox.Poller, error) {
	return mailbox.New(mailbox.Options{
		Host: cfg.IMAP.Host, Port: cfg.IMAP.Port, TLS: mailbox.TLSMode(cfg.IMAP.TLS), AllowInsecure: cfg.IMAP.AllowInsecure,
		Username: cfg.IMAP.Username, Password: cfg.IMAP.Password.Reveal(), Auth: mailbox.Auth(cfg.IMAP.Auth),
		Token: tok.tokenFunc(), Mailbox: cfg.IMAP.Mailbox, ProcessedMailbox: cfg.IMAP.ProcessedMailbox,
		PollInterval: cfg.IMAP.PollInterval, IdleRestart: cfg.IMAP.IdleRestart, MaxSize: cfg.IMAP.MaxMessageSize,
		Logger: log,
	})
}

func newSender(cfg config.Config, log *slog.Logger, tok *oauthToken) (*notify.Sender, error) {
	return notify.NewSender(notify.SenderOptions{
		Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: cfg.SMTP.TLS, AllowInsecure: cfg.SMTP.AllowInsecure,
		Username: cfg.SMTP.Username, Password: cfg.SMTP.Password.Reveal(), Auth: cfg.SMTP.Auth,
		Token: tok.tokenFunc(), Logger: log,
	})
}

// buildDaemon wires the whole daemon from the configuration.
func buildDaemon(cfg config.Config, log *slog.Logger, now func() time.Time) (*daemonParts, error) {
	c, err := openCore(cfg, log, now)
	if err != nil {
		return nil, err
	}
	d := &daemonParts{core: c, registry: prometheus.NewRegistry()}
	fail := func(err error) (*daemonParts, error) {
		c.db.Close()
		return nil, err
	}
	imapTok, smtpTok := newOAuthToken("imap", cfg.IMAP.OAuth), newOAuthToken("smtp", cfg.SMTP.OAuth)
	d.tokens = []*oauthToken{imapTok, smtpTok}
	if d.poller, err = newPoller(cfg, log, imapTok); err != nil {
		return fail(err)
	}
	if d.sender, err = newSender(cfg, log, smtpTok); err != nil {
		return fail(err)
	}
	from := fromAddress(cfg)
	render, err := notify.NewRenderer(notify.RendererOptions{
		From: ticket.Address{Name: from.Name, Addr: from.Addr}, Lang: cfg.Ticket.Lang, TemplateDir: cfg.Templates.Dir,
		Attachments: c.blobs.Open, MaxAttachTotal: cfg.SMTP.MaxAttachTotal,
	})
	if err != nil {
		return fail(err)
	}
	d.worker, err = notify.NewWorker(notify.WorkerOptions{Outbox: store.Outbox{DB: c.db}, Renderer: render, Sender: d.sender,
		MinBackoff: cfg.Outbox.RetryMin, MaxBackoff: cfg.Outbox.RetryMax, Now: now, Logger: log})
	if err != nil {
		return fail(err)
	}
	d.loop, err = daemon.New(daemon.Options{DB: c.db, Service: c.svc, Blobs: c.blobs, Fetcher: d.poller, Outbox: d.worker,
		Mailbox: cfg.IMAP.Mailbox, MaxSize: cfg.IMAP.MaxMessageSize, Metrics: daemon.NewMetrics(d.registry), Now: now, Logger: log})
	if err != nil {
		return fail(err)
	}
	d.registerMetrics()
	return d, nil
}

// registerMetrics exposes the worker's, the poller's and the store's
// figures as Prometheus metrics computed at scrape time.
func (d *daemonParts) registerMetrics() {
	counter := func(name, help string, f func() float64) {
		d.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		d.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter("ticketd_notifications_sent_total", "Notifications accepted by the SMTP server.", func() float64 { return float64(d.worker.Stats().Sent) })
	counter("ticketd_notifications_failed_total", "Notifications refused permanently (recorded on the ticket).", func() float64 { return float64(d.worker.Stats().Failed) })
	counter("ticketd_notifications_retried_total", "Temporary notification failures, retried.", func() float64 { return float64(d.worker.Stats().Retried) })
	counter("ticketd_imap_reconnects_total", "IMAP reconnections.", func() float64 { return float64(d.poller.Status().Reconnects) })
	gauge("ticketd_notifications_pending", "Notifications waiting in the outbox.", func() float64 {
		s, _ := d.outboxStats()
		return float64(s.Depth)
	})
	gauge("ticketd_quarantine_size", "Mails in quarantine.", func() float64 { return float64(d.quarantineCount()) })
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

func (d *daemonParts) outboxStats() (store.OutboxStats, error) {
	var s store.OutboxStats
	err := d.db.View(context.Background(), func(tx *store.Tx) error {
		var err error
		s, err = tx.OutboxStats()
		return err
	})
	return s, err
}

func (d *daemonParts) quarantineCount() int {
	n := 0
	_ = d.db.View(context.Background(), func(tx *store.Tx) error {
		n = tx.QuarantineCount()
		return nil
	})
	return n
}

// health computes /healthz: healthy while fetching works.
func (d *daemonParts) health(now func() time.Time, alertAfter time.Duration) func(ctx context.Context) admin.Health {
	return func(ctx context.Context) admin.Health {
		st := d.poller.Status()
		h := admin.Health{Connected: st.Connected, LastFetch: st.LastPoll, LastMail: st.LastFetch, Reconnects: st.Reconnects,
			OldestUnprocessed: st.OldestUnprocessed, Quarantine: d.quarantineCount()}
		if os, err := d.outboxStats(); err == nil {
			h.OutboxDepth = os.Depth
			if !os.Oldest.IsZero() {
				h.OutboxOldestAge = now().Sub(os.Oldest).Seconds()
			}
		}
		h.Healthy, h.Reason = fetchHealthy(st, now(), alertAfter)
		return h
	}
}

// fetchHealthy says whether fetching works: the last successful look at the
// mailbox is recent (within alertAfter, or twice the poll interval at least).
func fetchHealthy(st mailbox.Status, now time.Time, alertAfter time.Duration) (bool, string) {
	switch {
	case st.LastPoll.IsZero() && !st.Connected:
		return false, "the mailbox has not been read yet"
	case !st.LastPoll.IsZero() && now.Sub(st.LastPoll) > alertAfter:
		return false, fmt.Sprintf("the mailbox has not been read for %s", now.Sub(st.LastPoll).Round(time.Second))
	}
	return true, ""
}

// backend returns how a command reaches the tickets: the running daemon's
// admin API when it answers, else the store opened directly.
func (c *cli) backend(ctx context.Context) (admin.Backend, func(), error) {
	cfg, err := c.loadConfig(nil)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Admin.Listen != "" {
		if cl := admin.NewClient(cfg.Admin.Listen); cl.Ping(ctx) {
			return cl, func() {}, nil
		}
	}
	co, err := openCore(cfg, newLogger(c.stderr, cfg.Log), time.Now)
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, fmt.Errorf("%w, and its admin API does not answer on %q (admin.listen)", err, cfg.Admin.Listen)
	}
	if err != nil {
		return nil, nil, err
	}
	loop, err := daemon.New(daemon.Options{DB: co.db, Service: co.svc, Blobs: co.blobs, Mailbox: cfg.IMAP.Mailbox,
		MaxSize: cfg.IMAP.MaxMessageSize, Logger: co.log})
	if err != nil {
		co.db.Close()
		return nil, nil, err
	}
	return &admin.Local{DB: co.db, Service: co.svc, Directory: co.dir, Retrier: loop, Blobs: co.blobs}, func() { co.db.Close() }, nil
}

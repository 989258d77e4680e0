package app

import (
	"fmt"
	"path/filepath"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/internal/web"
	"github.com/ticketd/ticketd/notify/replytoken"
	"github.com/ticketd/ticketd/ticket"
)

// webStore returns db as the web console reads it.
func webStore(db *store.DB) web.Store {
	return store.Bind(db, func(tx *store.Tx) web.Tx { return tx })
}

// webKeyFile holds the secret of the requesters' status links.
func webKeyFile(dataDir string) string { return filepath.Join(dataDir, "web.key") }

// statusKey returns the secret of the requesters' status links,
// <data_dir>/web.key (made with mode 0600 at the first start); nil when
// the console or its status page is off.
func statusKey(cfg config.Config) ([]byte, error) {
	if !cfg.Web.Enabled() || !cfg.Web.StatusPage {
		return nil, nil
	}
	key, err := replytoken.LoadKey(webKeyFile(cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("web status key: %w", err)
	}
	return key, nil
}

// statusLinks returns the links to the status pages the
// acknowledgements carry, on the console of the configuration the daemon
// started with (web.* take effect at a restart, so a reload must not
// point the links elsewhere than the console in use); nil when there is
// no status page.
func (c *Core) statusLinks() (func(ticket.ID) string, error) {
	key, err := statusKey(c.Cfg)
	if key == nil {
		return nil, err
	}
	base := c.Cfg.Web.BaseURL
	return func(id ticket.ID) string { return web.StatusLink(base, key, id) }, nil
}

// webConsole builds the console of the web section: the status links'
// key is <data_dir>/web.key (made with mode 0600 at the first start).
func (d *Daemon) webConsole() (*web.Server, error) {
	cfg := d.Cfg
	loc, err := cfg.Ticket.Location()
	if err != nil {
		return nil, fmt.Errorf("ticket.timezone: %w", err)
	}
	key, err := statusKey(cfg)
	if err != nil {
		return nil, err
	}
	desk, err := NewDesk(cfg)
	if err != nil {
		return nil, err
	}
	var replyTo func(ticket.ID, string) string
	if d.ReplyTokens != nil {
		replyTo = func(id ticket.ID, addr string) string {
			return d.ReplyTokens.Address(cfg.SMTP.SupportAddress, id, addr, d.now())
		}
	}
	return web.New(web.Options{Store: webStore(d.DB), Desk: desk, Blobs: d.Blobs, Mailer: d.sender, From: fromAddress(cfg),
		Support: cfg.SMTP.SupportAddress, ReplyTo: replyTo, Prefix: cfg.Ticket.IDPrefix, Listen: cfg.Web.Listen, BaseURL: cfg.Web.BaseURL,
		SessionIdle: cfg.Web.SessionIdle, StatusKey: key, TrustedHeader: cfg.Web.TrustedHeader, TrustedProxies: cfg.Web.Proxies(),
		StaffSeeAll: cfg.Web.StaffSeeAll, Lang: cfg.Ticket.Lang, Location: loc, Now: d.now, Logger: d.Log,
		Reports: d.reports()})
}

// kicks tells each of its functions that a commit happened.
type kicks []func()

// Kick calls every function.
func (k kicks) Kick() {
	for _, f := range k {
		f()
	}
}

// committed is what the intake loop tells after each commit: the outbox
// worker, and the web console's open pages.
func (d *Daemon) committed() kicks {
	k := kicks{d.worker.Kick}
	if d.web != nil {
		k = append(k, d.web.Changed)
	}
	return k
}

// reports computes the indicators for the admin API and the console.
func (d *Daemon) reports() *admin.Reports {
	return &admin.Reports{Store: reportStore(d.DB), Settings: ReportSettings(d.Cfg), Directory: d.Directory, Now: d.now}
}

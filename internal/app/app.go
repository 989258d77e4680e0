// Package app assembles ticketd from a validated configuration: the store,
// the blobs, the rules and the service ([Open], shared by the operator
// commands that open the store themselves), and the whole daemon ([Build]):
// the mailbox poller, the SMTP sender, the outbox worker, the intake loop,
// the alert watcher, the admin API and the metrics. Its [Daemon] owns every
// long-running goroutine of `ticketd run` and `ticketd demo` and stops them
// in order.
//
// It is a package of its own rather than a part of internal/daemon because
// internal/daemon is the intake (one mail becomes one commit) and knows
// nothing of SMTP, HTTP, alerts or configuration files; app is the one
// place that knows every part and how they are connected.
package app

import (
	"fmt"
	"log/slog"
	"net/mail"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/blob"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/daemon"
	"github.com/ticketd/ticketd/internal/oauth"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/mailbox/parse"
	"github.com/ticketd/ticketd/mailbox/sender"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/notify/replytoken"
	"github.com/ticketd/ticketd/ticket"
)

// Directory turns the groups of the configuration into the domain's.
func Directory(cfg config.Config) (*ticket.Directory, error) {
	names := make([]string, 0, len(cfg.Groups))
	for n := range cfg.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	groups := make([]ticket.Group, 0, len(names))
	for _, n := range names {
		g := cfg.Groups[n]
		groups = append(groups, ticket.Group{Name: n, Level: ticket.Level(g.Level), Kind: ticket.GroupKind(g.Kind), Label: g.Label, Members: g.Members, Default: g.Default})
	}
	d, err := ticket.NewDirectory(groups)
	if err != nil {
		return nil, fmt.Errorf("groups in %s: %w", cfg.File, err)
	}
	return d, nil
}

// NewDesk returns the rules of cfg: its groups, the desk's limits and its
// service levels.
func NewDesk(cfg config.Config) (*ticket.Desk, error) {
	dir, err := Directory(cfg)
	if err != nil {
		return nil, err
	}
	opts := []ticket.DeskOption{ticket.WithRelayLimit(cfg.Ticket.RelayLimitPerHour), ticket.WithRequesterNotices(RequesterNotices(cfg))}
	sl, err := serviceLevels(cfg)
	if err != nil {
		return nil, err
	}
	if sl != nil {
		opts = append(opts, sl)
	}
	return ticket.NewDesk(dir, opts...)
}

// RequesterNotices maps notify.requester onto the desk's notice kinds.
func RequesterNotices(cfg config.Config) map[ticket.NoticeKind]bool {
	out := map[ticket.NoticeKind]bool{}
	for k, on := range cfg.Notify.Requester.Kinds() {
		out[ticket.NoticeKind(k)] = on
	}
	return out
}

// ParseLimits maps the limits section of cfg onto the parser's.
func ParseLimits(cfg config.Config) parse.Limits {
	l := cfg.Limits
	return parse.Limits{Subject: l.SubjectChars, HeaderBytes: l.HeaderBytes, HeaderFields: l.HeaderFields,
		Depth: l.MIMEDepth, Parts: l.MIMEParts, Forwards: l.ForwardDepth}
}

func storePath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "ticketd.db") }

func fromAddress(cfg config.Config) ticket.Address {
	a, err := mail.ParseAddress(cfg.SMTP.From)
	if err != nil { // validated by config
		return ticket.Address{Addr: cfg.SMTP.From}
	}
	return ticket.Address{Name: a.Name, Addr: a.Address}
}

// Core is what every way of running ticketd shares: the store, the blobs,
// the rules and the service.
type Core struct {
	Cfg       config.Config
	Log       *slog.Logger
	DB        *store.DB
	Blobs     *blob.Store
	Directory *ticket.Directory
	Service   *service.Service
	// ReplyTokens makes and checks the reply addresses of notifications;
	// nil unless security.command_auth lists reply_token.
	ReplyTokens *replytoken.Tokens
}

// ReplyTokens returns the reply tokens of the security section, reading
// (at first start making) their key file; nil when security.command_auth
// does not list reply_token.
func ReplyTokens(cfg config.Config) (*replytoken.Tokens, error) {
	if !slices.Contains(cfg.Security.CommandAuth, config.EvidenceReplyToken) {
		return nil, nil
	}
	key, err := replytoken.LoadKey(cfg.Security.ReplyTokenKeyFile)
	if err != nil {
		return nil, fmt.Errorf("security.reply_token_key_file: %w", err)
	}
	return replytoken.New(replytoken.Options{Key: key, TTL: cfg.Security.ReplyTokenTTL, Separator: cfg.Security.ReplyTokenSeparator})
}

// Open opens the store (failing with store.ErrLocked when a daemon holds
// it) and builds the rules on it. The caller closes Core.DB.
func Open(cfg config.Config, log *slog.Logger, now func() time.Time) (*Core, error) {
	desk, err := NewDesk(cfg)
	if err != nil {
		return nil, err
	}
	dir := desk.Directory()
	from := fromAddress(cfg)
	_, host, _ := strings.Cut(from.Addr, "@")
	db, err := store.Open(storePath(cfg), store.Options{})
	if err != nil {
		return nil, err
	}
	blobs, err := blob.Open(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		db.Close()
		return nil, err
	}
	// A crash in the middle of a batch leaves its blobs' temporary files.
	if n, err := blobs.Sweep(time.Hour); err != nil {
		log.Warn("blob store: unfinished writes not removed", "err", err)
	} else if n > 0 {
		log.Info("blob store: unfinished writes of an earlier run removed", "files", n)
	}
	tokens, err := ReplyTokens(cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	var checker service.ReplyTokens
	if tokens != nil { // a nil *Tokens in the interface would not be nil
		checker = tokens
	}
	svc, err := service.New(service.Options{Store: serviceStore(db), Desk: desk, Prefix: cfg.Ticket.IDPrefix, ReplyTokens: checker, MessageIDHost: host,
		Self:           []string{from.Addr, cfg.SMTP.SupportAddress, cfg.IMAP.Username},
		AutoReplyLimit: cfg.Ticket.AutoReplyLimit, AutoReplyWindow: cfg.Ticket.AutoReplyWindow, Now: now, Logger: log})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Core{Cfg: cfg, Log: log, DB: db, Blobs: blobs, Directory: dir, Service: svc, ReplyTokens: tokens}, nil
}

// NewToken returns the OAuth token source of one protocol's section
// ("imap", "smtp"), or nil when it has none.
func NewToken(name string, o config.OAuthConfig) *oauth.Token {
	return oauth.New(name, oauth.Config{TokenFile: o.TokenFile, TokenCommand: o.TokenCommand,
		ClientID: o.ClientID, ClientSecret: o.ClientSecret.Reveal(), TokenURL: o.TokenURL, Scopes: o.Scopes})
}

// NewPoller returns the mailbox poller of the imap section; tok may be nil.
func NewPoller(cfg config.Config, log *slog.Logger, tok *oauth.Token) (*mailbox.Poller, error) {
	rule, since, err := cfg.IMAP.FirstStartRule(time.Local)
	if err != nil {
		return nil, fmt.Errorf("imap.first_start: %w", err)
	}
	return mailbox.New(mailbox.Options{
		Host: cfg.IMAP.Host, Port: cfg.IMAP.Port, TLS: mailbox.TLSMode(cfg.IMAP.TLS), AllowInsecure: cfg.IMAP.AllowInsecure,
		Username: cfg.IMAP.Username, Password: cfg.IMAP.Password.Reveal(), Auth: mailbox.Auth(cfg.IMAP.Auth),
		Token: tok.Func(), Mailbox: cfg.IMAP.Mailbox, ProcessedMailbox: cfg.IMAP.ProcessedMailbox,
		PollInterval: cfg.IMAP.PollInterval, IdleRestart: cfg.IMAP.IdleRestart, MaxSize: cfg.IMAP.MaxMessageSize,
		FirstStart: mailbox.FirstStart{Mode: mailbox.FirstStartMode(rule), Since: since},
		Logger:     log,
	})
}

// NewSenderChecker returns the checker of who sent each mail, from the
// security section, and the warnings its policy asks every start to log.
func NewSenderChecker(cfg config.Config, log *slog.Logger) (*sender.Checker, []string, error) {
	sc := cfg.Security
	p, err := sender.NewPolicy(sc.CommandAuth, sc.AuthservID)
	if err != nil {
		return nil, nil, fmt.Errorf("security section: %w", err)
	}
	c, err := sender.New(sender.Options{Policy: p, Resolver: sc.DNSResolver, DNSTimeout: sc.DNSTimeout, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return c, p.Warnings(), nil
}

// NewLoop returns the intake loop over c's store and service, checking
// senders with senders; fetcher and outbox may be nil for a loop that only
// re-runs quarantined mail. The sender check of one mail, DNS included,
// takes at most security.dns_timeout in all.
func NewLoop(c *Core, senders daemon.SenderChecker, fetcher daemon.Fetcher, outbox daemon.Outbox, metrics *daemon.Metrics, now func() time.Time) (*daemon.Loop, error) {
	cfg := c.Cfg
	return daemon.New(daemon.Options{Store: loopStore(c.DB), Service: c.Service, Blobs: c.Blobs, Senders: senders, VerifyTimeout: cfg.Security.DNSTimeout,
		Fetcher: fetcher, Outbox: outbox, Mailbox: cfg.IMAP.Mailbox, MaxSize: cfg.IMAP.MaxMessageSize, Limits: ParseLimits(cfg),
		Metrics: metrics, Now: now, Logger: c.Log})
}

// NewSender returns the SMTP sender of the smtp section; tok may be nil.
func NewSender(cfg config.Config, log *slog.Logger, tok *oauth.Token) (*notify.Sender, error) {
	return notify.NewSender(notify.SenderOptions{
		Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: cfg.SMTP.TLS, AllowInsecure: cfg.SMTP.AllowInsecure,
		Username: cfg.SMTP.Username, Password: cfg.SMTP.Password.Reveal(), Auth: cfg.SMTP.Auth,
		Token: tok.Func(), Connections: cfg.SMTP.Connections, Logger: log,
	})
}

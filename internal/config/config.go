package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // the zones of ticket.timezone, also in a container without /usr/share/zoneinfo
)

// Config is the whole of ticketd's configuration. [Load] fills it; cmd/ticketd
// copies its sections into each package's Options. The mapstructure tags are
// the keys of config.example.yaml. A Config is plain data, safe to read from
// several goroutines; a copy shares the Groups map and the slices.
type Config struct {
	// DataDir holds the database and the stored mail. Default "./data",
	// relative to the working directory.
	DataDir string `mapstructure:"data_dir"`
	// Ticket says how tickets are numbered and answered.
	Ticket TicketConfig `mapstructure:"ticket"`
	// IMAP is the mailbox requests are read from.
	IMAP IMAPConfig `mapstructure:"imap"`
	// SMTP is the server replies and notices are sent through.
	SMTP SMTPConfig `mapstructure:"smtp"`
	// Groups are the support teams, by name (lowercase, one word).
	Groups map[string]GroupConfig `mapstructure:"groups"`
	// Security says which senders are trusted for commands.
	Security SecurityConfig `mapstructure:"security"`
	// Limits bound what is unpacked of one mail.
	Limits LimitsConfig `mapstructure:"limits"`
	// Templates overrides the built-in mail templates.
	Templates TemplatesConfig `mapstructure:"templates"`
	// Admin is the local status endpoint and the operator alerts.
	Admin AdminConfig `mapstructure:"admin"`
	// Log sets the format and level of ticketd's own log.
	Log LogConfig `mapstructure:"log"`
	// Outbox sets how failed outgoing mail is retried.
	Outbox OutboxConfig `mapstructure:"outbox"`
	// Report is the monthly mail of the indicators.
	Report ReportConfig `mapstructure:"report"`
	// Notify says which notices requesters get.
	Notify NotifyConfig `mapstructure:"notify"`
	// SLA is the service-level policy; absent, no timers run.
	SLA SLAConfig `mapstructure:"sla"`
	// Web is the read-only web console.
	Web WebConfig `mapstructure:"web"`

	// File is the config file that was read, "" when none was.
	File string `mapstructure:"-"`
	// Warnings are problems that do not stop startup but that an operator
	// should fix, such as a file holding a password that others can read.
	// The caller logs them.
	Warnings []string `mapstructure:"-"`
}

// TicketConfig says how tickets are numbered and answered.
type TicketConfig struct {
	// IDPrefix starts every ticket ID ("OTI" gives OTI-2026-000123): 1 to 16
	// ASCII letters or digits, starting with a letter. Default "OTI".
	IDPrefix string `mapstructure:"id_prefix"`
	// Lang is the language of every mail ticketd sends, to requesters and
	// staff alike: "es" (default) or "en".
	Lang string `mapstructure:"lang"`
	// Timezone is the IANA name of the zone dates are shown in (mails, the
	// command line); "" (default) means the machine's local zone. See
	// [TicketConfig.Location].
	Timezone string `mapstructure:"timezone"`
	// AutoReplyLimit is how many automatic mails one address may receive
	// within AutoReplyWindow, a guard against mail loops. Default 10.
	AutoReplyLimit int `mapstructure:"auto_reply_limit"`
	// AutoReplyWindow is the window of AutoReplyLimit. Default 1h.
	AutoReplyWindow time.Duration `mapstructure:"auto_reply_window"`
	// RelayLimitPerHour is how many mails one ticket relays within an hour
	// between the requester and whoever holds it; past it, and on a loop,
	// mails are recorded but not relayed. Default 20.
	RelayLimitPerHour int `mapstructure:"relay_limit_per_hour"`
}

// The values of [IMAPConfig.TLS] and [SMTPConfig.TLS].
const (
	TLSImplicit = "implicit" // TLS from the first byte (RFC 8314)
	TLSStartTLS = "starttls" // clear text upgraded with STARTTLS
	TLSNone     = "none"     // clear text: loopback only unless allow_insecure
)

// The values of [IMAPConfig.Auth] and [SMTPConfig.Auth].
const (
	AuthNone        = ""            // SMTP only: no authentication
	AuthPlain       = "plain"       // username and password (IMAP LOGIN or SASL PLAIN)
	AuthLogin       = "login"       // SMTP only: SASL LOGIN
	AuthXOAUTH2     = "xoauth2"     // OAuth 2.0 token, Google and Microsoft 365
	AuthOAuthBearer = "oauthbearer" // IMAP only: OAuth 2.0 token, RFC 7628
)

// IMAPConfig is the mailbox requests are read from.
type IMAPConfig struct {
	// Host is the server's name or IP address. Required.
	Host string `mapstructure:"host"`
	// Port is the TCP port. Zero in the file means the default of the TLS
	// mode, and [Load] replaces it: 993 for implicit, 143 otherwise.
	Port int `mapstructure:"port"`
	// TLS is "implicit" (default), "starttls" or "none".
	TLS string `mapstructure:"tls"`
	// AllowInsecure permits TLS "none" to a host that is not a loopback
	// address. Default false.
	AllowInsecure bool `mapstructure:"allow_insecure"`
	// Username is the login name, also sent with the OAuth mechanisms.
	Username string `mapstructure:"username"`
	// Password is the password for auth "plain". [Load] fills it from
	// PasswordFile when that is set.
	Password Secret `mapstructure:"password"`
	// PasswordFile names a file holding the password.
	PasswordFile string `mapstructure:"password_file"`
	// Auth is "plain" (default), "xoauth2" or "oauthbearer".
	Auth string `mapstructure:"auth"`
	// OAuth says where the access token comes from for the OAuth mechanisms.
	OAuth OAuthConfig `mapstructure:"oauth"`
	// Mailbox is the mailbox to read. Default "INBOX".
	Mailbox string `mapstructure:"mailbox"`
	// ProcessedMailbox, if set, is where processed mail is moved; "" means
	// processed mail stays and is only flagged \Seen.
	ProcessedMailbox string `mapstructure:"processed_mailbox"`
	// PollInterval is how often the mailbox is checked when IDLE is not
	// available. Default 1m; must be positive.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// IdleRestart is how long one IDLE command lasts before it is renewed
	// (RFC 2177 asks for less than 29 minutes). Default 25m.
	IdleRestart time.Duration `mapstructure:"idle_restart"`
	// MaxMessageSize is the most bytes of one mail fetched and kept; a
	// larger mail still opens or threads its ticket from its headers and
	// first part, with a history note that the rest was not kept. Default
	// 36 MiB: a mail carrying 25 MiB of attachments is about 34 MiB.
	MaxMessageSize int64 `mapstructure:"max_message_size"`
	// FirstStart says which of the mails already in the mailbox the first
	// start takes (when the store has no checkpoint for it): "unseen"
	// (default: those not yet marked read), "all", "new" (none: only what
	// arrives afterwards) or a date YYYY-MM-DD (those that arrived from that
	// day on, in the machine's local time zone). See [IMAPConfig.FirstStartRule].
	FirstStart string `mapstructure:"first_start"`
}

// The rules of [IMAPConfig.FirstStart] other than a date.
const (
	FirstStartUnseen = "unseen"
	FirstStartAll    = "all"
	FirstStartNew    = "new"
	// FirstStartSince is what [IMAPConfig.FirstStartRule] returns for a date.
	FirstStartSince = "since"
)

// FirstStartRule returns the rule of FirstStart: "unseen", "all", "new", or
// "since" with the first instant taken (midnight of the date in loc).
func (i IMAPConfig) FirstStartRule(loc *time.Location) (rule string, since time.Time, err error) {
	switch v := strings.ToLower(strings.TrimSpace(i.FirstStart)); v {
	case FirstStartUnseen, FirstStartAll, FirstStartNew:
		return v, time.Time{}, nil
	default:
		d, err := time.ParseInLocation(time.DateOnly, v, loc)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("%q: must be unseen, all, new or a date YYYY-MM-DD", i.FirstStart)
		}
		return FirstStartSince, d, nil
	}
}

// OAuthConfig says where an OAuth 2.0 access token comes from. For the OAuth
// mechanisms exactly one source must be set: TokenFile, TokenCommand, or the
// client-credentials flow (ClientID, a client secret and TokenURL). The
// token itself is fetched at connection time by the caller, not by [Load].
type OAuthConfig struct {
	// TokenFile names a file holding a current access token, kept fresh by
	// another program. It is re-read for every connection.
	TokenFile string `mapstructure:"token_file"`
	// TokenCommand is a shell command that prints a current access token.
	TokenCommand string `mapstructure:"token_command"`
	// ClientID is the application's ID for the client-credentials flow.
	ClientID string `mapstructure:"client_id"`
	// ClientSecret is the application's secret for the client-credentials
	// flow. [Load] fills it from ClientSecretFile when that is set.
	ClientSecret Secret `mapstructure:"client_secret"`
	// ClientSecretFile names a file holding the client secret.
	ClientSecretFile string `mapstructure:"client_secret_file"`
	// TokenURL is the token endpoint of the client-credentials flow, e.g.
	// https://login.microsoftonline.com/TENANT/oauth2/v2.0/token.
	TokenURL string `mapstructure:"token_url"`
	// Scopes are requested with the client-credentials flow, e.g.
	// https://outlook.office365.com/.default.
	Scopes []string `mapstructure:"scopes"`
}

// IsZero reports whether no OAuth setting is made.
func (o OAuthConfig) IsZero() bool {
	return o.TokenFile == "" && o.TokenCommand == "" && !o.clientCredentials()
}

// clientCredentials reports whether any setting of the client-credentials
// flow is made.
func (o OAuthConfig) clientCredentials() bool {
	return o.ClientID != "" || o.ClientSecret != "" || o.ClientSecretFile != "" ||
		o.TokenURL != "" || len(o.Scopes) > 0
}

// SMTPConfig is the server replies and notices are sent through.
type SMTPConfig struct {
	// Host is the server's name or IP address. Required.
	Host string `mapstructure:"host"`
	// Port is the TCP port. Zero in the file means the default of the TLS
	// mode, and [Load] replaces it: 465 implicit, 587 starttls, 25 none.
	Port int `mapstructure:"port"`
	// TLS is "starttls" (default), "implicit" or "none".
	TLS string `mapstructure:"tls"`
	// AllowInsecure permits TLS "none" to a host that is not a loopback
	// address. Default false.
	AllowInsecure bool `mapstructure:"allow_insecure"`
	// Username is the login name.
	Username string `mapstructure:"username"`
	// Password is the password for auth "plain" and "login". [Load] fills
	// it from PasswordFile when that is set.
	Password Secret `mapstructure:"password"`
	// PasswordFile names a file holding the password.
	PasswordFile string `mapstructure:"password_file"`
	// Auth is "" (default: no authentication), "plain", "login" or
	// "xoauth2".
	Auth string `mapstructure:"auth"`
	// OAuth says where the access token comes from for "xoauth2".
	OAuth OAuthConfig `mapstructure:"oauth"`
	// From is the From of every mail sent, an address that may carry a
	// display name: "Mesa de servicios OTI <soporte.oti@example.gov.co>".
	// Required.
	From string `mapstructure:"from"`
	// SupportAddress is the Reply-To of every mail sent, a bare address
	// (with reply tokens, the base of each recipient's reply address).
	// Default: the address of From.
	SupportAddress string `mapstructure:"support_address"`
	// MaxAttachTotal is the most bytes of the request's files forwarded
	// with one assignment mail; 0 forwards none. Default (key left out)
	// 10 MiB.
	MaxAttachTotal int64 `mapstructure:"max_attach_total"`
	// Connections is how many SMTP connections the outbox delivers over at
	// once, one notice at a time each, never two of one ticket to one
	// recipient; 1 delivers one notice after the other. Default 3.
	Connections int `mapstructure:"connections"`
}

// The values of [GroupConfig.Kind].
const (
	KindDesk       = "desk"       // the service desk (level 1)
	KindOnSite     = "onsite"     // on-site support
	KindSpecialist = "specialist" // OTI specialists
	KindProvider   = "provider"   // a contracted third party
)

// GroupConfig is one support team. Its name is its key in [Config.Groups].
type GroupConfig struct {
	// Level is 1 (the service desk), 2 or 3. Required.
	Level int `mapstructure:"level"`
	// Members are the addresses of the people in the group; each may carry
	// a display name.
	Members []string `mapstructure:"members"`
	// Label is what mails call the group ("Redes y comunicaciones"); ""
	// means its name.
	Label string `mapstructure:"label"`
	// Kind is "desk", "onsite", "specialist" or "provider"; "" leaves the
	// choice to the ticket package (desk at level 1, specialist otherwise).
	Kind string `mapstructure:"kind"`
	// Default marks the group that receives escalations to its level that
	// name no group. At most one per level.
	Default bool `mapstructure:"default"`
}

// NotifyConfig says which notices requesters get.
type NotifyConfig struct {
	// Requester turns requester notices on or off by kind.
	Requester RequesterNotices `mapstructure:"requester"`
}

// RequesterNotices turns each notice a requester may get on (the default)
// or off; the keys are the notice kinds (package ticket's NoticeKind).
type RequesterNotices struct {
	Ack          bool `mapstructure:"ack"`
	LevelChanged bool `mapstructure:"level_changed"`
	Resolved     bool `mapstructure:"resolved"`
	Closed       bool `mapstructure:"closed"`
	ReopenedUser bool `mapstructure:"reopened_user"`
	Reply        bool `mapstructure:"reply"`
}

// Kinds returns each notice kind with whether it is on.
func (r RequesterNotices) Kinds() map[string]bool {
	return map[string]bool{"ack": r.Ack, "level_changed": r.LevelChanged, "resolved": r.Resolved,
		"closed": r.Closed, "reopened_user": r.ReopenedUser, "reply": r.Reply}
}

// Location returns the zone of Timezone: time.Local when it is "". The
// zone database is built into the binary, so a minimal container has it.
func (t TicketConfig) Location() (*time.Location, error) {
	if t.Timezone == "" {
		return time.Local, nil
	}
	return time.LoadLocation(t.Timezone)
}

// TemplatesConfig overrides the built-in mail templates.
type TemplatesConfig struct {
	// Dir is a directory of templates that replace the built-in ones of the
	// same name; "" means built-in templates only.
	Dir string `mapstructure:"dir"`
}

// AdminConfig is the local status endpoint and the operator alerts.
type AdminConfig struct {
	// Listen is where the admin HTTP endpoint listens: "host:port" or
	// "unix:/path/to/socket". Default "127.0.0.1:8025"; "" disables it.
	Listen string `mapstructure:"listen"`
	// TokenFile holds the secret every admin API request must carry
	// (Authorization: Bearer); the daemon creates it with mode 0600 at
	// its first start and refuses to start when group or others may read
	// it. "" (the default) means <data_dir>/admin.token: see
	// [Config.AdminTokenFile].
	TokenFile string `mapstructure:"token_file"`
	// Pprof serves Go's profiling endpoints (/debug/pprof/) on the admin
	// API, behind the same token as every other admin request. Default
	// true: a slow daemon is best profiled while it is slow, without a
	// restart, and whoever holds the token can already copy the whole
	// store.
	Pprof bool `mapstructure:"pprof"`
	// AlertTo are the addresses told when fetching mail keeps failing.
	// Empty means no alert mail.
	AlertTo []string `mapstructure:"alert_to"`
	// AlertAfter is how long fetching must fail before AlertTo is mailed,
	// once per outage. Default 15m.
	AlertAfter time.Duration `mapstructure:"alert_after"`
}

// AdminTokenFile is the admin token's file: admin.token_file, or
// admin.token in the data directory when that is "".
func (c Config) AdminTokenFile() string {
	if c.Admin.TokenFile != "" {
		return c.Admin.TokenFile
	}
	return filepath.Join(c.DataDir, "admin.token")
}

// LogConfig sets the format and level of ticketd's own log.
type LogConfig struct {
	// Format is "text" (default) or "json".
	Format string `mapstructure:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `mapstructure:"level"`
}

// OutboxConfig sets how failed outgoing mail is retried (with exponential
// backoff from RetryMin up to RetryMax between attempts), when it is given
// up and when the outbox counts as stuck.
type OutboxConfig struct {
	// RetryMin is the first wait after a failed send. Default 5s.
	RetryMin time.Duration `mapstructure:"retry_min"`
	// RetryMax caps the wait between attempts. Default 30m.
	RetryMax time.Duration `mapstructure:"retry_max"`
	// GiveUpAfter is how long after it was committed a notice that keeps
	// failing is given up and recorded as a delivery failure on its
	// ticket. Default 72h.
	GiveUpAfter time.Duration `mapstructure:"give_up_after"`
	// StuckAfter is how old the oldest notice waiting may get before
	// /healthz reports unhealthy and admin.alert_to is told. Default 15m.
	StuckAfter time.Duration `mapstructure:"stuck_after"`
}

// Default returns the built-in defaults. They are not a valid configuration
// by themselves: imap.host, smtp.host, smtp.from, the credentials and a
// level-1 group have no default. Ports are 0 (the default of the TLS mode).
func Default() Config {
	return Config{
		DataDir: "./data",
		Ticket: TicketConfig{
			IDPrefix:          "OTI",
			Lang:              "es",
			AutoReplyLimit:    10,
			AutoReplyWindow:   time.Hour,
			RelayLimitPerHour: 20,
		},
		IMAP: IMAPConfig{
			TLS:            TLSImplicit,
			Auth:           AuthPlain,
			OAuth:          OAuthConfig{Scopes: []string{}},
			Mailbox:        "INBOX",
			PollInterval:   time.Minute,
			IdleRestart:    25 * time.Minute,
			MaxMessageSize: 36 << 20,
			FirstStart:     FirstStartUnseen,
		},
		SMTP: SMTPConfig{
			TLS:            TLSStartTLS,
			Auth:           AuthNone,
			OAuth:          OAuthConfig{Scopes: []string{}},
			MaxAttachTotal: 10 << 20,
			Connections:    3,
		},
		Security: defaultSecurity(),
		Limits:   defaultLimits(),
		Admin: AdminConfig{
			Listen:     "127.0.0.1:8025",
			Pprof:      true,
			AlertTo:    []string{},
			AlertAfter: 15 * time.Minute,
		},
		Log:    LogConfig{Format: "text", Level: "info"},
		Outbox: OutboxConfig{RetryMin: 5 * time.Second, RetryMax: 30 * time.Minute, GiveUpAfter: 72 * time.Hour, StuckAfter: 15 * time.Minute},
		Report: ReportConfig{MailTo: []string{}},
		Notify: NotifyConfig{Requester: RequesterNotices{Ack: true, LevelChanged: true, Resolved: true, Closed: true, ReopenedUser: true, Reply: true}},
		SLA:    SLAConfig{Holidays: []string{}},
		Web:    defaultWeb(),
	}
}

package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how the connection to the IMAP server is protected.
type TLSMode string

// The TLS modes. The zero value "" means [TLSImplicit].
const (
	// TLSImplicit speaks TLS from the first byte (RFC 8314, port 993).
	TLSImplicit TLSMode = "implicit"
	// TLSStartTLS connects in clear text and upgrades with STARTTLS
	// (RFC 3501 §6.2.1, port 143) before authenticating.
	TLSStartTLS TLSMode = "starttls"
	// TLSNone sends everything, password included, in clear text. It is
	// accepted only for loopback hosts unless [Options.AllowInsecure] is set.
	TLSNone TLSMode = "none"
)

// Auth is the authentication mechanism.
type Auth string

// The authentication mechanisms. The zero value "" means [AuthPlain].
const (
	// AuthPlain sends Username and Password with LOGIN, or with
	// AUTHENTICATE PLAIN when the server advertises LOGINDISABLED.
	AuthPlain Auth = "plain"
	// AuthXOAUTH2 sends an OAuth 2.0 access token with the XOAUTH2
	// mechanism of Google and Microsoft 365.
	AuthXOAUTH2 Auth = "xoauth2"
	// AuthOAuthBearer sends an OAuth 2.0 access token with OAUTHBEARER
	// (RFC 7628).
	AuthOAuthBearer Auth = "oauthbearer"
)

// Defaults applied by [New] to zero fields of [Options].
const (
	// DefaultPollInterval is the default [Options.PollInterval].
	DefaultPollInterval = time.Minute
	// DefaultIdleRestart is the default [Options.IdleRestart].
	DefaultIdleRestart = 25 * time.Minute
	// DefaultMaxSize is the default [Options.MaxSize]: 36 MiB, so that a
	// mail carrying 25 MiB of attachments (about 34 MiB in base64 on the
	// wire, what Gmail and Outlook let a user attach) is kept whole.
	DefaultMaxSize = 36 << 20
	// DefaultBackoffMin is the default [Options.BackoffMin].
	DefaultBackoffMin = time.Second
	// DefaultBackoffMax is the default [Options.BackoffMax].
	DefaultBackoffMax = 5 * time.Minute
	// DefaultCommandTimeout is the default [Options.CommandTimeout].
	DefaultCommandTimeout = time.Minute
)

// Options configures a [Poller]. The zero value of each field is documented
// with it; Host, Username and a credential are required.
type Options struct {
	// Host is the IMAP server's host name or IP address.
	Host string
	// Port is the TCP port; zero means 993 for [TLSImplicit] and 143
	// otherwise.
	Port int
	// TLS is the transport protection; "" means [TLSImplicit].
	TLS TLSMode
	// AllowInsecure permits [TLSNone] to a host that is not a loopback
	// address (127.0.0.0/8, ::1, localhost).
	AllowInsecure bool
	// TLSConfig is used for implicit TLS and STARTTLS. Nil means the system
	// roots verify the certificate for Host. A config without ServerName
	// gets Host.
	TLSConfig *tls.Config

	// Username is the login name, also sent with the OAuth mechanisms.
	Username string
	// Password is used by [AuthPlain].
	Password string
	// Auth is the mechanism; "" means [AuthPlain].
	Auth Auth
	// Token returns a current OAuth 2.0 access token for [AuthXOAUTH2] and
	// [AuthOAuthBearer]. It is called on every connection, so it should cache
	// and refresh tokens itself.
	Token func(ctx context.Context) (string, error)

	// Mailbox is the mailbox to read; "" means INBOX.
	Mailbox string
	// ProcessedMailbox, if set, is where processed mail is moved (it is
	// created if missing). "" means processed mail is only flagged \Seen.
	ProcessedMailbox string

	// FirstStart says which of the messages already in the mailbox are
	// taken when the caller has no checkpoint (and after a UIDVALIDITY
	// change); the zero value takes the unseen ones.
	FirstStart FirstStart

	// PollInterval is the delay between checks when the server lacks IDLE,
	// and the safety re-check while idling; zero means [DefaultPollInterval].
	PollInterval time.Duration
	// IdleRestart is how long one IDLE command may last before it is
	// re-issued (RFC 2177 asks for less than 29 minutes); zero means
	// [DefaultIdleRestart].
	IdleRestart time.Duration
	// MaxSize is the largest number of bytes fetched per message; larger
	// messages are fetched partially and marked [Message.Truncated]. Zero
	// means [DefaultMaxSize].
	MaxSize int64
	// CommandTimeout bounds how long the poller waits for the server to
	// answer a command or to connect; zero means [DefaultCommandTimeout].
	// The time a [Handler] spends is not counted.
	CommandTimeout time.Duration

	// BackoffMin and BackoffMax bound the jittered exponential delay before
	// reconnecting or retrying after a handler error; zero means
	// [DefaultBackoffMin] and [DefaultBackoffMax].
	BackoffMin, BackoffMax time.Duration

	// Logger receives the poller's logs; nil means slog.Default().
	Logger *slog.Logger
	// DebugWriter, if set, receives the raw IMAP traffic. It includes
	// credentials: enable it only for troubleshooting.
	DebugWriter io.Writer
}

// withDefaults validates opts and returns a copy with defaults applied.
func (opts Options) withDefaults() (Options, error) {
	var errs []error
	if opts.Host == "" {
		errs = append(errs, errors.New("host is required"))
	}
	if opts.TLS == "" {
		opts.TLS = TLSImplicit
	}
	switch opts.TLS {
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("tls mode %q: want implicit, starttls or none", opts.TLS))
	}
	if opts.TLS == TLSNone && !opts.AllowInsecure && opts.Host != "" && !isLoopback(opts.Host) {
		errs = append(errs, fmt.Errorf("tls mode none to %q: clear text is allowed only to loopback hosts unless AllowInsecure is set", opts.Host))
	}
	if opts.Port == 0 {
		if opts.TLS == TLSImplicit {
			opts.Port = 993
		} else {
			opts.Port = 143
		}
	}
	if opts.Port < 0 || opts.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d: out of range", opts.Port))
	}
	if opts.Username == "" {
		errs = append(errs, errors.New("username is required"))
	}
	if opts.Auth == "" {
		opts.Auth = AuthPlain
	}
	switch opts.Auth {
	case AuthPlain:
		if opts.Password == "" {
			errs = append(errs, errors.New("password is required for plain authentication"))
		}
	case AuthXOAUTH2, AuthOAuthBearer:
		if opts.Token == nil {
			errs = append(errs, fmt.Errorf("auth %s needs a token source", opts.Auth))
		}
	default:
		errs = append(errs, fmt.Errorf("auth %q: want plain, xoauth2 or oauthbearer", opts.Auth))
	}
	if opts.Mailbox == "" {
		opts.Mailbox = "INBOX"
	}
	if opts.ProcessedMailbox != "" && strings.EqualFold(opts.ProcessedMailbox, opts.Mailbox) {
		errs = append(errs, fmt.Errorf("processed mailbox %q: must differ from the mailbox read", opts.ProcessedMailbox))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"poll interval", &opts.PollInterval, DefaultPollInterval},
		{"idle restart", &opts.IdleRestart, DefaultIdleRestart},
		{"command timeout", &opts.CommandTimeout, DefaultCommandTimeout},
		{"backoff min", &opts.BackoffMin, DefaultBackoffMin},
		{"backoff max", &opts.BackoffMax, DefaultBackoffMax},
	} {
		if *d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.name, *d.v))
		} else if *d.v == 0 {
			*d.v = d.def
		}
	}
	if opts.BackoffMax < opts.BackoffMin {
		errs = append(errs, fmt.Errorf("backoff max %v: below backoff min %v", opts.BackoffMax, opts.BackoffMin))
	}
	if opts.MaxSize < 0 {
		errs = append(errs, fmt.Errorf("max size %d: must not be negative", opts.MaxSize))
	} else if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	switch opts.FirstStart.mode() {
	case FirstStartUnseen, FirstStartAll, FirstStartNew:
	case FirstStartSince:
		if opts.FirstStart.Since.IsZero() {
			errs = append(errs, errors.New("first start since: needs a date"))
		}
	default:
		errs = append(errs, fmt.Errorf("first start %q: want unseen, all, new or since", opts.FirstStart.Mode))
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := errors.Join(errs...); err != nil {
		return opts, fmt.Errorf("mailbox: invalid options: %w", err)
	}
	return opts, nil
}

// LogValue implements [slog.LogValuer]: it logs the connection settings
// without the password or token.
func (opts Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", opts.Host),
		slog.Int("port", opts.Port),
		slog.String("tls", string(opts.TLS)),
		slog.String("username", opts.Username),
		slog.String("auth", string(opts.Auth)),
		slog.String("mailbox", opts.Mailbox),
		slog.String("processed_mailbox", opts.ProcessedMailbox),
	)
}

// addr returns host:port for dialing.
func (opts *Options) addr() string {
	return net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))
}

// tlsConfig returns the TLS configuration to use, never nil.
func (opts *Options) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if opts.TLSConfig != nil {
		cfg = opts.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = opts.Host
	}
	return cfg
}

// isLoopback reports whether host names this machine: "localhost" or an
// address in 127.0.0.0/8 or ::1. Other names are not resolved, because DNS
// could point them anywhere.
func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

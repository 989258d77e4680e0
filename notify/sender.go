package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Errors that [Sender.Send] and [Sender.Check] wrap; match them with
// errors.Is.
var (
	// ErrPermanent marks a refusal that will not change on retry: the server
	// answered 5xx for the sender, the recipient or the content.
	ErrPermanent = errors.New("notify: rejected permanently")
	// ErrAuth marks a failed authentication (wrong user name, password or
	// token, or a mechanism the server does not offer).
	ErrAuth = errors.New("notify: authentication failed")
	// ErrTLS marks a TLS problem: a handshake that failed, a certificate
	// that does not verify, or a TLS mode that does not match the server.
	ErrTLS = errors.New("notify: TLS failed")
	// ErrUnavailable marks a server that took nothing from [Sender.Send]
	// and would take nothing from any other message: it could not be
	// reached, the session could not be opened (greeting, TLS,
	// authentication) or it refused the sender for now. The message was
	// not offered.
	ErrUnavailable = errors.New("notify: server takes no mail")
)

// The TLS modes of [SenderOptions].TLS.
const (
	TLSImplicit = "implicit" // TLS from the first byte (RFC 8314), usually port 465
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (RFC 3207), usually port 587
	TLSNone     = "none"     // no TLS: loopback only, unless AllowInsecure
)

// The authentication mechanisms of [SenderOptions].Auth.
const (
	AuthNone    = ""
	AuthPlain   = "plain"
	AuthLogin   = "login"
	AuthXOAUTH2 = "xoauth2"
)

// SenderOptions configures a [Sender].
type SenderOptions struct {
	// Host is the submission server. Required.
	Host string
	// Port is the server's port. Zero means 465 for implicit TLS, 587 for
	// STARTTLS and 25 without TLS.
	Port int
	// TLS is "implicit", "starttls" (the zero value) or "none". "none" is
	// refused for a host other than loopback (127.0.0.0/8, ::1, localhost)
	// unless AllowInsecure is set.
	TLS string
	// AllowInsecure allows TLS "none" to any host: credentials and mail then
	// cross the network in clear.
	AllowInsecure bool
	// TLSConfig replaces the default TLS configuration (which verifies the
	// certificate against Host). Its ServerName is set to Host when empty.
	TLSConfig *tls.Config
	// Username and Password are the credentials for Auth.
	Username, Password string
	// Auth is "" (no authentication, unless Username is set, which means
	// "plain"), "plain", "login" or "xoauth2".
	Auth string
	// Token returns a fresh OAuth 2 access token for "xoauth2"; it is called
	// before each connection. Nil means Password is the token.
	Token func(ctx context.Context) (string, error)
	// Timeout bounds dialling and each SMTP exchange. Zero means 30s.
	Timeout time.Duration
	// Connections is how many SMTP connections may be open at once, each
	// carrying one message at a time: concurrent Sends beyond it wait for
	// a free one. Zero means 1.
	Connections int
	// Logger receives connection events. Nil means slog.Default().
	Logger *slog.Logger
}

// Sender submits messages over SMTP connections, at most
// SenderOptions.Connections of them, each opened on first use, reused for
// later messages and opened again after a failure; a Send takes the free
// connection used last, so that a light load keeps one connection warm. It
// is safe for concurrent use; each connection carries one message at a
// time.
type Sender struct {
	opts SenderOptions
	log  *slog.Logger

	staleAfter time.Duration // staleAfter; tests change it

	slots  chan struct{} // one token per connection in use
	poolMu sync.Mutex    // guards free
	free   []*connection // the connections not in use, the one used last at the end
	all    []*connection
}

// connection is one SMTP connection of a [Sender] and its go-mail client. Only
// the Send holding it (or Check, Close) touches it, except conn, which
// context.AfterFunc reads.
type connection struct {
	client   *mail.Client
	smtp     *smtp.Client // nil until connected and after a failure
	lastUsed time.Time    // when its last exchange ended

	connMu sync.Mutex // guards conn
	conn   net.Conn   // the TCP connection under the current session
}

// staleAfter is how long a connection may sit idle before a Send checks it
// with NOOP first. A connection used moments ago goes straight to MAIL
// FROM; if the server closed it meanwhile, that fails before anything was
// offered and the Send redials (see sendOn).
const staleAfter = 3 * time.Second

func (c *connection) setConn(nc net.Conn) {
	c.connMu.Lock()
	c.conn = nc
	c.connMu.Unlock()
}

// interrupt makes any read or write on the current connection fail now.
// It closes the connection rather than setting a past deadline, which
// go-mail would push forward again before its next command.
func (c *connection) interrupt() {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.conn != nil {
		c.conn.Close()
	}
}

// drop closes the connection without waiting for the server.
func (c *connection) drop() {
	c.interrupt()
	c.setConn(nil)
	c.smtp = nil
}

// NewSender checks opts and returns a Sender. It does no I/O.
func NewSender(opts SenderOptions) (*Sender, error) {
	if opts.Host == "" {
		return nil, errors.New("notify: smtp host is required")
	}
	switch opts.TLS {
	case "":
		opts.TLS = TLSStartTLS
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		return nil, fmt.Errorf("notify: smtp tls %q: want implicit, starttls or none", opts.TLS)
	}
	if opts.TLS == TLSNone && !opts.AllowInsecure && !isLoopback(opts.Host) {
		return nil, fmt.Errorf("notify: smtp tls none to %s: only loopback hosts may be used without TLS (set allow_insecure to override)", opts.Host)
	}
	if opts.Port == 0 {
		switch opts.TLS {
		case TLSImplicit:
			opts.Port = 465
		case TLSStartTLS:
			opts.Port = 587
		default:
			opts.Port = 25
		}
	}
	if opts.Port < 1 || opts.Port > 65535 {
		return nil, fmt.Errorf("notify: smtp port %d: out of range", opts.Port)
	}
	auth := strings.ToLower(opts.Auth)
	if auth == AuthNone && opts.Username != "" {
		auth = AuthPlain
	}
	switch auth {
	case AuthNone:
	case AuthPlain, AuthLogin, AuthXOAUTH2:
		if opts.Username == "" {
			return nil, fmt.Errorf("notify: smtp auth %s needs a username", auth)
		}
		if auth == AuthXOAUTH2 && opts.Token == nil && opts.Password == "" {
			return nil, errors.New("notify: smtp auth xoauth2 needs a token source or a password holding the token")
		}
	default:
		return nil, fmt.Errorf("notify: smtp auth %q: want plain, login or xoauth2", opts.Auth)
	}
	opts.Auth = auth
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.TLSConfig != nil {
		tlsConf = opts.TLSConfig.Clone()
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = opts.Host
	}
	opts.TLSConfig = tlsConf
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.Connections < 0 {
		return nil, fmt.Errorf("notify: smtp connections %d: must not be negative", opts.Connections)
	}
	opts.Connections = max(opts.Connections, 1)
	s := &Sender{opts: opts, log: logger.With("component", "notify"), staleAfter: staleAfter, slots: make(chan struct{}, opts.Connections)}
	for range opts.Connections {
		c := &connection{}
		client, err := mail.NewClient(opts.Host, s.clientOptions(c)...)
		if err != nil {
			return nil, fmt.Errorf("notify: smtp client: %w", err)
		}
		c.client = client
		s.all = append(s.all, c)
	}
	s.free = slices.Clone(s.all)
	slices.Reverse(s.free) // the first is taken first
	return s, nil
}

// clientOptions are the go-mail options of connection c.
func (s *Sender) clientOptions(c *connection) []mail.Option {
	opts := s.opts
	copts := []mail.Option{
		mail.WithPort(opts.Port),
		mail.WithTimeout(opts.Timeout),
		mail.WithTLSConfig(opts.TLSConfig),
		mail.WithDialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			return s.dial(ctx, c, network, addr)
		}),
		// sendOn checks a connection idle for staleAfter itself.
		mail.WithoutNoop(),
	}
	switch opts.TLS {
	case TLSStartTLS:
		copts = append(copts, mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		// Implicit TLS is done by s.dial; "none" has none.
		copts = append(copts, mail.WithTLSPolicy(mail.NoTLS))
	}
	// Credentials in clear are allowed only where NewSender allowed TLS
	// "none": to loopback, or by AllowInsecure.
	clear := opts.TLS == TLSNone
	switch opts.Auth {
	case AuthPlain:
		mech := mail.SMTPAuthPlain
		if clear {
			mech = mail.SMTPAuthPlainNoEnc
		}
		copts = append(copts, mail.WithSMTPAuth(mech), mail.WithUsername(opts.Username), mail.WithPassword(opts.Password))
	case AuthLogin:
		mech := mail.SMTPAuthLogin
		if clear {
			mech = mail.SMTPAuthLoginNoEnc
		}
		copts = append(copts, mail.WithSMTPAuth(mech), mail.WithUsername(opts.Username), mail.WithPassword(opts.Password))
	case AuthXOAUTH2:
		copts = append(copts, mail.WithSMTPAuth(mail.SMTPAuthXOAUTH2), mail.WithUsername(opts.Username), mail.WithPassword(opts.Password))
	}
	return copts
}

// take waits for a free connection, the one used last.
func (s *Sender) take(ctx context.Context) (*connection, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	c := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	return c, nil
}

// put gives c back after an exchange.
func (s *Sender) put(c *connection) {
	s.poolMu.Lock()
	s.free = append(s.free, c)
	s.poolMu.Unlock()
	<-s.slots
}

// Addr returns host:port of the server.
func (s *Sender) Addr() string {
	return net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
}

// dial opens the TCP (and, for implicit TLS, TLS) connection for go-mail
// and keeps it, so that a cancelled context can interrupt a session.
func (s *Sender) dial(ctx context.Context, c *connection, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.opts.Timeout}
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.setConn(raw)
	if s.opts.TLS != TLSImplicit {
		return raw, nil
	}
	tc := tls.Client(raw, s.opts.TLSConfig)
	hctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, &tlsError{err}
	}
	return tc, nil
}

// tlsError marks an error of the implicit TLS handshake.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// Send submits msg over a free connection, waiting for one while all are
// busy. It dials on first use or after a failure and reuses the connection
// otherwise; a connection the server dropped while idle is replaced at
// once. The context bounds the whole exchange.
//
// A refusal that will not change (a 5xx reply) wraps [ErrPermanent]; every
// other error (connection refused or lost, timeouts, 4xx replies, failed
// authentication, which also wraps [ErrAuth]) is temporary. After a refused
// recipient the connection stays open; after anything else it is closed.
// A mail whose data the server accepted is sent (nil) even when the
// connection fails right after, in the RSET that follows it.
func (s *Sender) Send(ctx context.Context, msg *mail.Msg) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.take(ctx)
	if err != nil {
		return err
	}
	defer s.put(c)
	return s.sendOn(ctx, c, msg)
}

// staleError is a failed check of an idle connection: nothing was sent.
type staleError struct{ err error }

func (e *staleError) Error() string { return "connection check (NOOP): " + e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }

// sendOn submits msg over c, which the caller holds.
func (s *Sender) sendOn(ctx context.Context, c *connection, msg *mail.Msg) error {
	for attempt := 0; ; attempt++ {
		reused := c.smtp != nil
		if !reused {
			if err := s.connect(ctx, c); err != nil {
				return err
			}
		}
		err := s.exchange(ctx, c, msg, reused && time.Since(c.lastUsed) >= s.staleAfter)
		c.lastUsed = time.Now()
		if err == nil {
			return nil
		}
		var se *mail.SendError
		var stale *staleError
		isSE := errors.As(err, &se)
		if isSE && se.Reason == mail.ErrSMTPReset && msg.IsDelivered() {
			// The server accepted the data (RFC 5321 §4.1.1.4: the mail is
			// its responsibility now) and only the RSET after it failed:
			// the mail is sent, retrying it would deliver it twice. The
			// connection is of no further use.
			s.log.Debug("smtp connection lost after the mail was accepted", "addr", s.Addr(), "err", err)
			c.drop()
			return nil
		}
		checkFailed := errors.As(err, &stale) || isSE && se.Reason == mail.ErrConnCheck
		// MAIL FROM, the first command on a connection used moments ago,
		// met a closed connection (no reply, or RFC 5321's 421 "closing
		// transmission channel"): nothing was offered either.
		lost := isSE && se.Reason == mail.ErrSMTPMailFrom && (se.ErrorCode() == 0 || se.ErrorCode() == 421)
		if (checkFailed || lost) && reused && attempt == 0 && ctx.Err() == nil {
			// The server closed the idle connection: dial again and send now.
			s.log.Debug("smtp connection lost while idle, redialling", "addr", s.Addr(), "err", err)
			c.drop()
			continue
		}
		if !keepsConnection(err) || ctx.Err() != nil {
			c.drop()
		}
		err = s.classify(ctx, err)
		if !errors.Is(err, ErrPermanent) && (isSE && se.Reason == mail.ErrSMTPMailFrom || checkFailed) {
			// A fresh session that fails its first check, or a sender
			// refused for now: no message would fare better.
			err = unavailable(ctx, err)
		}
		return err
	}
}

// unavailable marks err with [ErrUnavailable], unless ctx ended.
func unavailable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// exchange sends msg over c's session, first checking with NOOP that the
// server still holds it when check is set.
func (s *Sender) exchange(ctx context.Context, c *connection, msg *mail.Msg, check bool) error {
	// go-mail takes no context: unblock whatever it waits for when ctx ends.
	stop := context.AfterFunc(ctx, c.interrupt)
	defer stop()
	if check {
		if err := c.smtp.Noop(); err != nil {
			return &staleError{err}
		}
	}
	return c.client.SendWithSMTPClient(c.smtp, msg)
}

// connect opens a session on c: TCP, TLS, EHLO, authentication.
func (s *Sender) connect(ctx context.Context, c *connection) error {
	if s.opts.Auth == AuthXOAUTH2 && s.opts.Token != nil {
		tok, err := s.opts.Token(ctx)
		if err != nil {
			return fmt.Errorf("smtp %s: get oauth2 token: %w: %w", s.Addr(), ErrAuth, err)
		}
		c.client.SetPassword(tok)
	}
	start := time.Now()
	stop := context.AfterFunc(ctx, c.interrupt) // greeting, STARTTLS, AUTH
	sc, err := c.client.DialToSMTPClientWithContext(ctx)
	stop()
	if err != nil {
		c.drop()
		return unavailable(ctx, s.classify(ctx, err))
	}
	c.smtp = sc
	s.log.Debug("smtp connected", "addr", s.Addr(), "tls", s.opts.TLS, "took", time.Since(start))
	return nil
}

// keepsConnection reports whether the session is still usable after err:
// go-mail resets it after a refused sender or recipient.
func keepsConnection(err error) bool {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return false
	}
	code := se.ErrorCode()
	return (se.Reason == mail.ErrSMTPRcptTo || se.Reason == mail.ErrSMTPMailFrom) && code >= 400 && code < 600
}

// permanentReasons are the steps at which a 5xx reply condemns this message
// (its recipient, its size or content). A 5xx to MAIL FROM is not among
// them: it refuses the configured sender, which would refuse every notice
// alike, so they wait (as temporary failures) for an operator to act.
func permanentReason(r mail.SendErrReason) bool {
	switch r {
	case mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrSMTPDataClose, mail.ErrWriteContent:
		return true
	}
	return false
}

// classify wraps err with what the caller needs to decide: [ErrPermanent]
// for a 5xx reply, [ErrAuth] and [ErrTLS] for those failures, the context's
// error when it ended.
func (s *Sender) classify(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("smtp %s: %w (%v)", s.Addr(), cerr, err)
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 500 && code < 600 && !se.IsTemp() && permanentReason(se.Reason) {
			return fmt.Errorf("smtp %s: %w: %w", s.Addr(), ErrPermanent, err)
		}
		switch se.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			// The message itself cannot be sent this way.
			return fmt.Errorf("smtp %s: %w: %w", s.Addr(), ErrPermanent, err)
		}
		return fmt.Errorf("smtp %s: %w", s.Addr(), err)
	}
	msg := err.Error()
	var te *tlsError
	var rec tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	switch {
	case strings.Contains(msg, "SMTP AUTH") || strings.Contains(msg, "SMTP Auth"):
		hint := "check the user name and password"
		switch {
		case strings.Contains(msg, "does not support SMTP AUTH type"):
			hint = "the server does not offer this mechanism: choose another auth"
		case strings.Contains(msg, "does not support SMTP AUTH"):
			hint = "the server offers no authentication here; many offer it only after STARTTLS"
		}
		return fmt.Errorf("smtp %s: %w as %q (%s): %w", s.Addr(), ErrAuth, s.opts.Username, hint, err)
	case errors.As(err, &te), errors.As(err, &rec), errors.As(err, &cv):
		hint := ""
		if errors.As(err, &rec) {
			hint = " (the server does not speak TLS on this port: try tls starttls, or port 465 for implicit TLS)"
		}
		return fmt.Errorf("smtp %s: %w%s: %w", s.Addr(), ErrTLS, hint, err)
	case strings.Contains(msg, "STARTTLS"):
		return fmt.Errorf("smtp %s: %w (the server does not offer STARTTLS: try tls implicit on port 465): %w", s.Addr(), ErrTLS, err)
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return fmt.Errorf("smtp %s: %w: %w", s.Addr(), ErrTLS, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		hint := ""
		if s.opts.TLS != TLSImplicit {
			hint = " (no greeting: if the port expects implicit TLS, set tls implicit)"
		}
		return fmt.Errorf("smtp %s: timeout%s: %w", s.Addr(), hint, err)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("smtp %s: connection refused (is the server running and the port right?): %w", s.Addr(), err)
	}
	return fmt.Errorf("smtp %s: %w", s.Addr(), err)
}

// Check opens a fresh session (TCP, TLS, EHLO, authentication) on one
// connection and closes it, so that `ticketd check` can report a wrong
// password, a TLS mode that does not match the server, or a refused
// connection before the daemon starts. Errors wrap [ErrAuth] or [ErrTLS]
// where they apply.
func (s *Sender) Check(ctx context.Context) error {
	c, err := s.take(ctx)
	if err != nil {
		return err
	}
	defer s.put(c)
	c.drop()
	if err := s.connect(ctx, c); err != nil {
		return err
	}
	c.client.CloseWithSMTPClient(c.smtp) // QUIT
	c.drop()
	return nil
}

// Close waits for the exchanges under way and ends every session with
// QUIT. The Sender may be used again: the next Send dials anew.
func (s *Sender) Close() error {
	for range s.all {
		s.slots <- struct{}{} // every connection, once its exchange ends
	}
	defer func() {
		for range s.all {
			<-s.slots
		}
	}()
	var errs []error
	for _, c := range s.all {
		if c.smtp == nil {
			continue
		}
		c.connMu.Lock()
		if c.conn != nil {
			c.conn.SetDeadline(time.Now().Add(5 * time.Second))
		}
		c.connMu.Unlock()
		errs = append(errs, c.client.CloseWithSMTPClient(c.smtp))
		c.drop()
	}
	return errors.Join(errs...)
}

// isLoopback reports whether host names this machine: localhost or an
// address in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

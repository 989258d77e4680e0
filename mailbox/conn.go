package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// Errors that [Poller.Check] and the logs of [Poller.Run] wrap; match them
// with errors.Is. All of them need an operator except ErrConnect, which may
// be a passing outage.
var (
	// ErrConnect means the server could not be reached or dropped the
	// connection before the greeting.
	ErrConnect = errors.New("mailbox: cannot connect to server")
	// ErrTLS means TLS could not be negotiated: a certificate that does not
	// verify, a server that does not speak TLS on that port (or speaks it
	// where clear text was expected), or no STARTTLS.
	ErrTLS = errors.New("mailbox: TLS negotiation failed")
	// ErrAuth means the server rejected the credentials or token.
	ErrAuth = errors.New("mailbox: authentication failed")
	// ErrNoMailbox means the mailbox to read does not exist or may not be
	// selected.
	ErrNoMailbox = errors.New("mailbox: cannot select mailbox")
)

// conn is one authenticated IMAP connection with its mailbox selected.
type conn struct {
	c           *imapclient.Client
	caps        imap.CapSet
	uidValidity uint32
	// uidNext is the UIDNEXT the server announced at SELECT, zero if none.
	uidNext uint32
	// wake receives a token when the server reports new messages (EXISTS);
	// it has room for one, so the client's reader goroutine never blocks.
	wake chan struct{}
	// timedOut is set when a guard closed the connection.
	timedOut atomic.Bool
	timeout  time.Duration
	// stop detaches the context watcher.
	stop func() bool

	// mu guards handling and closing: when the context ends while a handler
	// works, the connection stays open until it returns (or HandlerGrace
	// passes), so that the mail in hand is finished.
	mu       sync.Mutex
	handling bool
	closing  bool
}

// HandlerGrace is how long a [Handler] that is working when the context of
// [Poller.Run] ends may go on reading its message before the connection is
// closed under it.
const HandlerGrace = 15 * time.Second

// shutdown closes the connection when the context ends, unless a handler
// is working: then it closes when the handler is done, or after
// HandlerGrace.
func (cn *conn) shutdown() {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.closing = true
	if cn.handling {
		time.AfterFunc(HandlerGrace, func() { cn.c.Close() })
		return
	}
	go cn.c.Close() // not waited for: see endHandler
}

// beginHandler marks a handler as working; it reports false when the
// connection is shutting down, and no new message must be started.
func (cn *conn) beginHandler() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closing {
		return false
	}
	cn.handling = true
	return true
}

// endHandler marks the handler as done and closes the connection if the
// context ended meanwhile.
func (cn *conn) endHandler() {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.handling = false
	if cn.closing {
		// Not waited for: Close waits for go-imap's reader, which may
		// wait for the next body of a FETCH to be read (see
		// bodies.abandon).
		go cn.c.Close()
	}
}

// guard closes the connection if the command that follows takes longer than
// the command timeout: go-imap waits for a tagged response without any
// deadline. The returned func disarms it.
func (cn *conn) guard() func() { return cn.guardFor(cn.timeout) }

// guardFor is guard with a custom timeout.
func (cn *conn) guardFor(d time.Duration) func() {
	t := time.AfterFunc(d, func() {
		cn.timedOut.Store(true)
		cn.c.Close()
	})
	return func() { t.Stop() }
}

// wrap names a failed operation and says so when the failure came from our
// own timeout rather than from the server.
func (cn *conn) wrap(op string, err error) error {
	if cn.timedOut.Load() {
		return fmt.Errorf("%s: no answer within %v: %w", op, cn.timeout, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// close ends the connection without waiting for LOGOUT.
func (cn *conn) close() {
	cn.stop()
	cn.c.Close()
}

// logout says goodbye politely, then closes.
func (cn *conn) logout() {
	done := cn.guard()
	cn.c.Logout().Wait()
	done()
	cn.close()
}

// dial connects, authenticates and selects p's mailbox. The connection is
// closed when ctx ends.
func (p *Poller) dial(ctx context.Context) (*conn, error) {
	o := &p.opts
	addr := o.addr()
	cn := &conn{wake: make(chan struct{}, 1), timeout: o.CommandTimeout}
	copts := &imapclient.Options{
		DebugWriter: o.DebugWriter,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages == nil {
					return
				}
				select {
				case cn.wake <- struct{}{}:
				default:
				}
			},
		},
	}

	dctx, cancel := context.WithTimeout(ctx, o.CommandTimeout)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w: %w", addr, ErrConnect, err)
	}

	switch o.TLS {
	case TLSImplicit:
		cfg := o.tlsConfig()
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"} // RFC 8314 §7.2 ALPN identifier
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w: %w", addr, ErrTLS, err)
		}
		cn.c = imapclient.New(tc, copts)
	case TLSStartTLS:
		copts.TLSConfig = o.tlsConfig()
		// NewStartTLS blocks without a context: bound it by closing the socket.
		t := time.AfterFunc(o.CommandTimeout, func() { cn.timedOut.Store(true); raw.Close() })
		stop := context.AfterFunc(ctx, func() { raw.Close() })
		cn.c, err = imapclient.NewStartTLS(raw, copts)
		t.Stop()
		stop()
		if err != nil {
			raw.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("starttls with %s: %w: %w", addr, ErrTLS, cn.wrap("upgrade", err))
		}
	default:
		cn.c = imapclient.New(raw, copts)
	}
	cn.stop = context.AfterFunc(ctx, cn.shutdown)

	ok := false
	defer func() {
		if !ok {
			cn.close()
		}
	}()

	// Servers greet at once. Waiting less than go-imap's own 30 s lets us
	// tell a TLS port (which waits for our ClientHello) from a dead one.
	greetingTimeout := min(o.CommandTimeout, 15*time.Second)
	done := cn.guardFor(greetingTimeout)
	err = cn.c.WaitGreeting()
	done()
	if err != nil {
		if cn.timedOut.Load() {
			err = fmt.Errorf("greeting from %s: none within %v: %w", addr, greetingTimeout, err)
		} else {
			err = fmt.Errorf("greeting from %s: %w", addr, err)
		}
		if o.TLS != TLSImplicit && cn.timedOut.Load() {
			// A TLS server waits for our ClientHello and never greets.
			return nil, fmt.Errorf("%w (does the server expect implicit TLS?): %w", ErrTLS, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	if err := p.authenticate(ctx, cn); err != nil {
		return nil, err
	}

	done = cn.guard()
	cn.caps = cn.c.Caps()
	done()
	if cn.caps == nil {
		return nil, cn.wrap("capability", net.ErrClosed)
	}

	done = cn.guard()
	sel, err := cn.c.Select(o.Mailbox, &imap.SelectOptions{}).Wait()
	done()
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return nil, fmt.Errorf("select %q: %w: %w", o.Mailbox, ErrNoMailbox, err)
		}
		return nil, cn.wrap(fmt.Sprintf("select %q", o.Mailbox), err)
	}
	cn.uidValidity, cn.uidNext = sel.UIDValidity, uint32(sel.UIDNext)
	ok = true
	return cn, nil
}

// authenticate logs in with the configured mechanism.
func (p *Poller) authenticate(ctx context.Context, cn *conn) error {
	o := &p.opts
	if cn.c.State() == imap.ConnStateAuthenticated {
		return nil // PREAUTH
	}
	var (
		err    error
		detail string
	)
	switch o.Auth {
	case AuthPlain:
		done := cn.guard()
		caps := cn.c.Caps()
		switch {
		case !caps.Has(imap.CapLoginDisabled):
			err = cn.c.Login(o.Username, o.Password).Wait()
		case caps.Has(imap.AuthCap(sasl.Plain)):
			err = cn.c.Authenticate(sasl.NewPlainClient("", o.Username, o.Password))
		default:
			done()
			return fmt.Errorf("log in to %s as %q: %w: server disables LOGIN and offers no AUTH=PLAIN", o.addr(), o.Username, ErrAuth)
		}
		done()
	case AuthXOAUTH2, AuthOAuthBearer:
		// Not under the guard: the token source may take its time.
		tok, terr := o.Token(ctx)
		if terr != nil {
			return fmt.Errorf("get oauth token for %q: %w", o.Username, terr)
		}
		done := cn.guard()
		if o.Auth == AuthXOAUTH2 {
			xc := newXOAuth2Client(o.Username, tok)
			err = cn.c.Authenticate(xc)
			detail = xc.failure
		} else {
			err = cn.c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
				Username: o.Username, Token: tok, Host: o.Host, Port: o.Port,
			}))
		}
		done()
	}
	if err == nil {
		return nil
	}
	op := fmt.Sprintf("log in to %s as %q (%s)", o.addr(), o.Username, o.Auth)
	if detail != "" {
		op += " (" + detail + ")"
	}
	var ie *imap.Error
	var oe *sasl.OAuthBearerError
	if errors.As(err, &ie) || errors.As(err, &oe) {
		return fmt.Errorf("%s: %w: %w", op, ErrAuth, err)
	}
	return cn.wrap(op, err)
}

// isOperatorError reports whether err will not go away by retrying: the
// configuration or the server must change.
func isOperatorError(err error) bool {
	return errors.Is(err, ErrTLS) || errors.Is(err, ErrAuth) || errors.Is(err, ErrNoMailbox)
}

// Check connects, authenticates and selects the mailbox once, then logs
// out. It returns nil if the poller would work, or an error that says what is
// wrong and wraps [ErrConnect], [ErrTLS], [ErrAuth] or [ErrNoMailbox]. It
// also checks that the processed mailbox exists or can be created. It does
// I/O, blocks up to about twice [Options.CommandTimeout], and is safe to call
// while Run is running.
func (p *Poller) Check(ctx context.Context) error {
	cn, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer cn.logout()
	if p.opts.ProcessedMailbox != "" {
		if !canMove(cn.caps) {
			p.log.Warn("server has neither MOVE nor UIDPLUS: processed mail will only be flagged \\Seen",
				"mailbox", p.opts.Mailbox)
			return nil
		}
		if err := p.ensureProcessed(cn); err != nil {
			return err
		}
	}
	return nil
}

// canMove reports whether processed mail can be moved without a plain
// EXPUNGE, which would also remove other \Deleted messages.
func canMove(caps imap.CapSet) bool {
	return caps.Has(imap.CapMove) || caps.Has(imap.CapUIDPlus)
}

// ensureProcessed creates the processed mailbox unless it exists.
func (p *Poller) ensureProcessed(cn *conn) error {
	name := p.opts.ProcessedMailbox
	done := cn.guard()
	list, err := cn.c.List("", name, nil).Collect()
	done()
	if err != nil {
		return cn.wrap(fmt.Sprintf("list %q", name), err)
	}
	for _, l := range list {
		if l.Mailbox == name {
			return nil
		}
	}
	done = cn.guard()
	err = cn.c.Create(name, nil).Wait()
	done()
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	if err != nil {
		return cn.wrap(fmt.Sprintf("create %q", name), err)
	}
	p.log.Info("processed mailbox created", "processed_mailbox", name)
	return nil
}

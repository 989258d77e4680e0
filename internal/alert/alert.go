// Package alert tells the operators (admin.alert_to) by mail what they
// must act on and ticketd cannot fix by itself: a mailbox that cannot be
// read for longer than admin.alert_after (and that it can be read again),
// notifications that do not leave (the oldest notice waiting is older than
// outbox.stuck_after, and again when they leave), and an OAuth access token
// about to expire that nobody renewed (a token file or command; never a
// client-credentials token, which ticketd renews itself). It mails once per
// event, not once per check, and keeps an alert it could not send to try
// again, logging it at error level meanwhile: when the SMTP server itself is
// down the log (and [Watcher.Unsent], which /healthz and /metrics show) is
// all there is. What the daemon's health endpoint says is decided in
// internal/app; this package only decides and sends the mails.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/ticketd/ticketd/internal/oauth"
	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

// tokenExpiryWarning is how long before an OAuth token expires the
// operators are warned.
const tokenExpiryWarning = 30 * time.Minute

// alert is one mail to admin.alert_to.
type alert struct{ subject, body string }

// alerter decides when admin.alert_to must be told something: once when
// reading the mailbox has failed for longer than admin.alert_after (and once
// when it works again), and once per token when an OAuth token is about to
// expire. It is not safe for concurrent use: one goroutine runs it.
type alerter struct {
	after   time.Duration
	mailbox string // "INBOX on imap.example" for messages
	started time.Time
	down    bool
	warned  map[*oauth.Token]time.Time // the expiry already warned about

	stuckAfter time.Duration
	stuck      bool
}

// checkOutbox returns the alerts due at now, given the outbox's
// statistics: once when its oldest notice has waited longer than
// stuckAfter, once when no notice waits that long any more. smtpErr is the
// SMTP server's error while it takes no mail ("" when it does).
func (a *alerter) checkOutbox(now time.Time, ob outbox.Stats, smtpErr string) []alert {
	stuck := !ob.Oldest.IsZero() && now.Sub(ob.Oldest) > a.stuckAfter
	if stuck == a.stuck {
		return nil
	}
	a.stuck = stuck
	if !stuck {
		return []alert{{subject: "[ticketd] las notificaciones salen de nuevo",
			body: "ticketd vuelve a enviar las notificaciones a tiempo.\n"}}
	}
	reason := ""
	if smtpErr != "" {
		reason = "\nEl servidor SMTP no acepta correo: " + smtpErr + "\n"
	}
	return []alert{{subject: "[ticketd] las notificaciones no salen",
		body: fmt.Sprintf("ticketd tiene %d notificaciones pendientes; la más antigua espera desde %s (más de %s).\n%s\nLos solicitantes y los grupos no reciben acuses ni avisos. Revise el servidor SMTP y el registro de ticketd (`ticketd check` prueba la conexión).\n",
			ob.Depth, ob.Oldest.Format(time.RFC3339), a.stuckAfter, reason)}}
}

// check returns the alerts due at now, given the poller's status and the
// token sources in use.
func (a *alerter) check(ctx context.Context, now time.Time, st mailbox.Status, tokens []*oauth.Token) []alert {
	var out []alert
	last := st.LastPoll
	if last.IsZero() {
		last = a.started
	}
	if down := now.Sub(last) > a.after; down != a.down {
		a.down = down
		if down {
			reason := ""
			if st.LastError != "" {
				reason = "\nÚltimo error: " + st.LastError + "\n"
			}
			out = append(out, alert{
				subject: "[ticketd] no se puede leer el buzón de soporte",
				body: fmt.Sprintf("ticketd no ha podido leer el buzón %s desde %s (más de %s).\n%s\nMientras tanto no se abren casos nuevos. Revise la conexión IMAP y las credenciales con `ticketd check`.\n",
					a.mailbox, last.Format(time.RFC3339), a.after, reason),
			})
		} else {
			out = append(out, alert{
				subject: "[ticketd] el buzón de soporte se lee de nuevo",
				body:    fmt.Sprintf("ticketd lee de nuevo el buzón %s.\n", a.mailbox),
			})
		}
	}
	for _, t := range tokens {
		if t == nil || t.RenewsItself() { // nothing for an operator to do
			continue
		}
		exp := t.Expiry()
		if exp.IsZero() || exp.Sub(now) > tokenExpiryWarning {
			continue
		}
		// The token in hand is about to expire: ask the source whether a
		// fresher one is there (a token file is renewed by another program).
		if _, err := t.Token(ctx); err == nil {
			exp = t.Expiry()
		}
		if exp.IsZero() || exp.Sub(now) > tokenExpiryWarning || a.warned[t].Equal(exp) {
			continue
		}
		if a.warned == nil {
			a.warned = map[*oauth.Token]time.Time{}
		}
		a.warned[t] = exp
		out = append(out, alert{
			subject: fmt.Sprintf("[ticketd] el token OAuth de %s vence pronto", t.Name()),
			body: fmt.Sprintf("El token de acceso OAuth que ticketd usa para %s vence el %s y no se ha renovado.\nRenueve el token (imap.oauth / smtp.oauth en la configuración) para que ticketd siga leyendo y enviando correo.\n",
				t.Name(), exp.Format(time.RFC3339)),
		})
	}
	return out
}

// Sender delivers one mail; *notify.Sender implements it.
type Sender interface {
	Send(ctx context.Context, msg *mail.Msg) error
}

// Options configures a [Watcher]. Status, Sender, From and To are required.
type Options struct {
	// After is how long the mailbox may go unread before the operators
	// are told (admin.alert_after).
	After time.Duration
	// Mailbox names the mailbox in the mails ("INBOX de imap.example").
	Mailbox string
	// Status reports how fetching goes; *mailbox.Poller's Status.
	Status func() mailbox.Status
	// Tokens are the OAuth token sources in use; nil entries are skipped.
	Tokens []*oauth.Token
	// Outbox reports the outbox's statistics; nil means the outbox is not
	// watched. StuckAfter is how old its oldest notice may get
	// (outbox.stuck_after); zero means 15m. SMTPError, if set, returns the
	// SMTP server's error while it takes no mail, for the mail's text.
	Outbox     func() (outbox.Stats, error)
	StuckAfter time.Duration
	SMTPError  func() string
	Sender     Sender
	From       ticket.Address
	To         []string
	// Every is how often the watcher looks; zero means 15s.
	Every  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Watcher mails the operators what the checks find. One goroutine runs it.
type Watcher struct {
	opts   Options
	log    *slog.Logger
	unsent atomic.Int64
}

// Unsent returns how many alerts the last check could not mail (the SMTP
// server refused or could not be reached); they are tried again. It is safe
// for concurrent use.
func (w *Watcher) Unsent() int { return int(w.unsent.Load()) }

// NewWatcher checks opts and returns a Watcher; it does no I/O.
func NewWatcher(opts Options) (*Watcher, error) {
	if opts.Status == nil || opts.Sender == nil || opts.From.Addr == "" || len(opts.To) == 0 {
		return nil, errors.New("alert: Status, Sender, From and To are required")
	}
	if opts.Every == 0 {
		opts.Every = 15 * time.Second
	}
	if opts.StuckAfter == 0 {
		opts.StuckAfter = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Watcher{opts: opts, log: opts.Logger.With("component", "alert")}, nil
}

// Run checks every Every and mails what it finds until ctx ends, then
// returns nil. An alert that cannot be sent is tried again at the next
// check.
func (w *Watcher) Run(ctx context.Context) error {
	a := &alerter{after: w.opts.After, started: w.opts.Now(), mailbox: w.opts.Mailbox, stuckAfter: w.opts.StuckAfter}
	t := time.NewTicker(w.opts.Every)
	defer t.Stop()
	var pending []alert // not sent yet: tried again at the next tick
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pending = append(pending, a.check(ctx, w.opts.Now(), w.opts.Status(), w.opts.Tokens)...)
		pending = append(pending, w.checkOutbox(a)...)
		var failed []alert
		for _, al := range pending {
			if err := w.send(ctx, al); err != nil {
				w.log.Error("alert mail not sent; retrying", "subject", al.subject, "err", err)
				failed = append(failed, al)
				continue
			}
			w.log.Warn("alert mailed", "subject", al.subject, "rcpt", w.opts.To)
		}
		pending = failed
		w.unsent.Store(int64(len(pending)))
	}
}

// checkOutbox runs a's outbox check when the outbox is watched.
func (w *Watcher) checkOutbox(a *alerter) []alert {
	if w.opts.Outbox == nil {
		return nil
	}
	ob, err := w.opts.Outbox()
	if err != nil {
		w.log.Warn("outbox statistics unreadable", "err", err)
		return nil
	}
	smtpErr := ""
	if w.opts.SMTPError != nil {
		smtpErr = w.opts.SMTPError()
	}
	return a.checkOutbox(w.opts.Now(), ob, smtpErr)
}

func (w *Watcher) send(ctx context.Context, al alert) error {
	msg, err := notify.PlainMessage(w.opts.From, w.opts.To, al.subject, al.body)
	if err != nil {
		return err
	}
	return w.opts.Sender.Send(ctx, msg)
}

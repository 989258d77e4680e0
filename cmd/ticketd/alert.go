package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/mailbox"
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
	warned  map[*oauthToken]time.Time // the expiry already warned about
}

// check returns the alerts due at now, given the poller's status and the
// token sources in use.
func (a *alerter) check(ctx context.Context, now time.Time, st mailbox.Status, tokens []*oauthToken) []alert {
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
		if t == nil {
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
			a.warned = map[*oauthToken]time.Time{}
		}
		a.warned[t] = exp
		out = append(out, alert{
			subject: fmt.Sprintf("[ticketd] el token OAuth de %s vence pronto", t.name),
			body: fmt.Sprintf("El token de acceso OAuth que ticketd usa para %s vence el %s y no se ha renovado.\nRenueve el token (imap.oauth / smtp.oauth en la configuración) para que ticketd siga leyendo y enviando correo.\n",
				t.name, exp.Format(time.RFC3339)),
		})
	}
	return out
}

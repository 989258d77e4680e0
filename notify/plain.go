package notify

import (
	"fmt"

	"github.com/wneessen/go-mail"

	"github.com/ticketd/ticketd/ticket"
)

// PlainMessage builds a short operator mail (an alert) about no ticket:
// plain text, "Auto-Submitted: auto-generated", so it never starts a loop.
func PlainMessage(from ticket.Address, to []string, subject, body string) (*mail.Msg, error) {
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.FromFormat(from.Name, from.Addr); err != nil {
		return nil, fmt.Errorf("alert from %q: %w", from.Addr, err)
	}
	if err := m.To(to...); err != nil {
		return nil, fmt.Errorf("alert to %v: %w", to, err)
	}
	m.Subject(subject)
	m.SetGenHeader(HeaderAutoSubmitted, "auto-generated")
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(mail.TypeTextPlain, body)
	return m, nil
}

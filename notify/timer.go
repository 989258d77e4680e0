package notify

import (
	"strings"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// timerView is what a service-level notice (sla_warning, sla_breached,
// close_reminder) tells: the target, the business time counted, and when
// the clock started and the event was due.
type timerView struct {
	Target, Elapsed, Since, Due string
}

// timer fills the timerView of a timer notice from the last history entry
// of its kind (the notice and entry kinds share their names).
func (r *Renderer) timer(n ticket.Notice) timerView {
	if n.Ticket == nil {
		return timerView{}
	}
	h := n.Ticket.History
	for i := len(h) - 1; i >= 0; i-- {
		if string(h[i].Kind) != string(n.Kind) {
			continue
		}
		d := h[i].Data
		return timerView{
			Target: shortDuration(d["target"]), Elapsed: shortDuration(d["elapsed"]),
			Since: r.date(parseTime(d["since"])), Due: r.date(parseTime(d["due"])),
		}
	}
	return timerView{}
}

// shortDuration writes a duration as "4h", "1h30m" or "45m" rather than Go's
// "4h0m0s"; text that is not a duration comes back unchanged.
func shortDuration(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	out := d.Round(time.Minute).String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

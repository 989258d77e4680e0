package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/ticketd/ticketd/internal/service"
)

// maxTimerSleep is the longest the timer goroutine sleeps without looking
// at the index of due times.
const maxTimerSleep = time.Minute

// timerLoop runs the procedure's timers (service-level reminders, overdue
// and closure notices). It sleeps until the earliest instant in the
// store's index of due times, at most maxTimerSleep, or until a commit set
// a due time (which may be earlier); then it ticks the due tickets through
// [service.Service.TickDue] and kicks the outbox worker. Idle, it costs one
// read of the index's first key per wake-up, however many tickets there
// are.
//
// A fingerprint of the sla section received on retime (at start, and from
// a reload that changed the section) first has reschedule compute every
// open ticket's due time again when the store recorded another one; it
// runs here so that it never races a tick.
type timerLoop struct {
	svc        *service.Service
	now        func() time.Time
	kick       func()
	log        *slog.Logger
	retime     <-chan string
	reschedule func(ctx context.Context, fingerprint string) error
}

// Run ticks due tickets until ctx ends; it returns nil then.
func (l *timerLoop) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-l.svc.DueChanged():
		case fp := <-l.retime:
			if err := l.reschedule(ctx, fp); err != nil && ctx.Err() == nil {
				// The tickets changed since keep their timers; the pass
				// runs again at the next start.
				l.log.Error("timers not computed again for the new sla section", "err", err)
			}
		}
		wait := maxTimerSleep
		n, next, err := l.svc.TickDue(ctx, l.now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.log.Warn("timers not run", "err", err, "retry_in", wait)
		case !next.IsZero():
			wait = min(max(next.Sub(l.now()), 0), maxTimerSleep)
		}
		if n > 0 {
			l.kick()
		}
		t.Reset(wait)
	}
}

package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/ticket"
	"github.com/wneessen/go-mail"
)

// Outbox is the store's side of delivery: the notices owed, committed with
// the changes that caused them. The store package implements it.
type Outbox interface {
	// Due returns up to max notices due at now, in Seq order, holding back
	// every notice of a ticket behind an earlier one of the same ticket
	// that is not yet due (order per ticket).
	Due(ctx context.Context, now time.Time, max int) ([]outbox.Item, error)
	// Ticket reads a ticket with its history, to render a notice about it.
	Ticket(ctx context.Context, id ticket.ID) (*ticket.Ticket, error)
	// Sent removes the notice after the server accepted it.
	Sent(ctx context.Context, seq uint64, at time.Time) error
	// Retry records a transient failure and when to try again.
	Retry(ctx context.Context, seq uint64, next time.Time, reason string) error
	// Failed records a permanent failure: the notice leaves the outbox and
	// record, which appends the failure to the history, is applied to its
	// ticket, in one transaction.
	Failed(ctx context.Context, seq uint64, record func(*ticket.Ticket)) error
}

// MessageSender submits one message; [*Sender] is one. Errors wrapping
// [ErrPermanent] are final, any other is retried.
type MessageSender interface {
	Send(ctx context.Context, msg *mail.Msg) error
}

// WorkerOptions configures a [Worker].
type WorkerOptions struct {
	// Outbox, Renderer and Sender are required.
	Outbox   Outbox
	Renderer *Renderer
	Sender   MessageSender
	// Interval is how often the worker looks at the outbox when nothing
	// wakes it. Zero means 2s.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait before retrying a notice
	// after a temporary failure: MinBackoff doubled for each earlier
	// failed attempt, with jitter, capped at MaxBackoff. Zero means 5s and
	// 30m. The same bounds pace the worker while the server is down.
	MinBackoff, MaxBackoff time.Duration
	// BatchSize is how many notices one call to Outbox.Due returns at most.
	// Zero means 100.
	BatchSize int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives delivery events. Nil means slog.Default().
	Logger *slog.Logger
}

// Stats counts what a [Worker] did since it was made.
type Stats struct {
	Sent    uint64 // accepted by the server
	Retried uint64 // temporary failures, rescheduled
	Failed  uint64 // permanent failures, recorded on the ticket
}

// Worker delivers the outbox: it renders each due notice, sends it and
// records the outcome. Notices of one ticket go out in order: once one
// fails temporarily, the later ones of the same ticket wait. A notice is
// marked sent only after the server accepted it, so a crash between the two
// may send it twice but never loses it.
//
// Run, Flush, Kick and Stats are safe for concurrent use; only one pass over
// the outbox runs at a time.
type Worker struct {
	outbox   Outbox
	render   *Renderer
	send     MessageSender
	interval time.Duration
	minBack  time.Duration
	maxBack  time.Duration
	batch    int
	now      func() time.Time
	log      *slog.Logger

	kick  chan struct{}
	drain sync.Mutex

	sent, retried, failed atomic.Uint64
}

// NewWorker checks opts and returns a Worker. It does no I/O.
func NewWorker(opts WorkerOptions) (*Worker, error) {
	switch {
	case opts.Outbox == nil:
		return nil, errors.New("notify: worker needs an outbox")
	case opts.Renderer == nil:
		return nil, errors.New("notify: worker needs a renderer")
	case opts.Sender == nil:
		return nil, errors.New("notify: worker needs a sender")
	}
	w := &Worker{
		outbox: opts.Outbox, render: opts.Renderer, send: opts.Sender,
		interval: opts.Interval, minBack: opts.MinBackoff, maxBack: opts.MaxBackoff,
		batch: opts.BatchSize, now: opts.Now, log: opts.Logger,
		kick: make(chan struct{}, 1),
	}
	if w.interval <= 0 {
		w.interval = 2 * time.Second
	}
	if w.minBack <= 0 {
		w.minBack = 5 * time.Second
	}
	if w.maxBack <= 0 {
		w.maxBack = 30 * time.Minute
	}
	if w.maxBack < w.minBack {
		return nil, fmt.Errorf("notify: max backoff %v is below min backoff %v", w.maxBack, w.minBack)
	}
	if w.batch <= 0 {
		w.batch = 100
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("component", "notify")
	return w, nil
}

// Kick wakes a running [Worker.Run] at once, for notices just committed. It
// never blocks; kicks while the worker is busy fold into one more pass.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Stats returns the counters so far.
func (w *Worker) Stats() Stats {
	return Stats{Sent: w.sent.Load(), Retried: w.retried.Load(), Failed: w.failed.Load()}
}

// Run delivers the outbox until ctx ends, then returns nil. It looks at the
// outbox every Interval and whenever [Worker.Kick] is called. While the
// server or the outbox fails, it waits longer between passes (MinBackoff
// doubling up to MaxBackoff).
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.kick:
		}
		next := w.interval
		if err := w.pass(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			next = w.backoff(failures)
			failures++
			var unavailable *errUnavailable
			if errors.As(err, &unavailable) {
				// deliver has logged the failure with its notice.
				w.log.Debug("pausing delivery", "retry_in", next)
			} else {
				w.log.Warn("outbox pass failed", "err", err, "retry_in", next)
			}
		} else {
			failures = 0
		}
		t.Reset(next)
	}
}

// Flush sends everything due now and returns: on shutdown (with a bounded
// ctx) and in tests. Delivery failures are recorded in the outbox, not
// returned; the error says the outbox failed, the server is unreachable, or
// ctx ended before the outbox was drained.
func (w *Worker) Flush(ctx context.Context) error {
	return w.pass(ctx)
}

// errUnavailable stops a pass: the server could not take any mail.
type errUnavailable struct{ err error }

func (e *errUnavailable) Error() string { return "smtp server unavailable: " + e.err.Error() }
func (e *errUnavailable) Unwrap() error { return e.err }

// pass asks the outbox for due notices batch after batch until none is
// left, or no batch makes progress.
func (w *Worker) pass(ctx context.Context) error {
	w.drain.Lock()
	defer w.drain.Unlock()
	seen := make(map[uint64]bool)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		due, err := w.outbox.Due(ctx, w.now(), w.batch)
		if err != nil {
			return fmt.Errorf("outbox due: %w", err)
		}
		fresh := 0
		for _, p := range due {
			if !seen[p.Seq] {
				fresh++
			}
		}
		if fresh == 0 {
			return nil
		}
		blocked := make(map[ticket.ID]bool)
		for _, p := range due {
			if err := ctx.Err(); err != nil {
				return err // shutting down: start no new notice
			}
			if seen[p.Seq] {
				continue
			}
			seen[p.Seq] = true
			id := p.Owed.TicketID
			if blocked[id] {
				continue // order per ticket: wait behind the one that failed
			}
			ok, err := w.deliver(ctx, p)
			if err != nil {
				return err
			}
			if !ok {
				blocked[id] = true
			}
		}
		if len(due) < w.batch {
			return nil
		}
	}
}

// deliver renders, sends and records one notice. It reports false when the
// notice was rescheduled; an error stops the pass.
func (w *Worker) deliver(ctx context.Context, it outbox.Item) (bool, error) {
	// A notice started is finished even when ctx ends (shutdown): the send
	// runs to its end (bounded by the sender's timeout) and its outcome is
	// recorded, so that a clean restart never sends it twice. ctx only
	// stops the pass between notices.
	ctx = context.WithoutCancel(ctx)
	id, rcpt, kind := it.Owed.TicketID, it.To.Addr, it.Owed.Kind
	msg, err := w.message(ctx, it)
	if err != nil {
		// A notice that cannot be rendered never will be: record it and move on.
		w.log.Error("notice cannot be rendered", "ticket_id", id, "rcpt", rcpt, "seq", it.Seq, "kind", kind, "err", err)
		return w.giveUp(ctx, it, "render: "+err.Error())
	}
	err = w.send.Send(ctx, msg)
	switch {
	case err == nil:
		// The server accepted it: only now does it leave the outbox.
		if serr := w.outbox.Sent(ctx, it.Seq, w.now()); serr != nil {
			return false, fmt.Errorf("outbox sent %d (the mail went out and may be sent again): %w", it.Seq, serr)
		}
		w.sent.Add(1)
		w.log.Info("notice sent", "ticket_id", id, "rcpt", rcpt, "kind", kind, "attempt", it.Attempts+1)
		return true, nil
	case errors.Is(err, ErrPermanent):
		w.log.Error("notice rejected permanently", "ticket_id", id, "rcpt", rcpt, "kind", kind, "attempt", it.Attempts+1, "err", err)
		return w.giveUp(ctx, it, err.Error())
	}
	wait := w.backoff(it.Attempts)
	w.log.Warn("notice delivery failed, will retry", "ticket_id", id, "rcpt", rcpt, "kind", kind,
		"attempt", it.Attempts+1, "retry_in", wait, "err", err)
	if rerr := w.outbox.Retry(ctx, it.Seq, w.now().Add(wait), err.Error()); rerr != nil {
		return false, fmt.Errorf("outbox retry %d: %w", it.Seq, rerr)
	}
	w.retried.Add(1)
	if !messageLevel(err) {
		// The server took nothing (down, refusing connections, failing
		// authentication): the rest of the batch would fail alike.
		return false, &errUnavailable{err}
	}
	return false, nil
}

// message renders it from its ticket as read now.
func (w *Worker) message(ctx context.Context, it outbox.Item) (*mail.Msg, error) {
	t, err := w.outbox.Ticket(ctx, it.Owed.TicketID)
	if err != nil {
		return nil, fmt.Errorf("read ticket %s: %w", it.Owed.TicketID, err)
	}
	p, err := it.Pending(t)
	if err != nil {
		return nil, err
	}
	return w.render.Message(p)
}

// giveUp records a permanent failure of it: the ticket's history gets a
// delivery failure (the domain's entry) as the notice leaves the outbox.
func (w *Worker) giveUp(ctx context.Context, it outbox.Item, reason string) (bool, error) {
	at := w.now()
	record := func(t *ticket.Ticket) { t.DeliveryFailed(it.To.Addr, reason, "", at) }
	if err := w.outbox.Failed(ctx, it.Seq, record); err != nil {
		return false, fmt.Errorf("outbox failed %d: %w", it.Seq, err)
	}
	w.failed.Add(1)
	return true, nil
}

// messageLevel reports whether a temporary failure concerns only this
// message (a 4xx reply to its recipient or content), not the server.
func messageLevel(err error) bool {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return false
	}
	code := se.ErrorCode()
	return code >= 400 && code < 500 && se.Reason != mail.ErrConnCheck && se.Reason != mail.ErrSMTPMailFrom
}

// backoff returns the wait after attempts earlier failures: MinBackoff
// doubled attempts times, capped at MaxBackoff, with ±25% jitter so that
// notices that failed together do not all retry together.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.minBack
	for i := 0; i < attempts && d < w.maxBack; i++ {
		d *= 2
	}
	if d > w.maxBack {
		d = w.maxBack
	}
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	d += jitter
	if d < w.minBack {
		d = w.minBack
	}
	if d > w.maxBack {
		d = w.maxBack
	}
	return d
}

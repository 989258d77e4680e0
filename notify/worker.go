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
	// every notice of a stream (a ticket's notices to one recipient,
	// [outbox.Stream]) behind an earlier one of the same stream that is not
	// yet due.
	Due(ctx context.Context, now time.Time, max int) ([]outbox.Item, error)
	// Ticket reads a ticket with its history, to render a notice about it.
	Ticket(ctx context.Context, id ticket.ID) (*ticket.Ticket, error)
	// MarkSent removes the notices after the server accepted them, in one
	// transaction.
	MarkSent(ctx context.Context, seqs []uint64, at time.Time) error
	// Retry records a transient failure and when to try again.
	Retry(ctx context.Context, seq uint64, next time.Time, reason string) error
	// Failed records a permanent failure: the notice leaves the outbox and
	// record, which appends the failure to the history, is applied to its
	// ticket, in one transaction.
	Failed(ctx context.Context, seq uint64, record func(*ticket.Ticket)) error
}

// MessageSender submits one message; [*Sender] is one. Errors wrapping
// [ErrPermanent] are final; errors wrapping [ErrUnavailable] say the server
// took nothing (the message was not offered); any other is retried.
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
	// else wakes it (a kick, or the retry of a notice it rescheduled).
	// Zero means 2s.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait before retrying a notice
	// after a temporary failure of its own: MinBackoff doubled for each
	// earlier failed attempt, with jitter, capped at MaxBackoff. Zero means
	// 5s and 30m.
	MinBackoff, MaxBackoff time.Duration
	// MaxPause caps the pause of the whole worker while the server takes
	// no mail at all ([ErrUnavailable]): MinBackoff doubled for each
	// failed pass in a row, at most MaxPause (and at most MaxBackoff).
	// Such a failure is not charged to the notice that met it. Zero means
	// 30s.
	MaxPause time.Duration
	// GiveUpAfter is how long after it was committed a notice that keeps
	// failing temporarily is given up: its last attempt is due then at the
	// latest, and if that fails too it leaves the outbox and the failure is
	// recorded on its ticket, as for a 5xx. Time
	// while the server takes no mail at all counts (the notice is old) but
	// does not give it up: only a failure of its own does. Zero means 72h.
	GiveUpAfter time.Duration
	// BatchSize is how many notices one call to Outbox.Due returns at most.
	// Zero means 100.
	BatchSize int
	// Parallel is how many notices are delivered at once, never two of one
	// stream; the Sender should have as many connections. Zero means 1.
	Parallel int
	// Busy, when set, reports that the intake has a backlog in hand (more
	// mail waiting than one batch): while it does, notices go one at a time,
	// leaving the CPUs to recording the requests. Each is still
	// acknowledged once recorded; the other connections resume when the
	// backlog is in. Nil means never busy.
	Busy func() bool
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives delivery events. Nil means slog.Default().
	Logger *slog.Logger
}

// Stats counts what a [Worker] did since it was made, and says whether the
// server takes mail.
type Stats struct {
	Sent    uint64 // accepted by the server
	Retried uint64 // temporary failures, rescheduled
	Failed  uint64 // permanent failures and notices given up, recorded on the ticket
	// Unavailable is the last error of a server that took no mail at all
	// (unreachable, refusing the connection, the sender or the
	// credentials), since UnavailableSince; empty once it takes mail.
	Unavailable      string
	UnavailableSince time.Time
}

// Worker delivers the outbox: it renders each due notice, sends it and
// records the outcome. What is ordered is a stream, the notices of one
// ticket to one recipient ([outbox.Stream]): once one fails temporarily, the
// later ones of the same stream wait, the ticket's notices to other
// recipients do not. A stuck recipient holds its own later notices of the
// ticket for at most GiveUpAfter: then the stuck notice is given up and
// recorded as a delivery failure on the ticket, and the next one is tried.
// A notice is marked sent only after the server accepted it, so a crash
// between the two may send it twice but never loses it. With Parallel
// deliveries the marks of those that end together are committed in one
// transaction, and each delivery waits for its mark before its connection
// takes the next notice: a crash doubles at most the notices in flight,
// one per connection.
//
// Each notice has its own backoff; the worker wakes for the earliest retry
// it scheduled, for a kick, and every Interval. While the server takes no
// mail at all the worker pauses for a short, capped time that a kick never
// lengthens, and the notices keep their schedule.
//
// Run, Flush, Kick and Stats are safe for concurrent use; only one pass over
// the outbox runs at a time.
type Worker struct {
	outbox      Outbox
	render      atomic.Pointer[Renderer] // swapped by SetRenderer
	send        MessageSender
	interval    time.Duration
	minBack     time.Duration
	maxBack     time.Duration
	maxPause    time.Duration
	giveUpAfter time.Duration
	batch       int
	parallel    int
	busy        func() bool
	now         func() time.Time
	log         *slog.Logger

	kick  chan struct{}
	drain sync.Mutex

	sent, retried, failed atomic.Uint64

	marks sentMarks

	mu        sync.Mutex // guards the fields below
	retryAt   time.Time  // the earliest retry scheduled and not yet passed
	downErr   string     // Stats.Unavailable
	downSince time.Time
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
		outbox: opts.Outbox, send: opts.Sender,
		interval: opts.Interval, minBack: opts.MinBackoff, maxBack: opts.MaxBackoff,
		maxPause: opts.MaxPause, giveUpAfter: opts.GiveUpAfter, batch: opts.BatchSize, parallel: max(opts.Parallel, 1), busy: opts.Busy, now: opts.Now, log: opts.Logger,
		kick: make(chan struct{}, 1),
	}
	w.render.Store(opts.Renderer)
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
	if w.maxPause <= 0 {
		w.maxPause = 30 * time.Second
	}
	w.maxPause = min(max(w.maxPause, w.minBack), w.maxBack)
	if w.giveUpAfter <= 0 {
		w.giveUpAfter = 72 * time.Hour
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
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{Sent: w.sent.Load(), Retried: w.retried.Load(), Failed: w.failed.Load(),
		Unavailable: w.downErr, UnavailableSince: w.downSince}
}

// Run delivers the outbox until ctx ends, then returns nil. It looks at the
// outbox whenever [Worker.Kick] is called, when the earliest retry it
// scheduled is due, and every Interval. While the server takes no mail or
// the outbox fails, it pauses (MinBackoff doubling up to MaxPause); a kick
// during the pause waits for its end and does not lengthen it.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	failures := 0
	var pausedUntil time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.kick:
			if w.now().Before(pausedUntil) {
				continue // the timer ends the pause
			}
		}
		next := w.interval
		if err := w.pass(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			next = w.capped(failures, w.maxPause)
			failures++
			pausedUntil = w.now().Add(next)
			var unavailable *errUnavailable
			if errors.As(err, &unavailable) {
				w.log.Warn("smtp server takes no mail; delivery paused", "err", unavailable.err, "retry_in", next)
			} else {
				w.log.Warn("outbox pass failed", "err", err, "retry_in", next)
			}
		} else {
			failures, pausedUntil = 0, time.Time{}
			w.mu.Lock()
			if at := w.retryAt; !at.IsZero() {
				next = min(next, max(at.Sub(w.now()), 0))
			}
			w.mu.Unlock()
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
	w.mu.Lock()
	if !w.retryAt.After(w.now()) {
		w.retryAt = time.Time{} // this pass sees them; those failing again set it anew
	}
	w.mu.Unlock()
	seen := make(map[uint64]bool)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		due, err := w.outbox.Due(ctx, w.now(), w.batch)
		if err != nil {
			return fmt.Errorf("outbox due: %w", err)
		}
		// The batch's fresh notices by stream, the streams in the order of
		// their first notice.
		var streams [][]outbox.Item
		at := make(map[outbox.Stream]int)
		for _, p := range due {
			if seen[p.Seq] {
				continue
			}
			seen[p.Seq] = true
			i, ok := at[p.Stream()]
			if !ok {
				i = len(streams)
				at[p.Stream()] = i
				streams = append(streams, nil)
			}
			streams[i] = append(streams[i], p)
		}
		if len(streams) == 0 {
			return nil
		}
		released, err := w.deliverStreams(ctx, streams)
		if err != nil {
			return err
		}
		if len(due) < w.batch && !released {
			return nil
		}
	}
}

// deliverStreams delivers the notices of streams, Parallel at a time (one
// while the intake is Busy): each
// stream's in order by one goroutine, which stops at the first one
// rescheduled (the later ones wait behind it). It reports whether a notice
// left the outbox (the next of its stream may be due); an error stops every
// goroutine before its next notice and is returned once those in flight end.
func (w *Worker) deliverStreams(ctx context.Context, streams [][]outbox.Item) (released bool, err error) {
	var (
		mu    sync.Mutex // guards next, released, err
		next  int        // the next stream to take
		wg    sync.WaitGroup
		first error
	)
	take := func() []outbox.Item {
		mu.Lock()
		defer mu.Unlock()
		if first != nil || ctx.Err() != nil || next == len(streams) {
			return nil // shutting down or failed: start no new notice
		}
		next++
		return streams[next-1]
	}
	parallel := w.parallel
	if w.busy != nil && w.busy() {
		parallel = 1
	}
	for range min(parallel, len(streams)) {
		wg.Go(func() {
			for items := take(); items != nil; items = take() {
				for _, p := range items {
					ok, err := w.deliver(ctx, p)
					mu.Lock()
					released = released || ok
					if err != nil && first == nil {
						first = err
					}
					stop := first != nil || ctx.Err() != nil
					mu.Unlock()
					if !ok || stop {
						break // order per stream: the rest wait behind the one that failed
					}
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return released, first
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
	if errors.Is(err, ErrUnavailable) {
		// The server took nothing: the notice was not offered, so it keeps
		// its schedule and the pass stops (the rest would fail alike).
		w.retried.Add(1)
		w.setDown(err)
		return false, &errUnavailable{err}
	}
	w.setDown(nil)
	switch {
	case err == nil:
		// The server accepted it: only now does it leave the outbox.
		if serr := w.marks.mark(ctx, w, it.Seq); serr != nil {
			return false, fmt.Errorf("outbox sent %d (the mail went out and may be sent again): %w", it.Seq, serr)
		}
		w.sent.Add(1)
		w.log.Info("notice sent", "ticket_id", id, "rcpt", rcpt, "kind", kind, "attempt", it.Attempts+1)
		return true, nil
	case errors.Is(err, ErrPermanent):
		w.log.Error("notice rejected permanently", "ticket_id", id, "rcpt", rcpt, "kind", kind, "attempt", it.Attempts+1, "err", err)
		return w.giveUp(ctx, it, err.Error())
	}
	if age := w.now().Sub(it.CreatedAt); age >= w.giveUpAfter {
		w.log.Error("notice given up", "ticket_id", id, "rcpt", rcpt, "kind", kind, "attempt", it.Attempts+1, "age", age.Round(time.Second), "err", err)
		return w.giveUp(ctx, it, fmt.Sprintf("gave up after %s of temporary failures: %v", w.giveUpAfter, err))
	}
	// The last attempt comes at GiveUpAfter at the latest, so that a stuck
	// notice holds its stream no longer than that.
	next := w.now().Add(w.backoff(it.Attempts))
	if last := it.CreatedAt.Add(w.giveUpAfter); next.After(last) {
		next = last
	}
	w.log.Warn("notice delivery failed, will retry", "ticket_id", id, "rcpt", rcpt, "kind", kind,
		"attempt", it.Attempts+1, "retry_in", next.Sub(w.now()), "err", err)
	if rerr := w.outbox.Retry(ctx, it.Seq, next, err.Error()); rerr != nil {
		return false, fmt.Errorf("outbox retry %d: %w", it.Seq, rerr)
	}
	w.retried.Add(1)
	w.mu.Lock()
	if w.retryAt.IsZero() || next.Before(w.retryAt) {
		w.retryAt = next
	}
	w.mu.Unlock()
	return false, nil
}

// setDown records that the server takes no mail (err) or takes mail again
// (nil), for [Worker.Stats].
func (w *Worker) setDown(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.downErr, w.downSince = "", time.Time{}
		return
	}
	if w.downSince.IsZero() {
		w.downSince = w.now()
	}
	w.downErr = err.Error()
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
	return w.render.Load().Message(p)
}

// SetRenderer makes r render the notices sent from now on (templates or
// language reloaded); the one being sent finishes with the old. Safe for
// concurrent use; a nil r is ignored.
func (w *Worker) SetRenderer(r *Renderer) {
	if r != nil {
		w.render.Store(r)
	}
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

// backoff returns the wait after attempts earlier failures: MinBackoff
// doubled attempts times, capped at MaxBackoff, with ±25% jitter so that
// notices that failed together do not all retry together.
func (w *Worker) backoff(attempts int) time.Duration {
	return w.capped(attempts, w.maxBack)
}

// capped is MinBackoff doubled attempts times, at most limit, with ±25%
// jitter, never below MinBackoff nor above limit.
func (w *Worker) capped(attempts int, limit time.Duration) time.Duration {
	d := w.minBack
	for i := 0; i < attempts && d < limit; i++ {
		d *= 2
	}
	if d > limit {
		d = limit
	}
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	d += jitter
	if d < w.minBack {
		d = w.minBack
	}
	if d > limit {
		d = limit
	}
	return d
}

// sentMarks is a group commit of the Sent marks of concurrent deliveries:
// a mark that arrives while another commit runs waits for it and goes
// with the others that arrived meanwhile into the next transaction, run by
// the first of them.
type sentMarks struct {
	mu    sync.Mutex
	busy  bool // a commit runs
	queue []sentMark
}

// sentMark is a mark waiting for a commit; done receives its outcome, or
// nil with lead set to make its delivery run the next commit.
type sentMark struct {
	seq  uint64
	done chan markOutcome
}

type markOutcome struct {
	err  error
	lead bool
}

// mark records notice seq as sent and returns once that is committed.
func (m *sentMarks) mark(ctx context.Context, w *Worker, seq uint64) error {
	me := sentMark{seq: seq, done: make(chan markOutcome, 1)}
	m.mu.Lock()
	m.queue = append(m.queue, me)
	lead := !m.busy
	m.busy = true
	m.mu.Unlock()
	if !lead {
		if o := <-me.done; !o.lead {
			return o.err
		}
	}
	m.mu.Lock()
	batch := m.queue
	m.queue = nil
	m.mu.Unlock()
	seqs := make([]uint64, len(batch))
	for i, b := range batch {
		seqs[i] = b.seq
	}
	err := w.outbox.MarkSent(ctx, seqs, w.now())
	m.mu.Lock()
	if len(m.queue) > 0 {
		m.queue[0].done <- markOutcome{lead: true} // those that came meanwhile
	} else {
		m.busy = false
	}
	m.mu.Unlock()
	for _, b := range batch {
		if b.done != me.done {
			b.done <- markOutcome{err: err}
		}
	}
	return err
}

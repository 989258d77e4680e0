package mailbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Checkpoint is the position of the last message fully processed: its UID
// under the mailbox's UIDVALIDITY. The zero value means the mailbox was never
// followed: the next round is a first start. RFC 3501 §2.3.1.1: a UID means
// something only together with the UIDVALIDITY it was assigned under.
type Checkpoint struct {
	UIDValidity, UID uint32
	// Base is the highest UID the mailbox had when it was first followed
	// under this UIDVALIDITY (its first start, or a resync). The messages
	// up to Base are taken only if Select takes them; while UID is below
	// Base the first start is under way. Zero when nothing is skipped.
	Base uint32
	// Select is the rule of that first start.
	Select FirstStart
}

// Checkpoints is the caller's store of the [Checkpoint]. The handler
// commits each message's checkpoint with its effects; the poller itself
// saves one only where no message is committed: when a first start or a
// resync decides what it takes, and when it has taken it all.
type Checkpoints interface {
	// Checkpoint reads the committed checkpoint; it is called at the
	// start of every round.
	Checkpoint(ctx context.Context) (Checkpoint, error)
	// SetCheckpoint durably records cp.
	SetCheckpoint(ctx context.Context, cp Checkpoint) error
}

// Message is one message handed to a [Handler].
type Message struct {
	// UIDValidity and UID identify the message; the handler commits them as
	// the new [Checkpoint].
	UIDValidity, UID uint32
	// Size is the message's full size in bytes (RFC822.SIZE). When it
	// exceeds [Options.MaxSize], Body holds only the first MaxSize bytes;
	// the handler's parser tells the cut from the size, and says so once.
	Size int64
	// InternalDate is when the server received the message.
	InternalDate time.Time
	// base and sel are carried from the round's checkpoint into the one
	// this message commits.
	base uint32
	sel  FirstStart
	// Body streams the raw message (RFC 5322) from the server. It is valid
	// only during the handler call. A read that fails, including a
	// connection lost before the last byte, returns an error rather than
	// io.EOF; the handler must then return an error. Whatever the handler
	// leaves unread is discarded.
	Body io.Reader
}

// Checkpoint returns the checkpoint the handler commits with m.
func (m *Message) Checkpoint() Checkpoint {
	return Checkpoint{UIDValidity: m.UIDValidity, UID: m.UID, Base: m.base, Select: m.sel}
}

// Handler processes one message. It returns nil only after it has durably
// committed the message's effects together with the checkpoint
// m.Checkpoint(); the poller then flags the message \Seen (and moves
// it). A non-nil error means nothing was committed: the poller leaves the
// message alone, stops the round, logs the error and retries from the
// checkpoint after a backoff. A message that cannot become a ticket is the
// handler's business (quarantine it and return nil), so that it does not
// block the messages behind it. Handlers are called one at a time, in UID
// order. The ctx a handler gets is not cancelled when Run's context ends:
// the message in hand is finished (the connection stays open for it up to
// [HandlerGrace]) and no new one is started.
type Handler func(ctx context.Context, m *Message) error

// BatchHandler processes messages in batches, so that a backlog costs one
// commit per batch rather than one per message ([Poller.RunBatch]). The
// poller stages each message it has fetched and calls Commit as soon as no
// further message is already waiting on the server (a lone message is
// committed at once), after [MaxBatch] messages or [MaxBatchBytes] bytes,
// and before it stops; it flags the committed messages \Seen (and moves
// them) only after Commit. Calls are made one at a time, in UID order, with
// a ctx that is not cancelled when Run's context ends.
type BatchHandler interface {
	// Stage processes m up to its commit: its effects need not be durable
	// yet, and m.Body is valid only during the call. nil means m is
	// staged, to be committed by the next Commit; an error means m was
	// not staged and is retried as a [Handler]'s error is, the messages
	// staged before it staying staged.
	Stage(ctx context.Context, m *Message) error
	// Commit durably commits the messages staged since the last Commit,
	// in order, each with its effects and the checkpoint of the last one
	// committed. It returns how many of them, from the first, are
	// committed: all of them when the error is nil. The others are
	// forgotten by both sides and handed over again after a backoff.
	Commit(ctx context.Context) (int, error)
}

// Bounds of a batch of [BatchHandler]: the poller commits after MaxBatch
// staged messages, or once their sizes add up to MaxBatchBytes.
const (
	MaxBatch      = chunkSize
	MaxBatchBytes = 64 << 20
)

// oneByOne is a [Handler] seen as a [BatchHandler]: each message is
// committed by Stage, Commit only counts them.
type oneByOne struct {
	h      Handler
	staged int
}

func (o *oneByOne) Stage(ctx context.Context, m *Message) error {
	if err := o.h(ctx, m); err != nil {
		return err
	}
	o.staged++
	return nil
}

func (o *oneByOne) Commit(context.Context) (int, error) {
	n := o.staged
	o.staged = 0
	return n, nil
}

// Status is a snapshot of a [Poller]'s health.
type Status struct {
	// Connected is true while a connection with the mailbox selected is up.
	Connected bool
	// Idling is true while the poller waits for new mail with IDLE.
	Idling bool
	// UIDValidity is the mailbox's UIDVALIDITY seen on the last connection.
	UIDValidity uint32
	// LastPoll is when the last round (search for new mail and hand
	// every new message over) ended without error; zero if none yet.
	LastPoll time.Time
	// LastFetch is when the handler last committed a message; zero if
	// none yet.
	LastFetch time.Time
	// Reconnects counts the connections made after the first one.
	Reconnects int
	// OldestUnprocessed is the INTERNALDATE of the oldest message known to
	// be waiting for the handler, zero if none: a value far in the past
	// means processing is stuck.
	OldestUnprocessed time.Time
	// LastError describes the last connection, server or handler error; it
	// is cleared by a successful round.
	LastError string
}

// Poller reads one IMAP mailbox and hands new messages to a [Handler].
// Create it with [New]. Its methods are safe for concurrent use, but only one
// [Poller.Run] may run at a time.
type Poller struct {
	opts Options
	log  *slog.Logger

	running atomic.Bool

	mu     sync.Mutex
	status Status

	// Used only by the goroutine running Run.
	warnedNoMove bool
	// oneAtATime is set once the server answered a FETCH out of UID
	// order: from then on each body is fetched on its own.
	oneAtATime bool
}

// New validates opts and returns a Poller. It does no I/O. The error lists
// every problem found, for example a missing Host or clear text to a host
// that is not loopback.
func New(opts Options) (*Poller, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Poller{
		opts: o,
		log:  o.Logger.With("component", "mailbox", "mailbox", o.Mailbox),
	}, nil
}

// Status returns a snapshot of the poller's health. It does no I/O.
func (p *Poller) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

func (p *Poller) update(f func(s *Status)) {
	p.mu.Lock()
	f(&p.status)
	p.mu.Unlock()
}

// Run reads the mailbox until ctx ends: it connects, hands every message
// above the checkpoint read from cps to h (on a first start, those that
// [Options.FirstStart] takes), waits for new mail (IDLE or
// polling), and reconnects with backoff whenever the connection fails. It
// logs problems instead of returning them and returns nil when ctx ends; it
// returns an error only if cp or h is nil or Run is already running.
func (p *Poller) Run(ctx context.Context, cp Checkpoints, h Handler) error {
	if h == nil {
		return errors.New("mailbox: Run needs Checkpoints and a Handler")
	}
	return p.RunBatch(ctx, cp, &oneByOne{h: h})
}

// RunBatch is [Poller.Run] with a [BatchHandler]: the messages are staged
// one by one and committed in batches.
func (p *Poller) RunBatch(ctx context.Context, cp Checkpoints, h BatchHandler) error {
	if cp == nil || h == nil {
		return errors.New("mailbox: Run needs Checkpoints and a Handler")
	}
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("mailbox: Run is already running")
	}
	defer p.running.Store(false)

	bo := &backoff{min: p.opts.BackoffMin, max: p.opts.BackoffMax}
	var (
		dialed      bool      // a connection was made before
		connected   bool      // a connection worked before
		outageStart time.Time // zero while not in an outage
		attempts    int       // failed attempts in this outage
		// One log line per outage, not one per attempt: the next failure
		// is logged above Debug only after nextLog, or if it needs an
		// operator and none such was logged yet.
		nextLog        time.Time
		operatorLogged bool
	)
	// failed logs a failed attempt to get a working connection.
	failed := func(err error, delay time.Duration) {
		attempts++
		now := time.Now()
		if outageStart.IsZero() {
			outageStart = now
		}
		p.update(func(s *Status) { s.LastError = err.Error() })
		switch {
		case isOperatorError(err) && (!operatorLogged || now.After(nextLog)):
			p.log.Error("connect failed", "err", err, "attempt", attempts, "retry_in", delay)
			operatorLogged, nextLog = true, now.Add(outageLogInterval)
		case now.After(nextLog):
			p.log.Warn("connect failed", "err", err, "attempt", attempts, "retry_in", delay)
			nextLog = now.Add(outageLogInterval)
		default:
			p.log.Debug("connect failed", "err", err, "attempt", attempts, "retry_in", delay)
		}
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}

		cn, err := p.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			delay := bo.next()
			failed(err, delay)
			t.Reset(delay)
			continue
		}
		p.update(func(s *Status) {
			if dialed {
				s.Reconnects++
			}
			s.Connected, s.UIDValidity = true, cn.uidValidity
		})
		dialed = true

		// The outage ends with the first round that gets through, not
		// with a connection that a flaky server drops straight away.
		healthy := false
		onHealthy := func() {
			if healthy {
				return
			}
			healthy = true
			if connected {
				p.log.Info("reconnected", "uidvalidity", cn.uidValidity, "attempt", attempts+1,
					"downtime", time.Since(outageStart).Round(time.Millisecond))
			} else {
				p.log.Info("connected", "uidvalidity", cn.uidValidity, "idle", cn.caps.Has(imap.CapIdle))
			}
			connected = true
			outageStart, attempts, nextLog, operatorLogged = time.Time{}, 0, time.Time{}, false
		}
		err = p.serve(ctx, cn, cp, h, bo, onHealthy)
		cn.close()
		p.update(func(s *Status) { s.Connected, s.Idling = false, false })
		if ctx.Err() != nil {
			return nil
		}
		delay := bo.next()
		if !healthy {
			failed(err, delay)
		} else {
			p.update(func(s *Status) { s.LastError = err.Error() })
			p.log.Warn("connection lost", "uidvalidity", cn.uidValidity, "err", err, "retry_in", delay)
			outageStart, nextLog = time.Now(), time.Now().Add(outageLogInterval)
		}
		t.Reset(delay)
	}
}

// outageLogInterval is how often a long outage is logged again above Debug.
const outageLogInterval = time.Hour

// retryError stops a round on a healthy connection: the handler or the
// checkpoint store failed, or the server did not send a body. The round is
// retried from the checkpoint after a backoff, without reconnecting.
type retryError struct {
	op  string // "handler", "checkpoint read", "checkpoint write", "body fetch"
	uid uint32 // zero for a checkpoint read
	err error
}

func (e *retryError) Error() string {
	if e.uid == 0 {
		return fmt.Sprintf("%s: %v", e.op, e.err)
	}
	return fmt.Sprintf("%s uid %d: %v", e.op, e.uid, e.err)
}

func (e *retryError) Unwrap() error { return e.err }

// serve runs rounds on one connection until it fails or ctx ends. It calls
// healthy after each round that the server let through.
func (p *Poller) serve(ctx context.Context, cn *conn, cp Checkpoints, h BatchHandler, bo *backoff, healthy func()) error {
	log := p.log.With("uidvalidity", cn.uidValidity)
	moving := p.opts.ProcessedMailbox != "" && canMove(cn.caps)
	if p.opts.ProcessedMailbox != "" && !moving && !p.warnedNoMove {
		log.Warn("server has neither MOVE nor UIDPLUS: processed mail is only flagged \\Seen",
			"processed_mailbox", p.opts.ProcessedMailbox)
		p.warnedNoMove = true
	}
	if moving {
		if err := p.ensureProcessed(cn); err != nil {
			return err
		}
	}

	housekept := false
	for {
		err := p.round(ctx, cn, cp, h, moving, !housekept)
		var re *retryError
		if err == nil {
			housekept = true
			bo.reset()
			p.update(func(s *Status) { s.LastPoll, s.LastError, s.OldestUnprocessed = time.Now(), "", time.Time{} })
			healthy()
			err = p.waitForMail(ctx, cn)
		} else if errors.As(err, &re) {
			delay := bo.next()
			p.update(func(s *Status) { s.LastError = err.Error() })
			healthy()
			if re.uid != 0 {
				log.Warn(re.op+" failed", "uid", re.uid, "err", re.err, "retry_in", delay)
			} else {
				log.Warn(re.op+" failed", "err", re.err, "retry_in", delay)
			}
			err = cn.sleep(ctx, delay)
		}
		if err != nil {
			return err
		}
	}
}

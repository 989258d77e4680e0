// Package daemon is ticketd's main loop: it takes each new mail from the
// mailbox, parses it, routes and applies it through the service, and
// commits the ticket change, the notifications it owes and the mailbox
// checkpoint in one transaction; then it wakes the outbox worker.
//
// Mail is taken in batches ([Loop.Stage], [Loop.Commit]): while the poller
// has further mail waiting, each mail is parsed, its raw copy and
// attachments written to the blob store without a sync, and its sender
// checked; then the blobs of the whole batch are made durable with one sync
// and the batch applied in one transaction that moves the checkpoint to its
// last mail, and the outbox worker is woken once. A crash before that
// commit loses the whole batch, which is fetched again (and deduplicated
// by Message-ID); a lone mail is a batch of one, committed at once.
//
// A mail that cannot be processed (a bug, a record that does not decode, a
// panic) is quarantined with its reason, committed with the checkpoint so it
// never blocks the mails behind it, and can be re-run by an operator; the
// mails of its batch before it are committed without it, the ones after it
// go on. A
// failure to write (read-only data directory, full disk) commits nothing:
// the mail is left unflagged on the server and retried with backoff.
//
// The storage it needs is declared here, as [Store] and [Tx]: the
// service's transaction with the checkpoint and the quarantine besides, so
// that a mail's ticket change and its checkpoint are one transaction.
// internal/store (bbolt) implements them.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketd/ticketd/internal/blob"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/mailbox/parse"
	"github.com/ticketd/ticketd/ticket"
)

// Fetcher is the mailbox side of the loop; *mailbox.Poller implements it.
type Fetcher interface {
	RunBatch(ctx context.Context, cps mailbox.Checkpoints, h mailbox.BatchHandler) error
	Status() mailbox.Status
}

// Outbox is the notification side, woken after a commit that owes
// notifications; *notify.Worker implements it.
type Outbox interface {
	Kick()
}

// Tx is what the loop reads and writes within one transaction: the
// service's part of a mail ([service.Tx]), and the mailbox checkpoint and
// the quarantine, committed with it.
type Tx interface {
	service.Tx
	// Checkpoint returns the checkpoint of mailbox (zero when none).
	Checkpoint(mailbox string) (record.Checkpoint, error)
	// SetCheckpoint records the checkpoint of mailbox.
	SetCheckpoint(mailbox string, cp record.Checkpoint) error
	// Quarantine records q (a new record when q.ID is zero, else in
	// place) and returns it with its ID.
	Quarantine(q record.Quarantined) (record.Quarantined, error)
	// Quarantined returns quarantine record id; the error wraps
	// [record.ErrNotFound] when there is none.
	Quarantined(id uint64) (record.Quarantined, error)
	// Release removes quarantine record id.
	Release(id uint64) error
}

// Store runs the loop's transactions: Update commits all of fn's writes
// when it returns nil and none otherwise; View only reads.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Options configures a [Loop]. Store, Service, Blobs and Senders are
// required.
type Options struct {
	Store   Store
	Service *service.Service
	Blobs   *blob.Store
	// Senders checks who sent each mail; only a verified sender's commands
	// change a ticket.
	Senders SenderChecker
	// VerifyTimeout bounds the sender check of one mail, DNS lookups of
	// DKIM keys included; zero means 10s.
	VerifyTimeout time.Duration
	// Fetcher and Outbox may be nil for a loop that only processes mail
	// handed to it (tests, quarantine re-runs).
	Fetcher Fetcher
	Outbox  Outbox
	// Mailbox names the checkpoint; "" means INBOX.
	Mailbox string
	// MaxSize is the largest raw mail kept; zero means 25 MiB.
	MaxSize int64
	// Limits bound what is unpacked of one mail; zero fields mean
	// parse's defaults.
	Limits  parse.Limits
	Metrics *Metrics
	Now     func() time.Time
	Logger  *slog.Logger
}

// Loop runs the daemon. Its methods are safe for concurrent use.
type Loop struct {
	opts Options
	log  *slog.Logger
	// mu serialises mail processing: the poller's handler and operator
	// re-runs of quarantined mail.
	mu sync.Mutex
	// limits are opts.Limits until SetLimits.
	limits atomic.Pointer[parse.Limits]
	// staged are the mails staged since the last Commit, their blobs in
	// batch (both under mu).
	staged []staged
	batch  *blob.Batch
	// backlogUntil is when the backlog the last full batch showed counts as
	// taken in (Unix nanoseconds; 0 once a batch was not full).
	backlogUntil atomic.Int64
}

// backlogGrace is how long after a full batch the intake counts as having
// a backlog in hand: the next batch commits well within it.
const backlogGrace = 2 * time.Second

// Backlogged reports whether the intake has a backlog in hand: its last
// commit was a full batch (the poller had more mail waiting), moments ago.
// The outbox then delivers one notice at a time, so that recording the
// backlog gets the CPUs first. Safe for concurrent use.
func (l *Loop) Backlogged() bool { return time.Now().UnixNano() < l.backlogUntil.Load() }

// SetLimits puts l in force for the mails parsed from now on (a
// configuration reloaded). Safe for concurrent use.
func (l *Loop) SetLimits(lim parse.Limits) { l.limits.Store(&lim) }

// New checks opts and returns a Loop; it does no I/O.
func New(opts Options) (*Loop, error) {
	if opts.Store == nil || opts.Service == nil || opts.Blobs == nil || opts.Senders == nil {
		return nil, errors.New("daemon: Store, Service, Blobs and Senders are required")
	}
	if opts.VerifyTimeout == 0 {
		opts.VerifyTimeout = 10 * time.Second
	}
	if opts.Mailbox == "" {
		opts.Mailbox = "INBOX"
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = mailbox.DefaultMaxSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	l := &Loop{opts: opts, log: opts.Logger.With("component", "daemon", "mailbox", opts.Mailbox), batch: opts.Blobs.Batch()}
	l.SetLimits(opts.Limits)
	return l, nil
}

// Run fetches and processes mail until ctx ends, and returns when the
// fetcher has stopped: the mail in hand is finished, or left unflagged for
// the next start. It starts no goroutine of its own; delivering what the
// commits owe is the outbox worker's, which the caller runs (internal/app).
func (l *Loop) Run(ctx context.Context) error {
	if l.opts.Fetcher == nil {
		return errors.New("daemon: Run needs a Fetcher")
	}
	err := l.opts.Fetcher.RunBatch(ctx, checkpoints{l}, l)
	l.log.Info("fetching stopped")
	return err
}

// checkpoints is the store's checkpoint of the loop's mailbox.
type checkpoints struct{ l *Loop }

// Checkpoint implements [mailbox.Checkpoints].
func (c checkpoints) Checkpoint(ctx context.Context) (mailbox.Checkpoint, error) {
	var cp record.Checkpoint
	err := c.l.opts.Store.View(ctx, func(tx Tx) error {
		var err error
		cp, err = tx.Checkpoint(c.l.opts.Mailbox)
		return err
	})
	return mailbox.Checkpoint{UIDValidity: cp.UIDValidity, UID: cp.UID, Base: cp.Base,
		Select: mailbox.FirstStart{Mode: mailbox.FirstStartMode(cp.FirstStart), Since: cp.Since}}, err
}

// SetCheckpoint implements [mailbox.Checkpoints].
func (c checkpoints) SetCheckpoint(ctx context.Context, cp mailbox.Checkpoint) error {
	return c.l.opts.Store.Update(ctx, func(tx Tx) error {
		return tx.SetCheckpoint(c.l.opts.Mailbox, toStoreCheckpoint(cp))
	})
}

func toStoreCheckpoint(cp mailbox.Checkpoint) record.Checkpoint {
	return record.Checkpoint{UIDValidity: cp.UIDValidity, UID: cp.UID, Base: cp.Base,
		FirstStart: string(cp.Select.Mode), Since: cp.Select.Since}
}

// Handle processes one message from the mailbox; it is a
// [mailbox.Handler]. It returns nil once the message's effects and the new
// checkpoint are committed (or the message is quarantined), and an error
// when nothing could be committed, so that the message is retried. It is
// [Loop.Stage] and [Loop.Commit] of a batch of one.
func (l *Loop) Handle(ctx context.Context, m *mailbox.Message) error {
	if err := l.Stage(ctx, m); err != nil {
		return err
	}
	_, err := l.Commit(ctx)
	return err
}

// Stage reads, parses and checks one message from the mailbox and keeps it
// for the next [Loop.Commit]: its blobs are written but not synced, and
// nothing is written to the store. With Commit it is the poller's
// [mailbox.BatchHandler]. An error means the message was not staged (the
// server could not be read, a blob not written, the sender not checked) and
// is retried.
func (l *Loop) Stage(ctx context.Context, m *mailbox.Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opts.Metrics.MailsFetched.Inc()
	// The server announces the whole size; parse decides whether the mail
	// was cut, here or by the poller's partial fetch.
	pm, err := l.parse(m.Body, m.Size, l.batch)
	if err != nil {
		// Reading from the server or writing the blob store failed: nothing
		// is staged and the poller retries.
		l.opts.Metrics.ProcessFailures.Inc()
		return fmt.Errorf("read uid %d: %w", m.UID, err)
	}
	cp := toStoreCheckpoint(m.Checkpoint())
	s, err := l.prepare(ctx, pm, l.batch, &cp, m.InternalDate, l.log.With("uidvalidity", m.UIDValidity, "uid", m.UID))
	if err != nil {
		l.opts.Metrics.ProcessFailures.Inc()
		return err
	}
	l.staged = append(l.staged, s)
	return nil
}

// Commit makes the blobs of the staged messages durable (one sync for them
// all), then applies the messages in one transaction that also moves the
// checkpoint to the last one, and wakes the outbox worker once. A message
// whose processing fails (a panic, a record that does not decode) is
// quarantined alone: the transaction is rolled back, the messages before it
// are committed in a transaction of their own, it is quarantined with its
// checkpoint, and the ones after it go on. A failure to write commits no
// more: Commit returns how many of the staged messages, from the first, are
// committed, and the others are forgotten, to be handed over again.
func (l *Loop) Commit(ctx context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	batch := l.staged
	l.staged = nil
	if len(batch) == 0 {
		return 0, nil
	}
	// Nothing the store refers to may be missing after a crash: the blobs
	// are durable before the transaction that names them.
	if err := l.batch.Sync(); err != nil {
		l.opts.Metrics.ProcessFailures.Inc()
		return 0, fmt.Errorf("commit %d mails: %w", len(batch), err)
	}
	results, err := l.commitBatch(ctx, batch)
	if len(batch) >= mailbox.MaxBatch {
		l.backlogUntil.Store(time.Now().Add(backlogGrace).UnixNano())
	} else {
		l.backlogUntil.Store(0)
	}
	return len(results), err
}

// staged is a mail parsed and checked, ready to be applied.
type staged struct {
	pm   *parse.Mail
	mail service.Mail
	// cp is the checkpoint it moves, nil for mail not from the mailbox.
	cp  *record.Checkpoint
	log *slog.Logger
}

// prepare checks the sender of pm, whose raw copy is in b, and maps it
// onto the service's mail.
func (l *Loop) prepare(ctx context.Context, pm *parse.Mail, b blobs, cp *record.Checkpoint, arrived time.Time, log *slog.Logger) (staged, error) {
	verified, err := l.verify(ctx, pm, b)
	if err != nil {
		return staged{}, err
	}
	mail := toServiceMail(pm, verified)
	mail.ArrivedAt = arrived
	log = log.With("message_id", mail.MessageID)
	if !verified.Verified {
		log.Info("sender not verified", "from", mail.From.Addr, "reason", verified.ReasonEN)
	}
	return staged{pm: pm, mail: mail, cp: cp, log: log}, nil
}

// commitBatch applies batch, each mail's blobs already durable, in as few
// transactions as its failures allow (see [Loop.Commit]), and returns what
// each of its mails did, from the first, as far as they are committed or
// quarantined.
func (l *Loop) commitBatch(ctx context.Context, batch []staged) ([]service.Result, error) {
	var done []service.Result
	notices := 0
	defer func() {
		if l.opts.Outbox != nil && notices > 0 {
			l.opts.Outbox.Kick()
		}
	}()
	for len(done) < len(batch) {
		part := batch[len(done):]
		for {
			results, failAt, procErr, err := l.apply(ctx, part)
			if err == nil {
				for i, res := range results {
					part[i].log.Info("mail processed", "ticket_id", res.TicketID, "outcome", res.Outcome, "notices", res.Notices, "refused", res.Refused)
					l.observe(res, part[i].mail.ArrivedAt)
					notices += res.Notices
				}
				done = append(done, results...)
				break
			}
			if procErr == nil {
				l.opts.Metrics.ProcessFailures.Inc()
				return done, fmt.Errorf("commit mail %s: %w", part[0].mail.MessageID, err)
			}
			if failAt > 0 {
				// The mails before the failing one, in a fresh transaction.
				part = part[:failAt]
				continue
			}
			if err := l.quarantine(ctx, part[0], procErr); err != nil {
				l.opts.Metrics.ProcessFailures.Inc()
				return done, err
			}
			res := service.Result{Outcome: "quarantined"}
			l.observe(res, part[0].mail.ArrivedAt)
			done = append(done, res)
			break
		}
	}
	return done, nil
}

// apply ingests part in one transaction that moves the checkpoint to its
// last mail's. When a mail's processing fails, nothing is committed and
// failAt and procErr say which mail and why; err is then procErr. Any other
// error is a failure to write.
func (l *Loop) apply(ctx context.Context, part []staged) (results []service.Result, failAt int, procErr, err error) {
	failAt = -1
	err = l.opts.Store.Update(ctx, func(tx Tx) error {
		results = results[:0]
		for i, s := range part {
			res, err := l.ingest(tx, s.mail)
			if err != nil {
				failAt, procErr = i, err
				return err
			}
			results = append(results, res)
		}
		if cp := part[len(part)-1].cp; cp != nil {
			return tx.SetCheckpoint(l.opts.Mailbox, *cp)
		}
		return nil
	})
	return results, failAt, procErr, err
}

// quarantine records s, whose processing failed with procErr, in a
// transaction of its own that also moves its checkpoint, so that it never
// blocks the mails behind it.
func (l *Loop) quarantine(ctx context.Context, s staged, procErr error) error {
	q := record.Quarantined{MessageID: s.mail.MessageID, From: s.mail.From.Addr, Subject: s.mail.Subject, Reason: procErr.Error(), ReceivedAt: l.opts.Now().UTC(),
		RawSHA256: s.pm.RawSHA256, RawSize: s.pm.RawSize, Mailbox: l.opts.Mailbox}
	if s.cp != nil {
		q.UID = s.cp.UID
	}
	err := l.opts.Store.Update(ctx, func(tx Tx) error {
		var err error
		q, err = tx.Quarantine(q)
		if err != nil {
			return err
		}
		if s.cp != nil {
			return tx.SetCheckpoint(l.opts.Mailbox, *s.cp)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("quarantine mail %s: %w", s.mail.MessageID, err)
	}
	l.opts.Metrics.Quarantined.Inc()
	s.log.Error("mail quarantined", "quarantine_id", q.ID, "err", procErr)
	return nil
}

// ingest runs the service, turning a panic into an error so that one mail
// never stops the daemon.
func (l *Loop) ingest(tx Tx, m service.Mail) (res service.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("panic while processing mail", "message_id", m.MessageID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error while processing the mail: %v", r)
		}
	}()
	return l.opts.Service.IngestTx(tx, m)
}

func (l *Loop) observe(res service.Result, arrived time.Time) {
	mt := l.opts.Metrics
	mt.Outcomes.WithLabelValues(res.Outcome).Inc()
	if res.Outcome == service.Opened {
		mt.TicketsOpened.Inc()
	}
	for _, r := range res.Results {
		if r.Status == ticket.ResultApplied {
			mt.CommandsApplied.Inc()
		} else {
			mt.CommandsRefused.Inc()
		}
	}
	if !arrived.IsZero() {
		mt.ArrivalToCommit.Observe(l.opts.Now().Sub(arrived).Seconds())
	}
}

// RetryQuarantined re-runs quarantined mail id from its stored raw copy;
// on success the record is released. It returns what the mail did.
func (l *Loop) RetryQuarantined(ctx context.Context, id uint64) (service.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var q record.Quarantined
	if err := l.opts.Store.View(ctx, func(tx Tx) error {
		var err error
		q, err = tx.Quarantined(id)
		return err
	}); err != nil {
		return service.Result{}, err
	}
	raw, err := l.opts.Blobs.Open(q.RawSHA256)
	if err != nil {
		return service.Result{}, fmt.Errorf("open raw mail of quarantine record %d: %w", id, err)
	}
	defer raw.Close()
	pm, err := l.parse(raw, q.RawSize, l.opts.Blobs)
	if err != nil {
		return service.Result{}, fmt.Errorf("read raw mail of quarantine record %d: %w", id, err)
	}
	// The sender is checked again, as at first intake: a re-run is no
	// shortcut around verification.
	verified, err := l.verify(ctx, pm, l.opts.Blobs)
	if err != nil {
		return service.Result{}, fmt.Errorf("re-run quarantine record %d: %w", id, err)
	}
	mail := toServiceMail(pm, verified)
	var res service.Result
	err = l.opts.Store.Update(ctx, func(tx Tx) error {
		var err error
		if res, err = l.ingest(tx, mail); err != nil {
			return err
		}
		return tx.Release(id)
	})
	if err != nil {
		_ = l.opts.Store.Update(ctx, func(tx Tx) error {
			q.Retries++
			q.Reason = err.Error()
			_, qerr := tx.Quarantine(q)
			return qerr
		})
		return res, fmt.Errorf("re-run quarantine record %d: %w", id, err)
	}
	if l.opts.Outbox != nil && res.Notices > 0 {
		l.opts.Outbox.Kick()
	}
	l.log.Info("quarantined mail re-run", "quarantine_id", id, "ticket_id", res.TicketID, "outcome", res.Outcome)
	return res, nil
}

// Ingest processes one raw mail that did not come from the mailbox (tests,
// tools): the same path as fetched mail, without a checkpoint.
func (l *Loop) Ingest(ctx context.Context, r io.Reader) (service.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pm, err := l.parse(r, 0, l.opts.Blobs)
	if err != nil {
		return service.Result{}, err
	}
	s, err := l.prepare(ctx, pm, l.opts.Blobs, nil, time.Time{}, l.log)
	if err != nil {
		return service.Result{}, err
	}
	results, err := l.commitBatch(ctx, []staged{s})
	if err != nil {
		return service.Result{}, err
	}
	return results[0], nil
}

// parse reads one raw mail of size bytes (zero when unknown) and hands its
// raw copy and attachments to b.
func (l *Loop) parse(r io.Reader, size int64, b blobs) (*parse.Mail, error) {
	return parse.Read(r, parse.Options{MaxSize: l.opts.MaxSize, Size: size, Limits: *l.limits.Load(), Sink: blobSink{b}})
}

// blobs is where a mail's raw copy and attachments go: the blob store
// (*blob.Store), or a batch of it whose syncs wait for the commit
// (*blob.Batch).
type blobs interface {
	Put(r io.Reader) (blob.Ref, error)
	PutSlice(sha, target string, off, n int64) (blob.Ref, error)
	Open(sha string) (io.ReadCloser, error)
}

// blobSink keeps what parse hands over in blobs.
type blobSink struct{ s blobs }

// Put implements [parse.Sink].
func (b blobSink) Put(r io.Reader) (string, int64, error) {
	ref, err := b.s.Put(r)
	return ref.SHA256, ref.Size, err
}

// PutSlice implements [parse.SliceSink]: a forwarded message is kept as a
// reference into the raw mail's blob, not a second copy.
func (b blobSink) PutSlice(rawSHA string, off, n int64, sha string) error {
	_, err := b.s.PutSlice(sha, rawSHA, off, n)
	return err
}

// toServiceMail maps a parsed mail and what was established about its
// sender onto what the service routes and applies; parse has already
// settled its identity and every note on its degradation.
func toServiceMail(pm *parse.Mail, sender ticket.Verification) service.Mail {
	m := service.Mail{
		Inbound: ticket.Inbound{
			MessageID:  pm.MessageID,
			From:       ticket.Address{Name: pm.From.Name, Addr: pm.From.Addr},
			Subject:    pm.Subject,
			Text:       pm.NewText,
			Body:       pm.Text,
			RawSHA256:  pm.RawSHA256,
			Auto:       pm.AutoReason,
			Problems:   append([]string(nil), pm.Problems...),
			ReturnPath: pm.ReturnPath,
			Sender:     sender,
		},
		InReplyTo:  pm.InReplyTo,
		References: pm.References,
	}
	if pm.From.Addr == parse.UnknownSender {
		// parse marks a mail that names no sender as automatic: nobody to
		// answer. A person may still have written it, so it opens a ticket
		// the desk sees with the requester unknown, to whom the rules send
		// nothing (or, naming nothing at all, it is set aside).
		m.From.Addr = ticket.UnknownRequester
		if m.Auto == parse.NoSenderReason {
			m.Auto = ""
		}
	}
	for _, list := range [][]parse.Address{pm.DeliveredTo, pm.To, pm.Cc} {
		for _, a := range list {
			m.Recipients = append(m.Recipients, a.Addr)
		}
	}
	for _, a := range pm.Cc {
		m.Cc = append(m.Cc, ticket.Address{Name: a.Name, Addr: a.Addr})
	}
	for _, a := range pm.Attachments {
		m.Attachments = append(m.Attachments, ticket.Attachment{Filename: a.Filename, ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256, Inline: a.Inline})
	}
	if b := pm.Bounce; b != nil {
		m.Bounce = &service.Bounce{OriginalMessageID: b.OriginalMessageID, Recipients: b.Recipients, Status: b.Status, Diagnostic: b.Diagnostic}
	}
	return m
}

package mailbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const (
	// chunkSize is how many new messages are fetched (metadata first, then
	// bodies) before the committed ones are flagged. It is also the
	// longest run of bodies asked for in one UID FETCH.
	chunkSize = 64
	// storeChunk bounds the UIDs named in one STORE or MOVE.
	storeChunk = 500
)

// meta is what the first FETCH of a round learns about a message.
type meta struct {
	uid  imap.UID
	size int64
	date time.Time
}

// round hands every message above the checkpoint to h, in UID order, and
// flags (and moves) the ones committed. With housekeep it first finishes
// messages at or below the checkpoint that a crash left unflagged.
func (p *Poller) round(ctx context.Context, cn *conn, cp Checkpoints, h BatchHandler, moving, housekeep bool) error {
	for {
		err := p.roundOnce(ctx, cn, cp, h, moving, housekeep)
		var nb *noBodyError
		if !errors.As(err, &nb) {
			return err
		}
		housekeep = false
		if nb.reordered {
			// The body came, only after a later message's: what was
			// staged before it is committed, the rest is asked for
			// again one message a FETCH, so that nothing needs
			// buffering to be staged in UID order.
			if !p.oneAtATime {
				p.log.Info("server answers FETCH out of UID order: fetching one message at a time",
					"uidvalidity", cn.uidValidity, "uid", nb.uid)
			}
			p.oneAtATime = true
			continue
		}
		// Usually another client expunged the message since the search:
		// then carry on from the checkpoint. But go-imap can also hand an
		// unsolicited FETCH (someone changing flags) to our command and
		// drop the real answer: never skip a message that is still
		// there. Only now, with the pipeline drained, may we ask.
		uids, err := cn.search(&imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(imap.UID(nb.uid))}})
		if err != nil {
			return cn.wrap(fmt.Sprintf("uid search %d", nb.uid), err)
		}
		if slices.Contains(uids, imap.UID(nb.uid)) {
			return &retryError{op: "body fetch", uid: nb.uid, err: errors.New("server sent no body")}
		}
		p.log.Debug("message gone before its body was fetched", "uidvalidity", cn.uidValidity, "uid", nb.uid)
	}
}

// noBodyError means the FETCH of a message's body did not return it where
// it was due: in UID order, before the bodies of the later messages of the
// same FETCH.
type noBodyError struct {
	uid uint32
	// reordered reports that it came later in the same FETCH.
	reordered bool
}

func (e *noBodyError) Error() string { return fmt.Sprintf("uid fetch %d: no body returned", e.uid) }

// isConnError reports whether err means the connection is unusable, as
// opposed to a failure that leaves it in a clean state.
func isConnError(err error) bool {
	var (
		re *retryError
		nb *noBodyError
	)
	return err != nil && !errors.As(err, &re) && !errors.As(err, &nb)
}

// roundOnce is one attempt at a round.
func (p *Poller) roundOnce(ctx context.Context, cn *conn, cps Checkpoints, h BatchHandler, moving, housekeep bool) error {
	// New mail announced from here on is either found by the search below
	// or wakes the next round.
	select {
	case <-cn.wake:
	default:
	}

	cpt, err := cps.Checkpoint(ctx)
	if err != nil {
		return &retryError{op: "checkpoint read", err: err}
	}
	if uv := cn.uidValidity; cpt.UIDValidity != uv {
		fs, resync := p.opts.FirstStart, cpt != (Checkpoint{})
		if resync {
			// RFC 3501 §2.3.1.1: a new UIDVALIDITY invalidates every
			// UID we know. The mail present is taken by the first-start
			// rule again; the caller dedupes what it already processed
			// by Message-ID.
			p.log.Warn("uidvalidity changed: resynchronising the mailbox",
				"uidvalidity", uv, "old_uidvalidity", cpt.UIDValidity, "uid", cpt.UID)
			fs = fs.resync()
		}
		if cpt, err = p.start(ctx, cn, cps, fs, resync); err != nil {
			return err
		}
		housekeep = false
	}
	if housekeep && cpt.UID > 0 {
		if err := p.housekeep(cn, cpt, moving); err != nil {
			return err
		}
	}

	after := cpt.UID
	var uids []imap.UID
	if cpt.UID < cpt.Base {
		// A first start under way: of the mail that was there, only what
		// its rule takes. The search is re-run after a crash: what was
		// committed is at or below cpt.UID, the rest still matches.
		if uids, err = p.matching(cn, cpt.Select, cpt.UID+1, cpt.Base, nil); err != nil {
			return err
		}
		if len(uids) == 0 {
			cpt.UID = cpt.Base
			if err := cps.SetCheckpoint(ctx, cpt); err != nil {
				return &retryError{op: "checkpoint write", err: err}
			}
			p.log.Info("first start done", "uidvalidity", cpt.UIDValidity, "uid", cpt.UID)
		}
		after = cpt.Base
	}
	newer, err := p.searchAfter(cn, after)
	if err != nil {
		return err
	}
	uids = append(uids, newer...)
	// The first run of bodies is one message long, and each next one twice
	// the last (up to chunkSize): a lone new mail costs no more than
	// before, and what a failure early in a round makes us drain, or a
	// change made meanwhile by another client makes us refetch, stays
	// small.
	run := 1
	for chunk := range slices.Chunk(uids, chunkSize) {
		metas, err := p.fetchMeta(cn, chunk)
		if err != nil {
			return err
		}
		if len(metas) > 0 {
			p.update(func(s *Status) {
				if s.OldestUnprocessed.IsZero() || metas[0].date.Before(s.OldestUnprocessed) {
					s.OldestUnprocessed = metas[0].date
				}
			})
		}
		done, err := p.deliver(ctx, cn, metas, cpt, h, &run)
		if len(done) > 0 && !isConnError(err) {
			// After a connection failure, housekeeping on the next
			// connection flags them instead.
			if ferr := p.finish(cn, done, moving); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// searchAfter returns, in ascending order, the UIDs above after.
func (p *Poller) searchAfter(cn *conn, after uint32) ([]imap.UID, error) {
	if after == math.MaxUint32 {
		return nil, nil
	}
	// "UID n:*" is cheap however many older messages there are, but it
	// always matches the highest UID even when that is below n (RFC 3501
	// §6.4.8: "*" is the largest UID in use), hence the filter.
	crit := &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: imap.UID(after + 1), Stop: 0}}}}
	uids, err := cn.search(crit)
	if err != nil {
		return nil, cn.wrap(fmt.Sprintf("uid search %d:*", after+1), err)
	}
	uids = slices.DeleteFunc(uids, func(u imap.UID) bool { return uint32(u) <= after })
	return uids, nil
}

// search runs a UID SEARCH and returns the UIDs sorted.
func (cn *conn) search(crit *imap.SearchCriteria) ([]imap.UID, error) {
	done := cn.guard()
	data, err := cn.c.UIDSearch(crit, nil).Wait()
	done()
	if err != nil {
		return nil, err
	}
	uids := data.AllUIDs()
	slices.Sort(uids)
	return uids, nil
}

// housekeep finishes messages at or below the checkpoint that are still
// waiting: the handler committed them but the connection or the process died
// before they were flagged or moved. They are not handed over again. Of the
// messages up to the first start's base, only those its rule took are
// touched: the mail it skipped stays as it is.
func (p *Poller) housekeep(cn *conn, cpt Checkpoint, moving bool) error {
	var extra *imap.SearchCriteria
	if !moving {
		// Moved mail leaves the mailbox, so anything still here needs
		// finishing; in flag-only mode, only what lacks \Seen. (A mail
		// an unseen first start took, flagged but not yet moved, looks
		// like the read mail it skipped: it stays, flagged.)
		extra = &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}
	}
	uids, err := p.matching(cn, cpt.Select, 1, min(cpt.UID, cpt.Base), extra)
	if err != nil {
		return err
	}
	later, err := p.matching(cn, FirstStart{Mode: FirstStartAll}, cpt.Base+1, cpt.UID, extra)
	if err != nil {
		return err
	}
	uids = append(uids, later...)
	if len(uids) == 0 {
		return nil
	}
	p.log.Info("finishing processed messages left behind", "uidvalidity", cn.uidValidity,
		"count", len(uids), "uid", uint32(uids[len(uids)-1]))
	return p.finish(cn, uids, moving)
}

// fetchMeta fetches size and date of uids, which may have been expunged
// meanwhile. The result is in UID order.
func (p *Poller) fetchMeta(cn *conn, uids []imap.UID) ([]meta, error) {
	done := cn.guard()
	bufs, err := cn.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, RFC822Size: true, InternalDate: true,
	}).Collect()
	done()
	if err != nil {
		return nil, cn.wrap(fmt.Sprintf("uid fetch %d:%d metadata", uids[0], uids[len(uids)-1]), err)
	}
	metas := make([]meta, 0, len(bufs))
	for _, b := range bufs {
		if b.UID != 0 {
			metas = append(metas, meta{uid: b.UID, size: b.RFC822Size, date: b.InternalDate})
		}
	}
	slices.SortFunc(metas, func(a, b meta) int { return cmp.Compare(a.uid, b.uid) })
	metas = slices.CompactFunc(metas, func(a, b meta) bool { return a.uid == b.uid })
	return metas, nil
}

// deliver stages the messages of metas with h, in UID order, committing
// whenever no further message is waiting or a batch is full. Their bodies
// come in runs of consecutive messages, one UID FETCH each, streamed to h as
// the server sends them; *run is the length of the next run, doubled after
// each up to chunkSize. It returns the UIDs committed, even when it fails
// part way.
func (p *Poller) deliver(ctx context.Context, cn *conn, metas []meta, cpt Checkpoint, h BatchHandler, run *int) (committed []imap.UID, err error) {
	var staged []imap.UID
	var stagedBytes int64
	commit := func() error {
		if len(staged) == 0 {
			return nil
		}
		// Like a handler, the commit of what is staged is finished even
		// when ctx has ended.
		n, err := h.Commit(context.WithoutCancel(ctx))
		n = min(max(n, 0), len(staged))
		committed = append(committed, staged[:n]...)
		if n > 0 {
			p.update(func(s *Status) { s.LastFetch = time.Now() })
		}
		if err != nil {
			err = &retryError{op: "commit", uid: uint32(staged[min(n, len(staged)-1)]), err: err}
		}
		staged, stagedBytes = staged[:0], 0
		return err
	}
	// stop commits what was staged before a failure: it is still whole.
	stop := func(err error) ([]imap.UID, error) {
		if cerr := commit(); cerr != nil {
			p.log.Warn("commit after a failure", "uidvalidity", cn.uidValidity, "err", cerr)
		}
		return committed, err
	}
	for len(metas) > 0 {
		b := p.fetchBodies(cn, p.nextRun(metas, *run))
		for _, m := range b.metas {
			// Once Run's context has ended, no new message is started
			// and the connection is not touched again (conn.shutdown
			// closes it). ctx is checked as well as the connection's
			// flag: conn.shutdown runs on a goroutine of its own and
			// may not have run yet when the handler of the previous
			// message ended the context.
			if ctx.Err() != nil || !cn.beginHandler() {
				// go-imap's reader may wait for the next body to be
				// read, and closing the client waits for the reader:
				// what is left is discarded on a goroutine of its
				// own, which ends once the connection is closed.
				go b.cmd.Close()
				return stop(context.Cause(ctx))
			}
			ok, err := p.deliverOne(ctx, cn, m, b, cpt, h)
			if ok {
				staged = append(staged, m.uid)
				stagedBytes += m.size
			}
			if err == nil && (len(staged) >= MaxBatch || stagedBytes >= MaxBatchBytes) {
				err = commit()
			}
			if err != nil {
				return stop(b.abandon(err))
			}
		}
		if err := b.close(); err != nil {
			return stop(err)
		}
		metas = metas[len(b.metas):]
		*run = min(2**run, chunkSize)
	}
	return committed, commit()
}

// nextRun returns the first messages of metas whose bodies one UID FETCH
// asks for: at most n of them (one once the server was seen to answer out
// of order), all within [Options.MaxSize] or all over it, so that each is
// fetched as it always was: whole, or its first MaxSize bytes.
func (p *Poller) nextRun(metas []meta, n int) []meta {
	if p.oneAtATime {
		n = 1
	}
	n = min(n, len(metas))
	over := metas[0].size > p.opts.MaxSize
	for i, m := range metas[:n] {
		if (m.size > p.opts.MaxSize) != over {
			return metas[:i]
		}
	}
	return metas[:n]
}

// bodies is one UID FETCH of the bodies of a run of messages, read one
// response at a time. No other command is sent while it is under way:
// Dovecot runs pipelined FETCHes in parallel and sends the next command's
// literals before the tagged OK of the one in hand, and go-imap's reader
// then waits for a literal to be read while we wait for that OK.
type bodies struct {
	cn    *conn
	cmd   *imapclient.FetchCommand
	metas []meta
	op    string
}

// fetchBodies sends the UID FETCH of the bodies of metas.
func (p *Poller) fetchBodies(cn *conn, metas []meta) *bodies {
	uids := make([]imap.UID, len(metas))
	for i, m := range metas {
		uids[i] = m.uid
	}
	var partial *imap.SectionPartial
	if metas[0].size > p.opts.MaxSize {
		partial = &imap.SectionPartial{Offset: 0, Size: p.opts.MaxSize}
	}
	set := imap.UIDSetNum(uids...)
	cmd := cn.c.Fetch(set, &imap.FetchOptions{
		UID: true,
		// PEEK: \Seen is set only once the handler has committed.
		BodySection: []*imap.FetchItemBodySection{{Peek: true, Partial: partial}},
	})
	return &bodies{cn: cn, cmd: cmd, metas: metas, op: "uid fetch " + set.String()}
}

// next returns the UID and the body of the next message the server sends,
// lit nil if its response has none; it returns uid 0 once the command has
// ended, with its error if it failed.
func (b *bodies) next() (uid imap.UID, lit imap.LiteralReader, err error) {
	done := b.cn.guard()
	defer done()
	fm := b.cmd.Next()
	if fm == nil {
		if err := b.cmd.Close(); err != nil {
			return 0, nil, b.cn.wrap(b.op, err)
		}
		return 0, nil, nil
	}
	for item := fm.Next(); item != nil; item = fm.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			uid = it.UID
		case imapclient.FetchItemDataBodySection:
			return uid, it.Literal, nil
		}
	}
	return uid, nil, nil
}

// close reads the rest of the command, discarding any body, and waits for
// its end.
func (b *bodies) close() error {
	_, err := b.drain()
	return err
}

// drain is close that also returns the UIDs whose bodies it discarded.
func (b *bodies) drain() (got []imap.UID, err error) {
	for {
		uid, lit, err := b.next()
		if err != nil || uid == 0 {
			return got, err
		}
		if lit != nil {
			got = append(got, uid)
			// Outside the guard, as a handler reads: go-imap's own
			// literal timeout bounds it.
			if _, err := io.Copy(io.Discard, lit); err != nil {
				return got, b.cn.wrap(b.op, err)
			}
		}
	}
}

// abandon leaves the command after err, which stopped the run, and returns
// the error to report. On a working connection the rest of the command is
// read, so that the next command can be sent; a noBodyError learns whether
// the missing body came later. A connection that failed is left alone: its
// reader has stopped.
func (b *bodies) abandon(err error) error {
	if isConnError(err) {
		return err
	}
	got, derr := b.drain()
	if derr != nil {
		return derr
	}
	var nb *noBodyError
	if errors.As(err, &nb) {
		nb.reordered = slices.Contains(got, imap.UID(nb.uid))
	}
	return err
}

// deliverOne stages with h the next message of b, which must be m, after
// cn.beginHandler. ok reports that h staged it.
func (p *Poller) deliverOne(ctx context.Context, cn *conn, m meta, b *bodies, cpt Checkpoint, h BatchHandler) (ok bool, err error) {
	op := fmt.Sprintf("uid fetch %d", m.uid)
	defer cn.endHandler()
	uid, lit, err := b.next()
	for err == nil && uid != 0 && uid != m.uid && lit == nil {
		// An unsolicited FETCH (flags changed) about a later message
		// of the run, which go-imap took for its answer: that one will
		// be found missing in its turn.
		uid, lit, err = b.next()
	}
	if err != nil {
		return false, err
	}
	if uid != m.uid || lit == nil {
		// Expunged meanwhile, answered out of order, or an unsolicited
		// FETCH (flags changed) that go-imap took for the answer: see
		// abandon and round.
		return false, &noBodyError{uid: uint32(m.uid)}
	}

	body := &bodyReader{r: lit, size: lit.Size()}
	msg := &Message{
		UIDValidity:  cn.uidValidity,
		UID:          uint32(m.uid),
		Size:         m.size,
		InternalDate: m.date,
		Body:         body,
		base:         cpt.Base,
		sel:          cpt.Select,
	}
	// The handler finishes the message in hand even when ctx ends: it gets
	// a context without cancellation, and the connection stays open for it
	// (see conn.shutdown).
	herr := h.Stage(context.WithoutCancel(ctx), msg)
	if herr == nil {
		ok = true
	}
	// Whatever h left unread must be consumed before the next response.
	_, derr := io.Copy(io.Discard, body)
	if rerr := body.failure(); rerr != nil {
		// The connection broke under the handler: that is not the
		// handler's fault, and the message is fetched again later
		// unless h staged it anyway.
		return ok, cn.wrap(op, rerr)
	}
	if derr != nil {
		return ok, cn.wrap(op, derr)
	}
	if herr != nil {
		return false, &retryError{op: "handler", uid: uint32(m.uid), err: herr}
	}
	return true, nil
}

// bodyReader passes a FETCH literal through and turns a literal cut short
// into io.ErrUnexpectedEOF: go-imap reports io.EOF when the connection ends
// mid-literal, which would let a handler commit half a message.
type bodyReader struct {
	r    io.Reader
	n    int64
	size int64
	err  error
}

func (b *bodyReader) Read(buf []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(buf)
	b.n += int64(n)
	if err == io.EOF && b.n < b.size {
		err = fmt.Errorf("message body ended after %d of %d bytes: %w", b.n, b.size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// failure returns the error that ended reading, unless it was a clean EOF.
func (b *bodyReader) failure() error {
	if b.err == nil || b.err == io.EOF {
		return nil
	}
	return b.err
}

// finish flags uids \Seen and, when moving, moves them to the processed
// mailbox. A refusal by the server is logged, not returned: the checkpoint
// already protects against reprocessing, and a read-only mailbox must not
// stop ticket creation. A connection failure is returned.
func (p *Poller) finish(cn *conn, uids []imap.UID, moving bool) error {
	for chunk := range slices.Chunk(uids, storeChunk) {
		set := imap.UIDSetNum(chunk...)
		done := cn.guard()
		err := cn.c.Store(set, &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen},
		}, nil).Close()
		done()
		if err := p.serverRefusal(cn, err, "uid store "+set.String()+" +flags.silent (\\seen)"); err != nil {
			return err
		}
		if !moving {
			continue
		}
		// Client.Move falls back to COPY, STORE \Deleted and UID EXPUNGE
		// without MOVE; canMove made sure that UIDPLUS is there, so that
		// no plain EXPUNGE removes other people's \Deleted mail.
		done = cn.guard()
		_, err = cn.c.Move(set, p.opts.ProcessedMailbox).Wait()
		done()
		if err := p.serverRefusal(cn, err, fmt.Sprintf("uid move %s %q", set, p.opts.ProcessedMailbox)); err != nil {
			return err
		}
	}
	return nil
}

// serverRefusal logs a NO or BAD answer and returns nil for it; it returns
// other errors, which mean the connection is gone.
func (p *Poller) serverRefusal(cn *conn, err error, op string) error {
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) && !cn.timedOut.Load() {
		p.log.Warn("server refused", "uidvalidity", cn.uidValidity, "op", op, "err", err)
		return nil
	}
	return cn.wrap(op, err)
}

// waitForMail returns when new mail may have arrived: at once if the server
// announced some, else after IDLE reports it or PollInterval passes.
func (p *Poller) waitForMail(ctx context.Context, cn *conn) error {
	select {
	case <-cn.wake:
		return nil
	default:
	}
	if !cn.caps.Has(imap.CapIdle) {
		return cn.sleep(ctx, p.opts.PollInterval)
	}

	done := cn.guard()
	idle, err := cn.c.Idle()
	done()
	if err != nil {
		return cn.wrap("idle", err)
	}
	p.update(func(s *Status) { s.Idling = true })
	// Re-check periodically even while idling: a server may miss a push.
	// RFC 2177 §3: re-issue IDLE before the server's 30-minute timeout.
	t := time.NewTimer(min(p.opts.PollInterval, p.opts.IdleRestart))
	select {
	case <-ctx.Done():
	case <-cn.wake:
	case <-t.C:
	case <-cn.c.Closed():
	}
	t.Stop()
	p.update(func(s *Status) { s.Idling = false })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	done = cn.guard()
	err = idle.Close()
	if err == nil {
		err = idle.Wait()
	}
	done()
	if err != nil {
		return cn.wrap("idle", err)
	}
	return nil
}

// sleep waits for d without sending anything, returning early with an error
// if ctx ends or the server closes the connection.
func (cn *conn) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-cn.c.Closed():
		return errors.New("server closed the connection")
	case <-t.C:
		return nil
	}
}

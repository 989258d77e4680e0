package mailbox

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// batcher plays a batching caller: Stage keeps each message in memory,
// Commit moves them and the checkpoint to the committed state. commit, if
// set, decides what a Commit call (counted from 1) commits.
type batcher struct {
	*recorder // the checkpoint
	tb        testing.TB
	s         *testServer
	mu        sync.Mutex
	staged    []Checkpoint
	commits   [][]uint32 // the UIDs of each successful part of a Commit
	// seenAtCommit counts staged messages already flagged \Seen when
	// their Commit began.
	seenAtCommit int
	calls        int
	stage        func(m *Message)
	commit       func(call, staged int) (int, error)
	changed      chan struct{}
}

func newBatcher(tb testing.TB, s *testServer) *batcher {
	return &batcher{recorder: newRecorder(Checkpoint{}), tb: tb, s: s, changed: make(chan struct{}, 1)}
}

func (b *batcher) Stage(_ context.Context, m *Message) error {
	if _, err := io.ReadAll(m.Body); err != nil {
		return err
	}
	if b.stage != nil {
		b.stage(m)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.staged = append(b.staged, m.Checkpoint())
	return nil
}

func (b *batcher) Commit(context.Context) (int, error) {
	flags, _ := b.s.flags(b.tb, "INBOX")
	b.mu.Lock()
	defer b.mu.Unlock()
	staged := b.staged
	b.staged = nil
	b.calls++
	for _, cp := range staged {
		if hasFlag(flags[cp.UID], imap.FlagSeen) {
			b.seenAtCommit++
		}
	}
	n, err := len(staged), error(nil)
	if b.commit != nil {
		n, err = b.commit(b.calls, len(staged))
	}
	if n > 0 {
		var uids []uint32
		for _, cp := range staged[:n] {
			uids = append(uids, cp.UID)
		}
		b.commits = append(b.commits, uids)
		_ = b.SetCheckpoint(context.Background(), staged[n-1])
	}
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return n, err
}

// committed returns every UID committed, in order.
func (b *batcher) committed() []uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Concat(b.commits...)
}

// waitFor waits until n messages are committed.
func (b *batcher) waitFor(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for len(b.committed()) < n {
		select {
		case <-b.changed:
		case <-deadline.C:
			tb.Fatalf("%d messages committed within %v, want %d", len(b.committed()), waitLong, n)
		}
	}
}

// runBatch starts p.RunBatch until the returned stop is called (also at
// the test's end).
func runBatch(tb testing.TB, p *Poller, b *batcher) (stop func()) {
	ctx, cancel := context.WithCancel(tb.Context())
	done := make(chan error, 1)
	go func() { done <- p.RunBatch(ctx, b, b) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("RunBatch = %v, want nil", err)
				}
			case <-time.After(waitLong):
				tb.Errorf("RunBatch did not return within %v of cancellation", waitLong)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

func uidRange(from, to uint32) []uint32 {
	var uids []uint32
	for u := from; u <= to; u++ {
		uids = append(uids, u)
	}
	return uids
}

// backlog starts a server with n mails in its INBOX and returns it with
// options to follow it.
func backlog(t *testing.T, n int) (*testServer, Options) {
	s := newTestServer(t, nil)
	for i := 1; i <= n; i++ {
		s.appendMail(t, "INBOX", testMail(i, 200))
	}
	opts, _ := testOptions(t, s)
	return s, opts
}

func allSeen(tb testing.TB, s *testServer, n int) bool {
	flags, _ := s.flags(tb, "INBOX")
	for u := uint32(1); u <= uint32(n); u++ {
		if !hasFlag(flags[u], imap.FlagSeen) {
			return false
		}
	}
	return true
}

// A backlog is committed in one batch, the checkpoint moved with it, and
// flagged only after the commit; a lone mail that arrives under IDLE is
// committed on its own at once.
func TestBacklogCommittedAsOneBatch(t *testing.T) {
	t.Parallel()
	const n = 20
	s, opts := backlog(t, n)
	p := newPoller(t, opts)
	b := newBatcher(t, s)
	runBatch(t, p, b)

	b.waitFor(t, n)
	b.mu.Lock()
	commits, seen := slices.Clone(b.commits), b.seenAtCommit
	b.mu.Unlock()
	cp, _ := b.Checkpoint(t.Context())
	if len(commits) != 1 || !slices.Equal(commits[0], uidRange(1, n)) {
		t.Fatalf("commits %v, want one of uids 1..%d", commits, n)
	}
	if cp.UID != n {
		t.Errorf("checkpoint uid %d after the batch, want %d", cp.UID, n)
	}
	if seen != 0 {
		t.Errorf("%d messages flagged \\Seen before their commit", seen)
	}
	eventually(t, "the batch flagged \\Seen", func() bool { return allSeen(t, s, n) })

	// Under IDLE: the lone new mail does not wait for others.
	eventually(t, "idling", func() bool { return p.Status().Idling })
	s.appendMail(t, "INBOX", testMail(n+1, 200))
	b.waitFor(t, n+1)
	b.mu.Lock()
	last := b.commits[len(b.commits)-1]
	b.mu.Unlock()
	if !slices.Equal(last, []uint32{n + 1}) {
		t.Errorf("the lone mail committed as %v, want alone", last)
	}
}

// A Commit that commits only part of a batch (a failure to write after a
// split) leaves the rest unflagged; they are handed over again and each
// message ends up committed exactly once.
func TestPartialCommitRetriesTheRest(t *testing.T) {
	t.Parallel()
	const n = 6
	s, opts := backlog(t, n)
	p := newPoller(t, opts)
	b := newBatcher(t, s)
	b.commit = func(call, staged int) (int, error) {
		switch call {
		case 1:
			return 2, errors.New("disk full")
		case 2:
			return 0, errors.New("disk still full")
		}
		return staged, nil
	}
	runBatch(t, p, b)

	b.waitFor(t, n)
	eventually(t, "all flagged \\Seen", func() bool { return allSeen(t, s, n) })
	if got := b.committed(); !slices.Equal(got, uidRange(1, n)) {
		t.Errorf("committed %v, want each of 1..%d once", got, n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seenAtCommit != 0 {
		t.Errorf("%d messages flagged \\Seen before their commit", b.seenAtCommit)
	}
	if !slices.Equal(b.commits[0], []uint32{1, 2}) {
		t.Errorf("first commit %v, want 1 and 2", b.commits[0])
	}
}

// Stopped in the middle of a batch, the poller commits what it staged and
// stages nothing more; a restart from the checkpoint takes the rest, each
// message committed exactly once.
func TestStopMidBatchThenRestart(t *testing.T) {
	t.Parallel()
	const n = 8
	s, opts := backlog(t, n)
	b := newBatcher(t, s)
	stopc := make(chan func(), 1)
	stopped := make(chan struct{})
	b.stage = func(m *Message) {
		if m.UID == 3 {
			go func() { (<-stopc)(); close(stopped) }()
			// Wait until Run's context has ended before finishing the
			// message in hand.
			time.Sleep(50 * time.Millisecond)
		}
	}
	stopc <- runBatch(t, newPoller(t, opts), b)
	<-stopped
	if got := b.committed(); !slices.Equal(got, uidRange(1, 3)) {
		t.Fatalf("committed %v at the stop, want 1..3 (the mail in hand finished, no new one)", got)
	}

	b.stage = nil
	runBatch(t, newPoller(t, opts), b)
	b.waitFor(t, n)
	eventually(t, "all flagged \\Seen", func() bool { return allSeen(t, s, n) })
	if got := b.committed(); !slices.Equal(got, uidRange(1, n)) {
		t.Errorf("committed %v, want each of 1..%d once", got, n)
	}
}

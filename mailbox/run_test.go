package mailbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// fetchHook is an in-memory session whose FETCH goes through hook: serve
// answers (part of) the command as the in-memory server would.
type fetchHook struct {
	*imapmemserver.UserSession
	hook func(w *imapserver.FetchWriter, set imap.NumSet, opts *imap.FetchOptions, serve func(imap.NumSet) error) error
}

func (s *fetchHook) Fetch(w *imapserver.FetchWriter, set imap.NumSet, opts *imap.FetchOptions) error {
	return s.hook(w, set, opts, func(set imap.NumSet) error { return s.UserSession.Fetch(w, set, opts) })
}

// hookedBacklog starts a server whose FETCHes go through hook, with n mails
// of size bytes in its INBOX.
func hookedBacklog(t *testing.T, n, size int, hook func(w *imapserver.FetchWriter, set imap.NumSet, opts *imap.FetchOptions, serve func(imap.NumSet) error) error) (*testServer, Options, *lockedBuffer) {
	s := startServer(t, nil, func(u *imapmemserver.User) imapserver.Session {
		return &fetchHook{UserSession: imapmemserver.NewUserSession(u), hook: hook}
	})
	for i := 1; i <= n; i++ {
		s.appendMail(t, "INBOX", testMail(i, size))
	}
	opts, logs := testOptions(t, s)
	return s, opts, logs
}

// sizedBacklog is backlog with mails of size bytes.
func sizedBacklog(t *testing.T, n, size int) (*testServer, Options) {
	s, opts := backlog(t, 0)
	for i := 1; i <= n; i++ {
		s.appendMail(t, "INBOX", testMail(i, size))
	}
	return s, opts
}

// bodyFetches returns the UID sets of the body FETCH commands clients sent.
func (s *testServer) bodyFetches() []string {
	re := regexp.MustCompile(`(?m)^T\d+ UID FETCH (\S+) \(UID BODY\.PEEK`)
	var sets []string
	for _, m := range re.FindAllStringSubmatch(s.debug.String(), -1) {
		sets = append(sets, m[1])
	}
	return sets
}

// parseUIDs parses a UID set without "*".
func parseUIDs(t *testing.T, set string) []imap.UID {
	t.Helper()
	var uids []imap.UID
	for _, r := range strings.Split(set, ",") {
		from, to, isRange := strings.Cut(r, ":")
		a, err := strconv.ParseUint(from, 10, 32)
		b := a
		if err == nil && isRange {
			b, err = strconv.ParseUint(to, 10, 32)
		}
		if err != nil || b < a {
			t.Fatalf("UID set %q: %v", set, err)
		}
		for u := a; u <= b; u++ {
			uids = append(uids, imap.UID(u))
		}
	}
	return uids
}

// multi reports whether set names more than one UID.
func multi(set imap.NumSet) bool {
	uids, ok := set.(imap.UIDSet)
	if !ok {
		return false
	}
	nums, ok := uids.Nums()
	return ok && len(nums) > 1
}

// checkHandedOnce checks that msgs are the mails 1..n but skip, each once,
// in UID order and whole.
func checkHandedOnce(t *testing.T, msgs []got, n, size int, skip ...uint32) {
	t.Helper()
	var want []uint32
	for u := uint32(1); u <= uint32(n); u++ {
		if !slices.Contains(skip, u) {
			want = append(want, u)
		}
	}
	if got := uidsOf(msgs); !slices.Equal(got, want) {
		t.Fatalf("handled uids %v, want %v", got, want)
	}
	for _, m := range msgs {
		if !bytes.Equal(m.Body, testMail(int(m.UID), size)) {
			t.Errorf("uid %d: body of %d bytes differs from the mail appended", m.UID, len(m.Body))
		}
	}
}

// A backlog's bodies come in a few UID FETCHes of consecutive messages, not
// one per message; each mail is handed over once, in order, whole.
func TestBacklogBodiesFetchedByRuns(t *testing.T) {
	t.Parallel()
	const n, size = 150, 300
	s, opts := sizedBacklog(t, n, size)
	r := newRecorder(Checkpoint{})
	run(t, newPoller(t, opts), r)
	checkHandedOnce(t, r.waitFor(t, n), n, size)

	sets := s.bodyFetches()
	t.Logf("body FETCHes: %v", sets)
	longest, next := 0, imap.UID(1)
	for _, set := range sets {
		nums := parseUIDs(t, set)
		for _, u := range nums {
			if u != next {
				t.Fatalf("UID FETCH %s: uid %d, want %d (consecutive runs in UID order)", set, u, next)
			}
			next++
		}
		longest = max(longest, len(nums))
	}
	if len(sets) > 12 || longest != chunkSize {
		t.Errorf("%d body FETCHes, the longest of %d messages; want at most 12, the longest of %d", len(sets), longest, chunkSize)
	}
}

// A message expunged by another client between the metadata FETCH and the
// body FETCH is missing in the middle of its run: the messages before it
// are committed, it is skipped quietly, the ones after it are fetched again
// and each handed over once.
func TestExpungedInTheMiddleOfARun(t *testing.T) {
	t.Parallel()
	const n, size, gone = 40, 500, 20
	var (
		s       *testServer
		once    sync.Once
		runSet  string
		expErr  error
		expunge = func() error {
			c := s.inspect(t)
			defer c.Logout()
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				return err
			}
			set := imap.UIDSetNum(gone)
			if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				return err
			}
			return c.UIDExpunge(set).Close()
		}
	)
	s, opts, logs := hookedBacklog(t, n, size, func(w *imapserver.FetchWriter, set imap.NumSet, opts *imap.FetchOptions, serve func(imap.NumSet) error) error {
		if len(opts.BodySection) > 0 && multi(set) && set.(imap.UIDSet).Contains(gone) {
			once.Do(func() { runSet, expErr = set.String(), expunge() })
		}
		return serve(set)
	})
	r := newRecorder(Checkpoint{})
	run(t, newPoller(t, opts), r)

	msgs := r.waitFor(t, n-1)
	if expErr != nil {
		t.Fatal(expErr)
	}
	t.Logf("uid %d expunged on the arrival of UID FETCH %s", gone, runSet)
	checkHandedOnce(t, msgs, n, size, gone)
	if strings.Contains(logs.String(), "level=WARN") {
		t.Error("a vanished message caused a warning; it should be skipped quietly")
	}
}

// A server may answer a FETCH in any order: every message is still staged
// in UID order, each once, and the checkpoint never passes one not handed
// over.
func TestOutOfOrderAnswers(t *testing.T) {
	t.Parallel()
	const n, size = 30, 400
	_, opts, logs := hookedBacklog(t, n, size, func(w *imapserver.FetchWriter, set imap.NumSet, opts *imap.FetchOptions, serve func(imap.NumSet) error) error {
		if !multi(set) {
			return serve(set)
		}
		nums, _ := set.(imap.UIDSet).Nums()
		for _, u := range slices.Backward(nums) {
			if err := serve(imap.UIDSetNum(u)); err != nil {
				return err
			}
		}
		return nil
	})
	r := newRecorder(Checkpoint{})
	run(t, newPoller(t, opts), r)
	checkHandedOnce(t, r.waitFor(t, n), n, size)
	if _, cp := r.snapshot(); cp.UID != n {
		t.Errorf("checkpoint uid %d, want %d", cp.UID, n)
	}
	if c := countLines(logs.String(), "out of UID order"); c != 1 {
		t.Errorf("the out-of-order server logged %d times, want once", c)
	}
}

// An unsolicited FETCH (another client changed the flags) that names a
// message of the run before its answer is taken by go-imap for the answer,
// and the body dropped: the message, still there, is fetched again, never
// skipped.
func TestUnsolicitedFetchBeforeTheBody(t *testing.T) {
	t.Parallel()
	const n, size, flagged = 12, 300, 6
	var once sync.Once
	_, opts, logs := hookedBacklog(t, n, size, func(w *imapserver.FetchWriter, set imap.NumSet, opts *imap.FetchOptions, serve func(imap.NumSet) error) error {
		var err error
		if len(opts.BodySection) > 0 && multi(set) && set.(imap.UIDSet).Contains(flagged) {
			once.Do(func() { err = unsolicitedFlags(w, flagged) })
		}
		if err != nil {
			return err
		}
		return serve(set)
	})
	r := newRecorder(Checkpoint{})
	run(t, newPoller(t, opts), r)
	checkHandedOnce(t, r.waitFor(t, n), n, size)
	if !strings.Contains(logs.String(), "server sent no body") {
		t.Error("the body taken by the unsolicited FETCH was not noticed")
	}
}

// unsolicitedFlags writes "* n FETCH (UID uid FLAGS ())" into w.
func unsolicitedFlags(w *imapserver.FetchWriter, uid imap.UID) error {
	// The in-memory server numbers messages 1..n by UID here.
	rw := w.CreateMessage(uint32(uid))
	rw.WriteUID(uid)
	rw.WriteFlags(nil)
	return rw.Close()
}

// A connection cut in the middle of a run, inside a body: nothing of the
// cut message is committed, what came before is, and after reconnecting
// each mail is handed over once and whole.
func TestConnectionCutMidRun(t *testing.T) {
	t.Parallel()
	const n, size = 40, 5_000
	s, opts := sizedBacklog(t, n, size)
	px := newProxy(t, s.addr, nil)
	// About 25 bodies in: inside the run of 16 (uids 16..31).
	px.cutAfter.Store(25*size + 2_000)
	opts.Port = px.port
	r := newRecorder(Checkpoint{})
	p := newPoller(t, opts)
	run(t, p, r)

	checkHandedOnce(t, r.waitFor(t, n), n, size)
	if px.cuts.Load() != 1 || p.Status().Reconnects < 1 {
		t.Errorf("%d cuts, %d reconnects, want 1 and at least 1", px.cuts.Load(), p.Status().Reconnects)
	}
	eventually(t, "all flagged \\Seen", func() bool { return allSeen(t, s, n) })
}

// A handler that leaves bodies unread, or fails in the middle of a run,
// leaves the connection usable: the rest of the run is read off, what was
// staged is committed and the rest handed over again, each once.
func TestHandlerMidRun(t *testing.T) {
	t.Parallel()
	const n, size, failing = 40, 2_000, 21
	s, opts := sizedBacklog(t, n, size)
	p := newPoller(t, opts)
	var mu sync.Mutex
	var handled []uint32
	attempts := map[uint32]int{}
	r := newRecorder(Checkpoint{})
	h := func(_ context.Context, m *Message) error {
		mu.Lock()
		attempts[m.UID]++
		a := attempts[m.UID]
		mu.Unlock()
		if m.UID%2 == 0 {
			// Reads the headers only.
			if _, err := io.ReadFull(m.Body, make([]byte, 40)); err != nil {
				return err
			}
		} else if _, err := io.ReadAll(m.Body); err != nil {
			return err
		}
		if m.UID == failing && a == 1 {
			return errors.New("store: disk full")
		}
		mu.Lock()
		handled = append(handled, m.UID)
		mu.Unlock()
		r.record(got{UID: m.UID}, m.Checkpoint())
		return nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, r, h) }()
	r.waitFor(t, n)
	eventually(t, "all flagged \\Seen", func() bool { return allSeen(t, s, n) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !slices.Equal(handled, uidRange(1, n)) {
		t.Errorf("handled %v, want each of 1..%d once", handled, n)
	}
	if attempts[failing] != 2 || attempts[failing+1] != 1 {
		t.Errorf("uid %d handed over %d times, uid %d %d times; want 2 and 1", failing, attempts[failing], failing+1, attempts[failing+1])
	}
	if st := p.Status(); st.Reconnects != 0 {
		t.Errorf("Status().Reconnects = %d, want 0: a handler error keeps the connection", st.Reconnects)
	}
}

// Stopped in the middle of a run, the poller finishes the mail in hand,
// starts no other, and returns at once, although go-imap's reader already
// waits for the next body to be read; a restart takes the rest.
func TestStopMidRun(t *testing.T) {
	t.Parallel()
	const n, size, last = 100, 300, 40
	_, opts := sizedBacklog(t, n, size)
	r := newRecorder(Checkpoint{})
	ctx, cancel := context.WithCancel(t.Context())
	h := func(hctx context.Context, m *Message) error {
		if m.UID == last {
			cancel()
			time.Sleep(50 * time.Millisecond)
		}
		return r.handle(hctx, m)
	}
	done := make(chan error, 1)
	go func() { done <- newPoller(t, opts).Run(ctx, r, h) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Run did not return after the stop")
	}
	msgs, _ := r.snapshot()
	checkHandedOnce(t, msgs, last, size)

	run(t, newPoller(t, opts), r)
	checkHandedOnce(t, r.waitFor(t, n), n, size)
}

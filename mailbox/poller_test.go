package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestNewMailProcessedOnceAndFlagged(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	mails := [][]byte{testMail(1, 100), testMail(2, 3000), testMail(3, 100)}
	for _, m := range mails {
		s.appendMail(t, "INBOX", m)
	}
	opts, _ := testOptions(t, s)
	r := newRecorder(Checkpoint{})
	p := newPoller(t, opts)
	run(t, p, r)

	msgs := r.waitFor(t, 3)
	_, uv := s.flags(t, "INBOX")
	for i, m := range msgs[:3] {
		if m.UID != uint32(i+1) || m.UIDValidity != uv {
			t.Errorf("message %d: uid %d uidvalidity %d, want %d %d", i, m.UID, m.UIDValidity, i+1, uv)
		}
		if !bytes.Equal(m.Body, mails[i]) {
			t.Errorf("uid %d: body differs from the appended mail (%d vs %d bytes)", m.UID, len(m.Body), len(mails[i]))
		}
		if m.Size != int64(len(mails[i])) || m.Truncated {
			t.Errorf("uid %d: size %d truncated %v, want %d false", m.UID, m.Size, m.Truncated, len(mails[i]))
		}
	}
	eventually(t, "all three flagged \\Seen", func() bool {
		flags, _ := s.flags(t, "INBOX")
		return len(flags) == 3 && hasFlag(flags[1], imap.FlagSeen) && hasFlag(flags[2], imap.FlagSeen) && hasFlag(flags[3], imap.FlagSeen)
	})

	// A later mail is handed over alone: the first three are not seen again.
	s.appendMail(t, "INBOX", testMail(4, 100))
	msgs = r.waitFor(t, 4)
	if got, want := uidsOf(msgs), []uint32{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("handled uids %v, want %v", got, want)
	}
	unseen := FirstStart{Mode: FirstStartUnseen}
	if _, cp := r.snapshot(); cp != (Checkpoint{UIDValidity: uv, UID: 4, Base: 3, Select: unseen}) {
		t.Errorf("checkpoint %+v, want {%d 4} after a first start below 3", cp, uv)
	}
	st := p.Status()
	if !st.Connected || st.UIDValidity != uv || st.LastPoll.IsZero() || st.LastFetch.IsZero() {
		t.Errorf("Status() = %+v, want connected with uidvalidity %d and times set", st, uv)
	}
}

func TestMoveToProcessedMailbox(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		caps  imap.CapSet
		moved bool
	}{
		{"MOVE", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}}, true},
		{"IMAP4rev2", nil, true},
		{"UIDPLUS only", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, true},
		{"neither", imap.CapSet{imap.CapIMAP4rev1: {}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, tc.caps)
			s.appendMail(t, "INBOX", testMail(1, 50))
			s.appendMail(t, "INBOX", testMail(2, 50))
			opts, logs := testOptions(t, s)
			opts.ProcessedMailbox = "Processed/Tickets"
			r := newRecorder(Checkpoint{})
			run(t, newPoller(t, opts), r)

			r.waitFor(t, 2)
			eventually(t, "processed mail finished", func() bool {
				inbox, _ := s.flags(t, "INBOX")
				if tc.moved {
					return len(inbox) == 0
				}
				return len(inbox) == 2 && hasFlag(inbox[1], imap.FlagSeen) && hasFlag(inbox[2], imap.FlagSeen)
			})
			// A plain EXPUNGE would also remove mail that others flagged
			// \Deleted: only UID EXPUNGE (or MOVE) is acceptable.
			if regexp.MustCompile(`(?m)^T\d+ EXPUNGE`).MatchString(s.debug.String()) {
				t.Error("the poller sent a plain EXPUNGE")
			}
			if tc.moved {
				done, _ := s.flags(t, "Processed/Tickets")
				if len(done) != 2 {
					t.Errorf("processed mailbox holds %d messages, want 2", len(done))
				}
				for uid, f := range done {
					if !hasFlag(f, imap.FlagSeen) {
						t.Errorf("processed uid %d flags %v, want \\Seen", uid, f)
					}
				}
			} else if n := countLines(logs.String(), "neither MOVE nor UIDPLUS"); n != 1 {
				t.Errorf("warning about the missing MOVE logged %d times, want 1", n)
			}
		})
	}
}

func TestIdlePicksUpNewMail(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	opts, _ := testOptions(t, s)
	// A long poll interval: only IDLE can be this fast. (The in-memory
	// server may miss a push right after IDLE starts; the re-check at
	// PollInterval then still delivers within the test's patience.)
	opts.PollInterval = 5 * time.Second
	r := newRecorder(Checkpoint{})
	p := newPoller(t, opts)
	run(t, p, r)

	var lat []time.Duration
	for i := 1; i <= 3; i++ {
		eventually(t, "poller idling", func() bool { return p.Status().Idling })
		start := time.Now()
		s.appendMail(t, "INBOX", testMail(i, 200))
		msgs := r.waitFor(t, i)
		lat = append(lat, msgs[i-1].At.Sub(start))
	}
	t.Logf("IDLE arrival latency: %v", lat)
	if slices.Max(lat) > time.Second {
		t.Logf("note: a latency above 1s means a push was missed and the poll re-check delivered")
	}
}

func TestConnectionDroppedMidFetch(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	const n, size = 6, 20_000
	for i := 1; i <= n; i++ {
		s.appendMail(t, "INBOX", testMail(i, size))
	}
	px := newProxy(t, s.addr, nil)
	// Greeting, login, select and the first messages take a few KB: cut in
	// the middle of the third body.
	px.cutAfter.Store(2*size + 5_000)
	opts, _ := testOptions(t, s)
	opts.Port = px.port
	r := newRecorder(Checkpoint{})
	p := newPoller(t, opts)
	run(t, p, r)

	msgs := r.waitFor(t, n)
	if px.cuts.Load() != 1 {
		t.Fatalf("proxy cut %d connections, want 1", px.cuts.Load())
	}
	if got, want := uidsOf(msgs), []uint32{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("committed uids %v, want each of %v once", got, want)
	}
	for _, m := range msgs {
		if !bytes.Equal(m.Body, testMail(int(m.UID), size)) {
			t.Errorf("uid %d: body of %d bytes differs from the mail appended", m.UID, len(m.Body))
		}
	}
	eventually(t, "all flagged \\Seen after reconnecting", func() bool {
		flags, _ := s.flags(t, "INBOX")
		for uid := uint32(1); uid <= n; uid++ {
			if !hasFlag(flags[uid], imap.FlagSeen) {
				return false
			}
		}
		return true
	})
	if st := p.Status(); st.Reconnects < 1 {
		t.Errorf("Status().Reconnects = %d, want >= 1", st.Reconnects)
	}
}

func TestUIDValidityChangeResyncs(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	s.appendMail(t, "INBOX", testMail(1, 100))
	s.appendMail(t, "INBOX", testMail(2, 100))
	px := newProxy(t, s.addr, nil)
	opts, logs := testOptions(t, s)
	opts.Port = px.port
	r := newRecorder(Checkpoint{})
	run(t, newPoller(t, opts), r)
	r.waitFor(t, 2)
	_, oldUV := s.flags(t, "INBOX")

	// The mailbox is rebuilt (a server migration, say): new UIDVALIDITY,
	// UIDs start again at 1, and one old mail is still there.
	if err := s.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := s.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 3, 4} {
		s.appendMail(t, "INBOX", testMail(i, 100))
	}
	_, newUV := s.flags(t, "INBOX")
	if newUV == oldUV {
		t.Fatalf("uidvalidity unchanged (%d)", newUV)
	}
	px.dropAll()

	msgs := r.waitFor(t, 5)
	var after []uint32
	for _, m := range msgs[2:] {
		if m.UIDValidity != newUV {
			t.Errorf("uid %d handed over with uidvalidity %d, want %d", m.UID, m.UIDValidity, newUV)
		}
		after = append(after, m.UID)
	}
	if !slices.Equal(after, []uint32{1, 2, 3}) {
		t.Errorf("uids after the change %v, want [1 2 3] (all present mail is new)", after)
	}
	if _, cp := r.snapshot(); cp != (Checkpoint{UIDValidity: newUV, UID: 3, Base: 3, Select: FirstStart{Mode: FirstStartUnseen}}) {
		t.Errorf("checkpoint %+v, want {%d 3}", cp, newUV)
	}
	if n := countLines(logs.String(), "uidvalidity changed"); n != 1 {
		t.Errorf("resync logged %d times, want 1", n)
	}
}

func TestDuplicateDelivery(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	mail := testMail(7, 500)
	s.appendMail(t, "INBOX", mail)
	s.appendMail(t, "INBOX", mail)
	opts, _ := testOptions(t, s)
	r := newRecorder(Checkpoint{})
	run(t, newPoller(t, opts), r)

	msgs := r.waitFor(t, 2)
	if msgs[0].UID != 1 || msgs[1].UID != 2 {
		t.Errorf("uids %v, want [1 2]: each copy is its own message", uidsOf(msgs))
	}
	if !bytes.Equal(msgs[0].Body, msgs[1].Body) {
		t.Error("the two copies differ")
	}
}

func TestRestartFromCheckpoint(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	for i := 1; i <= 5; i++ {
		s.appendMail(t, "INBOX", testMail(i, 100))
	}
	// UIDs 1..3 were committed by an earlier run that died before flagging
	// them; the new poller must flag them without handing them over.
	_, uv := s.flags(t, "INBOX")
	opts, _ := testOptions(t, s)
	r := newRecorder(Checkpoint{UIDValidity: uv, UID: 3})
	run(t, newPoller(t, opts), r)

	r.waitFor(t, 2)
	eventually(t, "all five flagged \\Seen", func() bool {
		flags, _ := s.flags(t, "INBOX")
		for uid := uint32(1); uid <= 5; uid++ {
			if !hasFlag(flags[uid], imap.FlagSeen) {
				return false
			}
		}
		return true
	})
	msgs, cp := r.snapshot()
	if got := uidsOf(msgs); !slices.Equal(got, []uint32{4, 5}) {
		t.Errorf("handled uids %v, want [4 5]", got)
	}
	if cp != (Checkpoint{UIDValidity: uv, UID: 5}) {
		t.Errorf("checkpoint %+v, want {%d 5}", cp, uv)
	}
}

func TestOldMailNotFetchedAgain(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	const old = 1000
	for i := 1; i <= old; i++ {
		s.appendMail(t, "INBOX", testMail(i, 300), imap.FlagSeen)
	}
	_, uv := s.flags(t, "INBOX")
	s.appendMail(t, "INBOX", testMail(old+1, 300))
	before := len(s.debug.String())

	opts, _ := testOptions(t, s)
	r := newRecorder(Checkpoint{UIDValidity: uv, UID: old})
	run(t, newPoller(t, opts), r)
	msgs := r.waitFor(t, 1)

	if got := uidsOf(msgs); !slices.Equal(got, []uint32{old + 1}) {
		t.Errorf("handled uids %v, want [%d]", got, old+1)
	}
	fetches := s.uidFetches()
	for _, set := range fetches {
		if set != fmt.Sprint(old+1) {
			t.Errorf("UID FETCH %s: only uid %d should be fetched", set, old+1)
		}
	}
	if len(fetches) != 2 {
		t.Errorf("%d UID FETCH commands %v, want 2 (metadata, body)", len(fetches), fetches)
	}
	t.Logf("traffic of the poller: %d bytes for 1 new mail among %d", len(s.debug.String())-before, old+1)
}

func TestHandlerErrorRetried(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	for i := 1; i <= 3; i++ {
		s.appendMail(t, "INBOX", testMail(i, 100))
	}
	opts, _ := testOptions(t, s)
	r := newRecorder(Checkpoint{})
	errDiskFull := errors.New("store: disk full")
	var (
		seenWhileFailing   []imap.Flag
		statusWhileFailing Status
	)
	p := newPoller(t, opts)
	r.fail = func(m *Message, attempt int) error {
		if m.UID != 2 || attempt > 2 {
			return nil
		}
		if attempt == 2 {
			flags, _ := s.flags(t, "INBOX")
			seenWhileFailing = flags[2]
			statusWhileFailing = p.Status()
		}
		return errDiskFull
	}
	run(t, p, r)

	msgs := r.waitFor(t, 3)
	if got := uidsOf(msgs); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("committed uids %v, want [1 2 3]: nothing skips the failing message", got)
	}
	r.mu.Lock()
	attempts := r.attempts[2]
	r.mu.Unlock()
	if attempts != 3 {
		t.Errorf("uid 2 handed over %d times, want 3 (two failures, then success)", attempts)
	}
	if hasFlag(seenWhileFailing, imap.FlagSeen) {
		t.Errorf("uid 2 was flagged \\Seen while its handler failed: %v", seenWhileFailing)
	}
	if st := statusWhileFailing; st.OldestUnprocessed.IsZero() || !strings.Contains(st.LastError, "disk full") {
		t.Errorf("Status() while failing = %+v, want the oldest waiting mail's date and the error", st)
	}
	eventually(t, "Status() clear after recovery", func() bool {
		st := p.Status()
		return st.OldestUnprocessed.IsZero() && st.LastError == "" && !st.LastPoll.IsZero()
	})
	eventually(t, "uid 2 flagged once committed", func() bool {
		flags, _ := s.flags(t, "INBOX")
		return hasFlag(flags[2], imap.FlagSeen)
	})
	if st := p.Status(); st.Reconnects != 0 {
		t.Errorf("Status().Reconnects = %d, want 0: a handler error keeps the connection", st.Reconnects)
	}
}

func TestOversizedMailTruncated(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	big, small := testMail(1, 5000), testMail(2, 100)
	s.appendMail(t, "INBOX", big)
	s.appendMail(t, "INBOX", small)
	opts, _ := testOptions(t, s)
	opts.MaxSize = 1024
	r := newRecorder(Checkpoint{})
	run(t, newPoller(t, opts), r)

	msgs := r.waitFor(t, 2)
	if m := msgs[0]; !m.Truncated || m.Size != int64(len(big)) || !bytes.Equal(m.Body, big[:1024]) {
		t.Errorf("big mail: truncated %v size %d body %d bytes, want true %d 1024 (its first KiB)", m.Truncated, m.Size, len(m.Body), len(big))
	}
	if m := msgs[1]; m.Truncated || !bytes.Equal(m.Body, small) {
		t.Errorf("small mail: truncated %v body %d bytes, want false %d", m.Truncated, len(m.Body), len(small))
	}
	if !strings.Contains(s.debug.String(), "BODY.PEEK[]<0.1024>") {
		t.Error("no partial fetch BODY.PEEK[]<0.1024> sent")
	}
}

func TestPollsWithoutIdle(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, imap.CapSet{imap.CapIMAP4rev1: {}})
	// go-imap's server always offers IDLE: hide it, as some servers lack it.
	px := newProxy(t, s.addr, func(line []byte) []byte {
		if bytes.Contains(line, []byte("CAPABILITY")) {
			return bytes.ReplaceAll(line, []byte(" IDLE"), nil)
		}
		return line
	})
	opts, _ := testOptions(t, s)
	opts.Port = px.port
	opts.PollInterval = 50 * time.Millisecond
	r := newRecorder(Checkpoint{})
	p := newPoller(t, opts)
	run(t, p, r)

	eventually(t, "connected", func() bool { return p.Status().Connected })
	start := time.Now()
	s.appendMail(t, "INBOX", testMail(1, 100))
	msgs := r.waitFor(t, 1)
	t.Logf("picked up by polling after %v", msgs[0].At.Sub(start))
	if regexp.MustCompile(`(?m)^T\d+ IDLE`).MatchString(s.debug.String()) {
		t.Error("IDLE sent to a server that does not offer it")
	}
	if p.Status().Idling {
		t.Error("Status().Idling is true without IDLE")
	}
}

func TestIdleReissued(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	opts, _ := testOptions(t, s)
	opts.IdleRestart = 30 * time.Millisecond
	r := newRecorder(Checkpoint{})
	p := newPoller(t, opts)
	run(t, p, r)

	idles := regexp.MustCompile(`(?m)^T\d+ IDLE`)
	eventually(t, "IDLE re-issued a few times", func() bool {
		return len(idles.FindAllString(s.debug.String(), -1)) >= 3
	})
	s.appendMail(t, "INBOX", testMail(1, 100))
	r.waitFor(t, 1)
	if st := p.Status(); st.Reconnects != 0 || !st.Connected {
		t.Errorf("Status() = %+v, want one healthy connection", st)
	}
}

func TestOutageLoggedOnce(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	px := newProxy(t, s.addr, nil)
	opts, logs := testOptions(t, s)
	opts.Port = px.port
	opts.BackoffMin, opts.BackoffMax = 5*time.Millisecond, 10*time.Millisecond
	r := newRecorder(Checkpoint{})
	p := newPoller(t, opts)
	run(t, p, r)
	eventually(t, "first round done", func() bool { return !p.Status().LastPoll.IsZero() })

	px.down.Store(true)
	px.dropAll()
	eventually(t, "several failed attempts", func() bool {
		return countLines(logs.String(), `level=DEBUG msg="connect failed"`) >= 5
	})
	if st := p.Status(); st.Connected || st.LastError == "" {
		t.Errorf("Status() during the outage = %+v, want disconnected with an error", st)
	}
	px.down.Store(false)
	eventually(t, "reconnected", func() bool { return p.Status().Connected })
	s.appendMail(t, "INBOX", testMail(1, 100))
	r.waitFor(t, 1)
	eventually(t, "reconnection logged", func() bool { return countLines(logs.String(), "msg=reconnected") > 0 })

	l := logs.String()
	for _, c := range []struct {
		line string
		want int
	}{
		{`msg="connection lost"`, 1},
		{`level=WARN msg="connect failed"`, 0},
		{`msg=reconnected`, 1},
	} {
		if n := countLines(l, c.line); n != c.want {
			t.Errorf("%d log lines with %s, want %d", n, c.line, c.want)
		}
	}
	if st := p.Status(); st.Reconnects != 1 || st.LastError != "" {
		t.Errorf("Status() = %+v, want 1 reconnect and no error", st)
	}
}

func TestWrongPasswordLoggedAsError(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	opts, logs := testOptions(t, s)
	opts.Password = "wrong"
	opts.BackoffMin, opts.BackoffMax = time.Millisecond, 2*time.Millisecond
	p := newPoller(t, opts)
	run(t, p, newRecorder(Checkpoint{}))
	eventually(t, "several attempts", func() bool {
		return countLines(logs.String(), `msg="connect failed"`) >= 5
	})
	if n := countLines(logs.String(), `level=ERROR msg="connect failed"`); n != 1 {
		t.Errorf("%d ERROR lines for the rejected password, want 1", n)
	}
	if st := p.Status(); !strings.Contains(st.LastError, "authentication failed") {
		t.Errorf("Status().LastError = %q, want the authentication failure", st.LastError)
	}
}

func TestRestartFinishesMoves(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	// UIDs 1 and 2 were committed and flagged, then the process died
	// before moving them.
	s.appendMail(t, "INBOX", testMail(1, 100), imap.FlagSeen)
	s.appendMail(t, "INBOX", testMail(2, 100), imap.FlagSeen)
	s.appendMail(t, "INBOX", testMail(3, 100))
	_, uv := s.flags(t, "INBOX")
	opts, _ := testOptions(t, s)
	opts.ProcessedMailbox = "Done"
	r := newRecorder(Checkpoint{UIDValidity: uv, UID: 2})
	run(t, newPoller(t, opts), r)

	r.waitFor(t, 1)
	eventually(t, "all three moved", func() bool {
		inbox, _ := s.flags(t, "INBOX")
		return len(inbox) == 0
	})
	if done, _ := s.flags(t, "Done"); len(done) != 3 {
		t.Errorf("Done holds %d messages, want 3", len(done))
	}
	if msgs, _ := r.snapshot(); !slices.Equal(uidsOf(msgs), []uint32{3}) {
		t.Errorf("handled uids %v, want [3]", uidsOf(msgs))
	}
}

func TestMessageExpungedBeforeBodyFetch(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	for i := 1; i <= 12; i++ {
		s.appendMail(t, "INBOX", testMail(i, 100))
	}
	opts, logs := testOptions(t, s)
	r := newRecorder(Checkpoint{})
	var expungeErr error
	r.fail = func(m *Message, attempt int) error {
		if m.UID != 1 {
			return nil
		}
		// Another client deletes uid 10 after the poller listed it but
		// before it asks for its body (the pipeline is 8 deep).
		c := s.inspect(t)
		defer c.Logout()
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			expungeErr = err
			return nil
		}
		set := imap.UIDSetNum(10)
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			expungeErr = err
			return nil
		}
		expungeErr = c.UIDExpunge(set).Close()
		return nil
	}
	run(t, newPoller(t, opts), r)

	r.waitFor(t, 11)
	if expungeErr != nil {
		t.Fatal(expungeErr)
	}
	msgs, _ := r.snapshot()
	if got, want := uidsOf(msgs), []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12}; !slices.Equal(got, want) {
		t.Errorf("handled uids %v, want %v", got, want)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Error("a vanished message caused a warning; it should be skipped quietly")
	}
}

// TestShutdownFinishesTheMailInHand: when Run's context ends while the
// handler works on a message, the handler still reads the whole message and
// commits it; Run returns once it is done, and no new message is started.
func TestShutdownFinishesTheMailInHand(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	s.appendMail(t, "INBOX", testMail(1, 50_000))
	s.appendMail(t, "INBOX", testMail(2, 100))
	opts, _ := testOptions(t, s)
	p := newPoller(t, opts)
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	var handled []uint32
	var bodyLen int
	var hctxErr error
	h := func(hctx context.Context, m *Message) error {
		handled = append(handled, m.UID)
		close(started)
		cancel() // the daemon is told to stop while this mail is in hand
		time.Sleep(100 * time.Millisecond)
		b, err := io.ReadAll(m.Body)
		bodyLen, hctxErr = len(b), hctx.Err()
		return err
	}
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, newRecorder(Checkpoint{}), h)
	}()
	<-started
	t0 := time.Now()
	defer func() { t.Logf("Run returned %v after the cancel", time.Since(t0)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(HandlerGrace + 5*time.Second):
		t.Fatal("Run did not return")
	}
	if want := len(testMail(1, 50_000)); bodyLen != want || hctxErr != nil {
		t.Errorf("handler read %d bytes (ctx err %v), want all %d with a live context", bodyLen, hctxErr, want)
	}
	if !slices.Equal(handled, []uint32{1}) {
		t.Errorf("handled %v, want only the mail in hand", handled)
	}
}

package mailbox

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// oldMailbox fills INBOX with n mails of which the odd UIDs were read.
func oldMailbox(t *testing.T, n int) *testServer {
	t.Helper()
	s := newTestServer(t, nil)
	for i := 1; i <= n; i++ {
		var flags []imap.Flag
		if i%2 == 1 {
			flags = append(flags, imap.FlagSeen)
		}
		s.appendMail(t, "INBOX", testMail(i, 100), flags...)
	}
	return s
}

// A first start (no checkpoint) on a mailbox with old mail takes only the
// mail nobody has read: read mails are skipped for good, even between
// unread ones, and are left as they are; mail that arrives later is taken.
func TestFirstStartUnseen(t *testing.T) {
	t.Parallel()
	s := oldMailbox(t, 5)
	opts, _ := testOptions(t, s)
	r := newRecorder(Checkpoint{})
	run(t, newPoller(t, opts), r)
	r.waitFor(t, 2)
	s.appendMail(t, "INBOX", testMail(6, 100))
	msgs := r.waitFor(t, 3)
	if got := uidsOf(msgs); !slices.Equal(got, []uint32{2, 4, 6}) {
		t.Errorf("handled uids %v, want [2 4 6]: read mail at the first start is skipped", got)
	}
	_, uv := s.flags(t, "INBOX")
	want := Checkpoint{UIDValidity: uv, UID: 6, Base: 5, Select: FirstStart{Mode: FirstStartUnseen}}
	eventually(t, "checkpoint past the new mail", func() bool { _, cp := r.snapshot(); return cp == want })
	// A read mail marked unread afterwards is not taken: it was skipped.
	c := s.inspect(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	c.Logout()
	s.appendMail(t, "INBOX", testMail(7, 100))
	if got := uidsOf(r.waitFor(t, 4)); !slices.Equal(got, []uint32{2, 4, 6, 7}) {
		t.Errorf("handled uids %v, want [2 4 6 7]", got)
	}
}

// A first start that stops half way (the process dies after committing a
// mail, before flagging it) goes on after a restart with the same choice:
// nothing taken twice, nothing lost, the skipped mail left alone.
func TestFirstStartCrashAndRestart(t *testing.T) {
	t.Parallel()
	s := oldMailbox(t, 8) // unseen: 2 4 6 8
	opts, _ := testOptions(t, s)
	r := newRecorder(Checkpoint{})
	ctx, cancel := context.WithCancel(t.Context())
	r.fail = func(m *Message, _ int) error {
		if m.UID == 4 {
			cancel() // the daemon dies with this mail in hand; it commits
		}
		return nil
	}
	p1 := newPoller(t, opts)
	if err := p1.Run(ctx, r, r.handle); err != nil {
		t.Fatal(err)
	}
	msgs, cp := r.snapshot()
	if got := uidsOf(msgs); !slices.Equal(got, []uint32{2, 4}) {
		t.Fatalf("first run handled %v, want [2 4]", got)
	}
	flags, uv := s.flags(t, "INBOX")
	if hasFlag(flags[4], imap.FlagSeen) {
		t.Fatal("uid 4 flagged: the crash came too late to test anything")
	}
	if cp != (Checkpoint{UIDValidity: uv, UID: 4, Base: 8, Select: FirstStart{Mode: FirstStartUnseen}}) {
		t.Fatalf("checkpoint after the crash %+v", cp)
	}

	// Meanwhile a new mail arrives; the daemon starts again.
	s.appendMail(t, "INBOX", testMail(9, 100))
	r.mu.Lock()
	r.fail = nil
	r.mu.Unlock()
	run(t, newPoller(t, opts), r)
	msgs = r.waitFor(t, 5)
	if got := uidsOf(msgs); !slices.Equal(got, []uint32{2, 4, 6, 8, 9}) {
		t.Errorf("handled uids %v, want [2 4 6 8 9]: each unseen mail once", got)
	}
	eventually(t, "every mail taken flagged \\Seen", func() bool {
		flags, _ := s.flags(t, "INBOX")
		for _, uid := range []uint32{4, 6, 8, 9} {
			if !hasFlag(flags[uid], imap.FlagSeen) {
				return false
			}
		}
		return true
	})
}

// "new" takes nothing already there, and leaves it untouched, unread mail
// included; "all" takes everything.
func TestFirstStartNewAndAll(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode FirstStartMode
		want []uint32
	}{
		{FirstStartNew, []uint32{5}},
		{FirstStartAll, []uint32{1, 2, 3, 4, 5}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			t.Parallel()
			s := oldMailbox(t, 4)
			opts, _ := testOptions(t, s)
			opts.FirstStart = FirstStart{Mode: tc.mode}
			r := newRecorder(Checkpoint{})
			p := newPoller(t, opts)
			run(t, p, r)
			eventually(t, "a round done", func() bool { return !p.Status().LastPoll.IsZero() })
			s.appendMail(t, "INBOX", testMail(5, 100))
			msgs := r.waitFor(t, len(tc.want))
			if got := uidsOf(msgs); !slices.Equal(got, tc.want) {
				t.Errorf("handled uids %v, want %v", got, tc.want)
			}
			if tc.mode == FirstStartNew {
				flags, _ := s.flags(t, "INBOX")
				if hasFlag(flags[2], imap.FlagSeen) || hasFlag(flags[4], imap.FlagSeen) {
					t.Error("unread mail skipped by the first start was flagged \\Seen")
				}
			}
		})
	}
}

// A date takes the mail that arrived from that day on, by INTERNALDATE in
// the given zone; FirstStartCount says so without taking anything.
func TestFirstStartSince(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	zone := time.FixedZone("UTC-5", -5*3600)
	dates := []time.Time{
		time.Date(2026, 10, 30, 12, 0, 0, 0, zone),
		time.Date(2026, 10, 31, 23, 30, 0, 0, zone), // 1 Nov in UTC: still before
		time.Date(2026, 11, 1, 0, 30, 0, 0, zone),
		time.Date(2026, 11, 20, 9, 0, 0, 0, zone),
	}
	for i, d := range dates {
		_, err := s.user.Append("INBOX", bytes.NewReader(testMail(i+1, 100)),
			&imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: d})
		if err != nil {
			t.Fatal(err)
		}
	}
	opts, _ := testOptions(t, s)
	opts.FirstStart = FirstStart{Mode: FirstStartSince, Since: time.Date(2026, 11, 1, 0, 0, 0, 0, zone)}
	p := newPoller(t, opts)
	take, total, err := p.FirstStartCount(t.Context())
	if err != nil || take != 2 || total != 4 {
		t.Fatalf("FirstStartCount = %d of %d, %v; want 2 of 4", take, total, err)
	}
	r := newRecorder(Checkpoint{})
	run(t, p, r)
	if got := uidsOf(r.waitFor(t, 2)); !slices.Equal(got, []uint32{3, 4}) {
		t.Errorf("handled uids %v, want [3 4]", got)
	}
}

func TestFirstStartOptions(t *testing.T) {
	t.Parallel()
	base := Options{Host: "127.0.0.1", TLS: TLSNone, Username: "u", Password: "p"}
	for _, fs := range []FirstStart{{Mode: "sometimes"}, {Mode: FirstStartSince}} {
		o := base
		o.FirstStart = fs
		if _, err := New(o); err == nil {
			t.Errorf("New with first start %+v: no error", fs)
		}
	}
}

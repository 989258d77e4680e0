package mailbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

const (
	testUser = "desk@example.org"
	testPass = "s3cret"
	// waitLong is how long a test waits for something that normally takes
	// milliseconds: generous, so that a loaded machine does not fail it.
	waitLong = 10 * time.Second
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is go-imap's in-memory server on a loopback port.
type testServer struct {
	addr  string
	host  string
	port  int
	user  *imapmemserver.User
	debug *lockedBuffer // raw traffic of every connection
}

// newTestServer starts a server advertising caps (nil: IMAP4rev2, which
// implies MOVE, UIDPLUS and IDLE) with user testUser and an empty INBOX.
func newTestServer(tb testing.TB, caps imap.CapSet) *testServer {
	tb.Helper()
	return startServer(tb, caps, nil)
}

// startServer is newTestServer with a custom session: newSession, if not
// nil, replaces the in-memory server's LOGIN-only sessions.
func startServer(tb testing.TB, caps imap.CapSet, newSession func(*imapmemserver.User) imapserver.Session) *testServer {
	tb.Helper()
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(testUser, testPass)
	if err := user.Create("INBOX", nil); err != nil {
		tb.Fatal(err)
	}
	mem.AddUser(user)
	debug := &lockedBuffer{}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if newSession != nil {
				return newSession(user), nil, nil
			}
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
		DebugWriter:  debug,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	a := ln.Addr().(*net.TCPAddr)
	return &testServer{addr: a.String(), host: "127.0.0.1", port: a.Port, user: user, debug: debug}
}

// testMail returns a small RFC 5322 message; n makes it unique.
func testMail(n int, bodySize int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Customer %d <c%d@example.com>\r\n", n, n)
	fmt.Fprintf(&b, "To: desk@example.org\r\nSubject: printer %d is broken\r\n", n)
	fmt.Fprintf(&b, "Message-ID: <%d@example.com>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\n", n)
	line := strings.Repeat("x", 70) + "\r\n"
	for b.Len() < bodySize {
		b.WriteString(line)
	}
	b.WriteString("bye\r\n")
	return b.Bytes()
}

// appendMail stores raw in mailbox directly, as a delivery agent would.
func (s *testServer) appendMail(tb testing.TB, mailbox string, raw []byte, flags ...imap.Flag) {
	tb.Helper()
	if _, err := s.user.Append(mailbox, bytes.NewReader(raw), &imap.AppendOptions{Flags: flags}); err != nil {
		tb.Fatalf("append to %s: %v", mailbox, err)
	}
}

// inspect opens a separate client connection for assertions.
func (s *testServer) inspect(tb testing.TB) *imapclient.Client {
	tb.Helper()
	c, err := imapclient.DialInsecure(s.addr, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// flags returns the flags of every message in mailbox by UID, and the
// mailbox's UIDVALIDITY.
func (s *testServer) flags(tb testing.TB, mailbox string) (map[uint32][]imap.Flag, uint32) {
	tb.Helper()
	c := s.inspect(tb)
	defer c.Logout()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		tb.Fatalf("select %s: %v", mailbox, err)
	}
	out := map[uint32][]imap.Flag{}
	if sel.NumMessages == 0 {
		return out, sel.UIDValidity
	}
	bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		tb.Fatalf("fetch flags in %s: %v", mailbox, err)
	}
	for _, b := range bufs {
		out[uint32(b.UID)] = b.Flags
	}
	return out, sel.UIDValidity
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(flags, func(g imap.Flag) bool { return strings.EqualFold(string(g), string(f)) })
}

// uidFetches returns the UID sets of the UID FETCH commands clients sent.
func (s *testServer) uidFetches() []string {
	re := regexp.MustCompile(`(?m)^T\d+ UID FETCH (\S+) `)
	var sets []string
	for _, m := range re.FindAllStringSubmatch(s.debug.String(), -1) {
		sets = append(sets, m[1])
	}
	return sets
}

// got is one message as the handler saw it.
type got struct {
	UIDValidity, UID uint32
	Size             int64
	Truncated        bool // Body holds less than Size bytes
	Body             []byte
	At               time.Time
}

// recorder plays the caller: it commits each message and the checkpoint to
// memory. fail, if set, may refuse a message (nothing is committed then).
type recorder struct {
	mu       sync.Mutex
	cp       Checkpoint
	msgs     []got
	attempts map[uint32]int
	fail     func(m *Message, attempt int) error
	changed  chan struct{}
	// discard reads each body without keeping it (benchmarks).
	discard bool
}

func newRecorder(cp Checkpoint) *recorder {
	return &recorder{cp: cp, attempts: map[uint32]int{}, changed: make(chan struct{}, 1)}
}

// discardBody is handle for a body read and not kept.
func (r *recorder) discardBody(m *Message) error {
	if _, err := io.Copy(io.Discard, m.Body); err != nil {
		return err
	}
	r.record(got{UIDValidity: m.UIDValidity, UID: m.UID, Size: m.Size, At: time.Now()}, m.Checkpoint())
	return nil
}

// record keeps g as committed with cp and tells the waiters.
func (r *recorder) record(g got, cp Checkpoint) {
	r.mu.Lock()
	r.msgs = append(r.msgs, g)
	r.cp = cp
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) Checkpoint(context.Context) (Checkpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cp, nil
}

func (r *recorder) SetCheckpoint(_ context.Context, cp Checkpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cp = cp
	return nil
}

func (r *recorder) handle(_ context.Context, m *Message) error {
	if r.discard {
		return r.discardBody(m)
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return err // nothing committed
	}
	r.mu.Lock()
	r.attempts[m.UID]++
	n := r.attempts[m.UID]
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(m, n); err != nil {
			return err
		}
	}
	r.record(got{m.UIDValidity, m.UID, m.Size, int64(len(body)) < m.Size, body, time.Now()}, m.Checkpoint())
	return nil
}

func (r *recorder) snapshot() ([]got, Checkpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs), r.cp
}

// waitFor waits until the recorder holds at least n messages.
func (r *recorder) waitFor(tb testing.TB, n int) []got {
	tb.Helper()
	return r.waitForWithin(tb, n, waitLong)
}

// waitForWithin is waitFor with a custom patience.
func (r *recorder) waitForWithin(tb testing.TB, n int, patience time.Duration) []got {
	tb.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		have := len(r.msgs)
		r.mu.Unlock()
		if have >= n {
			msgs, _ := r.snapshot()
			return msgs
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			tb.Fatalf("handler got %d messages within %v, want %d", have, patience, n)
		}
	}
}

func uidsOf(msgs []got) []uint32 {
	var uids []uint32
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	return uids
}

// eventually polls cond every few milliseconds until it holds or waitLong
// passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not true within %v", what, waitLong)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testLogger logs to t.Log and keeps the text for assertions.
func testLogger(tb testing.TB) (*slog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	w := io.MultiWriter(buf, tbWriter{tb})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testOptions returns options for s with fast retries.
func testOptions(tb testing.TB, s *testServer) (Options, *lockedBuffer) {
	logger, logs := testLogger(tb)
	return Options{
		Host:         s.host,
		Port:         s.port,
		TLS:          TLSNone,
		Username:     testUser,
		Password:     testPass,
		PollInterval: 5 * time.Second,
		BackoffMin:   10 * time.Millisecond,
		BackoffMax:   100 * time.Millisecond,
		Logger:       logger,
	}, logs
}

// run starts p.Run in the background; the test's cleanup stops it and
// checks that it returned nil.
func run(tb testing.TB, p *Poller, r *recorder) {
	tb.Helper()
	ctx, cancel := context.WithCancel(tb.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, r, r.handle) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(waitLong):
			tb.Errorf("Run did not return within %v of cancellation", waitLong)
		}
	})
}

// newPoller is New that fails the test on error.
func newPoller(tb testing.TB, opts Options) *Poller {
	tb.Helper()
	p, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// proxy forwards TCP connections to a server and can cut them: after a
// number of bytes from the server, or all at once.
type proxy struct {
	addr     string
	port     int
	target   string
	cutAfter atomic.Int64 // if > 0, the next connection is cut after this many bytes from the server
	cuts     atomic.Int32
	down     atomic.Bool // while set, connections are closed at once
	filter   func(line []byte) []byte
	mu       sync.Mutex
	conns    []net.Conn
}

// newProxy starts a proxy to target; filter, if not nil, rewrites each line
// the server sends.
func newProxy(tb testing.TB, target string, filter func(line []byte) []byte) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	p := &proxy{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, target: target, filter: filter}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			if p.down.Load() {
				client.Close()
				server.Close()
				continue
			}
			limit := p.cutAfter.Swap(0)
			go func() {
				io.Copy(server, client)
				server.Close()
			}()
			go func() {
				switch {
				case limit > 0:
					io.CopyN(client, server, limit)
					p.cuts.Add(1)
				case p.filter != nil:
					br := bufio.NewReader(server)
					for {
						line, err := br.ReadBytes('\n')
						if _, werr := client.Write(p.filter(line)); werr != nil || err != nil {
							break
						}
					}
				default:
					io.Copy(client, server)
				}
				client.Close()
				server.Close()
			}()
		}
	}()
	return p
}

// dropAll cuts every connection made so far.
func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// lines splits s for log assertions.
func countLines(s, substr string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}

package notify

import (
	"context"
	"fmt"
	"github.com/wneessen/go-mail"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

var t0 = time.Date(2026, 3, 9, 15, 0, 0, 0, time.UTC)

func newTestWorker(t testing.TB, ob Outbox, s MessageSender, clk *clock, mod func(*WorkerOptions)) *Worker {
	t.Helper()
	opts := WorkerOptions{Outbox: ob, Renderer: newTestRenderer(t, "es"), Sender: s, Now: clk.Now, Logger: testLogger(t),
		MinBackoff: 5 * time.Second, MaxBackoff: 30 * time.Minute}
	if mod != nil {
		mod(&opts)
	}
	w, err := NewWorker(opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// simple returns n ack notices for ticket id, to rcpt.
func simple(id ticket.ID, firstSeq uint64, n int, rcpt string) []ticket.Pending {
	tk := &ticket.Ticket{ID: id, Subject: "Asunto " + string(id), Requester: ticket.Address{Addr: rcpt},
		Level: 1, Group: "mesa", State: ticket.StateOpen, Thread: []string{"orig." + string(id) + "@example.org"}}
	var out []ticket.Pending
	for i := 0; i < n; i++ {
		seq := firstSeq + uint64(i)
		out = append(out, ticket.Pending{Seq: seq, MessageID: fmt.Sprintf("%s.n%d@ticketd.test", id, seq), CreatedAt: t0,
			Notice: ticket.Notice{Kind: ticket.NoticeReply, To: []ticket.Address{{Addr: rcpt}}, Ticket: tk, Text: fmt.Sprint("mensaje ", seq)}})
	}
	return out
}

// byMessageID counts the mails the sink got per Message-ID.
func byMessageID(t testing.TB, sk *sink) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, c := range sk.messages() {
		m[parseMail(t, c.Data).Header.Get("Message-Id")]++
	}
	return m
}

// sentOnce checks that the sink got each of ps once and the outbox marked
// each sent once.
func sentOnce(t testing.TB, sk *sink, ob *memOutbox, ps []ticket.Pending) {
	t.Helper()
	counts := byMessageID(t, sk)
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, p := range ps {
		if n := counts["<"+p.MessageID+">"]; n != 1 {
			t.Errorf("notice %d delivered %d times, want 1", p.Seq, n)
		}
		if n := ob.sent[p.Seq]; n != 1 {
			t.Errorf("notice %d marked sent %d times, want 1", p.Seq, n)
		}
	}
}

// TestEveryKindThroughSMTP sends every notice of the procedure walk through
// the worker, sender and an SMTP server, then checks each mail as received:
// recipient, decoded subject, threading and automatic-mail headers.
func TestEveryKindThroughSMTP(t *testing.T) {
	sk := newSink(t, "")
	ps := walk(t)
	ob := newOutbox(ps...)
	clk := &clock{t: t0}
	w := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, nil)
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ob.left() != 0 {
		t.Fatalf("%d notices left in the outbox", ob.left())
	}
	got := map[string]parsed{}
	envelope := map[string]captured{}
	for _, c := range sk.messages() {
		m := parseMail(t, c.Data)
		id := m.Header.Get("Message-Id")
		got[id] = m
		envelope[id] = c
	}
	if len(got) != len(ps) {
		t.Fatalf("sink got %d distinct mails, want %d", len(got), len(ps))
	}
	if st := w.Stats(); st.Sent != uint64(len(ps)) || st.Retried != 0 || st.Failed != 0 {
		t.Errorf("stats %+v, want %d sent", st, len(ps))
	}
	if n := sk.sessionCount(); n != 1 {
		t.Errorf("%d SMTP connections for %d mails, want 1", n, len(ps))
	}
	r := newTestRenderer(t, "es")
	kinds := map[ticket.NoticeKind]bool{}
	for _, p := range ps {
		kinds[p.Notice.Kind] = true
		m, ok := got["<"+p.MessageID+">"]
		if !ok {
			t.Errorf("no mail with Message-ID <%s> (%s)", p.MessageID, p.Notice.Kind)
			continue
		}
		name := fmt.Sprintf("%s #%d", p.Notice.Kind, p.Seq)
		want, _ := r.Render(p)
		if m.Subject != want.Subject {
			t.Errorf("%s: subject %q, want %q", name, m.Subject, want.Subject)
		}
		tk := p.Notice.Ticket
		reveals := p.Notice.Kind.RevealsTicket()
		if strings.Contains(m.Subject, tk.ID.Tag()) != reveals {
			t.Errorf("%s: subject %q: has the ticket tag %v, want %v", name, m.Subject, !reveals, reveals)
		}
		if m.Text != want.Text || m.HTML != want.HTML {
			t.Errorf("%s: body differs from the rendering", name)
		}
		env := envelope["<"+p.MessageID+">"]
		if env.From != support.Addr || len(env.To) != 1 || env.To[0] != p.Notice.To[0].Addr {
			t.Errorf("%s: envelope %s -> %v, want %s -> %s", name, env.From, env.To, support.Addr, p.Notice.To[0].Addr)
		}
		h := m.Header
		if from, err := h.AddressList("From"); err != nil || from[0].Address != support.Addr || from[0].Name != support.Name {
			t.Errorf("%s: From %v (%v)", name, from, err)
		}
		if rt, err := h.AddressList("Reply-To"); err != nil || rt[0].Address != support.Addr {
			t.Errorf("%s: Reply-To %v (%v)", name, rt, err)
		}
		wantAuto := "auto-generated"
		if p.Notice.InReplyTo != "" {
			wantAuto = "auto-replied"
		}
		if got := h.Get("Auto-Submitted"); got != wantAuto {
			t.Errorf("%s: Auto-Submitted %q, want %q", name, got, wantAuto)
		}
		if got := h.Get("X-Auto-Response-Suppress"); got != "All" {
			t.Errorf("%s: X-Auto-Response-Suppress %q", name, got)
		}
		if got := h.Get("X-Ticketd-Ticket"); reveals && got != string(tk.ID) || !reveals && got != "" {
			t.Errorf("%s: X-Ticketd-Ticket %q", name, got)
		}
		for _, k := range []string{"User-Agent", "X-Mailer", "Precedence"} {
			if got := h.Get(k); got != "" {
				t.Errorf("%s: unwanted %s: %q", name, k, got)
			}
		}
		if d, err := h.Date(); err != nil || !d.Equal(p.CreatedAt) {
			t.Errorf("%s: Date %v (%v), want %v", name, d, err, p.CreatedAt)
		}
		// Threading: In-Reply-To is the mail answered, or the last of the
		// thread; References is the thread, space-separated, without the
		// mail's own ID.
		refs := strings.Fields(h.Get("References"))
		switch {
		case !reveals:
			// Nothing of the ticket's thread: only the mail answered.
			if len(refs) != 1 || refs[0] != "<"+p.Notice.InReplyTo+">" {
				t.Errorf("%s: References %q, want only the mail answered", name, h.Get("References"))
			}
		case len(refs) == 0 || refs[0] != "<"+tk.Thread[0]+">":
			t.Errorf("%s: References %q does not start with the original request", name, h.Get("References"))
		}
		if strings.Contains(h.Get("References"), ",") {
			t.Errorf("%s: References %q is comma-separated", name, h.Get("References"))
		}
		for _, ref := range refs {
			if ref == "<"+p.MessageID+">" {
				t.Errorf("%s: References lists the mail itself", name)
			}
		}
		wantParent := refs[len(refs)-1]
		if p.Notice.InReplyTo != "" {
			wantParent = "<" + p.Notice.InReplyTo + ">"
		}
		if got := h.Get("In-Reply-To"); got != wantParent {
			t.Errorf("%s: In-Reply-To %q, want %q", name, got, wantParent)
		}
	}
	if len(kinds) != len(Kinds()) {
		t.Errorf("the walk covered %d kinds, want %d", len(kinds), len(Kinds()))
	}
}

// TestWorkerServerDownThenUp: nothing is lost while the server is down, and
// everything is delivered once when it is back.
func TestWorkerServerDownThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ps := append(simple("OTI-2026-000001", 1, 3, "ana@example.org"), simple("OTI-2026-000002", 4, 3, "luis@example.org")...)
	ob := newOutbox(ps...)
	clk := &clock{t: t0}
	w := newTestWorker(t, ob, newTestSender(t, port, nil), clk, nil)

	if err := w.Flush(t.Context()); err == nil {
		t.Errorf("Flush with the server down returned nil, want the server's error")
	}
	if ob.left() != len(ps) {
		t.Fatalf("%d notices left after a failed pass, want all %d", ob.left(), len(ps))
	}
	if st := w.Stats(); st.Sent != 0 || st.Retried != 1 || st.Failed != 0 {
		t.Errorf("stats while down %+v: want one retry (the pass stops at the first connection failure)", st)
	}
	clk.Add(time.Minute)
	if err := w.Flush(t.Context()); err == nil {
		t.Errorf("second Flush with the server down returned nil")
	}

	sk := newSink(t, addr)
	clk.Add(time.Hour) // past every backoff
	if err := w.Flush(t.Context()); err != nil {
		t.Fatalf("Flush with the server up: %v", err)
	}
	if ob.left() != 0 {
		t.Fatalf("%d notices left", ob.left())
	}
	sentOnce(t, sk, ob, ps)
	if st := w.Stats(); st.Sent != uint64(len(ps)) {
		t.Errorf("stats %+v, want %d sent", st, len(ps))
	}
}

// TestWorker4xxThenSuccess: a recipient answered 4xx is retried with
// exponential backoff from the injected clock; the ticket's later notices
// to the same recipient wait behind it, other tickets go on (that other
// recipients of the ticket go on too is TestWorkerGivesUp's).
func TestWorker4xxThenSuccess(t *testing.T) {
	sk := newSink(t, "")
	var mu sync.Mutex
	fails := 2
	sk.setRcpt(func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if to == "lleno@example.org" && fails > 0 {
			fails--
			return refuse(452, "mailbox full")
		}
		return nil
	})
	a := simple("OTI-2026-000010", 1, 1, "lleno@example.org")
	a = append(a, simple("OTI-2026-000010", 2, 2, "lleno@example.org")...) // same ticket and recipient, later notices
	b := simple("OTI-2026-000011", 4, 2, "luis@example.org")
	ob := newOutbox(append(a, b...)...)
	clk := &clock{t: t0}
	w := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, nil)

	flush := func() {
		t.Helper()
		if err := w.Flush(t.Context()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	flush()
	if got := len(sk.messages()); got != 2 {
		t.Fatalf("after the first pass the sink has %d mails, want 2 (ticket 11 only)", got)
	}
	if len(ob.retries) != 1 || ob.retries[0].Seq != 1 {
		t.Fatalf("retries %+v, want one for notice 1", ob.retries)
	}
	first := ob.retries[0].Next.Sub(t0)
	if first < 3750*time.Millisecond || first > 6250*time.Millisecond {
		t.Errorf("first retry in %v, want 5s ±25%%", first)
	}
	if !strings.Contains(ob.retries[0].Reason, "452") {
		t.Errorf("retry reason %q lacks the server's reply", ob.retries[0].Reason)
	}

	flush() // not due yet: nothing happens
	if got := len(sk.messages()); got != 2 || len(ob.retries) != 1 {
		t.Fatalf("a pass before the retry is due sent %d / retried %d", got, len(ob.retries))
	}

	clk.Add(first)
	flush() // second attempt: 452 again
	if len(ob.retries) != 2 {
		t.Fatalf("retries %+v, want two", ob.retries)
	}
	second := ob.retries[1].Next.Sub(clk.Now())
	if second < 7500*time.Millisecond || second > 12500*time.Millisecond {
		t.Errorf("second retry in %v, want 10s ±25%%", second)
	}

	clk.Add(second)
	flush() // accepted now, then the two held back, in order
	if ob.left() != 0 {
		t.Fatalf("%d notices left", ob.left())
	}
	msgs := sk.messages()
	var order []string
	for _, c := range msgs[2:] {
		order = append(order, parseMail(t, c.Data).Header.Get("Message-Id"))
	}
	want := []string{"<OTI-2026-000010.n1@ticketd.test>", "<OTI-2026-000010.n2@ticketd.test>", "<OTI-2026-000010.n3@ticketd.test>"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("ticket 10 delivered in order %v, want %v", order, want)
	}
	if st := w.Stats(); st.Sent != 5 || st.Retried != 2 || st.Failed != 0 {
		t.Errorf("stats %+v, want 5 sent, 2 retried", st)
	}
}

// TestWorker5xxRecordedAsFailed: a permanent refusal leaves the outbox
// through Failed, with the server's reply, and does not hold back the
// ticket's later notices.
func TestWorker5xxRecordedAsFailed(t *testing.T) {
	sk := newSink(t, "")
	sk.setRcpt(func(to string) error {
		if to == "nadie@example.org" {
			return refuse(550, "no such user here")
		}
		return nil
	})
	ps := simple("OTI-2026-000020", 1, 1, "nadie@example.org")
	ps = append(ps, simple("OTI-2026-000020", 2, 1, "ana@example.org")...)
	ob := newOutbox(ps...)
	clk := &clock{t: t0}
	w := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, nil)
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	reason, ok := ob.failed[1]
	if !ok || !strings.Contains(reason, "550") || !strings.Contains(reason, "no such user") {
		t.Errorf("Failed reason for notice 1 = %q (%v), want the 550 reply", reason, ok)
	}
	if ob.sent[2] != 1 || ob.left() != 0 {
		t.Errorf("notice 2 sent %d times, %d left", ob.sent[2], ob.left())
	}
	if st := w.Stats(); st.Sent != 1 || st.Failed != 1 || st.Retried != 0 {
		t.Errorf("stats %+v, want 1 sent, 1 failed", st)
	}
}

// TestWorkerRenderErrorIsPermanent: a notice that cannot be rendered is
// recorded as failed; the worker goes on.
func TestWorkerRenderErrorIsPermanent(t *testing.T) {
	sk := newSink(t, "")
	good := simple("OTI-2026-000030", 3, 1, "ana@example.org")[0]
	bad := good
	bad.Seq, bad.Notice.Kind = 1, "no_such_kind"
	noRcpt := good
	noRcpt.Seq, noRcpt.Notice.To = 2, nil
	ob := newOutbox(bad, noRcpt, good)
	clk := &clock{t: t0}
	w := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, nil)
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := ob.failed[1]; !ok {
		t.Errorf("unknown kind not recorded as failed")
	}
	if _, ok := ob.failed[2]; !ok {
		t.Errorf("notice without recipient not recorded as failed")
	}
	if ob.sent[3] != 1 {
		t.Errorf("the good notice was sent %d times", ob.sent[3])
	}
	if st := w.Stats(); st.Failed != 2 || st.Sent != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestWorkerRestart: notices left by one worker (its server refused them
// for a while) are sent once by a new worker on the same outbox, and those
// already sent are never sent again.
func TestWorkerRestart(t *testing.T) {
	sk := newSink(t, "")
	sk.setRcpt(func(to string) error {
		if to == "luis@example.org" {
			return refuse(421, "try again later")
		}
		return nil
	})
	ps := append(simple("OTI-2026-000040", 1, 3, "ana@example.org"), simple("OTI-2026-000041", 4, 3, "luis@example.org")...)
	ob := newOutbox(ps...)
	clk := &clock{t: t0}
	w1 := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, nil)
	if err := w1.Flush(t.Context()); err != nil {
		t.Logf("first worker: %v", err)
	}
	if ob.left() != 3 {
		t.Fatalf("%d notices left after the first worker, want 3 (ticket 41)", ob.left())
	}

	// "Restart": a new sender and worker on the same outbox, later on.
	sk.setRcpt(nil)
	clk.Add(time.Hour)
	w2 := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w2.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for ob.left() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v, want nil on cancel", err)
	}
	counts := byMessageID(t, sk)
	for _, p := range ps {
		if n := counts["<"+p.MessageID+">"]; n != 1 {
			t.Errorf("notice %d delivered %d times, want exactly 1", p.Seq, n)
		}
	}
	if st1, st2 := w1.Stats(), w2.Stats(); st1.Sent+st2.Sent != uint64(len(ps)) {
		t.Errorf("sent %d + %d, want %d", st1.Sent, st2.Sent, len(ps))
	}
}

// TestWorkerKick: Run with a long interval delivers a notice committed
// later as soon as it is kicked.
func TestWorkerKick(t *testing.T) {
	sk := newSink(t, "")
	ob := newOutbox()
	clk := &clock{t: t0}
	w := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, func(o *WorkerOptions) { o.Interval = time.Hour })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // let the first (empty) pass run
	ob.add(simple("OTI-2026-000050", 1, 1, "ana@example.org")[0])
	start := time.Now()
	w.Kick()
	w.Kick() // never blocks
	for len(sk.messages()) == 0 && time.Since(start) < 5*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	if len(sk.messages()) != 1 {
		t.Fatalf("kicked worker sent %d mails", len(sk.messages()))
	}
	t.Logf("delivered %v after Kick", time.Since(start))
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestWorkerBackoffBounds(t *testing.T) {
	w, err := NewWorker(WorkerOptions{Outbox: newOutbox(), Renderer: newTestRenderer(t, "es"), Sender: newTestSender(t, 1, nil)})
	if err != nil {
		t.Fatal(err)
	}
	for attempts, want := range map[int]time.Duration{0: 5 * time.Second, 1: 10 * time.Second, 3: 40 * time.Second, 20: 30 * time.Minute, 500: 30 * time.Minute} {
		for i := 0; i < 50; i++ {
			d := w.backoff(attempts)
			lo, hi := want*3/4, want*5/4
			if hi > 30*time.Minute {
				hi = 30 * time.Minute
			}
			if lo < 5*time.Second {
				lo = 5 * time.Second
			}
			if d < lo || d > hi {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempts, d, lo, hi)
			}
		}
	}
}

func BenchmarkRenderAndSend(b *testing.B) {
	sk := newSink(b, "")
	s, err := NewSender(SenderOptions{Host: "127.0.0.1", Port: sk.port(), TLS: TLSNone})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := newTestRenderer(b, "es")
	byKind := firstOfEachKind(b, walk(b))
	p := byKind[ticket.NoticeAssigned]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg, err := r.Message(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Send(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := sk.sessionCount(); n != 1 {
		b.Errorf("%d connections for %d mails", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mails/s")
}

// cancelAfterSend cancels the pass's context as soon as the server accepted
// a mail: a shutdown landing between "accepted" and "recorded as sent".
type cancelAfterSend struct {
	inner  MessageSender
	cancel context.CancelFunc
}

func (c cancelAfterSend) Send(ctx context.Context, m *mail.Msg) error {
	err := c.inner.Send(ctx, m)
	c.cancel()
	return err
}

// strictOutbox refuses to record anything under an ended context, as the
// bbolt store does.
type strictOutbox struct{ *memOutbox }

func (o strictOutbox) MarkSent(ctx context.Context, seqs []uint64, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.memOutbox.MarkSent(ctx, seqs, at)
}

// TestShutdownNeverSendsTwice: a shutdown in the middle of a send still
// records the notice as sent, so the next start does not send it again, and
// no further notice is started after the shutdown.
func TestShutdownNeverSendsTwice(t *testing.T) {
	sk := newSink(t, "")
	ob := newOutbox(simple("OTI-2026-000001", 1, 3, "ana@example.org")...)
	clk := &clock{t: t0}
	sender := newTestSender(t, sk.port(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	w := newTestWorker(t, strictOutbox{ob}, cancelAfterSend{inner: sender, cancel: cancel}, clk, nil)
	if err := w.Flush(ctx); err == nil {
		t.Fatal("Flush after the shutdown reported nothing")
	}
	if ob.left() != 2 || len(sk.messages()) != 1 {
		t.Fatalf("after the shutdown: %d notices left, %d mails sent; want 2 and 1", ob.left(), len(sk.messages()))
	}
	w2 := newTestWorker(t, strictOutbox{ob}, sender, clk, nil)
	if err := w2.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for id, n := range byMessageID(t, sk) {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	if ob.left() != 0 || len(sk.messages()) != 3 {
		t.Errorf("after the restart: %d left, %d mails", ob.left(), len(sk.messages()))
	}
}

// TestWorkerAcceptedThenDroppedSentOnce: the connection drops right after
// the server accepted each notice; every notice is marked sent once and
// delivered once, none is retried.
func TestWorkerAcceptedThenDroppedSentOnce(t *testing.T) {
	sk := newSink(t, "")
	sk.mu.Lock()
	sk.dropAfterAccept = true
	sk.mu.Unlock()
	ps := append(simple("OTI-2026-000040", 1, 2, "ana@example.org"), simple("OTI-2026-000041", 3, 1, "luis@example.org")...)
	ob := newOutbox(ps...)
	clk := &clock{t: t0}
	w := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, nil)
	for range 2 {
		if err := w.Flush(t.Context()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		clk.Add(time.Hour) // past any backoff: a retried notice would go again
	}
	sentOnce(t, sk, ob, ps)
	if len(ob.retries) != 0 {
		t.Errorf("retries %+v, want none", ob.retries)
	}
}

// mustFlush runs one pass of w and fails the test on its error.
func mustFlush(t testing.TB, w *Worker) {
	t.Helper()
	if err := w.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// newParallelWorker returns a worker delivering n notices at once over a
// sender with n connections to sk.
func newParallelWorker(t testing.TB, ob Outbox, sk *sink, clk *clock, n int) *Worker {
	t.Helper()
	s := newTestSender(t, sk.port(), func(o *SenderOptions) { o.Connections = n })
	return newTestWorker(t, ob, s, clk, func(o *WorkerOptions) { o.Parallel = n })
}

// streams returns, for each of k tickets, n notices to its own requester,
// seqs from 1 on, interleaved as a busy desk commits them.
func manyStreams(k, n int) []ticket.Pending {
	var ps []ticket.Pending
	for i := range k {
		for _, p := range simple(ticket.ID(fmt.Sprintf("OTI-2026-%06d", 100+i)), 1, n, fmt.Sprintf("u%d@example.org", i)) {
			p.Seq = uint64(1 + i + k*int(p.Seq-1)) // ticket i's j-th notice comes after every ticket's (j-1)-th
			p.MessageID = fmt.Sprintf("%s.n%d@ticketd.test", p.Notice.Ticket.ID, p.Seq)
			ps = append(ps, p)
		}
	}
	return ps
}

// TestWorkerParallelKeepsStreamOrder: with three connections, notices go
// out at once over all three, yet never two of one stream at a time, and
// each stream in its order.
func TestWorkerParallelKeepsStreamOrder(t *testing.T) {
	sk := newSink(t, "")
	var mu sync.Mutex
	inFlight := map[string]int{}
	var overlap []string
	sk.setRcpt(func(to string) error {
		mu.Lock()
		if inFlight[to]++; inFlight[to] > 1 {
			overlap = append(overlap, to)
		}
		mu.Unlock()
		time.Sleep(time.Duration(len(to)%3) * time.Millisecond) // uneven, so that connections overtake each other
		mu.Lock()
		inFlight[to]--
		mu.Unlock()
		return nil
	})
	ps := manyStreams(12, 4)
	ob := newOutbox(ps...)
	clk := &clock{t: t0}
	w := newParallelWorker(t, ob, sk, clk, 3)
	mustFlush(t, w)
	sentOnce(t, sk, ob, ps)
	if len(overlap) > 0 {
		t.Errorf("two notices of one stream in flight at once, for %v", overlap)
	}
	if got := sk.sessionCount(); got != 3 {
		t.Errorf("%d connections, want 3", got)
	}
	order := map[string][]uint64{}
	for _, c := range sk.messages() {
		var seq uint64
		var id string
		fmt.Sscanf(strings.NewReplacer(".n", " ", "<", "", ">", "", "@", " ").Replace(parseMail(t, c.Data).Header.Get("Message-Id")), "%s %d", &id, &seq)
		order[c.To[0]] = append(order[c.To[0]], seq)
	}
	for to, seqs := range order {
		if !slices.IsSorted(seqs) {
			t.Errorf("%s got its notices in the order %v", to, seqs)
		}
	}
}

// TestWorkerParallelConnectionFails: one connection is cut in the middle
// of a notice; that notice is rescheduled and holds back its own stream,
// the other connections keep going, and the next pass sends the rest.
func TestWorkerParallelConnectionFails(t *testing.T) {
	sk := newSink(t, "")
	var mu sync.Mutex
	cut := 1
	sk.mu.Lock()
	sk.dropOn = func(to string) bool {
		mu.Lock()
		defer mu.Unlock()
		if to == "u4@example.org" && cut > 0 {
			cut--
			return true
		}
		return false
	}
	sk.mu.Unlock()
	ps := manyStreams(9, 2)
	ob := newOutbox(ps...)
	clk := &clock{t: t0}
	w := newParallelWorker(t, ob, sk, clk, 3)
	mustFlush(t, w)
	if ob.left() != 2 {
		t.Fatalf("%d notices left after the cut, want 2 (u4's, the second behind the first)", ob.left())
	}
	if len(ob.retries) != 1 || ob.retries[0].Seq != 5 {
		t.Fatalf("retries %+v, want one, for notice 5 (u4's first)", ob.retries)
	}
	if st := w.Stats(); st.Sent != uint64(len(ps)-2) || st.Unavailable != "" {
		t.Errorf("stats %+v, want %d sent and the server available", st, len(ps)-2)
	}
	clk.Add(time.Hour)
	mustFlush(t, w)
	sentOnce(t, sk, ob, ps)
}

// slowMarks delays each MarkSent, as a slow disk would, and checks at each
// that no more notices are accepted but not yet marked than there are
// connections (each waits for its mark before taking the next notice).
type slowMarks struct {
	*memOutbox
	sk       *sink
	parallel int
	mu       sync.Mutex
	marked   int
	worst    int
}

func (o *slowMarks) MarkSent(ctx context.Context, seqs []uint64, at time.Time) error {
	o.mu.Lock()
	o.worst = max(o.worst, len(o.sk.messages())-o.marked)
	o.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	if err := o.memOutbox.MarkSent(ctx, seqs, at); err != nil {
		return err
	}
	o.mu.Lock()
	o.marked += len(seqs)
	o.mu.Unlock()
	return nil
}

// TestWorkerCoalescesSentMarks: the marks of deliveries that end while a
// mark is being committed go together into the next commit, and the
// duplicate window stays one notice per connection.
func TestWorkerCoalescesSentMarks(t *testing.T) {
	sk := newSink(t, "")
	ps := manyStreams(12, 2)
	mem := newOutbox(ps...)
	ob := &slowMarks{memOutbox: mem, sk: sk, parallel: 3}
	clk := &clock{t: t0}
	w := newParallelWorker(t, ob, sk, clk, 3)
	mustFlush(t, w)
	sentOnce(t, sk, mem, ps)
	mem.mu.Lock()
	marks := slices.Clone(mem.marks)
	mem.mu.Unlock()
	if len(marks) >= len(ps) || slices.Max(marks) < 2 {
		t.Errorf("%d notices marked in commits of %v, want some commits of several", len(ps), marks)
	}
	if ob.worst > ob.parallel {
		t.Errorf("%d notices accepted and not marked at once, want at most %d (one per connection)", ob.worst, ob.parallel)
	}
}

// TestWorkerBusyOneAtATime: while the intake reports a backlog in hand,
// the worker delivers one notice at a time although it has three
// connections; once the backlog is in, all three are used again.
func TestWorkerBusyOneAtATime(t *testing.T) {
	sk := newSink(t, "")
	pk := watchInFlight(sk, 2*time.Millisecond) // long enough for the others to start, were they allowed
	var busy atomic.Bool
	busy.Store(true)
	clk := &clock{t: t0}
	s := newTestSender(t, sk.port(), func(o *SenderOptions) { o.Connections = 3 })
	ps := manyStreams(12, 2)
	ob := newOutbox(ps...)
	w := newTestWorker(t, ob, s, clk, func(o *WorkerOptions) { o.Parallel, o.Busy = 3, busy.Load })
	mustFlush(t, w)
	sentOnce(t, sk, ob, ps)
	if most := pk.most(); most != 1 {
		t.Errorf("while busy, %d notices in flight at once, want 1", most)
	}

	busy.Store(false)
	pk.reset()
	more := manyStreams(12, 2)
	for i := range more {
		more[i].Seq += 100
		more[i].MessageID = fmt.Sprintf("%s.m%d@ticketd.test", more[i].Notice.Ticket.ID, more[i].Seq)
	}
	ob2 := newOutbox(more...)
	w2 := newTestWorker(t, ob2, s, clk, func(o *WorkerOptions) { o.Parallel, o.Busy = 3, busy.Load })
	mustFlush(t, w2)
	if most := pk.most(); most < 2 {
		t.Errorf("once the backlog is in, at most %d notices in flight at once, want up to 3", most)
	}
}

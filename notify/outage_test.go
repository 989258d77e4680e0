package notify

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// runWorker runs w until the test ends.
func runWorker(t *testing.T, w *Worker) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Run(t.Context()) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// waitDelivered waits (generously) until the sink holds n mails.
func waitDelivered(t *testing.T, sk *sink, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(sk.messages()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the sink has %d mails after 20s, want %d", what, len(sk.messages()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWorkerOutageKicksDoNotStall: the server is down while notices keep
// arriving, each with a kick; once it is back, every notice goes out
// without any further kick, although MaxBackoff and Interval are an hour.
func TestWorkerOutageKicksDoNotStall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, port := ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ob := newOutbox()
	w := newTestWorker(t, ob, newTestSender(t, port, nil), &clock{}, func(o *WorkerOptions) {
		o.Now, o.Interval, o.MinBackoff, o.MaxBackoff = time.Now, time.Hour, 100*time.Millisecond, time.Hour
	})
	runWorker(t, w)
	const n = 20
	for i := range n {
		p := simple(ticket.ID("OTI-2026-0001"+string(rune('a'+i))), uint64(i+1), 1, "ana@example.org")[0]
		p.CreatedAt = time.Now()
		ob.add(p)
		w.Kick()
		time.Sleep(50 * time.Millisecond)
	}
	if st := w.Stats(); st.Sent != 0 || st.Retried == 0 {
		t.Fatalf("stats while the server is down: %+v, want nothing sent and some retries", st)
	}
	sk := newSink(t, addr)
	waitDelivered(t, sk, n, "after the server came back, with no kick")
	if ob.left() != 0 {
		t.Errorf("%d notices left", ob.left())
	}
	if st := w.Stats(); st.Unavailable != "" {
		t.Errorf("Stats().Unavailable = %q once mail goes out again, want empty", st.Unavailable)
	}
}

// TestWorkerWakesForItsRetry: a notice answered 4xx is tried again when its
// own backoff ends, although nothing kicks the worker and Interval is an
// hour.
func TestWorkerWakesForItsRetry(t *testing.T) {
	sk := newSink(t, "")
	var mu sync.Mutex
	refused := 0
	sk.setRcpt(func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if refused < 2 {
			refused++
			return refuse(451, "try again later")
		}
		return nil
	})
	p := simple("OTI-2026-000060", 1, 1, "ana@example.org")[0]
	p.CreatedAt = time.Now()
	ob := newOutbox(p)
	w := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), &clock{}, func(o *WorkerOptions) {
		o.Now, o.Interval, o.MinBackoff, o.MaxBackoff = time.Now, time.Hour, 100*time.Millisecond, time.Hour
	})
	runWorker(t, w)
	waitDelivered(t, sk, 1, "the notice refused twice with 451")
	if len(ob.retries) != 2 {
		t.Errorf("retries %+v, want 2", ob.retries)
	}
}

// TestWorkerGivesUp: a recipient that keeps answering 4xx holds back only
// its own later notices of the ticket; after GiveUpAfter its notices are
// recorded as delivery failures on the ticket and leave the outbox.
func TestWorkerGivesUp(t *testing.T) {
	sk := newSink(t, "")
	sk.setRcpt(func(to string) error {
		if strings.EqualFold(to, "lleno@example.org") {
			return refuse(452, "mailbox full")
		}
		return nil
	})
	id := ticket.ID("OTI-2026-000070")
	ps := simple(id, 1, 1, "lleno@example.org")
	ps = append(ps, simple(id, 2, 1, "mesa@example.org")...)  // another recipient, later
	ps = append(ps, simple(id, 3, 1, "Lleno@Example.org")...) // the same recipient, later
	ob := newOutbox(ps...)
	clk := &clock{t: t0}
	w := newTestWorker(t, ob, newTestSender(t, sk.port(), nil), clk, func(o *WorkerOptions) { o.GiveUpAfter = 72 * time.Hour })
	flush := func() {
		t.Helper()
		if err := w.Flush(t.Context()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	flush()
	if got := byMessageID(t, sk); len(got) != 1 || got["<"+ps[1].MessageID+">"] != 1 {
		t.Fatalf("first pass delivered %v, want the notice to mesa@ only (another recipient is not held back)", got)
	}
	if len(ob.retries) != 1 || ob.retries[0].Seq != 1 {
		t.Fatalf("retries %+v, want one, of notice 1 (notice 3 waits behind it)", ob.retries)
	}
	for clk.Now().Before(t0.Add(72*time.Hour - 10*time.Minute)) {
		clk.Add(10 * time.Minute)
		flush()
		if len(ob.failed) > 0 {
			t.Fatalf("gave up at %v, before give_up_after", clk.Now().Sub(t0))
		}
	}
	for _, r := range ob.retries {
		if r.Next.After(t0.Add(72 * time.Hour)) {
			t.Fatalf("retry %+v due after give_up_after: the notice would hold its stream longer", r)
		}
	}
	clk.Add(10 * time.Minute)
	flush()
	if ob.left() != 0 {
		t.Fatalf("%d notices left after give_up_after", ob.left())
	}
	for _, seq := range []uint64{1, 3} {
		if r := ob.failed[seq]; !strings.Contains(r, "452") || !strings.Contains(r, "gave up") {
			t.Errorf("delivery failure of notice %d recorded as %q, want the 452 and that it was given up", seq, r)
		}
	}
	if st := w.Stats(); st.Failed != 2 || st.Sent != 1 {
		t.Errorf("stats %+v, want 1 sent, 2 failed", st)
	}
	tk, _ := ob.Ticket(t.Context(), id)
	n := 0
	for _, e := range tk.History {
		if e.Kind == ticket.KindDeliveryFailed {
			n++
		}
	}
	if n != 2 {
		t.Errorf("ticket history has %d delivery failures, want 2", n)
	}
}

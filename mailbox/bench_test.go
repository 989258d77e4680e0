package mailbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkFetch measures how fast a poller hands mail over: each op is one
// message fetched, given to the handler, committed and flagged \Seen.
func BenchmarkFetch(b *testing.B) {
	for _, size := range []int{2 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s := newTestServer(b, nil)
			for i := range b.N {
				s.appendMail(b, "INBOX", testMail(i, size))
			}
			opts, _ := testOptions(b, s)
			opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			r := newRecorder(Checkpoint{})
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			run(b, newPoller(b, opts), r)
			r.waitForWithin(b, b.N, time.Minute)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "mails/s")
		})
	}
}

// BenchmarkIdleLatency measures the time from a delivery to the handler
// while the poller idles.
func BenchmarkIdleLatency(b *testing.B) {
	s := newTestServer(b, nil)
	opts, _ := testOptions(b, s)
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r := newRecorder(Checkpoint{})
	p := newPoller(b, opts)
	run(b, p, r)
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		eventually(b, "idling", func() bool { return p.Status().Idling })
		b.StartTimer()
		start := time.Now()
		s.appendMail(b, "INBOX", testMail(i, 1000))
		msgs := r.waitFor(b, i+1)
		total += msgs[i].At.Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/mail")
}

// BenchmarkFetchLarge is BenchmarkFetch for one mail of 34 MiB (a 25 MiB
// attachment in base64) read by a handler that keeps nothing: what the
// poller and the IMAP client allocate for it beyond the in-process server
// (`-memprofile`, `-focus mailbox`).
func BenchmarkFetchLarge(b *testing.B) {
	s := newTestServer(b, nil)
	raw := testMail(0, 34<<20)
	opts, _ := testOptions(b, s)
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.MaxSize = 64 << 20
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	// One recorder for all: its checkpoint makes each poller fetch only the
	// mail added for it.
	r := newRecorder(Checkpoint{})
	r.discard = true
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s.appendMail(b, "INBOX", raw)
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		p := newPoller(b, opts)
		b.StartTimer()
		go func() { done <- p.Run(ctx, r, r.handle) }()
		r.waitForWithin(b, i+1, time.Minute)
		cancel()
		<-done
	}
}

package alert

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

func TestAlerterOutboxStuck(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	a := &alerter{stuckAfter: 15 * time.Minute}
	steps := []struct {
		at   time.Duration
		ob   outbox.Stats
		want string // subject fragment, "" for no alert
	}{
		{0, outbox.Stats{}, ""},
		{10 * time.Minute, outbox.Stats{Depth: 3, Oldest: t0}, ""},
		{16 * time.Minute, outbox.Stats{Depth: 3, Oldest: t0}, "no salen"},
		{40 * time.Minute, outbox.Stats{Depth: 9, Oldest: t0}, ""}, // once per episode
		{41 * time.Minute, outbox.Stats{Depth: 1, Oldest: t0.Add(40 * time.Minute)}, "salen de nuevo"},
		{42 * time.Minute, outbox.Stats{}, ""},
	}
	for _, s := range steps {
		got := a.checkOutbox(t0.Add(s.at), s.ob, "")
		switch {
		case s.want == "" && len(got) != 0:
			t.Errorf("at +%v: alerts %+v, want none", s.at, got)
		case s.want != "" && (len(got) != 1 || !strings.Contains(got[0].subject, s.want)):
			t.Errorf("at +%v: alerts %+v, want one about %q", s.at, got, s.want)
		}
	}
}

// logBuffer collects log records for a test, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stuckWatcher runs a watcher whose outbox has been stuck for an hour,
// sending through the SMTP server on port.
func stuckWatcher(t *testing.T, port int, logs *logBuffer) *Watcher {
	t.Helper()
	s, err := notify.NewSender(notify.SenderOptions{Host: "127.0.0.1", Port: port, TLS: notify.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(Options{After: time.Hour, StuckAfter: 15 * time.Minute,
		Status: func() mailbox.Status { return mailbox.Status{LastPoll: time.Now()} },
		Outbox: func() (outbox.Stats, error) {
			return outbox.Stats{Depth: 4, Oldest: time.Now().Add(-time.Hour)}, nil
		},
		SMTPError: func() string { return "" },
		Sender:    s, From: ticket.Address{Addr: "ticketd@oti.test"}, To: []string{"ops@oti.test"},
		Every: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return w
}

// TestWatcherMailsStuckOutbox: the operators get one mail saying that
// notifications do not leave.
func TestWatcherMailsStuckOutbox(t *testing.T) {
	sys, err := devmail.Start(devmail.Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Domain: "oti.test",
		Users: []string{"ops@oti.test"}, Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	_, p, _ := net.SplitHostPort(sys.SMTPAddr())
	port, _ := strconv.Atoi(p)
	stuckWatcher(t, port, &logBuffer{})
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, _, _ := sys.Deliveries(0)
		if len(ds) > 0 {
			if !strings.Contains(string(ds[0].Raw), "4 notificaciones") {
				t.Errorf("alert mail does not say how many notices wait:\n%s", ds[0].Raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert mail in 20s for an outbox stuck for an hour")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatcherStuckOutboxSMTPDown: with the SMTP server down the alert
// cannot go by mail: it is logged at error level and counted as unsent.
func TestWatcherStuckOutboxSMTPDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logs := &logBuffer{}
	w := stuckWatcher(t, port, logs)
	deadline := time.Now().Add(20 * time.Second)
	for w.Unsent() == 0 || !strings.Contains(logs.String(), "level=ERROR") {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %d alerts unsent, log:\n%s", w.Unsent(), logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "no salen") {
		t.Errorf("the error logged does not name the stuck outbox:\n%s", l)
	}
}

package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
)

// TestHealthWhenMailCannotLeave: the SMTP server ticketd sends through is
// down, so the notifications of a new ticket wait; once the oldest has
// waited longer than outbox.stuck_after, /healthz is unhealthy and says why,
// and /metrics shows the stuck outbox and the unavailable server.
func TestHealthWhenMailCannotLeave(t *testing.T) {
	sys := startMail(t)
	cfg := testConfig(t, sys, freeAddr(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SMTP.Port = ln.Addr().(*net.TCPAddr).Port // nothing listens there
	ln.Close()
	cfg.Outbox.StuckAfter = time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := Build(cfg, Options{Version: "test", Logger: log, FlushTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := runResult(t, done); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	adm := admin.NewClient(cfg.Admin.Listen, "")
	send(t, sys, userAddr, deskAddr, "No tengo red", "Desde ayer.")
	var h admin.Health
	deadline := time.Now().Add(20 * time.Second)
	for {
		var herr error
		h, herr = adm.Health(ctx)
		if herr == nil && h.OutboxDepth > 0 && !h.Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health after 20s with the SMTP server down: %+v (%v), want unhealthy", h, herr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !h.OutboxStuck || h.SMTPUnavailable == "" || !strings.Contains(h.Reason, "notifications waiting") || !strings.Contains(h.Reason, "takes no mail") {
		t.Errorf("health %+v: want the outbox stuck, and the reason naming it and the SMTP server", h)
	}
	resp, err := http.Get("http://" + cfg.Admin.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"ticketd_outbox_stuck 1", "ticketd_smtp_unavailable 1", "ticketd_outbox_oldest_age_seconds "} {
		if !strings.Contains(string(body), "\n"+m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

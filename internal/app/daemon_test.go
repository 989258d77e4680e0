package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/store"
)

// The tests of this file count goroutines: none of them runs in parallel.

const (
	deskAddr  = "soporte@oti.test"
	agentAddr = "agente@oti.test"
	userAddr  = "ana@unidad.test"
	alertAddr = "guardia@oti.test"
	password  = "pw"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testConfig is a daemon's configuration for sys, with the admin API on
// adminAddr and alerts to alertAddr.
func testConfig(t *testing.T, sys *devmail.System, adminAddr string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	split := func(addr string) (string, int) {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(p)
		return h, n
	}
	cfg.IMAP.Host, cfg.IMAP.Port = split(sys.IMAPAddr())
	cfg.IMAP.TLS, cfg.IMAP.Username, cfg.IMAP.Password = config.TLSNone, deskAddr, config.Secret(password)
	cfg.IMAP.PollInterval = 200 * time.Millisecond
	cfg.SMTP.Host, cfg.SMTP.Port = split(sys.SMTPAddr())
	cfg.SMTP.TLS, cfg.SMTP.From = config.TLSNone, "Mesa <"+deskAddr+">"
	cfg.Admin.Listen = adminAddr
	cfg.Admin.AlertTo = []string{alertAddr}
	cfg.Groups = map[string]config.GroupConfig{"mesa": {Level: 1, Kind: config.KindDesk, Default: true, Members: []string{agentAddr}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startMail(t *testing.T) *devmail.System {
	t.Helper()
	sys, err := devmail.Start(devmail.Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Domain: "oti.test",
		Users: []string{deskAddr, agentAddr, userAddr, alertAddr}, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	return sys
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ours are the packages whose goroutines a Daemon starts; a goroutine
// still running code of one of them after Run returned is a leak.
var ours = []string{
	"ticketd/ticketd/internal/app.", "ticketd/ticketd/internal/alert.", "ticketd/ticketd/internal/daemon.",
	"ticketd/ticketd/mailbox.", "ticketd/ticketd/notify.", "ticketd/ticketd/internal/admin.",
	"ticketd/ticketd/internal/web.", "emersion/go-imap/v2/imapclient.", "net/http.(*Server).Serve", "net/http.(*conn).serve",
}

// checkNoLeak fails unless, within a few seconds, the goroutines are back
// to at most base and none runs code of ours (the in-process mail servers
// end their side of a closed connection on their own schedule).
func checkNoLeak(t *testing.T, base int) {
	t.Helper()
	var leaked []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		leaked = leaked[:0]
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "app.checkNoLeak") {
				continue
			}
			for _, o := range ours {
				if strings.Contains(g, o) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		n := runtime.NumGoroutine()
		if len(leaked) == 0 && n <= base {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Run returned: %d goroutines (before: %d), %d running our code:\n%s", n, base, len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func send(t *testing.T, sys *devmail.System, from, to, subject, body string) {
	t.Helper()
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%d@unidad.test>\r\nDate: %s\r\n\r\n%s\r\n",
		from, to, subject, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z), body)
	if err := smtp.SendMail(sys.SMTPAddr(), nil, from, []string{to}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// TestRunStopsEverything runs the whole daemon against the in-process mail
// servers (a mail becomes a ticket and its acknowledgement is delivered, the
// admin API answers), ends it, and checks that Run returns nil with no
// goroutine of its own left and the store closed.
func TestRunStopsEverything(t *testing.T) {
	sys := startMail(t)
	cfg := testConfig(t, sys, freeAddr(t))
	base := runtime.NumGoroutine()
	_, ctx, cancel, done := startDaemon(t, cfg)

	adm := admin.NewClient(cfg.Admin.Listen, "") // health needs no token
	send(t, sys, userAddr, deskAddr, "No tengo red", "Desde ayer.")
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, _, _ := sys.Deliveries(0)
		h, herr := adm.Health(ctx)
		if len(ds) >= 2 && herr == nil && h.Healthy { // the ack and the desk's alert
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no acknowledgement and healthy admin API in time: %d deliveries, health %+v (%v)", len(ds), h, herr)
		}
		time.Sleep(50 * time.Millisecond)
	}

	cancel()
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run after the end of its context: %v", err)
	}
	checkNoLeak(t, base)
	checkStoreClosed(t, cfg)
	if adm.Ping(t.Context()) {
		t.Error("the admin API still answers after Run returned")
	}
}

// startDaemon builds the daemon of cfg, logging warnings to t, and runs it
// until cancel is called (or the test ends); done gets what Run returned.
func startDaemon(t *testing.T, cfg config.Config) (d *Daemon, ctx context.Context, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := Build(cfg, Options{Version: "test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	return d, ctx, cancel, ran
}

// TestRunFailingPartStopsTheOthers: the admin address is taken, so the
// admin API fails; Run stops the poller, the worker and the alert watcher,
// closes the store and returns the error, without its context ending.
func TestRunFailingPartStopsTheOthers(t *testing.T) {
	sys := startMail(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t, sys, taken.Addr().String())
	base := runtime.NumGoroutine()
	d, err := Build(cfg, Options{Version: "test", Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(t.Context()) }()
	if err := runResult(t, done); err == nil || !strings.Contains(err.Error(), "admin API") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run = %v, want the admin API's listen error", err)
	}
	checkNoLeak(t, base)
	checkStoreClosed(t, cfg)
}

// runResult waits for what Run returned, failing if it takes 30 s.
func runResult(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// checkStoreClosed opens the store: it would be locked if Run had left it
// open.
func checkStoreClosed(t *testing.T, cfg config.Config) {
	t.Helper()
	db, err := store.Open(filepath.Join(cfg.DataDir, "ticketd.db"), store.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the store is still held after Run returned: %v", err)
	}
	db.Close()
}

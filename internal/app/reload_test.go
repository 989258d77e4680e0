package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/testlog"
)

// init starts os/signal's watcher goroutine, which the first
// signal.Notify of a process starts and which never ends, before any test
// counts goroutines: Run's Notify for SIGHUP would otherwise look like a
// leak of the first test that runs a daemon.
func init() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	signal.Stop(c)
}

// writeConfigFile writes the configuration file of a daemon on sys with
// the Mesa's members and extra YAML appended, and returns its path.
func writeConfigFile(t *testing.T, path string, sys *devmail.System, dataDir, adminAddr string, members []string, extra string) {
	t.Helper()
	cfg := testConfig(t, sys, adminAddr)
	pw := filepath.Join(dataDir, "imap.password")
	if err := os.WriteFile(pw, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`data_dir: %s
imap: {host: %s, port: %d, tls: none, username: %s, password_file: %s, poll_interval: 200ms}
smtp: {host: %s, port: %d, tls: none, from: "Mesa <%s>"}
admin: {listen: "%s"}
groups:
  mesa: {level: 1, kind: desk, default: true, members: [%s]}
%s`, dataDir, cfg.IMAP.Host, cfg.IMAP.Port, deskAddr, pw, cfg.SMTP.Host, cfg.SMTP.Port, deskAddr, adminAddr, strings.Join(members, ", "), extra)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadOnSIGHUP: SIGHUP reloads the configuration file without a
// restart (a new desk member's role, the log level), says which keys
// changed and which wait for a restart, and keeps the configuration in use
// when the new file is invalid or its templates do not parse; the daemon
// keeps running throughout. Before, SIGHUP ended the process.
func TestReloadOnSIGHUP(t *testing.T) {
	sys := startMail(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ticketd.yaml")
	adminAddr := freeAddr(t)
	const newAgent = "nuevo@oti.test"
	writeConfigFile(t, path, sys, dir, adminAddr, []string{agentAddr}, "")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	level := new(slog.LevelVar)
	d, err := Build(cfg, Options{Version: "test", Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level})), Level: level})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	adm := admin.NewClient(adminAddr, "")
	waitFor(t, done, "the admin API", func() bool { return adm.Ping(ctx) })
	if d.Service.Desk().Directory().IsStaff(newAgent) {
		t.Fatal("the new agent is staff before the reload")
	}

	hup := func(want string) {
		t.Helper()
		before := strings.Count(logs.String(), want)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, done, fmt.Sprintf("a log line %q", want), func() bool { return strings.Count(logs.String(), want) > before })
	}

	writeConfigFile(t, path, sys, dir, adminAddr, []string{agentAddr, newAgent}, "log: {level: debug}\n")
	hup("configuration reloaded")
	if !d.Service.Desk().Directory().IsStaff(newAgent) {
		t.Error("after the reload the new agent is not staff")
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("log level after the reload = %v, want debug", level.Level())
	}
	if l := logs.String(); !strings.Contains(l, "groups.mesa") || !strings.Contains(l, "log.level") {
		t.Errorf("the reload does not list the changed keys:\n%s", l)
	}

	// A key that only a restart applies: the reload says so.
	writeConfigFile(t, path, sys, dir, adminAddr, []string{agentAddr, newAgent}, "log: {level: debug}\nticket: {auto_reply_limit: 5}\n")
	hup("restart_needed")
	if l := logs.String(); !strings.Contains(l, "ticket.auto_reply_limit") {
		t.Errorf("the restart-only key is not named:\n%s", l)
	}

	// An invalid file, then templates that do not parse: nothing changes.
	writeConfigFile(t, path, sys, dir, adminAddr, []string{agentAddr}, "imap_typo: 1\n")
	hup("configuration not reloaded")
	tmpl := filepath.Join(dir, "templates")
	if err := os.MkdirAll(tmpl, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmpl, "ack.txt.tmpl"), []byte("{{ .Nope "), 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfigFile(t, path, sys, dir, adminAddr, []string{agentAddr}, "templates: {dir: "+tmpl+"}\n")
	hup("configuration not reloaded")
	if !d.Service.Desk().Directory().IsStaff(newAgent) {
		t.Error("an invalid configuration replaced the one in use")
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || strings.Contains(l, password+"\n") || strings.Contains(l, "="+password) {
		t.Errorf("the refused reload is not logged at error level, or a secret is:\n%s", l)
	}
	if !adm.Ping(ctx) {
		t.Fatal("the daemon stopped answering")
	}
	cancel()
	if err := runResult(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// waitFor polls cond for 20 s, failing if Run returns meanwhile.
func waitFor(t *testing.T, done <-chan error, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("Run returned while waiting for %s: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in time", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

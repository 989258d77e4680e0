package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/demo"
	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

// startMail starts the embedded mail system with the demo's people.
func startMail(t *testing.T) *devmail.System {
	t.Helper()
	users := make([]string, len(demo.People))
	for i, p := range demo.People {
		users[i] = p.Addr
	}
	sys, err := devmail.Start(devmail.Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Domain: demo.Domain, Users: users, Password: demo.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	return sys
}

// writeConfig writes a configuration for sys into a temp dir; edit, if
// not nil, changes it first.
func writeConfig(t *testing.T, sys *devmail.System, edit func(*config.Config)) (string, config.Config) {
	t.Helper()
	admin, err := demo.FreeAddr("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := demo.DaemonConfig(t.TempDir(), sys.IMAPAddr(), sys.SMTPAddr(), admin, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
	}
	if err := demo.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.File, cfg
}

// cmd runs one ticketd command line and returns its standard output.
func cmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, &out, &errOut)
	return out.String(), err
}

func mustCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cmd(t, args...)
	if err != nil {
		t.Fatalf("ticketd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// exercise runs every operator command against the configuration file and
// checks what they print; n is the number of tickets before.
func exercise(t *testing.T, file string, n int) ticket.ID {
	t.Helper()
	out := mustCmd(t, "open", "--config", file, "--requester", demo.Requester.Addr, "--name", "Laura", "--subject", "Llamada: no imprime", "--body", "Llamó a la extensión 5.", "--agent", demo.Agent.Addr)
	fields := strings.Fields(out)
	if len(fields) < 2 || fields[0] != "opened" {
		t.Fatalf("open printed %q", out)
	}
	id := ticket.ID(fields[1])
	var ts []admin.TicketJSON
	if err := json.Unmarshal([]byte(mustCmd(t, "tickets", "--json", "--config", file, "--state", "open", "--level", "1")), &ts); err != nil || len(ts) != n+1 {
		t.Fatalf("tickets --json: %d tickets, %v; want %d", len(ts), err, n+1)
	}
	if table := mustCmd(t, "tickets", "--config", file); !strings.Contains(table, string(id)) || !strings.HasPrefix(table, "ID") {
		t.Errorf("tickets table = %q", table)
	}
	var one admin.TicketJSON
	if err := json.Unmarshal([]byte(mustCmd(t, "show", string(id), "--json", "--config", file)), &one); err != nil {
		t.Fatal(err)
	}
	if one.Requester != demo.Requester.Addr || len(one.History) != 1 || one.History[0].Kind != ticket.KindOpened ||
		one.History[0].Actor != demo.Agent.Addr || one.History[0].Data["via"] != "phone" {
		t.Errorf("show --json = %+v", one)
	}
	if text := mustCmd(t, "show", strings.ToLower(string(id)), "--config", file); !strings.Contains(text, "Llamó a la extensión 5.") {
		t.Errorf("show = %q", text)
	}
	if _, err := cmd(t, "show", "Oti-2026-999999", "--config", file); err == nil {
		t.Error("show of a missing ticket succeeded")
	} else if exitCode(err) != exitNotFound || err.Error() != "ticket Oti-2026-999999 not found" {
		t.Errorf("show of a missing ticket: %q (exit %d), want %q and exit 3", err, exitCode(err), "ticket Oti-2026-999999 not found")
	}
	if out := mustCmd(t, "verify", "--config", file); !strings.Contains(out, strconv.Itoa(n+1)+" tickets checked, 0 with") {
		t.Errorf("verify = %q", out)
	}
	checkReport(t, file, n+1)
	backup := filepath.Join(t.TempDir(), "copia.db")
	mustCmd(t, "backup", backup, "--config", file)
	db, err := store.Open(backup, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	db.Close()
	if out := mustCmd(t, "quarantine", "list", "--json", "--config", file); strings.TrimSpace(out) != "[]" {
		t.Errorf("quarantine list = %q", out)
	}
	for _, args := range [][]string{{"show", "99"}, {"retry", "99"}, {"show", "uno"}} {
		_, err := cmd(t, append([]string{"quarantine"}, append(args, "--config", file)...)...)
		if err == nil {
			t.Errorf("quarantine %v succeeded with no such record", args)
		} else if want := map[bool]int{true: exitUsage, false: exitNotFound}[args[1] == "uno"]; exitCode(err) != want {
			t.Errorf("quarantine %v: %v (exit %d), want exit %d", args, err, exitCode(err), want)
		}
	}
	return id
}

// TestCommandsStoppedAndRunning runs every command against a stopped
// daemon (they open the store) and a running one (they use its admin API).
func TestCommandsStoppedAndRunning(t *testing.T) {
	sys := startMail(t)
	file, cfg := writeConfig(t, sys, nil)

	exercise(t, file, 0)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- run(ctx, []string{"run", "--config", file}, &bytes.Buffer{}, &logs) }()
	if err := demo.WaitReady(t.Context(), admin.NewClient(cfg.Admin.Listen, ""), 20*time.Second); err != nil {
		cancel()
		t.Fatal(err)
	}
	// The store is the daemon's now: the commands go through its API.
	if _, err := store.Open(filepath.Join(cfg.DataDir, "ticketd.db"), store.Options{Timeout: 100 * time.Millisecond}); err == nil {
		t.Error("the store opened while the daemon holds it")
	}
	id := exercise(t, file, 1)
	checkAdminGuarded(t, cfg)

	// The phone requester is acknowledged by mail like anyone else.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ms, err := demo.ReadInbox(t.Context(), sys.IMAPAddr(), demo.Requester.Addr, demo.Password)
		if err == nil && len(ms) == 2 && strings.Contains(ms[1].Subject, id.Tag()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no acknowledgement of the phone tickets: %v %v", ms, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop")
	}
	if !strings.Contains(logs.String(), "ticketd stopped") {
		t.Errorf("log lacks the clean stop:\n%s", logs.String())
	}
	out := mustCmd(t, "tickets", "--json", "--config", file)
	var ts []admin.TicketJSON
	if err := json.Unmarshal([]byte(out), &ts); err != nil || len(ts) != 2 {
		t.Errorf("after the stop: %d tickets, %v", len(ts), err)
	}
	if v := mustCmd(t, "version"); !strings.HasPrefix(v, "ticketd ") {
		t.Errorf("version = %q", v)
	}
}

// TestCheck: `ticketd check` says plainly what is wrong with each setting.
func TestCheck(t *testing.T) {
	sys := startMail(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	cases := []struct {
		name string
		edit func(*config.Config)
		want []string
	}{
		{"all good", nil, []string{"configuration: ok", "imap " + sys.IMAPAddr() + " (none, mailbox INBOX): ok", ": ok", "first start: not yet; it will take"}},
		{"wrong imap password", func(c *config.Config) { c.IMAP.Password = "mala" }, []string{"imap", "FAILED", "authentication"}},
		{"unknown imap user", func(c *config.Config) { c.IMAP.Username = "nadie@demo.test" }, []string{"FAILED", "authentication"}},
		{"unknown mailbox", func(c *config.Config) { c.IMAP.Mailbox = "Soporte" }, []string{"FAILED", "Soporte"}},
		{"imap tls mismatch", func(c *config.Config) { c.IMAP.TLS = config.TLSImplicit }, []string{"imap", "FAILED", "TLS"}},
		{"imap refused", func(c *config.Config) { c.IMAP.Port = closedPort }, []string{"imap", "FAILED", "refused"}},
		{"smtp refused", func(c *config.Config) { c.SMTP.Port = closedPort }, []string{"smtp", "FAILED", "refused"}},
		{"smtp tls mismatch", func(c *config.Config) { c.SMTP.TLS = config.TLSImplicit }, []string{"smtp", "FAILED", "TLS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file, _ := writeConfig(t, sys, tc.edit)
			out, err := cmd(t, "check", "--config", file)
			t.Logf("check:\n%s", out)
			if (err != nil) != (tc.edit != nil) {
				t.Errorf("check error = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(out), strings.ToLower(w)) {
					t.Errorf("check output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "mala") || strings.Contains(out, demo.Password+"\n") {
				t.Errorf("check output shows a password:\n%s", out)
			}
		})
	}
}

// TestCheckInvalidConfig: a bad file is reported with the key and the file
// before anything connects.
func TestCheckInvalidConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "malo.yaml")
	body := "data_dir: /tmp/x\nimap:\n  host: imap.example.test\n  tls: ssl\nsmtp:\n  host: smtp.example.test\n  from: no es una dirección\ngroups:\n  redes:\n    level: 4\n    members: [a@b.test]\nextra_key: 1\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cmd(t, "check", "--config", file)
	if err == nil {
		t.Fatal("check accepted an invalid file")
	}
	for _, w := range []string{"INVALID", "imap.tls", "smtp.from", "groups.redes.level", "extra_key", "malo.yaml"} {
		if !strings.Contains(out, w) {
			t.Errorf("check output lacks %q:\n%s", w, out)
		}
	}
	if _, err := cmd(t, "tickets", "--config", file); err == nil || !strings.Contains(err.Error(), "invalid configuration") {
		t.Errorf("tickets with an invalid file: %v", err)
	}
	if _, err := cmd(t, "run", "--config", file); err == nil {
		t.Error("run with an invalid file succeeded")
	}
}

// checkAdminGuarded checks the running daemon's admin API: the token file
// it created is its owner's alone, the API refuses a caller without it,
// and /healthz and /metrics, open to all, show nothing of the tickets
// exercise opened.
func checkAdminGuarded(t *testing.T, cfg config.Config) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(cfg.DataDir, "admin.token"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("token file: %v, %v; want mode 0640", fi, err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + cfg.Admin.Listen + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/api/tickets", "/api/backup"} {
		if code, _ := get(path); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token = %d, want 401", path, code)
		}
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		code, body := get(path)
		if code != http.StatusOK || body == "" {
			t.Errorf("GET %s = %d, want 200", path, code)
		}
		for _, secret := range []string{"Llamada", "no imprime", "Llamó", demo.Requester.Addr, "laura", demo.Agent.Addr, "OTI-"} {
			if strings.Contains(strings.ToLower(body), strings.ToLower(secret)) {
				t.Errorf("GET %s shows %q:\n%s", path, secret, body)
			}
		}
	}
}

// TestCheckWarnsExposedAdmin: `ticketd check` warns when the admin API
// listens where other machines can reach it, and not on loopback or a
// unix socket.
func TestCheckWarnsExposedAdmin(t *testing.T) {
	sys := startMail(t)
	for listen, warn := range map[string]bool{"0.0.0.0:8025": true, "[::]:8025": true, ":8025": true, "192.0.2.7:8025": true,
		"127.0.0.1:8025": false, "localhost:8025": false, "[::1]:8025": false, "unix:/run/ticketd/admin.sock": false} {
		file, _ := writeConfig(t, sys, func(c *config.Config) { c.Admin.Listen = listen })
		out, err := cmd(t, "check", "--config", file)
		if err != nil {
			t.Errorf("check with admin.listen %s: %v\n%s", listen, err, out)
		}
		if got := strings.Contains(out, "warning: admin.listen"); got != warn {
			t.Errorf("check with admin.listen %s: warning %t, want %t:\n%s", listen, got, warn, out)
		}
	}
}

// TestCheckTokenFile: `ticketd check` fails on an admin token file that
// group or others may read, which would stop the daemon's start.
func TestCheckTokenFile(t *testing.T) {
	sys := startMail(t)
	file, cfg := writeConfig(t, sys, nil)
	if out := mustCmd(t, "check", "--config", file); !strings.Contains(out, "admin token "+cfg.AdminTokenFile()+": none yet") {
		t.Errorf("check without a token file:\n%s", out)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.AdminTokenFile(), []byte(strings.Repeat("t", 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := cmd(t, "check", "--config", file)
	if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(out, "chmod 640") {
		t.Errorf("check with a readable token file: %v\n%s", err, out)
	}
	if _, err := cmd(t, "run", "--config", file); err == nil || !strings.Contains(err.Error(), "chmod 640") {
		t.Errorf("run with a readable token file: %v", err)
	}
}

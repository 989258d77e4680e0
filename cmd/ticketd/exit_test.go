package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/config"
)

// withoutPassword rewrites the configuration file so that the IMAP
// password comes from a file that does not exist (as for an operator
// who may not read it), and returns that file's path.
func withoutPassword(t *testing.T, file string, cfg config.Config) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "imap.password")
	re := regexp.MustCompile(`(?m)^  password: .*$`)
	if !re.Match(b) {
		t.Fatalf("no password line in %s", file)
	}
	b = re.ReplaceAll(b, []byte("  password_file: "+pw))
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return pw
}

// TestCommandsNeedNoSecrets: the commands that read tickets run with a
// password file they cannot read; run and check, which log in, fail.
func TestCommandsNeedNoSecrets(t *testing.T) {
	sys := startMail(t)
	file, cfg := writeConfig(t, sys, nil)
	withoutPassword(t, file, cfg)
	for _, args := range [][]string{{"tickets"}, {"tickets", "--json"}, {"verify"}, {"quarantine", "list"},
		{"backup", filepath.Join(t.TempDir(), "b.db")},
		{"open", "--requester", "ana@example.org", "--subject", "Llamada", "--body", "No imprime"}} {
		if out, err := cmd(t, append(args, "--config", file)...); err != nil {
			t.Errorf("ticketd %v without the password file: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{{"run"}, {"check"}} {
		if _, err := cmd(t, append(args, "--config", file)...); exitCode(err) != exitError {
			t.Errorf("ticketd %v without the password file: %v (exit %d), want exit 1", args, err, exitCode(err))
		}
	}
}

// TestExitCodes: 0 ok, 1 error, 2 usage error, 3 not found; "not found"
// is said once, with the ID as typed.
func TestExitCodes(t *testing.T) {
	sys := startMail(t)
	file, _ := writeConfig(t, sys, nil)
	cases := []struct {
		args []string
		code int
		msg  string // the whole error text, when it matters
	}{
		{[]string{"tickets"}, exitOK, ""},
		{[]string{"show", "oti-2026-999999"}, exitNotFound, "ticket oti-2026-999999 not found"},
		{[]string{"quarantine", "show", "99"}, exitNotFound, "quarantined mail 99 not found"},
		{[]string{"quarantine", "retry", "99"}, exitNotFound, "quarantined mail 99 not found"},
		{[]string{"quarantine", "show", "uno"}, exitUsage, ""},
		{[]string{"show"}, exitUsage, ""},
		{[]string{"show", "a", "b"}, exitUsage, ""},
		{[]string{"tickets", "--state", "abierto"}, exitUsage, ""},
		{[]string{"tickets", "--nope"}, exitUsage, ""},
		{[]string{"nonsense"}, exitUsage, ""},
		{[]string{"open", "--subject", "x"}, exitUsage, ""},
		{[]string{"open", "--requester", "a@b.c", "--subject", "x", "--body", "b", "--body-file", "f"}, exitUsage, ""},
	}
	for _, c := range cases {
		_, err := cmd(t, append(c.args, "--config", file)...)
		if got := exitCode(err); got != c.code {
			t.Errorf("ticketd %v: exit %d (%v), want %d", c.args, got, err, c.code)
			continue
		}
		if c.msg != "" && err.Error() != c.msg {
			t.Errorf("ticketd %v: %q, want %q", c.args, err, c.msg)
		}
		if err != nil && strings.Count(err.Error(), "not found") > 1 {
			t.Errorf("ticketd %v: %q says not found more than once", c.args, err)
		}
	}
	if got := exitCode(nil); got != exitOK {
		t.Errorf("exitCode(nil) = %d", got)
	}
	if _, err := cmd(t, "tickets", "--config", filepath.Join(t.TempDir(), "none.yaml")); exitCode(err) != exitError {
		t.Errorf("a missing configuration file: %v (exit %d), want 1", err, exitCode(err))
	}
}

// TestCheckFindsMistakes: `ticketd check` fails on a data_dir it cannot
// write and on an override template that does not parse, and notes an
// address in two groups (allowed: it acts in both).
func TestCheckFindsMistakes(t *testing.T) {
	sys := startMail(t)
	notDir := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	file, _ := writeConfig(t, sys, func(c *config.Config) { c.DataDir = filepath.Join(notDir, "data") })
	if out, err := cmd(t, "check", "--config", file); err == nil || !strings.Contains(out, "data_dir "+filepath.Join(notDir, "data")+": FAILED") {
		t.Errorf("check with an unwritable data_dir: %v\n%s", err, out)
	}

	tmpl := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmpl, "ack.txt.tmpl"), []byte("Hola {{ .Nope "), 0o600); err != nil {
		t.Fatal(err)
	}
	file, _ = writeConfig(t, sys, nil)
	appendFile(t, file, "templates:\n  dir: "+tmpl+"\n")
	if out, err := cmd(t, "check", "--config", file); err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(out, "ack.txt.tmpl") {
		t.Errorf("check with a broken template: %v\n%s", err, out)
	}

	file, _ = writeConfig(t, sys, func(c *config.Config) {
		c.Groups["extra"] = config.GroupConfig{Level: 2, Kind: config.KindOnSite, Members: c.Groups["mesa"].Members[:1]}
	})
	out, err := cmd(t, "check", "--config", file)
	if err != nil || !strings.Contains(out, "is in groups extra (level 2), mesa (level 1): it acts as a member of each") {
		t.Errorf("check with an address in two groups: %v\n%s", err, out)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

//go:build e2e

// Package e2e runs the real ticketd binary against real mail servers: a
// private Dovecot (IMAP, LMTP) and Postfix (SMTP) on loopback, set up by
// stack.sh. The tests send mail by SMTP, read what everyone received by IMAP,
// ask the daemon about its tickets with `ticketd show|tickets --json`, and
// break things on purpose: kill -9, a Postfix outage, a Dovecot restart, a
// read-only data directory.
//
// Run it with `make e2e` (root, Debian 12). The stack's addresses come from
// $E2E_DIR/env, written by `stack.sh up $E2E_DIR`; without E2E_DIR the tests
// start a stack of their own and stop it at the end. $TICKETD_BIN names a
// prebuilt binary; otherwise the tests build ./cmd/ticketd.
package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stk is the mail stack every test uses; ticketdBin is the binary under test.
var (
	stk        *stack
	ticketdBin string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: these tests run mail servers and chattr: run them as root (make e2e)")
		return 1
	}
	tmp, err := os.MkdirTemp("", "ticketd-e2e-main.")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	ticketdBin = os.Getenv("TICKETD_BIN")
	if ticketdBin == "" {
		ticketdBin = filepath.Join(tmp, "ticketd")
		cmd := exec.Command("go", "build", "-o", ticketdBin, "./cmd/ticketd")
		cmd.Dir = ".."
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: build ticketd:", err)
			return 1
		}
	}

	script, err := filepath.Abs("stack.sh")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir := os.Getenv("E2E_DIR")
	if dir == "" {
		// No stack given: run one of our own for this process.
		dir = filepath.Join(tmp, "stack")
		if err := os.Mkdir(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		if err := runScript(script, "up", dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stack up:", err)
			return 1
		}
		defer func() {
			if err := runScript(script, "down", dir); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: stack down:", err)
			}
		}()
	}
	stk, err = loadStack(dir, script)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if signer, err = startDKIM(stk.domain); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: dkim:", err)
		return 1
	}
	defer signer.stop()
	fmt.Fprintf(os.Stderr, "e2e: dkim key %s._domainkey.%s served by %s\n", dkimSelector, stk.domain, signer.dnsAddr)
	fmt.Fprintf(os.Stderr, "e2e: stack in %s: smtp %s, imap %s, lmtp %s; ticketd %s\n", stk.dir, stk.smtpAddr, stk.imapAddr, stk.lmtpAddr, ticketdBin)
	return m.Run()
}

func runScript(script string, args ...string) error {
	cmd := exec.Command(script, args...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// readEnv reads the KEY=VALUE lines of stack.sh's env file.
func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k != "" && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return env, sc.Err()
}

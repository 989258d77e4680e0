//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stack is the running Dovecot + Postfix, as stack.sh described it.
type stack struct {
	dir, script string
	domain      string
	password    string
	smtpAddr    string // Postfix, for every mail the tests send
	imapAddr    string // Dovecot, for ticketd and for reading mailboxes
	lmtpAddr    string // Dovecot, to deliver while Postfix is down
}

func loadStack(dir, script string) (*stack, error) {
	env, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		return nil, fmt.Errorf("read the stack's env: %w", err)
	}
	s := &stack{dir: dir, script: script, domain: env["E2E_DOMAIN"], password: env["E2E_PASSWORD"],
		smtpAddr: env["E2E_SMTP_ADDR"], imapAddr: env["E2E_IMAP_ADDR"], lmtpAddr: env["E2E_LMTP_ADDR"]}
	if sc := env["E2E_STACK"]; sc != "" {
		s.script = sc
	}
	if s.domain == "" || s.smtpAddr == "" || s.imapAddr == "" || s.lmtpAddr == "" {
		return nil, fmt.Errorf("%s/env lacks an address: %v", dir, env)
	}
	return s, nil
}

// ctl runs a stack.sh subcommand on the stack (stop or start a server).
func (s *stack) ctl(t testing.TB, args ...string) {
	t.Helper()
	start := time.Now()
	out, err := exec.Command(s.script, append([]string{args[0], s.dir}, args[1:]...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("stack.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("stack.sh %s (%s): %s", args[0], time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
}

var (
	testSeq atomic.Int32
	// runTag keeps this run's users apart from earlier runs' on the same stack.
	runTag = func() string {
		var b [3]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
)

// people is one test's set of mail users: every test gets its own, so that
// tests running in parallel never read each other's mail. Local parts are
// prefixed with the run's and the test's tag ("a1b2c3t3-mesa1").
type people struct {
	s   *stack
	tag string
}

// newPeople creates the users a test needs (Dovecot mailboxes) under a
// fresh tag. Users not named here do not exist: mail to them bounces.
func newPeople(t testing.TB, names ...string) *people {
	t.Helper()
	p := &people{s: stk, tag: fmt.Sprintf("%st%d", runTag, testSeq.Add(1))}
	p.add(t, names...)
	return p
}

func (p *people) add(t testing.TB, names ...string) {
	t.Helper()
	users := make([]string, len(names))
	for i, n := range names {
		users[i] = p.local(n)
	}
	for len(users) > 0 {
		n := min(len(users), 200)
		out, err := exec.Command(p.s.script, append([]string{"adduser", p.s.dir}, users[:n]...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("stack.sh adduser: %v\n%s", err, out)
		}
		users = users[n:]
	}
	// Dovecot re-reads its passwd-file at most once a second: until then a
	// new user does not exist, and mail to it bounces. Wait until the last
	// one added can log in.
	last := p.addr(names[len(names)-1])
	waitFor(t, 15*time.Second, "Dovecot to know "+last, func() (bool, string) {
		c, err := p.s.imapLogin(last)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

func (p *people) local(name string) string { return p.tag + "-" + name }

// addr returns the mail address of name ("mesa1" → "a1b2c3t3-mesa1@e2e.test").
func (p *people) addr(name string) string { return p.local(name) + "@" + p.s.domain }

// writeFile writes a file or fails the test.
func writeFile(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

// waitFor calls cond until it reports true or timeout passes; then it fails
// the test with cond's last description of what it is waiting for.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, desc := cond()
		if ok {
			return
		}
		last = desc
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

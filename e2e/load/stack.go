package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// stack is the e2e mail stack the tool drives, read from DIR/env (written
// by e2e/stack.sh up).
type stack struct {
	dir, domain, password, script string
	smtpAddr, imapAddr, lmtpAddr  string
}

func readStack(dir string) (*stack, error) {
	b, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		return nil, fmt.Errorf("read stack environment (run e2e/stack.sh up DIR first): %w", err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	s := &stack{dir: dir, domain: env["E2E_DOMAIN"], password: env["E2E_PASSWORD"], script: env["E2E_STACK"],
		smtpAddr: env["E2E_SMTP_ADDR"], imapAddr: env["E2E_IMAP_ADDR"], lmtpAddr: env["E2E_LMTP_ADDR"]}
	if s.domain == "" || s.smtpAddr == "" || s.imapAddr == "" || s.lmtpAddr == "" || s.script == "" {
		return nil, fmt.Errorf("stack environment %s/env lacks an address", dir)
	}
	return s, nil
}

func (s *stack) addr(local string) string { return local + "@" + s.domain }

// addUsers creates virtual users (stack.sh adduser).
func (s *stack) addUsers(names ...string) error {
	out, err := exec.Command(s.script, append([]string{"adduser", s.dir}, names...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("add users %v: %v: %s", names, err, out)
	}
	return nil
}

// waitQueueEmpty waits until Postfix has delivered everything it accepted,
// so that its deliveries of one scenario do not load the next; it returns
// how long that took.
func (s *stack) waitQueueEmpty(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := waitUntil(ctx, timeout, func() (bool, error) {
		out, err := exec.Command("postqueue", "-c", filepath.Join(s.dir, "postfix"), "-p").CombinedOutput()
		if err != nil {
			return false, fmt.Errorf("postqueue -p: %v: %s", err, out)
		}
		return bytes.Contains(out, []byte("Mail queue is empty")), nil
	})
	if err != nil {
		return 0, fmt.Errorf("postfix queue: %w", err)
	}
	return time.Since(start), nil
}

// mail is one message the tool sends.
type mail struct {
	from, messageID string
	to              []string
	raw             []byte
}

// request builds a new support request of about 1.5 KB.
func request(from, to, id, subject string) mail {
	raw := fmt.Sprintf("From: Usuario <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", from, to, subject, id,
		time.Now().Format(time.RFC1123Z), strings.Repeat("Desde esta mañana la impresora del piso 3 no imprime.\r\n", 25))
	return mail{from: from, to: []string{to}, messageID: id, raw: []byte(raw)}
}

// sender is one SMTP or LMTP connection kept for many mails.
type sender struct{ c *smtp.Client }

func dialSender(addr string, lmtp bool) (*sender, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	var c *smtp.Client
	if lmtp {
		c = smtp.NewClientLMTP(conn)
	} else {
		c = smtp.NewClient(conn)
	}
	if err := c.Hello("load.e2e.test"); err != nil {
		c.Close()
		return nil, fmt.Errorf("hello %s: %w", addr, err)
	}
	return &sender{c: c}, nil
}

// send transfers m and returns when the server accepted it.
func (s *sender) send(m mail) error {
	if err := s.c.Mail(m.from, nil); err != nil {
		return fmt.Errorf("mail from %s: %w", m.from, err)
	}
	for _, r := range m.to {
		if err := s.c.Rcpt(r, nil); err != nil {
			return fmt.Errorf("rcpt %s: %w", r, err)
		}
	}
	w, err := s.c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(m.raw); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data end of %s: %w", m.messageID, err)
	}
	return nil
}

func (s *sender) close() { _ = s.c.Quit() }

// daemon is one ticketd process the tool started.
type daemon struct {
	dir, cfg, log, sock string
	cmd                 *exec.Cmd
	done                chan struct{}
	http                *http.Client
	seen                *logged // what scan read of log
}

// daemonConfig is what differs between the daemons of the scenarios.
type daemonConfig struct {
	desk, mesa string
	processed  string // imap.processed_mailbox ("" keeps mail in INBOX)
}

func startDaemon(ctx context.Context, bin string, st *stack, dir string, dc daemonConfig) (*daemon, error) {
	d := &daemon{dir: dir, cfg: filepath.Join(dir, "ticketd.yaml"), log: filepath.Join(dir, "ticketd.log"), sock: filepath.Join(dir, "admin.sock")}
	d.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.sock)
		},
	}}
	if err := os.WriteFile(filepath.Join(dir, "imap.password"), []byte(st.password+"\n"), 0o600); err != nil {
		return nil, err
	}
	host, imapPort, _ := net.SplitHostPort(st.imapAddr)
	_, smtpPort, _ := net.SplitHostPort(st.smtpAddr)
	cfg := fmt.Sprintf(`# ticketd configuration for the load tool (e2e/load).
data_dir: %[1]s
ticket:
  id_prefix: OTI
  lang: es
  auto_reply_limit: 100000000
imap:
  host: %[2]s
  port: %[3]s
  tls: none
  username: %[4]s
  password_file: %[5]s
  auth: plain
  mailbox: INBOX
  processed_mailbox: %[6]q
  poll_interval: 2s
smtp:
  host: %[2]s
  port: %[7]s
  tls: none
  auth: ""
  from: "Mesa de servicios OTI <%[4]s>"
  support_address: %[4]s
groups:
  mesa:
    level: 1
    kind: desk
    default: true
    members: [%[8]q]
admin:
  listen: unix:%[9]s
  alert_to: []
log:
  format: json
  level: info
security:
  command_auth: [dkim]
`, filepath.Join(dir, "data"), host, imapPort, dc.desk, filepath.Join(dir, "imap.password"), dc.processed, smtpPort, dc.mesa, d.sock)
	if err := os.WriteFile(d.cfg, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	// Appended to: a daemon started again on the same data adds to its log.
	f, err := os.OpenFile(d.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin, "run", "--config", d.cfg)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	if err := d.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	d.done = make(chan struct{})
	go func() { _ = d.cmd.Wait(); f.Close(); close(d.done) }()
	err = waitUntil(ctx, 30*time.Second, func() (bool, error) {
		select {
		case <-d.done:
			return false, fmt.Errorf("ticketd exited at start (log %s)", d.log)
		default:
		}
		resp, err := d.http.Get("http://ticketd/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return true, nil
	})
	if err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop ends the daemon with SIGTERM (SIGKILL after 20 s).
func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
	}
}

// metrics reads GET /metrics, each series summed by its name without
// labels.
func (d *daemon) metrics() (map[string]float64, error) {
	resp, err := d.http.Get("http://ticketd/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// processed is how many mails the daemon has committed, and sent how many
// notifications Postfix accepted.
func (d *daemon) counts() (processed, sent float64, err error) {
	m, err := d.metrics()
	return m["ticketd_mails_processed_total"], m["ticketd_notifications_sent_total"], err
}

// logged is what the daemon's log says so far: when each mail (by
// Message-ID, without angle brackets) was committed, and when each
// notification was accepted since the latest start.
type logged struct {
	off     int64
	commits map[string]time.Time
	notices []time.Time
}

// scan reads what the daemon logged since the last scan: the tool polls
// while the daemon works, so it reads each line once.
func (d *daemon) scan() (*logged, error) {
	if d.seen == nil {
		d.seen = &logged{commits: map[string]time.Time{}}
	}
	f, err := os.Open(d.log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, d.seen.off, 1<<40))
	if err != nil {
		return nil, err
	}
	// Only whole lines: the rest is read again next time.
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	d.seen.off += int64(len(b))
	for _, l := range bytes.Split(b, []byte("\n")) {
		var e struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			MessageID string    `json:"message_id"`
		}
		if !bytes.Contains(l, []byte(`"msg":"mail processed"`)) && !bytes.Contains(l, []byte(`"msg":"notice sent"`)) &&
			!bytes.Contains(l, []byte(`"msg":"ticketd starting"`)) || json.Unmarshal(l, &e) != nil {
			continue
		}
		switch e.Msg {
		case "mail processed":
			d.seen.commits[strings.Trim(e.MessageID, "<>")] = e.Time
		case "notice sent":
			d.seen.notices = append(d.seen.notices, e.Time)
		case "ticketd starting":
			d.seen.notices = nil
		}
	}
	return d.seen, nil
}

// commitTimes reads the daemon's log: when each mail (by Message-ID,
// without angle brackets) was committed.
func (d *daemon) commitTimes() (map[string]time.Time, error) {
	l, err := d.scan()
	if err != nil {
		return nil, err
	}
	return l.commits, nil
}

// machineCPU returns the time all CPUs spent busy and in all, from
// /proc/stat's first line (USER_HZ ticks of 10 ms).
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))[1:]
	for i, v := range f {
		n, _ := strconv.ParseInt(v, 10, 64)
		d := time.Duration(n) * 10 * time.Millisecond
		total += d
		if i != 3 && i != 4 { // idle, iowait
			busy += d
		}
	}
	return busy, total, nil
}

// cpuShare measures what the machine's CPUs did between its creation and
// a call of the function it returns: busy, the part of all CPUs' time spent
// busy (%).
func cpuShare() func() (busy float64) {
	b0, t0, _ := machineCPU()
	return func() float64 {
		b1, t1, _ := machineCPU()
		if t1 <= t0 {
			return 0
		}
		return 100 * float64(b1-b0) / float64(t1-t0)
	}
}

// proc reads a process's CPU time and memory from /proc.
type proc struct{ pid int }

// cpu returns the CPU time the process's threads ran so far, in
// nanoseconds from each thread's schedstat (the first field: time on a
// CPU); /proc/PID/stat counts in 10 ms ticks, too coarse for an idle poll.
// A thread that ended meanwhile is no longer counted: Go keeps its threads.
func (p proc) cpu() (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("threads of %d: %v", p.pid, err)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// memory is a process's resident memory in bytes: VmRSS, VmHWM, and the
// parts of VmRSS that are anonymous (the Go heap, stacks, runtime) and
// file pages mapped (the binary, bbolt's mapping of the data file).
type memory struct{ rss, hwm, anon, file int64 }

// mem reads the process's memory from /proc/PID/status.
func (p proc) mem() (m memory, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return m, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		}
	}
	return m, nil
}

// resetPeak makes VmHWM start again from the current RSS (Linux
// clear_refs, value 5).
func (p proc) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid), []byte("5"), 0)
}

// waitUntil polls cond every 200 ms until it holds, fails or timeout
// passes. Times are taken from the daemon's log, not from the polls: polling
// more often would take CPU from the daemon measured.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

//go:build e2e

package e2e

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
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemonOpts shapes one ticketd's configuration.
type daemonOpts struct {
	// processed is imap.processed_mailbox; "" means "Procesados", "-" none
	// (processed mail stays in INBOX, flagged \Seen).
	processed string
	// extraMembers adds addresses to groups (e.g. one that does not exist).
	extraMembers map[string][]string
	// autoReplyLimit is ticket.auto_reply_limit; zero keeps the default.
	autoReplyLimit int
	// noStart leaves the daemon stopped: the test calls start.
	noStart bool
	// commandAuth is security.command_auth; "" means [dkim].
	commandAuth string
	// defaultRetry keeps the built-in outbox retry bounds (retry_min 5s,
	// retry_max 30m) instead of the short ones (1s to 5s) of the others.
	defaultRetry bool
	// web turns the console on: web.listen on a free loopback port,
	// web.base_url http://127.0.0.1:<port> (daemon.webURL).
	web bool
	// sla is the sla section, written as is (e.g. "sla: {business_hours:
	// 24x7, …}"); "" means none, and so no timers.
	sla string
}

// daemon is one ticketd process (and its restarts) with its own data
// directory, configuration and admin socket.
type daemon struct {
	t        testing.TB
	ppl      *people
	dir      string
	dataDir  string
	cfgPath  string
	logPath  string
	sockPath string
	desk     string // the support address ticketd reads and sends from
	webURL   string // the console's base URL, "" without daemonOpts.web

	cmd  *exec.Cmd
	done chan struct{}
	logf *os.File
	http *http.Client
}

// newDaemon writes the configuration for a ticketd serving ppl's desk
// (ppl must have "soporte", the mesa, redes, proveedor and infra users as
// the test needs) and starts it.
func newDaemon(t testing.TB, ppl *people, o daemonOpts) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, ppl: ppl, dir: dir, dataDir: filepath.Join(dir, "data"), cfgPath: filepath.Join(dir, "ticketd.yaml"),
		logPath: filepath.Join(dir, "ticketd.log"), sockPath: filepath.Join(dir, "admin.sock"), desk: ppl.addr("soporte")}
	d.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.sockPath)
		},
	}}
	writeFile(t, filepath.Join(dir, "imap.password"), []byte(stk.password+"\n"), 0o600)
	processed := o.processed
	switch processed {
	case "":
		processed = "Procesados"
	case "-":
		processed = ""
	}
	limit := o.autoReplyLimit
	if limit == 0 {
		limit = 10
	}
	commandAuth := o.commandAuth
	if commandAuth == "" {
		commandAuth = "[dkim]"
	}
	retry := "retry_min: 1s\n  retry_max: 5s"
	if o.defaultRetry {
		retry = "retry_min: 5s\n  retry_max: 30m"
	}
	host, imapPort, _ := net.SplitHostPort(stk.imapAddr)
	_, smtpPort, _ := net.SplitHostPort(stk.smtpAddr)
	members := func(group string, names ...string) string {
		var as []string
		for _, n := range names {
			as = append(as, strconv.Quote(ppl.addr(n)))
		}
		for _, a := range o.extraMembers[group] {
			as = append(as, strconv.Quote(a))
		}
		return "[" + strings.Join(as, ", ") + "]"
	}
	cfg := fmt.Sprintf(`# ticketd configuration for an end-to-end test (written by the e2e package).
data_dir: %[1]s
ticket:
  id_prefix: OTI
  lang: es
  auto_reply_limit: %[2]d
imap:
  host: %[3]s
  port: %[4]s
  tls: none
  username: %[5]s
  password_file: %[6]s
  auth: plain
  mailbox: INBOX
  processed_mailbox: %[7]q
  poll_interval: 2s
smtp:
  host: %[3]s
  port: %[8]s
  tls: none
  auth: ""
  from: "Mesa de servicios OTI <%[5]s>"
  support_address: %[5]s
  connections: 3
groups:
  mesa:
    level: 1
    kind: desk
    default: true
    members: %[9]s
  redes:
    level: 2
    kind: specialist
    default: true
    members: %[10]s
  proveedor:
    level: 3
    kind: provider
    members: %[11]s
  infra:
    level: 3
    kind: specialist
    default: true
    members: %[12]s
admin:
  listen: unix:%[13]s
  alert_to: []
log:
  format: json
  level: info
outbox:
  %[16]s
security:
  command_auth: %[15]s
  dns_resolver: %[14]s
  dns_timeout: 2s
`, d.dataDir, limit, host, imapPort, d.desk, filepath.Join(dir, "imap.password"), processed, smtpPort,
		members("mesa", "mesa1", "mesa2"), members("redes", "redes1", "redes2"), members("proveedor", "proveedor3"),
		members("infra", "infra3"), d.sockPath, signer.dnsAddr, commandAuth, retry)
	if o.web {
		d.webURL = "http://" + freeLoopback(t)
		cfg += fmt.Sprintf("web:\n  listen: %q\n  base_url: %q\n", strings.TrimPrefix(d.webURL, "http://"), d.webURL)
	}
	if o.sla != "" {
		cfg += o.sla + "\n"
	}
	writeFile(t, d.cfgPath, []byte(cfg), 0o600)
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			d.dumpLog(80)
		}
	})
	if !o.noStart {
		d.start()
	}
	return d
}

// freeLoopback returns a 127.0.0.1:port no one listened on a moment ago.
func freeLoopback(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// env is the child's environment: ours without any TICKETD_ override.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TICKETD_") {
			env = append(env, kv)
		}
	}
	return env
}

// start runs `ticketd run` and waits until its admin API answers.
func (d *daemon) start() {
	d.t.Helper()
	if d.cmd != nil {
		d.t.Fatal("ticketd already runs")
	}
	f, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.Command(ticketdBin, "run", "--config", d.cfgPath)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		d.t.Fatalf("start ticketd: %v", err)
	}
	d.cmd, d.logf, d.done = cmd, f, make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(d.done)
	waitFor(d.t, 20*time.Second, "ticketd's admin API", func() (bool, string) {
		select {
		case <-d.done:
			d.dumpLog(30)
			d.t.Fatalf("ticketd exited at start: %v", cmd.ProcessState)
		default:
		}
		resp, err := d.http.Get("http://ticketd/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// kill9 kills ticketd with SIGKILL and waits for it to be gone.
func (d *daemon) kill9() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d.logf.Close()
	d.cmd = nil
}

// stop ends ticketd with SIGTERM (SIGKILL after 20 s).
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.t.Errorf("ticketd did not stop on SIGTERM within 20s: killing it")
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
	}
	d.logf.Close()
	d.cmd = nil
}

func (d *daemon) dumpLog(lines int) {
	b, _ := os.ReadFile(d.logPath)
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	d.t.Logf("last lines of %s:\n%s", d.logPath, strings.Join(ls, "\n"))
}

// logHas reports whether the log holds a line containing every part.
func (d *daemon) logHas(parts ...string) bool {
	b, _ := os.ReadFile(d.logPath)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		ok := true
		for _, p := range parts {
			if !strings.Contains(sc.Text(), p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// cli runs a ticketd subcommand against this daemon's configuration.
func (d *daemon) cli(args ...string) ([]byte, error) {
	cmd := exec.Command(ticketdBin, append(args, "--config", d.cfgPath)...)
	cmd.Env = childEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("ticketd %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// ticketJSON is the JSON contract of `ticketd show|tickets --json`.
type ticketJSON struct {
	ID          string    `json:"id"`
	Subject     string    `json:"subject"`
	Requester   string    `json:"requester"`
	State       string    `json:"state"`
	Level       int       `json:"level"`
	Group       string    `json:"group"`
	Assignee    string    `json:"assignee"`
	Category    string    `json:"category"`
	Priority    string    `json:"priority"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Body        string    `json:"body"`
	Attachments []struct {
		Filename    string `json:"filename"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
		SHA256      string `json:"sha256"`
	} `json:"attachments"`
	History []entryJSON `json:"history"`
}

type entryJSON struct {
	At        time.Time         `json:"at"`
	Actor     string            `json:"actor"`
	Kind      string            `json:"kind"`
	Text      string            `json:"text"`
	MessageID string            `json:"message_id"`
	Level     int               `json:"level"`
	Group     string            `json:"group"`
	State     string            `json:"state"`
	Data      map[string]string `json:"data"`
}

func (t ticketJSON) kinds() []string {
	ks := make([]string, len(t.History))
	for i, e := range t.History {
		ks[i] = e.Kind
	}
	return ks
}

func (t ticketJSON) entries(kind string) []entryJSON {
	var out []entryJSON
	for _, e := range t.History {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// show is `ticketd show ID --json`.
func (d *daemon) show(id string) ticketJSON {
	d.t.Helper()
	out, err := d.cli("show", id, "--json")
	if err != nil {
		d.t.Fatal(err)
	}
	var tj ticketJSON
	if err := json.Unmarshal(out, &tj); err != nil {
		d.t.Fatalf("show %s: %v\n%s", id, err, out)
	}
	return tj
}

// tickets is `ticketd tickets --json`, sorted by ID.
func (d *daemon) tickets() []ticketJSON {
	d.t.Helper()
	ts, err := d.tryTickets()
	if err != nil {
		d.t.Fatal(err)
	}
	return ts
}

func (d *daemon) tryTickets() ([]ticketJSON, error) {
	out, err := d.cli("tickets", "--json")
	if err != nil {
		return nil, err
	}
	var ts []ticketJSON
	if err := json.Unmarshal(out, &ts); err != nil {
		return nil, fmt.Errorf("tickets: %v\n%s", err, out)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	return ts, nil
}

// waitTicket waits until `show id` satisfies cond and returns it.
func (d *daemon) waitTicket(id string, timeout time.Duration, what string, cond func(ticketJSON) bool) ticketJSON {
	d.t.Helper()
	var tj ticketJSON
	waitFor(d.t, timeout, fmt.Sprintf("%s: %s", id, what), func() (bool, string) {
		out, err := d.cli("show", id, "--json")
		if err != nil {
			return false, err.Error()
		}
		tj = ticketJSON{}
		if err := json.Unmarshal(out, &tj); err != nil {
			return false, err.Error()
		}
		return cond(tj), fmt.Sprintf("state %s level %d group %s history %v", tj.State, tj.Level, tj.Group, tj.kinds())
	})
	return tj
}

// metrics reads GET /metrics: each series by its full name, and each
// metric summed over its labels by its bare name.
func (d *daemon) metrics() (map[string]float64, error) {
	resp, err := d.http.Get("http://ticketd/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			m[name] = v // with its labels, e.g. ticketd_mails_processed_total{outcome="opened"}
			name = name[:i]
		}
		m[name] += v
	}
	return m, nil
}

func (d *daemon) metric(name string) float64 {
	d.t.Helper()
	m, err := d.metrics()
	if err != nil {
		d.t.Fatalf("metrics: %v", err)
	}
	return m[name]
}

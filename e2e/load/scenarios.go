package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// run is one run of the scenarios on fresh users and a fresh daemon.
type run struct {
	ctx  context.Context
	st   *stack
	bin  string
	dir  string
	tag  string
	figs *figures
}

func (r *run) user(role string) string { return r.tag + role }

// addUsers creates the run's users at once, then leaves Dovecot a second
// to see its passwd-file changed (it compares modification times).
func (r *run) addUsers(bigMailboxes int) error {
	names := []string{r.user("sop"), r.user("mesa"), r.user("watch"), r.user("sink"), r.user("usr")}
	for i := range bigMailboxes {
		names = append(names, r.user("big"+strconv.Itoa(i)))
	}
	if err := r.st.addUsers(names...); err != nil {
		return err
	}
	time.Sleep(1100 * time.Millisecond)
	return nil
}

// deliverLMTP puts ms straight into Dovecot, as Postfix would, over one
// LMTP connection.
func (r *run) deliverLMTP(ms []mail) error {
	s, err := dialSender(r.st.lmtpAddr, true)
	if err != nil {
		return err
	}
	defer s.close()
	for _, m := range ms {
		if err := s.send(m); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) requests(n int, desk, prefix string) []mail {
	ms := make([]mail, n)
	for i := range ms {
		from := r.st.addr(r.user("usr") + "+" + prefix + strconv.Itoa(i))
		ms[i] = request(from, r.st.addr(desk), fmt.Sprintf("%s-%s-%d@load.e2e.test", r.tag, prefix, i), fmt.Sprintf("Impresora %s %d", prefix, i))
	}
	return ms
}

// drainAndArrive runs scenarios 1, 2, 4 (draining) and 6 on one daemon:
// n requests waiting in the INBOX when ticketd starts, then arrivals at
// rate while it idles, then the idle CPU; then, restarted, arrivals while
// a second backlog of n drains (scenario 2 under load).
func (r *run) drainAndArrive(n, arrivals, during int, rate float64, idle time.Duration) error {
	desk, mesa, watch, sink := r.user("sop"), r.user("mesa"), r.user("watch"), r.user("sink")
	// Postfix alone: as many mails as the drain's notifications (an ack
	// and a desk alert per request) over one connection.
	base := r.requests(2*n, sink, "pf")
	for i := range base {
		base[i].to = []string{r.st.addr(sink)}
	}
	pf, err := dialSender(r.st.smtpAddr, false)
	if err != nil {
		return err
	}
	t0 := time.Now()
	share := cpuShare()
	for _, m := range base {
		if err := pf.send(m); err != nil {
			pf.close()
			return fmt.Errorf("postfix alone: %w", err)
		}
	}
	postfixAlone := time.Since(t0)
	r.figs.add("postfix_alone_machine_cpu_busy", "% of all cores", share(), "")
	pf.close()
	r.figs.add("postfix_alone_accept", "s", postfixAlone.Seconds(), "")
	r.figs.add("postfix_alone_rate", "mails/s", float64(len(base))/postfixAlone.Seconds(), "")
	if err := r.quiet(); err != nil {
		return err
	}

	t0 = time.Now()
	backlogMails := r.requests(n, desk, "bk")
	if err := r.deliverLMTP(backlogMails); err != nil {
		return fmt.Errorf("backlog by lmtp: %w", err)
	}
	logf("run %s: %d requests delivered by LMTP in %v", r.tag, n, time.Since(t0).Round(time.Millisecond))

	ddir := filepath.Join(r.dir, "drain")
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return err
	}
	start := time.Now()
	share = cpuShare()
	dc := daemonConfig{desk: r.st.addr(desk), mesa: r.st.addr(mesa), processed: "Procesados"}
	d, err := startDaemon(r.ctx, r.bin, r.st, ddir, dc)
	if err != nil {
		return err
	}
	defer func() { d.stop() }()
	p := proc{d.pid()}
	var rss, anon, file []int64
	err = waitUntil(r.ctx, 30*time.Minute, func() (bool, error) {
		proc, sent, err := d.counts()
		if err != nil {
			return false, nil
		}
		if m, err := p.mem(); err == nil {
			rss, anon, file = append(rss, m.rss), append(anon, m.anon), append(file, m.file)
		}
		return proc >= float64(n) && sent >= float64(2*n), nil
	})
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	end, _ := p.mem()
	busy := share()
	used, _ := p.cpu()
	l, err := d.scan()
	if err != nil {
		return err
	}
	var committed, whole time.Duration
	for _, m := range backlogMails {
		t, ok := l.commits[m.messageID]
		if !ok {
			return fmt.Errorf("drain: %s not committed", m.messageID)
		}
		committed = max(committed, t.Sub(start))
	}
	if len(l.notices) < 2*n {
		return fmt.Errorf("drain: %d notices logged, want %d", len(l.notices), 2*n)
	}
	for _, t := range l.notices {
		whole = max(whole, t.Sub(start))
	}
	r.figs.add("backlog_commit_rate", "mails/s", float64(n)/committed.Seconds(), ">= 1000")
	r.figs.add("backlog_commit_time", "s", committed.Seconds(), "")
	r.figs.add("backlog_whole_drain", "s", whole.Seconds(), "")
	r.figs.add("drain_vs_postfix_alone", "x", whole.Seconds()/postfixAlone.Seconds(), "<= 1.5")
	// Where the machine's time went: a drain bound by the CPUs (busy near
	// 100 %) goes no faster by waiting less; ticketd's part of it is its own.
	r.figs.add("drain_machine_cpu_busy", "% of all cores", busy, "")
	r.figs.add("drain_ticketd_cpu", "% of one core", 100*used.Seconds()/time.Since(start).Seconds(), "")
	r.figs.add("drain_peak_rss", "MiB", mib(end.hwm), "")
	r.figs.add("drain_steady_rss", "MiB", mib(median(rss[len(rss)/2:])), "< 50")
	r.figs.add("drain_steady_rss_anon", "MiB", mib(median(anon[len(anon)/2:])), "")
	r.figs.add("drain_steady_rss_file", "MiB", mib(median(file[len(file)/2:])), "")

	// The arrivals meet an idle daemon and servers: Postfix first delivers
	// the drain's notifications (arrivals under load are timed below).
	if err := r.quiet(); err != nil {
		return err
	}
	if err := r.arrivals(d, desk, watch, arrivals, rate); err != nil {
		return err
	}
	cpu0, _ := p.cpu()
	select {
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-time.After(idle):
	}
	cpu1, _ := p.cpu()
	r.figs.add("idle_cpu", "% of a core", 100*(cpu1-cpu0).Seconds()/idle.Seconds(), "< 0.1")
	if during == 0 {
		return nil
	}
	d.stop()
	if err := r.quiet(); err != nil {
		return err
	}
	if d, err = r.duringBacklog(ddir, dc, n, during, rate); err != nil {
		return fmt.Errorf("arrivals during a backlog: %w", err)
	}
	return nil
}

// duringBacklog, with the daemon stopped, puts a backlog of n requests into the desk's INBOX, starts the daemon
// again on the same data and sends count mails at rate through Postfix from
// its start. Each arrival is timed from Postfix's accept to its commit, and
// told apart by when it was accepted: behind the backlog (before the
// backlog's last commit: it waits its turn, in UID order), or while the
// backlog's notifications were still going out (after that commit, before
// the last notification was accepted), or after.
func (r *run) duringBacklog(ddir string, dc daemonConfig, n, count int, rate float64) (*daemon, error) {
	desk, watch := r.user("sop"), r.user("watch")
	backlog := r.requests(n, desk, "bl")
	if err := r.deliverLMTP(backlog); err != nil {
		return nil, fmt.Errorf("backlog by lmtp: %w", err)
	}
	stop, err := r.idleWatch(watch)
	if err != nil {
		return nil, err
	}
	d, err := startDaemon(r.ctx, r.bin, r.st, ddir, dc)
	if err != nil {
		stop()
		return nil, err
	}
	// The notifications owed by this daemon: an acknowledgement and a desk
	// alert for each request of the backlog and each arrival.
	owed := 2 * (n + count)
	accepted, err := r.send(r.requests(count, desk, "dr"), watch, rate)
	if err != nil {
		stop()
		return d, err
	}
	err = r.waitCommitted(d, accepted)
	byID := stop()
	if err != nil {
		return d, err
	}
	// When the last notification owed was accepted, if within a while.
	_ = waitUntil(r.ctx, 5*time.Minute, func() (bool, error) {
		_, sent, err := d.counts()
		return err == nil && sent >= float64(owed), nil
	})
	l, err := d.scan()
	if err != nil {
		return d, err
	}
	ct := l.commits
	var drainedAt time.Time
	if len(l.notices) >= owed {
		for _, t := range l.notices {
			drainedAt = later(drainedAt, t)
		}
	}
	var backlogEnd time.Time
	for _, m := range backlog {
		if t, ok := ct[m.messageID]; !ok {
			return d, fmt.Errorf("backlog mail %s not committed", m.messageID)
		} else if t.After(backlogEnd) {
			backlogEnd = t
		}
	}
	var behind, behindEnd, busy, busyIdle []float64
	after := 0
	for id, at := range accepted {
		lat := ct[id].Sub(at).Seconds() * 1000
		switch {
		case at.Before(backlogEnd):
			behind = append(behind, lat)
			behindEnd = append(behindEnd, ct[id].Sub(backlogEnd).Seconds()*1000)
		case drainedAt.IsZero() || at.Before(drainedAt):
			busy = append(busy, lat)
			if t, ok := byID[id]; ok {
				busyIdle = append(busyIdle, t.Sub(at).Seconds()*1000)
			}
		default:
			after++
		}
	}
	logf("run %s: of %d arrivals, %d behind the backlog of %d, %d while its notifications went out, %d after",
		r.tag, count, len(behind), n, len(busy), after)
	r.figs.add("during_arrivals_behind_backlog", "mails", float64(len(behind)), "")
	r.figs.add("during_arrivals_behind_backlog_max", "ms", percentile(behind, 100), "")
	r.figs.add("during_behind_backlog_after_its_end_max", "ms", percentile(behindEnd, 100), "")
	r.figs.add("during_arrivals_while_notifying", "mails", float64(len(busy)), "")
	if len(busy) == 0 {
		return d, nil // no figure rather than a zero that would read as met
	}
	for _, q := range []float64{50, 99} {
		target := ""
		if q == 99 {
			target = "<= bare IDLE p99 + 150"
		}
		r.figs.add(fmt.Sprintf("during_notifying_to_commit_p%.0f", q), "ms", percentile(busy, q), target)
		r.figs.add(fmt.Sprintf("during_notifying_bare_idle_p%.0f", q), "ms", percentile(busyIdle, q), "")
	}
	return d, nil
}

// arrivals sends n mails at rate a second through Postfix to the desk and
// to a watcher whose bare IDLE client notes when each appears.
func (r *run) arrivals(d *daemon, desk, watch string, n int, rate float64) error {
	stop, err := r.idleWatch(watch)
	if err != nil {
		return err
	}
	accepted, err := r.send(r.requests(n, desk, "ar"), watch, rate)
	if err != nil {
		stop()
		return err
	}
	err = r.waitCommitted(d, accepted)
	byID := stop()
	if err != nil {
		return err
	}
	ct, _ := d.commitTimes()
	var toCommit, toIdle []float64
	for id, at := range accepted {
		toCommit = append(toCommit, ct[id].Sub(at).Seconds()*1000)
		if t, ok := byID[id]; ok {
			toIdle = append(toIdle, t.Sub(at).Seconds()*1000)
		}
	}
	for _, q := range []float64{50, 95, 99} {
		target := ""
		if q == 99 {
			target = "<= bare IDLE p99 + 150"
		}
		r.figs.add(fmt.Sprintf("arrival_to_commit_p%.0f", q), "ms", percentile(toCommit, q), target)
		r.figs.add(fmt.Sprintf("arrival_bare_idle_p%.0f", q), "ms", percentile(toIdle, q), "")
	}
	if len(toIdle) < len(accepted) {
		logf("run %s: the bare IDLE client saw %d of %d mails", r.tag, len(toIdle), len(accepted))
	}
	return nil
}

// quiet waits for Postfix to deliver what it accepted before the next
// scenario starts.
func (r *run) quiet() error {
	took, err := r.st.waitQueueEmpty(r.ctx, 10*time.Minute)
	if err != nil {
		return err
	}
	logf("run %s: postfix queue empty after %v", r.tag, took.Round(time.Millisecond))
	return nil
}

// send sends ms through Postfix at rate a second, each also to watch, and
// returns when Postfix accepted each, by Message-ID.
func (r *run) send(ms []mail, watch string, rate float64) (map[string]time.Time, error) {
	s, err := dialSender(r.st.smtpAddr, false)
	if err != nil {
		return nil, err
	}
	defer s.close()
	accepted := map[string]time.Time{}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for _, m := range ms {
		<-tick.C
		m.to = append(m.to, r.st.addr(watch))
		if err := s.send(m); err != nil {
			return nil, fmt.Errorf("arrivals: %w", err)
		}
		accepted[m.messageID] = time.Now()
	}
	return accepted, nil
}

// waitCommitted waits until d has committed every mail of accepted.
func (r *run) waitCommitted(d *daemon, accepted map[string]time.Time) error {
	err := waitUntil(r.ctx, 5*time.Minute, func() (bool, error) {
		ct, err := d.commitTimes()
		if err != nil {
			return false, err
		}
		for id := range accepted {
			if _, ok := ct[id]; !ok {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("arrivals not all committed: %w", err)
	}
	return nil
}

// idleWatch logs in as local, idles on its INBOX and notes when each
// message count was first announced. stop ends it and returns, by
// Message-ID, when each message was first seen.
func (r *run) idleWatch(local string) (stop func() map[string]time.Time, err error) {
	var mu sync.Mutex
	type event struct {
		at time.Time
		n  uint32
	}
	var events []event
	c, err := imapclient.DialInsecure(r.st.imapAddr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				mu.Lock()
				events = append(events, event{time.Now(), *d.NumMessages})
				mu.Unlock()
			}
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("watcher: %w", err)
	}
	if err := c.Login(r.st.addr(local), r.st.password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("watcher login: %w", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("watcher select: %w", err)
	}
	idle, err := c.Idle()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("watcher idle: %w", err)
	}
	stop = func() map[string]time.Time {
		defer c.Close()
		_ = idle.Close()
		_ = idle.Wait()
		out := map[string]time.Time{}
		bufs, err := c.Fetch(seqAll(), &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil {
			logf("watcher fetch: %v", err)
			return out
		}
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bufs {
			if b.Envelope == nil {
				continue
			}
			for _, e := range events {
				if e.n >= b.SeqNum {
					out[b.Envelope.MessageID] = e.at
					break
				}
			}
		}
		return out
	}
	return stop, nil
}

func seqAll() imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(1, 0)
	return s
}

// bigMailbox runs scenario 3 (CPU per idle poll and per new mail with old
// mail in the INBOX) at each size, and scenario 4's attachment on the
// first daemon.
func (r *run) bigMailbox(sizes []int, window time.Duration, newMails int, attach bool) error {
	for i, size := range sizes {
		desk := r.user("big" + strconv.Itoa(i))
		// One mail makes Dovecot create the Maildir; the old mail is then
		// written into it directly, read (\Seen), as a desk that keeps its
		// processed mail in the INBOX has it. The first start leaves read
		// mail alone, so all of it sits below the checkpoint.
		if err := r.deliverLMTP(r.requests(1, desk, "first"+strconv.Itoa(i))); err != nil {
			return err
		}
		if err := r.fillMaildir(desk, size); err != nil {
			return err
		}
		ddir := filepath.Join(r.dir, desk)
		if err := os.MkdirAll(ddir, 0o700); err != nil {
			return err
		}
		d, err := startDaemon(r.ctx, r.bin, r.st, ddir, daemonConfig{desk: r.st.addr(desk), mesa: r.st.addr(r.user("mesa"))})
		if err != nil {
			return err
		}
		err = r.measureMailbox(d, desk, size, window, newMails, attach && i == 0)
		d.stop()
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *run) measureMailbox(d *daemon, desk string, size int, window time.Duration, newMails int, attach bool) error {
	if err := waitSent(r.ctx, d, 1, 2, 10*time.Minute); err != nil {
		return fmt.Errorf("mailbox of %d: first mail: %w", size, err)
	}
	p := proc{d.pid()}
	// Let the first round and its housekeeping settle.
	time.Sleep(3 * time.Second)
	cpu0, _ := p.cpu()
	time.Sleep(window)
	cpu1, _ := p.cpu()
	// poll_interval 2s: one round (UID SEARCH after an IDLE restart) each.
	polls := window.Seconds() / 2
	r.figs.add(fmt.Sprintf("cpu_per_idle_poll_%d_old", size), "ms", (cpu1-cpu0).Seconds()*1000/polls, "no growth with the mailbox")
	cpu0, _ = p.cpu()
	if err := r.deliverLMTP(r.requests(newMails, desk, "new"+strconv.Itoa(size))); err != nil {
		return err
	}
	// Each new mail's work ends with its two notifications accepted (an
	// acknowledgement and the desk's alert): the window waits for them,
	// however fast the mailbox takes the mails in.
	if err := waitSent(r.ctx, d, float64(1+newMails), float64(2*(1+newMails)), 5*time.Minute); err != nil {
		return err
	}
	cpu1, _ = p.cpu()
	r.figs.add(fmt.Sprintf("cpu_per_new_mail_%d_old", size), "ms", (cpu1-cpu0).Seconds()*1000/float64(newMails), "no growth with the mailbox")
	if !attach {
		return nil
	}
	if err := p.resetPeak(); err != nil {
		return fmt.Errorf("reset peak rss: %w", err)
	}
	before, _ := p.mem()
	m := request(r.st.addr(r.user("usr")+"+adj"), r.st.addr(desk), r.tag+"-adj@load.e2e.test", "Adjunto grande")
	m.raw = withAttachment(m.raw, 25<<20)
	if err := r.deliverLMTP([]mail{m}); err != nil {
		return err
	}
	if err := waitProcessed(r.ctx, d, float64(2+newMails), 5*time.Minute); err != nil {
		return err
	}
	after, _ := p.mem()
	r.figs.add("attachment_25MiB_peak_rss", "MiB", mib(after.hwm), "")
	r.figs.add("attachment_25MiB_added_rss", "MiB", mib(after.hwm-before.rss), "< 30")
	return nil
}

// waitSent waits until d has committed n mails and sent notices.
func waitSent(ctx context.Context, d *daemon, n, notices float64, timeout time.Duration) error {
	return waitUntil(ctx, timeout, func() (bool, error) {
		p, sent, err := d.counts()
		return err == nil && p >= n && sent >= notices, nil
	})
}

func waitProcessed(ctx context.Context, d *daemon, n float64, timeout time.Duration) error {
	return waitUntil(ctx, timeout, func() (bool, error) {
		p, _, err := d.counts()
		return err == nil && p >= n, nil
	})
}

// fillMaildir writes n read mails into local's Maildir/cur, owned by the
// mail user as Dovecot's own.
func (r *run) fillMaildir(local string, n int) error {
	dir := filepath.Join(r.st.dir, "mail", r.st.domain, local, "Maildir", "cur")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("maildir of %s: %w", local, err)
	}
	u, err := user.Lookup("mail")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	now := time.Now().Unix()
	for i := range n {
		m := request(r.st.addr(r.user("usr")+"+old"+strconv.Itoa(i)), r.st.addr(local), fmt.Sprintf("%s-old-%d@load.e2e.test", r.tag, i), "Antiguo")
		name := filepath.Join(dir, fmt.Sprintf("%d.M%dP%d.load,S=%d:2,S", now-int64(n-i), i, os.Getpid(), len(m.raw)))
		if err := os.WriteFile(name, m.raw, 0o600); err != nil {
			return err
		}
		if err := os.Chown(name, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// withAttachment turns a plain request into one carrying size bytes of
// attachment, base64 on the wire.
func withAttachment(raw []byte, size int) []byte {
	head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	head = bytes.Replace(head, []byte("Content-Type: text/plain; charset=utf-8"), []byte(`Content-Type: multipart/mixed; boundary="b"`), 1)
	var b bytes.Buffer
	b.Write(head)
	b.WriteString("\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.Write(body)
	b.WriteString("\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"datos.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), size/16))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b--\r\n")
	return b.Bytes()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func median(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// percentile is the q-th percentile of v (nearest rank).
func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

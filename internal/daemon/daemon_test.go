package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketd/ticketd/internal/blob"
	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/mailbox/sender"
	"github.com/ticketd/ticketd/notify"
	"github.com/ticketd/ticketd/ticket"
)

const (
	deskAddr  = "soporte@oti.test"
	agentAddr = "agente@oti.test"
	userAddr  = "ana@unidad.test"
	provAddr  = "proveedor@oti.test"
	password  = "pw"
)

// rig is the daemon wired to real parts: an in-process IMAP and SMTP mail
// system on loopback, a bbolt store and a blob store in a temp dir.
type rig struct {
	mail  *devmail.System
	dir   string
	db    *store.DB
	blobs *blob.Store
	loop  *Loop
	stop  func()
	// senders checks who sent each mail; nil means checker(t).
	senders SenderChecker
	// wrap, if set, wraps the loop's store.
	wrap func(Store) Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{mail: newMail(t), dir: t.TempDir()}
	r.start(t)
	return r
}

// newMail starts the in-process mail system of the desk's tests.
func newMail(t *testing.T) *devmail.System {
	t.Helper()
	sys, err := devmail.Start(devmail.Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Domain: "oti.test",
		Users: []string{deskAddr, agentAddr, userAddr, provAddr}, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	return sys
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// start opens the store and runs the daemon until stop is called.
func (r *rig) start(t *testing.T) {
	t.Helper()
	log := logger(t)
	var err error
	if r.db, err = store.Open(filepath.Join(r.dir, "t.db"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	if r.blobs, err = blob.Open(filepath.Join(r.dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	dir, err := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{agentAddr}},
		{Name: "proveedor", Level: 3, Default: true, Members: []string{provAddr}}})
	if err != nil {
		t.Fatal(err)
	}
	desk, _ := ticket.NewDesk(dir)
	svc, err := service.New(service.Options{Store: serviceStore(r.db), Desk: desk, Self: []string{deskAddr}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ih, ip := hostPort(t, r.mail.IMAPAddr())
	poller, err := mailbox.New(mailbox.Options{Host: ih, Port: ip, TLS: mailbox.TLSNone, Username: deskAddr, Password: password,
		PollInterval: 200 * time.Millisecond, BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sh, sp := hostPort(t, r.mail.SMTPAddr())
	sender, err := notify.NewSender(notify.SenderOptions{Host: sh, Port: sp, TLS: notify.TLSNone, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	render, err := notify.NewRenderer(notify.RendererOptions{From: ticket.Address{Name: "Mesa", Addr: deskAddr}})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := notify.NewWorker(notify.WorkerOptions{Outbox: store.Outbox{DB: r.db}, Renderer: render, Sender: sender,
		Interval: 100 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	senders := r.senders
	if senders == nil {
		senders = checker(t)
	}
	var ls Store = loopStore(r.db)
	if r.wrap != nil {
		ls = r.wrap(ls)
	}
	r.loop, err = New(Options{Store: ls, Service: svc, Blobs: r.blobs, Senders: senders, Fetcher: poller, Outbox: worker, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.loop.Run(ctx) }()
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if err := <-workerDone; err != nil {
				t.Errorf("worker Run: %v", err)
			}
			// As internal/app does at a stop: what the last commits owe
			// goes out, within a bound (t.Context() has ended when this
			// runs as a cleanup).
			fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer fcancel()
			if err := worker.Flush(fctx); err != nil {
				t.Errorf("worker Flush: %v", err)
			}
			sender.Close()
			r.db.Close()
		})
	}
	// Always waited for, also when the test did not stop it: t.Context() is
	// cancelled before the cleanups run, and goroutines left running would
	// log through t after the test ended.
	t.Cleanup(r.stop)
}

// send sends a mail as from, logged in to devmail's SMTP server as from
// (AUTH PLAIN), as a member of the organisation sends through its
// submission server: devmail then records auth=pass for from.
func send(t *testing.T, sys *devmail.System, from, to, headers, body string) {
	t.Helper()
	sendAs(t, sys, smtp.PlainAuth("", from, password, "127.0.0.1"), from, to, headers, body)
}

// forge sends a mail whose From is from without logging in, as anyone on
// the Internet can: devmail records auth=none.
func forge(t *testing.T, sys *devmail.System, from, to, headers, body string) {
	t.Helper()
	sendAs(t, sys, nil, from, to, headers, body)
}

func sendAs(t *testing.T, sys *devmail.System, auth smtp.Auth, from, to, headers, body string) {
	t.Helper()
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\n%s\r\n\r\n%s\r\n", from, to, headers, body)
	if err := smtp.SendMail(sys.SMTPAddr(), auth, from, []string{to}, []byte(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// checker returns the sender checker of the tests: devmail's own
// Authentication-Results (authserv-id oti.test) count, and auth, DKIM,
// DMARC and accept lists extra evidence (e.g. "internal"), all as
// configured in security.command_auth.
func checker(t testing.TB, extra ...string) *sender.Checker {
	t.Helper()
	p, err := sender.NewPolicy(append([]string{"dmarc", "dkim", "auth"}, extra...), []string{"oti.test"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sender.New(sender.Options{Policy: p, DNSTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inbox returns the subjects and Message-IDs in user's INBOX.
func inbox(t *testing.T, sys *devmail.System, user string) (subjects, ids []string) {
	t.Helper()
	c, err := imapclient.DialInsecure(sys.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	msgs, err := c.Fetch(func() imap.SeqSet { var ss imap.SeqSet; ss.AddRange(1, sel.NumMessages); return ss }(), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		subjects = append(subjects, m.Envelope.Subject)
		ids = append(ids, m.Envelope.MessageID)
	}
	return subjects, ids
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) tickets(t *testing.T) []ticket.Ticket {
	t.Helper()
	var ts []ticket.Ticket
	err := r.db.View(t.Context(), func(tx *store.Tx) error {
		var err error
		ts, err = tx.List(ticket.Filter{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func (r *rig) ticket(t *testing.T, id ticket.ID) *ticket.Ticket {
	t.Helper()
	var tk *ticket.Ticket
	err := r.db.View(t.Context(), func(tx *store.Tx) error {
		var err error
		tk, err = tx.Ticket(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestMailToTicketAndBack: one mail yields one ticket and one
// acknowledgement; a reply whose subject was edited threads by
// In-Reply-To; a restart processes nothing twice.
func TestMailToTicketAndBack(t *testing.T) {
	r := newRig(t)
	send(t, r.mail, userAddr, deskAddr, "Subject: =?UTF-8?Q?No_tengo_se=C3=B1al?=\r\nMessage-ID: <m1@unidad.test>", "Desde ayer no tengo red.")
	var ackIDs []string
	waitFor(t, "the acknowledgement", func() bool {
		s, ids := inbox(t, r.mail, userAddr)
		ackIDs = ids
		return len(s) == 1
	})
	subjects, _ := inbox(t, r.mail, userAddr)
	ts := r.tickets(t)
	if len(ts) != 1 || !strings.HasPrefix(subjects[0], ts[0].ID.Tag()+" No tengo señal") {
		t.Fatalf("tickets %v, ack subject %q", ts, subjects)
	}
	id := ts[0].ID
	waitFor(t, "the desk's alert", func() bool { s, _ := inbox(t, r.mail, agentAddr); return len(s) == 1 })

	// The requester edits the subject; In-Reply-To still names the ack.
	send(t, r.mail, userAddr, deskAddr, "Subject: otra cosa\r\nMessage-ID: <m2@unidad.test>\r\nIn-Reply-To: <"+ackIDs[0]+">",
		"Sigue igual.\r\n\r\nEl jue, 26 nov 2026 a las 10:00, Mesa <soporte@oti.test> escribió:\r\n> Recibimos su solicitud")
	waitFor(t, "the reply relayed to the desk", func() bool { s, _ := inbox(t, r.mail, agentAddr); return len(s) == 2 })
	tk := r.ticket(t, id)
	last := tk.History[len(tk.History)-1]
	if len(r.tickets(t)) != 1 || last.Kind != ticket.KindReplied || last.Text != "Sigue igual." || last.MessageID != "m2@unidad.test" {
		t.Fatalf("after the reply: %d tickets, last entry %+v", len(r.tickets(t)), last)
	}

	// The agent resolves with a command.
	send(t, r.mail, agentAddr, deskAddr, "Subject: RE: "+string(id.Tag())+" x\r\nMessage-ID: <m3@oti.test>", "#resolver cable cambiado")
	waitFor(t, "the resolution", func() bool { s, _ := inbox(t, r.mail, userAddr); return len(s) == 2 })
	if tk := r.ticket(t, id); tk.State != ticket.StateResolved {
		t.Fatalf("state = %s", tk.State)
	}

	// Restart: the checkpoint holds, nothing is processed or sent twice.
	r.stop()
	before, _, _ := r.mail.Deliveries(0)
	r.start(t)
	time.Sleep(500 * time.Millisecond) // several poll intervals
	after, _, _ := r.mail.Deliveries(0)
	if len(r.tickets(t)) != 1 || len(after) != len(before) {
		t.Errorf("after restart: %d tickets, %d deliveries (was %d)", len(r.tickets(t)), len(after), len(before))
	}
	if n := len(r.ticket(t, id).History); n != 3 {
		t.Errorf("history has %d entries, want 3", n)
	}
}

// TestBrokenMailNeverBlocks: a mail whose processing fails (here a bug:
// rules without groups panic) is quarantined with its raw copy and the
// checkpoint moves past it, so the mails behind it go on; a re-run that
// fails again is counted, not looped.
func TestBrokenMailNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, _ := blob.Open(filepath.Join(dir, "blobs"))
	svc, _ := service.New(service.Options{Store: serviceStore(db), Desk: &ticket.Desk{}}) // a Desk without a directory panics
	l, err := New(Options{Store: loopStore(db), Service: svc, Blobs: blobs, Senders: checker(t), Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	m := &mailbox.Message{UIDValidity: 9, UID: 41, Body: strings.NewReader("From: a@b.test\r\nSubject: x\r\nMessage-ID: <q@x>\r\n\r\nhola\r\n")}
	if err := l.Handle(t.Context(), m); err != nil {
		t.Fatalf("Handle = %v, want nil (quarantined)", err)
	}
	var qs []record.Quarantined
	var cp record.Checkpoint
	_ = db.View(t.Context(), func(tx *store.Tx) error {
		qs, _ = tx.QuarantineList()
		cp, _ = tx.Checkpoint("INBOX")
		return nil
	})
	if len(qs) != 1 || qs[0].MessageID != "q@x" || qs[0].UID != 41 || !strings.Contains(qs[0].Reason, "internal error") || qs[0].RawSHA256 == "" {
		t.Fatalf("quarantine = %+v", qs)
	}
	if cp != (record.Checkpoint{UIDValidity: 9, UID: 41}) {
		t.Errorf("checkpoint = %+v, want past the quarantined mail", cp)
	}
	if _, err := l.RetryQuarantined(t.Context(), qs[0].ID); err == nil {
		t.Fatal("re-run of a mail that still fails succeeded")
	}
	_ = db.View(t.Context(), func(tx *store.Tx) error {
		q, err := tx.Quarantined(qs[0].ID)
		if err != nil || q.Retries != 1 {
			t.Errorf("after a failed re-run: %+v, %v", q, err)
		}
		return nil
	})

	// After the fix, the re-run opens the ticket and releases the record.
	d, _ := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{agentAddr}}})
	desk, _ := ticket.NewDesk(d)
	fixed, _ := service.New(service.Options{Store: serviceStore(db), Desk: desk})
	l2, _ := New(Options{Store: loopStore(db), Service: fixed, Blobs: blobs, Senders: checker(t), Logger: logger(t)})
	res, err := l2.RetryQuarantined(t.Context(), qs[0].ID)
	if err != nil || res.Outcome != service.Opened {
		t.Fatalf("re-run after the fix = %+v, %v", res, err)
	}
	_ = db.View(t.Context(), func(tx *store.Tx) error {
		if n := tx.QuarantineCount(); n != 0 {
			t.Errorf("quarantine still holds %d records", n)
		}
		return nil
	})
}

// TestHandleDoesNotCommitWhenTheStoreFails: when nothing can be written the
// handler says so, so the poller leaves the mail unflagged for a retry.
func TestHandleDoesNotCommitWhenTheStoreFails(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, _ := blob.Open(filepath.Join(dir, "blobs"))
	d, _ := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{agentAddr}}})
	desk, _ := ticket.NewDesk(d)
	svc, _ := service.New(service.Options{Store: serviceStore(db), Desk: desk})
	l, err := New(Options{Store: loopStore(db), Service: svc, Blobs: blobs, Senders: checker(t), Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	m := &mailbox.Message{UIDValidity: 1, UID: 7, Body: strings.NewReader("From: a@b.test\r\nSubject: x\r\n\r\nhola\r\n")}
	if err := l.Handle(t.Context(), m); err == nil {
		t.Fatal("Handle succeeded on a closed store")
	}
}

// serviceStore and loopStore return db as the service's and the loop's
// Store.
func serviceStore(db *store.DB) service.Store {
	return store.Bind(db, func(tx *store.Tx) service.Tx { return tx })
}

func loopStore(db *store.DB) Store { return store.Bind(db, func(tx *store.Tx) Tx { return tx }) }

// newIngestLoop returns a loop without mailbox or outbox over a fresh store,
// keeping at most maxSize bytes of each mail.
func newIngestLoop(t *testing.T, maxSize int64) (*store.DB, *Loop) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, _ := blob.Open(filepath.Join(dir, "blobs"))
	d, _ := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{agentAddr}}})
	desk, _ := ticket.NewDesk(d)
	svc, _ := service.New(service.Options{Store: serviceStore(db), Desk: desk})
	l, err := New(Options{Store: loopStore(db), Service: svc, Blobs: blobs, Senders: checker(t), MaxSize: maxSize, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return db, l
}

// TestIngestPaths covers duplicates, oversized mail, bounces and auto-replies
// through the same path as fetched mail.
func TestIngestPaths(t *testing.T) {
	db, l := newIngestLoop(t, 4096)
	var err error
	ctx := t.Context()
	ingest := func(raw string) service.Result {
		t.Helper()
		res, err := l.Ingest(ctx, strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	noID := "From: ana@unidad.test\r\nSubject: sin id\r\n\r\nhola\r\n"
	if res := ingest(noID); res.Outcome != service.Opened {
		t.Fatalf("first = %+v", res)
	}
	if res := ingest(noID); res.Outcome != service.Duplicate {
		t.Errorf("same content without Message-ID twice: %+v, want duplicate", res)
	}
	big := "From: ana@unidad.test\r\nSubject: grande\r\nMessage-ID: <big@x>\r\n\r\n" + strings.Repeat("relleno ", 2000)
	res := ingest(big)
	var tk *ticket.Ticket
	_ = db.View(ctx, func(tx *store.Tx) error { tk, err = tx.Ticket(res.TicketID); return err })
	if res.Outcome != service.Opened || tk.History[1].Kind != ticket.KindDegraded || !strings.Contains(tk.History[1].Text, "only its first 4096 bytes were kept") {
		t.Errorf("oversized mail: %+v / %+v", res, tk.History)
	}
	if res := ingest("From: jefe@unidad.test\r\nSubject: Fuera de la oficina\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@x>\r\n\r\nVuelvo el lunes\r\n"); res.Outcome != service.Unthreaded {
		t.Errorf("out-of-office = %+v, want unthreaded", res)
	}
	if res := ingest("Subject: sin remitente\r\nMessage-ID: <nofrom@x>\r\n\r\nhola\r\n"); res.Outcome != service.Opened || res.Notices != 1 {
		t.Errorf("mail without any sender = %+v, want opened for the desk only (nobody to answer)", res)
	}
}

// TestTruncationNotedOnce: a mail cut to the size limit gets one note
// saying so, whether the mailbox fetched only its start (the IMAP partial
// fetch) or the whole mail reached the parser.
func TestTruncationNotedOnce(t *testing.T) {
	db, l := newIngestLoop(t, 4096)
	var err error
	big := func(id string) string {
		return "From: ana@unidad.test\r\nSubject: grande\r\nMessage-ID: <" + id + ">\r\n\r\n" + strings.Repeat("relleno ", 2000)
	}
	notes := func(id ticket.ID) []string {
		t.Helper()
		var tk *ticket.Ticket
		_ = db.View(t.Context(), func(tx *store.Tx) error { tk, err = tx.Ticket(id); return err })
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range tk.History {
			if e.Kind != ticket.KindDegraded {
				continue
			}
			for _, line := range strings.Split(e.Text, "\n") {
				if strings.Contains(line, "4096") {
					out = append(out, line)
				}
			}
		}
		return out
	}

	res, err := l.Ingest(t.Context(), strings.NewReader(big("whole@x")))
	if err != nil {
		t.Fatal(err)
	}
	if got := notes(res.TicketID); len(got) != 1 {
		t.Errorf("whole mail over the limit: size notes %q, want one", got)
	}

	raw := big("partial@x")
	m := &mailbox.Message{UIDValidity: 1, UID: 3, Size: int64(len(raw)), Body: strings.NewReader(raw[:4096])}
	if err := l.Handle(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var id ticket.ID
	_ = db.View(t.Context(), func(tx *store.Tx) error {
		list, _ := tx.List(ticket.Filter{})
		for _, tk := range list {
			if tk.Subject == "grande" && tk.ID != res.TicketID {
				id = tk.ID
			}
		}
		return nil
	})
	got := notes(id)
	if len(got) != 1 || !strings.Contains(got[0], strconv.Itoa(len(raw))) {
		t.Errorf("mail fetched partially: size notes %q, want one naming its %d bytes", got, len(raw))
	}
}

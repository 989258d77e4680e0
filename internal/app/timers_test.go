package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/internal/testlog"
	"github.com/ticketd/ticketd/ticket"
)

// deliveredTo counts the deliveries to rcpt whose raw mail contains word.
func deliveredTo(sys *devmail.System, rcpt, word string) int {
	ds, _, _ := sys.Deliveries(0)
	n := 0
	for _, d := range ds {
		if slices.Contains(d.To, rcpt) && strings.Contains(string(d.Raw), word) {
			n++
		}
	}
	return n
}

// runDaemon builds and runs a daemon of the configuration file path until
// the returned stop is called; it waits for its admin API.
func runDaemon(t *testing.T, path string, logs *testlog.Buffer) (*Daemon, <-chan error, func()) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(cfg, Options{Version: "test", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, done, "the admin API", func() bool { return admin.NewClient(cfg.Admin.Listen, "").Ping(ctx) })
	return d, done, func() {
		cancel()
		if err := runResult(t, done); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
}

// dueOf reads ticket id's due time from the store of d.
func dueOf(t *testing.T, d *Daemon, id ticket.ID) time.Time {
	t.Helper()
	var due time.Time
	if err := d.DB.View(t.Context(), func(tx *store.Tx) error {
		tk, err := tx.Ticket(id)
		if tk != nil {
			due = tk.Due
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return due
}

// TestTimersStartPassAndReload runs the timer goroutine of a real daemon
// on the in-process mail system, with no mail arriving after the
// tickets are opened:
//   - a ticket opened while there was no sla section gets its due time at
//     the next start (the pass over open tickets, recorded by the sla
//     fingerprint so that a start with the same section does not redo it);
//   - a SIGHUP that shortens the level-1 target to seconds applies it and
//     computes the due times again, and the reminder and then the overdue
//     notice arrive by mail at the holder (and the Mesa) by the timers
//     alone.
func TestTimersStartPassAndReload(t *testing.T) {
	sys := startMail(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ticketd.yaml")
	adminAddr := freeAddr(t)
	writeConfigFile(t, path, sys, dir, adminAddr, []string{agentAddr}, "")
	var logs testlog.Buffer

	d, _, stop := runDaemon(t, path, &logs)
	res, err := d.Service.OpenByPhone(t.Context(), ticket.Address{Addr: userAddr}, agentAddr, "Sin red", "Desde ayer.")
	if err != nil {
		t.Fatal(err)
	}
	old := res.TicketID
	if due := dueOf(t, d, old); !due.IsZero() {
		t.Fatalf("due time without an sla section: %v", due)
	}
	stop()

	// The sla section added: the start computes the old ticket's timers.
	const hourly = "sla: {business_hours: 24x7, targets: {level1: 1h}, warn_at: 50%}\n"
	writeConfigFile(t, path, sys, dir, adminAddr, []string{agentAddr}, hourly)
	d, done, stop := runDaemon(t, path, &logs)
	waitFor(t, done, "the start-up pass", func() bool { return !dueOf(t, d, old).IsZero() })
	if l := logs.String(); !strings.Contains(l, "computing the timers of open and resolved tickets") || !strings.Contains(l, "changed=1") {
		t.Errorf("the start-up pass is not logged:\n%s", l)
	}
	stop()
	// The same section again: no pass.
	before := strings.Count(logs.String(), "computing the timers")
	d, done, stop = runDaemon(t, path, &logs)
	defer stop()
	res, err = d.Service.OpenByPhone(t.Context(), ticket.Address{Addr: userAddr}, agentAddr, "Sin impresora", "No imprime.")
	if err != nil {
		t.Fatal(err)
	}
	fresh := res.TicketID
	if n := strings.Count(logs.String(), "computing the timers"); n != before {
		t.Errorf("the pass ran again with the same sla section (%d times, was %d)", n, before)
	}
	halfHour := dueOf(t, d, fresh)
	if time.Until(halfHour) < 25*time.Minute {
		t.Fatalf("due with a 1h target = %v from now, want about 30m", time.Until(halfHour))
	}

	// SIGHUP with a 4s target: the due times are computed again and the
	// timers fire with no mail arriving.
	writeConfigFile(t, path, sys, dir, adminAddr, []string{agentAddr}, "sla: {business_hours: 24x7, targets: {level1: 4s}, warn_at: 50%}\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, done, "the reload", func() bool { return strings.Contains(logs.String(), "configuration reloaded") })
	if l := logs.String(); strings.Contains(l, "restart_needed") {
		t.Errorf("the sla section is said to need a restart:\n%s", l)
	}
	waitFor(t, done, "the reminder by mail", func() bool { return deliveredTo(sys, agentAddr, "Recordatorio") >= 1 })
	waitFor(t, done, "the overdue notices by mail", func() bool { return deliveredTo(sys, agentAddr, "Vencido") >= 2 })
	// Each ticket got its overdue notice once, and at most one reminder
	// before it (none when it was past its half when the pass ran).
	time.Sleep(time.Second)
	if w, b := deliveredTo(sys, agentAddr, "Recordatorio"), deliveredTo(sys, agentAddr, "Vencido"); w > 2 || b != 2 {
		t.Errorf("reminders %d, overdue notices %d; want at most 2 and 2", w, b)
	}
	for _, id := range []ticket.ID{old, fresh} {
		if due := dueOf(t, d, id); !due.IsZero() {
			t.Errorf("%s still due at %v after its overdue notice", id, due)
		}
		var kinds []ticket.Kind
		if err := d.DB.View(t.Context(), func(tx *store.Tx) error {
			h, err := tx.History(id)
			for _, e := range h {
				kinds = append(kinds, e.Kind)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		count := func(k ticket.Kind) int {
			return len(slices.DeleteFunc(slices.Clone(kinds), func(x ticket.Kind) bool { return x != k }))
		}
		if count(ticket.KindSLABreached) != 1 || count(ticket.KindSLAWarning) > 1 {
			t.Errorf("%s history = %v, want one sla_breached and at most one sla_warning", id, kinds)
		}
	}
	if fw := deliveredTo(sys, agentAddr, string(fresh.Tag())+" Recordatorio"); fw != 1 {
		t.Errorf("the fresh ticket's reminders = %d, want 1", fw)
	}
}

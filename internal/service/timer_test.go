package service

import (
	"slices"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
	"github.com/ticketd/ticketd/ticket/sla"
)

// withServiceLevels gives the env's desk a 24x7 calendar, targets of 1h
// and 2h, a reminder at 50% and closure within 30m.
func withServiceLevels(t *testing.T) func(*Options) {
	return func(o *Options) {
		cal, err := sla.New(sla.AlwaysOpen, nil, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		desk, err := ticket.NewDesk(o.Desk.Directory(), ticket.WithServiceLevels(ticket.ServiceLevels{
			Calendar: cal, Targets: ticket.Targets{Level1: time.Hour, Level2: 2 * time.Hour}, WarnAt: 50, CloseWithin: 30 * time.Minute,
		}))
		if err != nil {
			t.Fatal(err)
		}
		o.Desk = desk
	}
}

// timerKinds lists the timer entries of ticket id's history.
func (e *env) timerKinds(id ticket.ID) []ticket.Kind {
	var out []ticket.Kind
	for _, h := range e.ticket(id).History {
		switch h.Kind {
		case ticket.KindSLAWarning, ticket.KindSLABreached, ticket.KindCloseReminder:
			out = append(out, h.Kind)
		}
	}
	return out
}

func (e *env) tickDue(at time.Time) (int, time.Time) {
	e.t.Helper()
	n, next, err := e.svc.TickDue(e.t.Context(), at)
	if err != nil {
		e.t.Fatalf("TickDue(%v) = %v", at, err)
	}
	return n, next
}

// TestTimersThroughTheIndex: the store's index of due times drives the
// timers; a restart (store closed and reopened, a new service) neither
// loses nor repeats an event; escalation starts the new level's clock.
func TestTimersThroughTheIndex(t *testing.T) {
	e := newEnv(t, withServiceLevels(t))
	id := e.open("m1@example.org")
	if n, next := e.tickDue(t0.Add(29 * time.Minute)); n != 0 || !next.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("TickDue before the reminder = %d, next %v; want 0, %v", n, next, t0.Add(30*time.Minute))
	}
	if n, next := e.tickDue(t0.Add(30 * time.Minute)); n != 1 || !next.Equal(t0.Add(time.Hour)) {
		t.Fatalf("TickDue at the reminder = %d, next %v", n, next)
	}
	var warned []string
	for _, p := range e.pending() {
		if p.Notice.Kind == ticket.NoticeSLAWarning {
			warned = append(warned, p.Notice.To[0].Addr)
		}
	}
	slices.Sort(warned)
	if !slices.Equal(warned, []string{agent1, agent2}) {
		t.Fatalf("sla_warning owed to %v, want the desk's members", warned)
	}

	// Restart: the daemon stops after the reminder and before the target.
	path := e.db.Path()
	e.db.Close()
	db, err := store.Open(path, store.Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts := e.svc.opts
	opts.Store = bind(db)
	if e.svc, err = New(opts); err != nil {
		t.Fatal(err)
	}
	e.db = db
	e.tickDue(t0.Add(31 * time.Minute)) // the reminder is not repeated
	if n, _ := e.tickDue(t0.Add(3 * time.Hour)); n != 1 {
		t.Fatalf("TickDue after the restart = %d, want the overdue ticket", n)
	}
	if got := e.timerKinds(id); !slices.Equal(got, []ticket.Kind{ticket.KindSLAWarning, ticket.KindSLABreached}) {
		t.Fatalf("timer entries = %v", got)
	}
	if n, next := e.tickDue(t0.Add(10 * time.Hour)); n != 0 || !next.IsZero() {
		t.Fatalf("TickDue after the overdue notice = %d, next %v; want nothing due", n, next)
	}

	// Escalation: level 2's clock (2h, reminder at 1h) starts now.
	e.now = t0.Add(10 * time.Hour)
	e.ingest(mail("m2@example.org", agent1, "Re: ["+string(id)+"] x", "#escalar nivel2 redes"))
	if n, next := e.tickDue(e.now); n != 0 || !next.Equal(e.now.Add(time.Hour)) {
		t.Fatalf("TickDue after escalation = %d, next %v; want %v", n, next, e.now.Add(time.Hour))
	}
	e.tickDue(e.now.Add(time.Hour))
	if got := e.timerKinds(id); len(got) != 3 || got[2] != ticket.KindSLAWarning {
		t.Fatalf("timer entries after escalation = %v", got)
	}
	if tk := e.ticket(id); tk.Level != ticket.Level2 || !tk.Due.Equal(e.now.Add(2*time.Hour)) {
		t.Fatalf("ticket at level %d due %v", tk.Level, tk.Due)
	}
	e.verify()
}

// TestDueChangedAfterCommit: the timer is woken only once the change that
// set a due time is committed. Woken before, its read of the index sees
// the old state and it sleeps its longest sleep (a minute) past the
// reminder (the e2e TestServiceLevelTimers saw no reminder for 45 s).
func TestDueChangedAfterCommit(t *testing.T) {
	e := newEnv(t, withServiceLevels(t))
	m := mail("m1@example.org", requester, "No imprime la impresora", "Desde esta mañana no imprime.")
	err := e.db.Update(t.Context(), func(tx *store.Tx) error {
		if _, err := e.svc.IngestTx(tx, m); err != nil {
			return err
		}
		select {
		case <-e.svc.DueChanged():
			t.Error("DueChanged signalled inside the transaction, before the commit")
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.svc.DueChanged():
	default:
		t.Fatal("DueChanged not signalled after the commit that set a due time")
	}
}

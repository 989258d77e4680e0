package ticket

import (
	"slices"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket/sla"
)

// slaDesk is the test directory's desk with office hours in Bogotá
// (mon-fri 07:00-17:00, 2026-12-08 off), targets of 4h, 8h and 16h (1h at
// level 1 for priority alta), a reminder at 75% and closure within 2h.
func slaDesk(tb testing.TB) (*Desk, *time.Location) {
	tb.Helper()
	loc, err := time.LoadLocation("America/Bogota")
	if err != nil {
		tb.Fatal(err)
	}
	cal, err := sla.New("mon-fri 07:00-17:00", []string{"2026-12-08"}, loc)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := NewDesk(testDirectory(tb), WithServiceLevels(ServiceLevels{
		Calendar:    cal,
		Targets:     Targets{Level1: 4 * time.Hour, Level2: 8 * time.Hour, Level3: 16 * time.Hour},
		ByPriority:  map[Priority]Targets{PriorityHigh: {Level1: time.Hour}},
		WarnAt:      75,
		CloseWithin: 2 * time.Hour,
	}))
	if err != nil {
		tb.Fatal(err)
	}
	return d, loc
}

// openAt opens the requester's ticket OTI-2026-000001 on d at when.
func openAt(d *Desk, when time.Time) *Ticket {
	return d.Open("OTI-2026-000001", Inbound{Sender: verified, MessageID: "m0@x", From: Address{Addr: requester},
		Subject: "No tengo red", Text: "Sin red"}, "", when).Ticket
}

// tickWant ticks t at now and checks the one entry and notice kinds it
// yields (none when kind is empty) and their recipients.
func tickWant(tb testing.TB, d *Desk, t *Ticket, now time.Time, kind Kind, to ...string) {
	tb.Helper()
	o := d.Tick(t, now)
	if kind == "" {
		if !o.Empty() {
			tb.Fatalf("Tick(%v) = %v %v, want nothing", now, kinds(o.Entries), noticeKinds(o.Notices))
		}
		return
	}
	if len(o.Entries) != 1 || o.Entries[0].Kind != kind || len(o.Notices) != 1 || string(o.Notices[0].Kind) != string(kind) {
		tb.Fatalf("Tick(%v) = %v %v, want one %s", now, kinds(o.Entries), noticeKinds(o.Notices), kind)
	}
	var got []string
	for _, a := range o.Notices[0].To {
		got = append(got, a.Addr)
	}
	slices.Sort(got)
	slices.Sort(to)
	if !slices.Equal(got, to) {
		tb.Fatalf("Tick(%v): %s to %v, want %v", now, kind, got, to)
	}
}

func TestServiceLevelsOfficeHoursAndHoliday(t *testing.T) {
	d, loc := slaDesk(t)
	// Monday 16:00: 1h today, Tuesday is a holiday, so 3h (75% of 4h) is
	// reached on Wednesday at 09:00 and the target at 10:00.
	mon := time.Date(2026, 12, 7, 16, 0, 0, 0, loc)
	tk := openAt(d, mon)
	warn, due := time.Date(2026, 12, 9, 9, 0, 0, 0, loc), time.Date(2026, 12, 9, 10, 0, 0, 0, loc)
	if !tk.Due.Equal(warn) {
		t.Fatalf("Due after opening = %v, want %v", tk.Due.In(loc), warn)
	}
	tickWant(t, d, tk, warn.Add(-time.Second), "")
	tickWant(t, d, tk, warn, KindSLAWarning, agent, agent2)
	tickWant(t, d, tk, warn.Add(time.Minute), "") // no repetition
	if !tk.Due.Equal(due) {
		t.Fatalf("Due after the reminder = %v, want %v", tk.Due.In(loc), due)
	}
	tickWant(t, d, tk, due, KindSLABreached, agent, agent2)
	tickWant(t, d, tk, due.Add(24*time.Hour), "")
	if !tk.Due.IsZero() {
		t.Fatalf("Due after the overdue notice = %v, want none", tk.Due)
	}
	e := tk.History[len(tk.History)-1]
	if e.Data["target"] != "4h0m0s" || e.Data["elapsed"] != "4h0m0s" || e.Data["level"] != "1" {
		t.Errorf("sla_breached data = %v", e.Data)
	}
	if err := Verify(tk.History, tk.Head(), len(tk.History)); err != nil {
		t.Fatal(err)
	}
}

func TestServiceLevelsEscalationResolutionReopening(t *testing.T) {
	d, loc := slaDesk(t)
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, loc) // a Tuesday
	tk := openAt(d, start)
	reply := func(from, text string, at time.Time) {
		t.Helper()
		o := d.Reply(tk, Inbound{Sender: verified, MessageID: at.String(), From: Address{Addr: from}, Text: text}, at)
		if o.Refused {
			t.Fatalf("%s: refused: %+v", text, o.Results)
		}
	}
	// Escalated after 2h at level 1: level 2's clock (8h, reminder at 6h)
	// starts at the escalation.
	esc := start.Add(2 * time.Hour)
	reply(agent, "#escalar nivel2 redes", esc)
	if want := time.Date(2026, 12, 1, 16, 0, 0, 0, loc); !tk.Due.Equal(want) {
		t.Fatalf("Due after escalation = %v, want %v", tk.Due.In(loc), want)
	}
	tickWant(t, d, tk, tk.Due, KindSLAWarning, specialist)
	// Resolved: the level's clock stops and the closure clock runs.
	res := time.Date(2026, 12, 1, 16, 30, 0, 0, loc)
	reply(specialist, "#resolver cambiado el cable", res)
	closeBy := time.Date(2026, 12, 2, 8, 30, 0, 0, loc) // 30m today, 1h30m tomorrow
	if !tk.Due.Equal(closeBy) {
		t.Fatalf("Due after resolution = %v, want %v", tk.Due.In(loc), closeBy)
	}
	tickWant(t, d, tk, closeBy, KindCloseReminder, agent, agent2)
	tickWant(t, d, tk, closeBy.Add(time.Hour), "")
	// Reopened: level 1's clock starts again, with no event of the first
	// visit carried over.
	reopen := time.Date(2026, 12, 2, 9, 0, 0, 0, loc)
	reply(agent, "#reabrir sigue sin red", reopen)
	if want := reopen.Add(3 * time.Hour); !tk.Due.Equal(want) {
		t.Fatalf("Due after reopening = %v, want %v", tk.Due.In(loc), want)
	}
	tickWant(t, d, tk, reopen.Add(3*time.Hour), KindSLAWarning, agent, agent2)
	// Priority alta tightens level 1 to 1h: already overdue.
	reply(agent, "#prioridad alta", reopen.Add(3*time.Hour+time.Minute))
	tickWant(t, d, tk, tk.Due, KindSLABreached, agent, agent2)

	visits := d.Visits(tk, reopen.Add(4*time.Hour))
	type v struct {
		level    Level
		business time.Duration
		target   time.Duration
		met      bool
	}
	var got []v
	for _, x := range visits {
		got = append(got, v{x.Level, x.Business, x.Target, x.Met})
	}
	// The first visit ended before #prioridad alta: the desk held it to
	// the 4h of the priority it had then.
	want := []v{
		{Level1, 2 * time.Hour, 4 * time.Hour, true},
		{Level2, 6*time.Hour + 30*time.Minute, 8 * time.Hour, true},
		{Level1, 4 * time.Hour, time.Hour, false},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Visits = %+v, want %+v", got, want)
	}
}

func TestServiceLevelsLateTickSendsOnlyTheOverdueNotice(t *testing.T) {
	d, loc := slaDesk(t)
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, loc)
	o := d.Open("OTI-2026-000001", Inbound{Sender: verified, MessageID: "m0@x", From: Address{Addr: requester},
		Subject: "No tengo red", Text: "Sin red"}, "", start)
	// The daemon was down past both instants: one overdue notice, and the
	// reminder is not sent after it.
	tickWant(t, d, o.Ticket, start.Add(48*time.Hour), KindSLABreached, agent, agent2)
	tickWant(t, d, o.Ticket, start.Add(49*time.Hour), "")
}

func TestNoServiceLevelsNoTimers(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d)
	if !tk.Due.IsZero() {
		t.Fatalf("Due without a policy = %v", tk.Due)
	}
	tickWant(t, d, tk, t0.Add(1000*time.Hour), "")
	for _, v := range d.Visits(tk, t0.Add(time.Hour)) {
		if v.Target != 0 || v.Met {
			t.Errorf("visit without a policy: %+v", v)
		}
	}
}

func TestDeadlineAndMatchDue(t *testing.T) {
	d, loc := slaDesk(t)
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, loc) // a Tuesday
	tk := openAt(d, start)
	due := start.Add(4 * time.Hour)
	if got := d.Deadline(tk); !got.Equal(due) {
		t.Fatalf("Deadline = %v, want %v", got.In(loc), due)
	}
	cases := []struct {
		f    Filter
		now  time.Time
		want bool
	}{
		{Filter{}, start, true},
		{Filter{Overdue: true}, due.Add(-time.Second), false},
		{Filter{Overdue: true}, due, true},
		{Filter{DueWithin: time.Hour}, due.Add(-2 * time.Hour), false},
		{Filter{DueWithin: time.Hour}, due.Add(-time.Hour), true},
		{Filter{DueWithin: time.Hour}, due, false}, // overdue, not soon due
		{Filter{DueWithin: time.Hour, Overdue: true}, due, true},
	}
	for _, c := range cases {
		if got := d.MatchDue(c.f, tk, c.now); got != c.want {
			t.Errorf("MatchDue(%+v, %v) = %v, want %v", c.f, c.now.In(loc), got, c.want)
		}
	}
	// Still overdue after the notice was sent (no timer is owed any more).
	tickWant(t, d, tk, due, KindSLABreached, agent, agent2)
	if !tk.Due.IsZero() || !d.MatchDue(Filter{Overdue: true}, tk, due.Add(time.Hour)) {
		t.Fatalf("after the overdue notice: Due %v, overdue %v", tk.Due, d.MatchDue(Filter{Overdue: true}, tk, due.Add(time.Hour)))
	}
	// Resolved: close_within (2h of business time) is the deadline.
	res := start.Add(5 * time.Hour)
	if o := d.Reply(tk, Inbound{Sender: verified, MessageID: "m1@x", From: Address{Addr: agent}, Text: "#resolver listo"}, res); o.Refused {
		t.Fatalf("refused: %+v", o.Results)
	}
	if got, want := d.Deadline(tk), res.Add(2*time.Hour); !got.Equal(want) {
		t.Fatalf("Deadline resolved = %v, want %v", got.In(loc), want)
	}
	if d.MatchDue(Filter{Overdue: true}, tk, res.Add(time.Hour)) || !d.MatchDue(Filter{Overdue: true}, tk, res.Add(2*time.Hour)) {
		t.Error("resolved ticket: overdue at the wrong time")
	}
	if got := testDesk(t).Deadline(tk); !got.IsZero() {
		t.Errorf("Deadline without a policy = %v", got)
	}
}

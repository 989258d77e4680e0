package ticket

import (
	"fmt"
	"strconv"
	"time"
)

// Calendar measures business time; package ticket/sla's Calendar is one.
type Calendar interface {
	// Business returns the business time in [from, to).
	Business(from, to time.Time) time.Duration
	// Add returns the earliest instant by which d of business time has
	// passed since from (the zero time if never).
	Add(from time.Time, d time.Duration) time.Time
}

// Targets are the business time a ticket may spend in one visit of each
// level before it is overdue; zero means no target at that level.
type Targets struct {
	Level1, Level2, Level3 time.Duration
}

// For returns the target of level l.
func (t Targets) For(l Level) time.Duration {
	switch l {
	case Level1:
		return t.Level1
	case Level2:
		return t.Level2
	case Level3:
		return t.Level3
	}
	return 0
}

// ServiceLevels is the procedure's service-level policy: the clock of a
// level visit starts when the ticket enters the level (opened, escalated,
// reopened) and counts business time while the ticket is queued there
// (open, not resolved). At WarnAt percent of the target the holder is
// reminded ([KindSLAWarning]); at the target the holder and the desk are
// told it is overdue ([KindSLABreached]); a ticket resolved for
// CloseWithin of business time without the desk's definitive closure
// reminds the desk ([KindCloseReminder]). Each happens at most once per
// level visit (or resolved stay).
type ServiceLevels struct {
	// Calendar counts business time; required.
	Calendar Calendar
	// Targets apply to every ticket whose priority has none of its own.
	Targets Targets
	// ByPriority holds tighter (or looser) targets for a priority; a zero
	// level there falls back to Targets.
	ByPriority map[Priority]Targets
	// WarnAt is the percentage of the target (1 to 99) at which the holder
	// is reminded; 0 means no reminder before the overdue notice.
	WarnAt int
	// CloseWithin is the business time a resolved ticket may wait for its
	// closure; 0 means no reminder.
	CloseWithin time.Duration
}

// Target returns the target of level l for a ticket of priority p.
func (sl *ServiceLevels) Target(l Level, p Priority) time.Duration {
	if t := sl.ByPriority[p].For(l); t > 0 {
		return t
	}
	return sl.Targets.For(l)
}

// WithServiceLevels turns on the procedure's timers with policy sl
// (without it, [Desk.Tick] does nothing and [Desk.NextDue] is zero).
func WithServiceLevels(sl ServiceLevels) DeskOption {
	return func(d *Desk) {
		if sl.Calendar == nil {
			d.errs = append(d.errs, fmt.Errorf("ticket: service levels need a calendar"))
			return
		}
		if sl.WarnAt < 0 || sl.WarnAt > 99 {
			d.errs = append(d.errs, fmt.Errorf("ticket: warn at %d%%: must be between 0 and 99", sl.WarnAt))
		}
		d.sl = &sl
	}
}

// ServiceLevels returns the desk's policy, nil when it has none.
func (d *Desk) ServiceLevels() *ServiceLevels { return d.sl }

// Timers records which timer events of the ticket's current level visit and
// current resolved stay have happened, by the start of the visit or stay
// they belong to: a new visit (escalation, reopening) or a new stay starts
// without any, so none repeats within one and none is carried into the
// next.
type Timers struct {
	Warned        time.Time `json:"warned,omitzero"`
	Breached      time.Time `json:"breached,omitzero"`
	CloseReminded time.Time `json:"close_reminded,omitzero"`
}

// timer is one event a ticket is owed at an instant.
type timer struct {
	kind Kind
	at   time.Time
	// start is the visit or stay it belongs to; target the time allowed.
	start  time.Time
	target time.Duration
}

// timers returns the events still owed to t in its current visit or stay,
// earliest first; none without a policy or on a closed ticket.
func (d *Desk) timers(t *Ticket) []timer {
	if d.sl == nil || t.State.Final() {
		return nil
	}
	level, state := t.Since()
	sl := d.sl
	if !t.State.Queued() {
		if t.State != StateResolved || sl.CloseWithin <= 0 || t.Timers.CloseReminded.Equal(state) {
			return nil
		}
		return []timer{{KindCloseReminder, sl.Calendar.Add(state, sl.CloseWithin), state, sl.CloseWithin}}
	}
	target := sl.Target(t.Level, t.Priority)
	if target <= 0 || t.Timers.Breached.Equal(level) {
		return nil
	}
	var out []timer
	if sl.WarnAt > 0 && !t.Timers.Warned.Equal(level) {
		warn := target * time.Duration(sl.WarnAt) / 100
		out = append(out, timer{KindSLAWarning, sl.Calendar.Add(level, warn), level, target})
	}
	return append(out, timer{KindSLABreached, sl.Calendar.Add(level, target), level, target})
}

// NextDue returns the next instant a timer is due on t (a reminder, the
// overdue notice, the closure reminder), or the zero time when none is
// owed. [Desk] keeps it in [Ticket.Due] on every outcome, for the store's
// index of due tickets.
func (d *Desk) NextDue(t *Ticket) time.Time {
	for _, tm := range d.timers(t) {
		if !tm.at.IsZero() {
			return tm.at.UTC()
		}
	}
	return time.Time{}
}

// tick records and notifies the timer events of t due at now. When the
// overdue notice is due, a reminder not sent yet is not sent any more (the
// daemon was down): the overdue notice says more.
func (d *Desk) tick(o *Outcome, now time.Time) {
	t := o.Ticket
	var due []timer
	for _, tm := range d.timers(t) {
		if !tm.at.IsZero() && !tm.at.After(now) {
			due = append(due, tm)
		}
	}
	if len(due) == 0 {
		return
	}
	tm := due[len(due)-1]
	desk := d.dir.MemberAddresses(d.dir.Desk().Name)
	var to []Address
	var kind NoticeKind
	switch tm.kind {
	case KindSLAWarning:
		t.Timers.Warned = tm.start
		to, kind = t.Holders(d.dir), NoticeSLAWarning
	case KindSLABreached:
		t.Timers.Warned, t.Timers.Breached = tm.start, tm.start
		to, kind = append(t.Holders(d.dir), desk...), NoticeSLABreached
	case KindCloseReminder:
		t.Timers.CloseReminded = tm.start
		to, kind = desk, NoticeCloseReminder
	}
	data := map[string]string{
		"target":  tm.target.String(),
		"since":   tm.start.UTC().Format(time.RFC3339),
		"due":     tm.at.UTC().Format(time.RFC3339),
		"elapsed": d.sl.Calendar.Business(tm.start, now).String(),
		"level":   strconv.Itoa(int(t.Level)),
	}
	o.append(Entry{At: now, Actor: "ticketd", Kind: tm.kind, Data: data})
	o.notify(Notice{Kind: kind, To: to, Actor: "ticketd"})
}

// Deadline returns the instant t's current level visit reaches its target
// (open tickets) or its resolved stay reaches close_within (resolved
// tickets), whether or not the notice was sent; the zero time without a
// policy, without a target, or on a closed ticket.
func (d *Desk) Deadline(t *Ticket) time.Time {
	if d.sl == nil || t.State.Final() {
		return time.Time{}
	}
	level, state := t.Since()
	switch {
	case t.State.Queued():
		if target := d.sl.Target(t.Level, t.Priority); target > 0 {
			return d.sl.Calendar.Add(level, target).UTC()
		}
	case t.State == StateResolved && d.sl.CloseWithin > 0:
		return d.sl.Calendar.Add(state, d.sl.CloseWithin).UTC()
	}
	return time.Time{}
}

// MatchDue reports whether t is selected by f's due fields at now:
// overdue (its [Desk.Deadline] has passed) when f.Overdue, due within
// f.DueWithin (the deadline is after now and at most f.DueWithin away);
// either when both are set, and always when neither is.
func (d *Desk) MatchDue(f Filter, t *Ticket, now time.Time) bool {
	if !f.DueFiltered() {
		return true
	}
	dl := d.Deadline(t)
	if dl.IsZero() {
		return false
	}
	overdue := !dl.After(now)
	return f.Overdue && overdue || f.DueWithin > 0 && !overdue && !dl.After(now.Add(f.DueWithin))
}

// Visit is one visit of a ticket to a level: from entering it until it
// left the level or stopped waiting on it (resolved).
type Visit struct {
	Level Level     `json:"level"`
	Group string    `json:"group"`
	Start time.Time `json:"start"`
	// End is when the visit stopped counting; zero while it goes on.
	End time.Time `json:"end,omitzero"`
	// Business is the business time the visit counted (until now for the
	// current one); zero without a policy.
	Business time.Duration `json:"business"`
	// Target is the level's target for the ticket's priority, zero when
	// there is none; Met reports Business within it.
	Target time.Duration `json:"target,omitempty"`
	Met    bool          `json:"met"`
}

// Visits derives from t's history each visit of a level, with its business
// time and target under the desk's policy, at now.
func (d *Desk) Visits(t *Ticket, now time.Time) []Visit {
	var out []Visit
	var prev *Entry
	priority := Priority("")
	for i := range t.History {
		e := &t.History[i]
		level, _ := enters(prev, *e)
		prev = e
		if n := len(out); n > 0 && out[n-1].End.IsZero() && (level || !e.State.Queued()) {
			out[n-1].End = e.At
			d.held(&out[n-1], priority, now)
		}
		if p, ok := ParsePriority(e.Data["priority"]); ok {
			priority = p
		}
		if level && e.State.Queued() {
			out = append(out, Visit{Level: e.Level, Group: e.Group, Start: e.At})
		}
		if n := len(out); n > 0 && out[n-1].End.IsZero() {
			out[n-1].Group = e.Group
		}
	}
	if n := len(out); n > 0 && out[n-1].End.IsZero() {
		d.held(&out[n-1], priority, now)
	}
	return out
}

// held fills in v's business time (until now while it goes on) and the
// target the desk held it to: that of the priority in force when it ended
// (or now), which is the one the desk's timers used last.
func (d *Desk) held(v *Visit, p Priority, now time.Time) {
	if d.sl == nil {
		return
	}
	end := v.End
	if end.IsZero() {
		end = now
	}
	v.Business = d.sl.Calendar.Business(v.Start, end)
	v.Target = d.sl.Target(v.Level, p)
	v.Met = v.Target > 0 && v.Business <= v.Target
}

package ticket

import "time"

// Filter selects tickets for a listing (`ticketd tickets`, the admin API).
// Zero fields match everything. Storage implementations answer State,
// Level and Group from their state/level index; [Filter.Match] is their
// meaning. Overdue and DueWithin need the service-level policy and the
// time: [Desk.MatchDue] is their meaning, and the caller answers them.
type Filter struct {
	State State
	Level Level
	Group string
	// Overdue selects tickets whose current level visit (or resolved
	// stay) is past its target (or close_within).
	Overdue bool
	// DueWithin selects tickets that will be overdue within it, not yet.
	DueWithin time.Duration
}

// DueFiltered reports whether f selects by due time.
func (f Filter) DueFiltered() bool { return f.Overdue || f.DueWithin > 0 }

// Match reports whether t is selected by f's State, Level and Group.
func (f Filter) Match(t *Ticket) bool {
	return (f.State == "" || t.State == f.State) && (f.Level == 0 || t.Level == f.Level) && (f.Group == "" || t.Group == f.Group)
}

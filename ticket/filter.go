package ticket

// Filter selects tickets for a listing (`ticketd tickets`, the admin API).
// Zero fields match everything. Storage implementations answer it from
// their state/level index; [Filter.Match] is its meaning.
type Filter struct {
	State State
	Level Level
	Group string
}

// Match reports whether t is selected by f.
func (f Filter) Match(t *Ticket) bool {
	return (f.State == "" || t.State == f.State) && (f.Level == 0 || t.Level == f.Level) && (f.Group == "" || t.Group == f.Group)
}

// Package report computes the procedure's indicators over a period: how
// many cases were opened, resolved, closed and reopened, at which level
// they were solved, how much business time each level visit took (median,
// 90th percentile, share within its target), how long cases took to be
// closed, and how many went through a provider and for how long. It reads
// tickets one at a time from a [Source] (the store's period iteration) and
// keeps only counters and durations, never histories, so a period of a
// million tickets costs the memory of its durations. It renders the result
// as a table, CSV, JSON or one self-contained HTML page ([Write]).
//
// Every figure is anchored on a history entry dated within the period: an
// opening, a resolution, a closure, a reopening, or the end of a level
// visit (the escalation, resolution or closure that ended it). A visit
// still running at the end of the period counts in the period it ends in.
package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// BusinessTime returns the business time between from and to (zero when to
// is not after from): the calendar of sla.business_hours and holidays.
type BusinessTime func(from, to time.Time) time.Duration

// Dimension is what the rows of a report break the figures down by.
type Dimension string

// The dimensions of `ticketd report --by`.
const (
	ByNone     Dimension = ""
	ByLevel    Dimension = "level"
	ByGroup    Dimension = "group"
	ByCategory Dimension = "category"
	ByMonth    Dimension = "month"
)

// ParseDimension returns the Dimension named s ("" for none).
func ParseDimension(s string) (Dimension, error) {
	switch d := Dimension(s); d {
	case ByNone, ByLevel, ByGroup, ByCategory, ByMonth:
		return d, nil
	}
	return "", fmt.Errorf("report: unknown breakdown %q (want level, group, category or month)", s)
}

// Source yields the tickets, each with its whole history, that have a
// history entry within [from, to) (it may yield more: the figures only
// count entries within the period). The store implements it.
type Source interface {
	Touched(from, to time.Time, fn func(*ticket.Ticket) error) error
}

// Options configures a report.
type Options struct {
	// From and To bound the period [From, To): the start of the first day
	// and of the day after the last, in Location.
	From, To time.Time
	// Location is the time zone of the dates and of the months
	// (ticket.timezone); nil means UTC.
	Location *time.Location
	// By is the breakdown of the rows; ByNone gives the totals only.
	By Dimension
	// Business is the business calendar; nil counts wall-clock time (24x7).
	Business BusinessTime
	// ServiceLevels holds the targets (sla.targets and
	// targets_by_priority): each level visit is held to
	// [ticket.ServiceLevels.Target] of its level and of the ticket's
	// priority when the visit ended, as the desk's timers held it; nil
	// means no targets. Its calendar is not used (Business is).
	ServiceLevels *ticket.ServiceLevels
	// Directory says which groups are providers; nil means none is.
	Directory *ticket.Directory
}

// Period returns the period of the dates from and to (both inclusive,
// YYYY-MM-DD) in loc: [start of from, start of the day after to).
func Period(from, to string, loc *time.Location) (start, end time.Time, err error) {
	if loc == nil {
		loc = time.UTC
	}
	start, err = time.ParseInLocation(time.DateOnly, from, loc)
	if err != nil {
		return start, end, fmt.Errorf("report: --from %q is not a date YYYY-MM-DD", from)
	}
	last, err := time.ParseInLocation(time.DateOnly, to, loc)
	if err != nil {
		return start, end, fmt.Errorf("report: --to %q is not a date YYYY-MM-DD", to)
	}
	end = last.AddDate(0, 0, 1)
	if !end.After(start) {
		return start, end, fmt.Errorf("report: --to %s is before --from %s", to, from)
	}
	return start, end, nil
}

// MonthOf returns the calendar month holding now in loc: its first day and
// its last.
func MonthOf(now time.Time, loc *time.Location) (first, last time.Time) {
	now = now.In(loc)
	first = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	return first, first.AddDate(0, 1, -1)
}

// Report is the result: the period, the totals and the rows.
type Report struct {
	// From and To are the first and last day of the period (YYYY-MM-DD),
	// both inclusive, in Timezone.
	From     string    `json:"from"`
	To       string    `json:"to"`
	Timezone string    `json:"timezone"`
	By       Dimension `json:"by,omitempty"`
	// Targets says whether level targets were configured; without them
	// the within-target figures are absent.
	Targets bool `json:"targets"`
	Figures
	// Rows break the figures down by By (none without By), in key order.
	Rows []Row `json:"rows,omitempty"`
	// Months break them down by month, always (the HTML page charts them).
	Months []Row `json:"months"`
}

// Row is the figures of one value of the breakdown.
type Row struct {
	// Key is the level (1, 2, 3), group, category ("" for none) or month
	// (YYYY-MM).
	Key string `json:"key"`
	Figures
}

// Figures are the indicators of a set of tickets in the period.
type Figures struct {
	// Opened, Resolved, Closed and Reopened count the openings,
	// resolutions, definitive closures and reopenings dated in the period.
	Opened   int `json:"opened"`
	Resolved int `json:"resolved"`
	Closed   int `json:"closed"`
	Reopened int `json:"reopened"`
	// ReopenRate is Reopened / Resolved (0 without resolutions).
	ReopenRate float64 `json:"reopen_rate"`
	// SolvedAt counts the resolutions by the level that resolved.
	SolvedAt Levels[int] `json:"solved_at_level"`
	// Levels are the level visits that ended in the period, by level.
	Levels Levels[Durations] `json:"levels"`
	// Closure is the business time from opening to definitive closure of
	// the cases closed in the period.
	Closure Durations `json:"closure"`
	// Provider is the business time spent with providers by each case
	// whose visits ending in the period went through a provider group.
	Provider Durations `json:"provider"`
}

// Levels holds one value per support level.
type Levels[T any] struct {
	Level1 T `json:"level1"`
	Level2 T `json:"level2"`
	Level3 T `json:"level3"`
}

// At returns a pointer to the value of level l (1, 2 or 3), nil for another.
func (ls *Levels[T]) At(l ticket.Level) *T {
	switch l {
	case ticket.Level1:
		return &ls.Level1
	case ticket.Level2:
		return &ls.Level2
	case ticket.Level3:
		return &ls.Level3
	}
	return nil
}

// Durations summarises a set of business times.
type Durations struct {
	// Count is how many there are.
	Count int `json:"count"`
	// Median and P90 are in seconds (linear interpolation between the
	// closest ranks, as a spreadsheet's PERCENTILE.INC); 0 when Count is 0.
	Median float64 `json:"median_seconds"`
	P90    float64 `json:"p90_seconds"`
	// Target is the level's target in seconds (sla.targets, for a ticket
	// without a priority of its own), 0 without one.
	Target float64 `json:"target_seconds,omitempty"`
	// WithinTarget counts the visits that took at most their target (that
	// of the ticket's priority when the visit ended, as the desk held it),
	// and WithinShare is WithinTarget over the visits that had a target;
	// both absent when no visit nor the level has a target.
	WithinTarget *int     `json:"within_target,omitempty"`
	WithinShare  *float64 `json:"within_target_share,omitempty"`
	// Histogram counts the durations per bucket (level visits only).
	Histogram []Bucket `json:"histogram,omitempty"`
}

// Bucket is one bar of a histogram: the durations above the previous
// bucket's UpTo and at most this one's (seconds; 0 is the open last bucket).
type Bucket struct {
	UpTo  float64 `json:"up_to_seconds"`
	Count int     `json:"count"`
}

// histogramBounds are the histogram's upper bounds, in business time.
var histogramBounds = []time.Duration{time.Hour, 4 * time.Hour, 8 * time.Hour, 16 * time.Hour, 40 * time.Hour, 80 * time.Hour}

// Builder accumulates tickets into a report. It is not safe for
// concurrent use.
type Builder struct {
	opts   Options
	total  *acc
	months map[string]*acc
	rows   map[string]*acc
}

// acc accumulates the figures of one row.
type acc struct {
	f      Figures
	visits Levels[[]time.Duration]
	// judged counts the visits that had a target, within those that took
	// at most theirs.
	judged, within Levels[int]
	closure        []time.Duration
	provider       []time.Duration
}

// New returns a Builder for opts.
func New(opts Options) *Builder {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Business == nil {
		opts.Business = func(from, to time.Time) time.Duration { return max(to.Sub(from), 0) }
	}
	return &Builder{opts: opts, total: &acc{}, months: map[string]*acc{}, rows: map[string]*acc{}}
}

// Run builds the report of opts over the tickets src yields.
func Run(src Source, opts Options) (Report, error) {
	b := New(opts)
	if err := src.Touched(b.opts.From, b.opts.To, func(t *ticket.Ticket) error { b.Add(t); return nil }); err != nil {
		return Report{}, fmt.Errorf("read the tickets of the period: %w", err)
	}
	return b.Report(), nil
}

func (b *Builder) in(at time.Time) bool { return !at.Before(b.opts.From) && at.Before(b.opts.To) }

// key returns the row key of an event at e (of ticket t) for dimension d;
// level is the level the event counts for.
func (b *Builder) key(d Dimension, t *ticket.Ticket, e *ticket.Entry, level ticket.Level, group string) string {
	switch d {
	case ByLevel:
		return fmt.Sprint(int(level))
	case ByGroup:
		return group
	case ByCategory:
		return t.Category
	case ByMonth:
		return e.At.In(b.opts.Location).Format("2006-01")
	}
	return ""
}

// each calls fn on the accumulators an event counts in: the total, its
// month and its row.
func (b *Builder) each(t *ticket.Ticket, e *ticket.Entry, level ticket.Level, group string, fn func(*acc)) {
	fn(b.total)
	get := func(m map[string]*acc, k string) *acc {
		a := m[k]
		if a == nil {
			a = &acc{}
			m[k] = a
		}
		return a
	}
	fn(get(b.months, b.key(ByMonth, t, e, level, group)))
	if b.opts.By != ByNone {
		fn(get(b.rows, b.key(b.opts.By, t, e, level, group)))
	}
}

// visit is a level visit being walked.
type visit struct {
	level    ticket.Level
	time     time.Duration
	provider time.Duration
	withProv bool
}

// Add counts ticket t (with its whole history) in the report. Only its
// entries within the period count.
func (b *Builder) Add(t *ticket.Ticket) {
	h := t.History
	var cur *visit
	provider := map[*acc]time.Duration{} // the provider time of t, per row
	priority := ticket.Priority("")      // t's priority as of e
	for i := range h {
		e := &h[i]
		var prev *ticket.Entry
		if i > 0 {
			prev = &h[i-1]
		}
		// The span before e belongs to prev's position.
		if prev != nil && cur != nil && prev.State.Queued() {
			span := b.opts.Business(prev.At, e.At)
			cur.time += span
			if b.isProvider(prev.Group) {
				cur.provider += span
				cur.withProv = true
			}
		}
		// A visit ends when the level changes or the ticket leaves the
		// queue (resolved, closed).
		if cur != nil && (e.Level != cur.level || !e.State.Queued()) {
			if b.in(e.At) {
				v, last := *cur, prev
				target := b.target(v.level, priority)
				b.each(t, e, v.level, last.Group, func(a *acc) {
					*a.visits.At(v.level) = append(*a.visits.At(v.level), v.time)
					if target > 0 {
						*a.judged.At(v.level)++
						if v.time <= target {
							*a.within.At(v.level)++
						}
					}
					if v.withProv {
						provider[a] += v.provider
					}
				})
			}
			cur = nil
		}
		if p, ok := ticket.ParsePriority(e.Data["priority"]); ok {
			priority = p
		}
		if cur == nil && e.State.Queued() && (prev == nil || e.Level != prev.Level || !prev.State.Queued()) {
			cur = &visit{level: e.Level}
			if b.isProvider(e.Group) {
				cur.withProv = true
			}
		}
		if !b.in(e.At) {
			continue
		}
		switch e.Kind {
		case ticket.KindOpened:
			b.each(t, e, e.Level, e.Group, func(a *acc) { a.f.Opened++ })
		case ticket.KindResolved:
			b.each(t, e, e.Level, e.Group, func(a *acc) { a.f.Resolved++; *a.f.SolvedAt.At(e.Level)++ })
		case ticket.KindClosed:
			d := b.opts.Business(t.CreatedAt, e.At)
			b.each(t, e, e.Level, e.Group, func(a *acc) { a.f.Closed++; a.closure = append(a.closure, d) })
		case ticket.KindReopened:
			// A reopening counts against the level whose resolution did
			// not hold.
			level, group := e.Level, e.Group
			if prev != nil {
				level, group = prev.Level, prev.Group
			}
			b.each(t, e, level, group, func(a *acc) { a.f.Reopened++ })
		}
	}
	for a, d := range provider {
		a.provider = append(a.provider, d)
	}
}

// target returns the target a visit of level l held at priority p, 0
// without one.
func (b *Builder) target(l ticket.Level, p ticket.Priority) time.Duration {
	if b.opts.ServiceLevels == nil {
		return 0
	}
	return b.opts.ServiceLevels.Target(l, p)
}

func (b *Builder) isProvider(group string) bool {
	if b.opts.Directory == nil {
		return false
	}
	g, ok := b.opts.Directory.Group(group)
	return ok && g.Kind == ticket.GroupProvider
}

// Report returns the figures accumulated so far.
func (b *Builder) Report() Report {
	r := Report{
		From:     b.opts.From.In(b.opts.Location).Format(time.DateOnly),
		To:       b.opts.To.In(b.opts.Location).AddDate(0, 0, -1).Format(time.DateOnly),
		Timezone: b.opts.Location.String(),
		By:       b.opts.By,
		Targets:  b.opts.ServiceLevels != nil,
		Figures:  b.figures(b.total),
		Months:   []Row{},
	}
	rows := func(m map[string]*acc) []Row {
		out := make([]Row, 0, len(m))
		for k, a := range m {
			out = append(out, Row{Key: k, Figures: b.figures(a)})
		}
		slices.SortFunc(out, func(x, y Row) int { return cmp.Compare(x.Key, y.Key) })
		return out
	}
	r.Months = rows(b.months)
	if b.opts.By != ByNone {
		r.Rows = rows(b.rows)
	}
	return r
}

func (b *Builder) figures(a *acc) Figures {
	f := a.f
	if f.Resolved > 0 {
		f.ReopenRate = float64(f.Reopened) / float64(f.Resolved)
	}
	for _, l := range []ticket.Level{ticket.Level1, ticket.Level2, ticket.Level3} {
		d := summarise(*a.visits.At(l))
		d.Histogram = histogram(*a.visits.At(l))
		if n := *a.judged.At(l); n > 0 || b.target(l, "") > 0 {
			d.Target = b.target(l, "").Seconds()
			within := *a.within.At(l)
			d.WithinTarget = &within
			if n > 0 {
				share := float64(within) / float64(n)
				d.WithinShare = &share
			}
		}
		*f.Levels.At(l) = d
	}
	f.Closure = summarise(a.closure)
	f.Provider = summarise(a.provider)
	return f
}

func summarise(ds []time.Duration) Durations {
	s := slices.Clone(ds)
	slices.Sort(s)
	return Durations{Count: len(s), Median: Percentile(s, 50).Seconds(), P90: Percentile(s, 90).Seconds()}
}

func histogram(ds []time.Duration) []Bucket {
	out := make([]Bucket, len(histogramBounds)+1)
	for i, up := range histogramBounds {
		out[i].UpTo = up.Seconds()
	}
	for _, d := range ds {
		i, _ := slices.BinarySearch(histogramBounds, d)
		out[i].Count++
	}
	return out
}

// Percentile returns the p-th percentile (0 to 100) of sorted by linear
// interpolation between the closest ranks (PERCENTILE.INC, numpy's
// default): the median of an even count is the mean of the middle two.
// It returns 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	pos := p / 100 * float64(n-1)
	lo := int(math.Floor(pos))
	if lo >= n-1 {
		return sorted[n-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + time.Duration(math.Round(frac*float64(sorted[lo+1]-sorted[lo])))
}

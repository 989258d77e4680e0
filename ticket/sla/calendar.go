// Package sla measures business time: a [Calendar] of weekly working hours,
// holidays and a time zone, and the arithmetic over it ([Calendar.Business],
// [Calendar.Add]) that service-level targets and reports are counted in.
//
// It does no I/O and never reads the clock: every instant is an argument.
// Working hours are wall-clock times in the calendar's zone, so a day with a
// daylight-saving change has as many business hours as its wall clock shows
// inside the working ranges (a 00:00-24:00 range lasts 23h or 25h that day).
package sla

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AlwaysOpen is the business-hours text for a calendar that counts every
// minute of every day but its holidays.
const AlwaysOpen = "24x7"

// span is one working range of a weekday, in minutes after local midnight:
// [start, end), end at most 24*60.
type span struct{ start, end int }

// Calendar is a weekly schedule of business hours in a time zone, minus
// holidays. The zero value is not usable: build one with [New]. A Calendar is
// immutable and safe for concurrent use.
type Calendar struct {
	hours    string
	loc      *time.Location
	week     [7][]span // indexed by time.Weekday
	holidays map[civil]bool
}

// civil is a calendar date without a zone.
type civil struct {
	year  int
	month time.Month
	day   int
}

func dateOf(t time.Time) civil {
	y, m, d := t.Date()
	return civil{y, m, d}
}

// New builds a calendar from business hours, holidays as YYYY-MM-DD dates
// (whole days off in loc, also for "24x7") and the zone the hours are meant
// in (nil means UTC). Every problem is reported at once.
//
// Business hours are "24x7", or comma-separated clauses of a day or day
// range and one or more time ranges, such as "mon-fri 07:00-17:00" or
// "mon-thu 07:00-13:00 14:00-17:00, fri 07:00-13:00". Days are English
// (mon…sun) or Spanish (lun…dom) abbreviations; a range may wrap
// ("fri-mon"). Times are HH:MM, an end may be 24:00, and ranges of one day
// may not overlap.
func New(hours string, holidays []string, loc *time.Location) (*Calendar, error) {
	if loc == nil {
		loc = time.UTC
	}
	c := &Calendar{loc: loc, holidays: map[civil]bool{}}
	var errs []error
	week, err := parseHours(hours)
	if err != nil {
		errs = append(errs, err)
	}
	c.week = week
	c.hours = strings.TrimSpace(hours)
	for _, h := range holidays {
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(h))
		if err != nil {
			errs = append(errs, fmt.Errorf("holiday %q: want YYYY-MM-DD", h))
			continue
		}
		c.holidays[dateOf(d)] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// String returns the business hours as they were given, and the zone.
func (c *Calendar) String() string { return c.hours + " " + c.loc.String() }

// Location is the zone the business hours are meant in.
func (c *Calendar) Location() *time.Location { return c.loc }

// Holiday reports whether the local day of t is a holiday.
func (c *Calendar) Holiday(t time.Time) bool { return c.holidays[dateOf(t.In(c.loc))] }

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"dom": time.Sunday, "lun": time.Monday, "mar": time.Tuesday, "mie": time.Wednesday,
	"mié": time.Wednesday, "jue": time.Thursday, "vie": time.Friday, "sab": time.Saturday, "sáb": time.Saturday,
}

// parseHours reads business hours as [New] describes them.
func parseHours(s string) ([7][]span, error) {
	var week [7][]span
	s = strings.ToLower(strings.TrimSpace(s))
	if s == AlwaysOpen {
		for d := range week {
			week[d] = []span{{0, 24 * 60}}
		}
		return week, nil
	}
	if s == "" {
		return week, errors.New(`business hours: empty (want e.g. "mon-fri 07:00-17:00" or "24x7")`)
	}
	for _, clause := range strings.Split(s, ",") {
		fields := strings.Fields(clause)
		if len(fields) < 2 {
			return week, fmt.Errorf("business hours %q: want days and at least one HH:MM-HH:MM range", strings.TrimSpace(clause))
		}
		days, err := parseDays(fields[0])
		if err != nil {
			return week, fmt.Errorf("business hours %q: %w", strings.TrimSpace(clause), err)
		}
		for _, r := range fields[1:] {
			sp, err := parseRange(r)
			if err != nil {
				return week, fmt.Errorf("business hours %q: %w", strings.TrimSpace(clause), err)
			}
			for _, d := range days {
				for _, o := range week[d] {
					if sp.start < o.end && o.start < sp.end {
						return week, fmt.Errorf("business hours %q: %s overlaps another range on %s", strings.TrimSpace(clause), r, d)
					}
				}
				week[d] = append(week[d], sp)
			}
		}
	}
	for d := range week {
		slices.SortFunc(week[d], func(a, b span) int { return a.start - b.start })
	}
	return week, nil
}

func parseDays(s string) ([]time.Weekday, error) {
	from, to, isRange := strings.Cut(s, "-")
	a, ok := dayNames[from]
	if !ok {
		return nil, fmt.Errorf("unknown day %q (want mon, tue, … or lun, mar, …)", from)
	}
	if !isRange {
		return []time.Weekday{a}, nil
	}
	b, ok := dayNames[to]
	if !ok {
		return nil, fmt.Errorf("unknown day %q (want mon, tue, … or lun, mar, …)", to)
	}
	days := []time.Weekday{a}
	for d := a; d != b; {
		d = (d + 1) % 7
		days = append(days, d)
	}
	return days, nil
}

func parseRange(s string) (span, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return span{}, fmt.Errorf("range %q: want HH:MM-HH:MM", s)
	}
	start, err := parseClock(a)
	if err != nil {
		return span{}, fmt.Errorf("range %q: %w", s, err)
	}
	end, err := parseClock(b)
	if err != nil {
		return span{}, fmt.Errorf("range %q: %w", s, err)
	}
	if start >= end {
		return span{}, fmt.Errorf("range %q: must end after it starts", s)
	}
	return span{start, end}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) == 0 || len(h) > 2 || len(m) != 2 ||
		hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("time %q: want HH:MM from 00:00 to 24:00", s)
	}
	return hh*60 + mm, nil
}

// interval is one concrete working period [start, end).
type interval struct{ start, end time.Time }

// periods calls yield with the working periods of each local day from the
// day of t on, in order, until yield returns false. It stops after maxDays
// days, which bounds a calendar whose every working day is a holiday.
func (c *Calendar) periods(t time.Time, maxDays int, yield func(interval) bool) {
	y, m, d := t.In(c.loc).Date()
	for i := range maxDays {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, c.loc)
		if c.holidays[dateOf(day)] {
			continue
		}
		dy, dm, dd := day.Date()
		for _, sp := range c.week[day.Weekday()] {
			// time.Date normalises a wall time that a DST change skips.
			p := interval{
				start: time.Date(dy, dm, dd, 0, sp.start, 0, 0, c.loc),
				end:   time.Date(dy, dm, dd, 0, sp.end, 0, 0, c.loc),
			}
			if !p.end.After(p.start) {
				continue
			}
			if !yield(p) {
				return
			}
		}
	}
}

// Business returns the business time between two instants: the length of
// [from, to) that falls in working hours. It is zero when to is not after
// from.
func (c *Calendar) Business(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	// A local day lasts at least 23h, even the one a DST change shortens.
	days := int(to.Sub(from)/(23*time.Hour)) + 2
	var sum time.Duration
	c.periods(from, days, func(p interval) bool {
		if !p.start.Before(to) {
			return false
		}
		s, e := later(p.start, from), earlier(p.end, to)
		if e.After(s) {
			sum += e.Sub(s)
		}
		return true
	})
	return sum
}

// giveUp bounds [Calendar.Add]'s search: a schedule with no working day in
// this many days (holidays on every one) has no answer.
const giveUp = 20 * 366

// Add returns the earliest instant at which d of business time has passed
// since from, so that Business(from, Add(from, d)) == d. A d of zero or less
// returns from. If the calendar has no working time left (every working day
// a holiday for decades), it returns the zero time.
func (c *Calendar) Add(from time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return from
	}
	left := d
	var at time.Time
	c.periods(from, giveUp, func(p interval) bool {
		s := later(p.start, from)
		if !p.end.After(s) {
			return true
		}
		if n := p.end.Sub(s); n < left {
			left -= n
			return true
		}
		at = s.Add(left)
		return false
	})
	return at
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

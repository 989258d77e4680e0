package sla

import (
	"strings"
	"testing"
	"time"
)

func madrid(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	return loc
}

func localTime(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustNew(t testing.TB, hours string, holidays []string, loc *time.Location) *Calendar {
	t.Helper()
	c, err := New(hours, holidays, loc)
	if err != nil {
		t.Fatalf("New(%q, %q) = %v", hours, holidays, err)
	}
	return c
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name, hours string
		holidays    []string
		want        string
	}{
		{"empty", "", nil, "empty"},
		{"no range", "mon-fri", nil, "at least one"},
		{"unknown day", "mon-fry 07:00-17:00", nil, `unknown day "fry"`},
		{"bad time", "mon-fri 7:00-17:60", nil, `time "17:60"`},
		{"after midnight", "mon 08:00-24:30", nil, `time "24:30"`},
		{"reversed", "mon 17:00-07:00", nil, "must end after"},
		{"no dash", "mon 07:00", nil, "want HH:MM-HH:MM"},
		{"overlap", "mon-fri 07:00-13:00, fri 12:00-14:00", nil, "overlaps"},
		{"bad holiday", "24x7", []string{"2026-13-01"}, `holiday "2026-13-01"`},
		{"every error", "mon 9-5", []string{"xmas"}, "xmas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.hours, tc.holidays, time.UTC)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%q, %q) = %v, want an error containing %q", tc.hours, tc.holidays, err, tc.want)
			}
		})
	}
}

func TestBusiness(t *testing.T) {
	loc := madrid(t)
	at := func(s string) time.Time { return localTime(t, loc, s) }
	office := mustNew(t, "mon-fri 07:00-17:00", []string{"2026-12-08", "2026-12-25"}, loc)
	split := mustNew(t, "lun-jue 07:00-13:00 14:00-17:00, vie 07:00-13:00", nil, loc)
	always := mustNew(t, "24x7", nil, loc)
	for _, tc := range []struct {
		name     string
		c        *Calendar
		from, to string
		want     time.Duration
	}{
		{"inside one day", office, "2026-12-01 08:00", "2026-12-01 10:30", 150 * time.Minute},
		{"before opening", office, "2026-12-01 05:00", "2026-12-01 08:00", time.Hour},
		{"overnight", office, "2026-12-01 16:00", "2026-12-02 08:00", 2 * time.Hour},
		{"weekend", office, "2026-12-04 16:00", "2026-12-07 08:00", 2 * time.Hour},
		{"holiday", office, "2026-12-07 16:00", "2026-12-09 08:00", 2 * time.Hour},
		{"whole week with holiday", office, "2026-12-07 00:00", "2026-12-14 00:00", 40 * time.Hour},
		{"reversed", office, "2026-12-02 08:00", "2026-12-01 08:00", 0},
		{"lunch break", split, "2026-12-01 12:00", "2026-12-01 15:00", 2 * time.Hour},
		{"short friday", split, "2026-12-04 12:00", "2026-12-07 08:00", 2 * time.Hour},
		{"split week", split, "2026-11-30 00:00", "2026-12-07 00:00", 4*9*time.Hour + 6*time.Hour},
		{"24x7", always, "2026-12-01 08:00", "2026-12-03 08:00", 48 * time.Hour},
		// 2026-03-29 02:00 CET jumps to 03:00 CEST; 2026-10-25 03:00 CEST falls back to 02:00 CET.
		{"24x7 spring forward", always, "2026-03-29 00:00", "2026-03-30 00:00", 23 * time.Hour},
		{"24x7 fall back", always, "2026-10-25 00:00", "2026-10-26 00:00", 25 * time.Hour},
		{"office across DST", office, "2026-03-27 16:00", "2026-03-30 08:00", 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Business(at(tc.from), at(tc.to)); got != tc.want {
				t.Errorf("Business(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	loc := madrid(t)
	at := func(s string) time.Time { return localTime(t, loc, s) }
	office := mustNew(t, "mon-fri 07:00-17:00", []string{"2026-12-08"}, loc)
	always := mustNew(t, "24x7", nil, loc)
	for _, tc := range []struct {
		name string
		c    *Calendar
		from string
		d    time.Duration
		want string
	}{
		{"same day", office, "2026-12-01 08:00", 4 * time.Hour, "2026-12-01 12:00"},
		{"to closing exactly", office, "2026-12-01 08:00", 9 * time.Hour, "2026-12-01 17:00"},
		{"next morning", office, "2026-12-01 16:00", 2 * time.Hour, "2026-12-02 08:00"},
		{"from the night", office, "2026-12-01 20:00", time.Hour, "2026-12-02 08:00"},
		{"over the weekend", office, "2026-12-04 15:00", 4 * time.Hour, "2026-12-07 09:00"},
		{"over a holiday", office, "2026-12-07 16:00", 2 * time.Hour, "2026-12-09 08:00"},
		{"zero", office, "2026-12-05 12:00", 0, "2026-12-05 12:00"},
		{"24x7 over DST", always, "2026-03-29 00:00", 24 * time.Hour, "2026-03-30 01:00"},
		{"office monday after DST", office, "2026-03-27 16:00", 2 * time.Hour, "2026-03-30 08:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Add(at(tc.from), tc.d); !got.Equal(at(tc.want)) {
				t.Errorf("Add(%s, %v) = %v, want %s", tc.from, tc.d, got, tc.want)
			}
		})
	}
}

func TestAddNeverFinds(t *testing.T) {
	// A schedule whose only working day is a holiday for decades has no answer.
	var mondays []string
	for d := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC); d.Year() < 2050; d = d.AddDate(0, 0, 7) {
		mondays = append(mondays, d.Format(time.DateOnly))
	}
	c := mustNew(t, "mon 09:00-10:00", mondays, time.UTC)
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := c.Add(from, time.Minute); !got.IsZero() {
		t.Fatalf("Add with every Monday off = %v, want the zero time", got)
	}
	if got := c.Business(from, from.AddDate(10, 0, 0)); got != 0 {
		t.Fatalf("Business with every Monday off = %v, want 0", got)
	}
	if !c.Holiday(time.Date(2026, 1, 12, 9, 30, 0, 0, time.UTC)) {
		t.Fatal("Holiday(a listed Monday) = false")
	}
}

var fuzzHours = []string{
	"24x7",
	"mon-fri 07:00-17:00",
	"mon-thu 07:00-13:00 14:00-17:00, fri 07:00-13:00",
	"sat-sun 00:00-24:00",
	"fri-mon 22:00-24:00, tue 00:00-00:30",
	"wed 02:00-03:00",
}

// FuzzAddBusiness checks that Add and Business are inverse, monotonic and
// additive, across the DST changes and holidays of Madrid's zone.
func FuzzAddBusiness(f *testing.F) {
	for i := range fuzzHours {
		f.Add(uint8(i), int64(0), int64(3600), int64(60))
		f.Add(uint8(i), int64(86400*88), int64(7*3600+123), int64(86400*3))
		f.Add(uint8(i), int64(86400*297), int64(40*3600), int64(1))
	}
	loc := madrid(f)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	f.Fuzz(func(t *testing.T, which uint8, offset, dSec, gapSec int64) {
		c := mustNew(t, fuzzHours[int(which)%len(fuzzHours)], []string{"2026-03-30", "2026-10-26", "2026-12-08"}, loc)
		from := base.Add(time.Duration(offset%(2*366*86400)) * time.Second)
		d := time.Duration(dSec%(30*86400)) * time.Second
		gap := time.Duration(gapSec%(30*86400)) * time.Second
		if d < 0 {
			d = -d
		}
		if gap < 0 {
			gap = -gap
		}
		end := c.Add(from, d)
		if got := c.Business(from, end); got != d {
			t.Fatalf("%s: Business(%v, Add(%v, %v)=%v) = %v", c, from, from, d, end, got)
		}
		if end.Before(from) {
			t.Fatalf("%s: Add(%v, %v) = %v, before from", c, from, d, end)
		}
		if d > 0 && c.Business(from, end.Add(-time.Nanosecond)) >= d {
			t.Fatalf("%s: Add(%v, %v) = %v is not the earliest", c, from, d, end)
		}
		if later := c.Add(from, d+gap); later.Before(end) {
			t.Fatalf("%s: Add(%v, %v) = %v before Add(.., %v) = %v", c, from, d+gap, later, d, end)
		}
		mid, to := from.Add(gap), from.Add(gap+d)
		if a, b, all := c.Business(from, mid), c.Business(mid, to), c.Business(from, to); a+b != all || all > to.Sub(from) {
			t.Fatalf("%s: Business over [%v,%v)+[%v,%v) = %v+%v, whole %v", c, from, mid, mid, to, a, b, all)
		}
	})
}

// FuzzNew checks that no business-hours text panics the parser and that an
// accepted one yields a calendar with working time.
func FuzzNew(f *testing.F) {
	for _, s := range fuzzHours {
		f.Add(s)
	}
	f.Add("mon-fri 7:00-17:00")
	f.Add("lun-vie 08:00-15:00,sáb 09:00-12:00")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := New(s, nil, time.UTC)
		if err != nil {
			return
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if c.Business(from, from.AddDate(0, 0, 7)) <= 0 {
			t.Fatalf("New(%q) accepted a week without business time", s)
		}
	})
}

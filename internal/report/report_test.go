package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/ticketd/ticketd/ticket"
)

const (
	agent      = "agente@oti.example"
	specialist = "especialista@oti.example"
	engineer   = "ingeniero@oti.example"
	provider2  = "tecnico@proveedor2.example"
	provider3  = "soporte@proveedor.example"
	requester  = "usuario@unidad.example"
)

func testDesk(tb testing.TB) *ticket.Desk {
	tb.Helper()
	dir, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Members: []string{agent}},
		{Name: "redes", Level: ticket.Level2, Kind: ticket.GroupSpecialist, Members: []string{specialist}, Default: true},
		{Name: "garantia", Level: ticket.Level2, Kind: ticket.GroupProvider, Members: []string{provider2}},
		{Name: "infra", Level: ticket.Level3, Kind: ticket.GroupSpecialist, Members: []string{engineer}},
		{Name: "proveedor", Level: ticket.Level3, Kind: ticket.GroupProvider, Members: []string{provider3}, Default: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	d, err := ticket.NewDesk(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// at is a time of 2026 in UTC: at(11, 2, 10, 0) is 2 November, 10:00.
func at(month time.Month, day, hour, min int) time.Time {
	return time.Date(2026, month, day, hour, min, 0, 0, time.UTC)
}

// mail is one command mail of a case: when, from whom, what it says.
type mail struct {
	at   time.Time
	from string
	text string
}

// play opens ticket n at opened and applies each mail through the real
// desk, each at its own time (the fake clock), failing on any refusal.
func play(tb testing.TB, d *ticket.Desk, n uint64, opened time.Time, mails ...mail) *ticket.Ticket {
	tb.Helper()
	id := ticket.NewID("OTI", 2026, n)
	o := d.Open(id, ticket.Inbound{MessageID: fmt.Sprintf("%d-0@x", n), From: ticket.Address{Addr: requester},
		Subject: fmt.Sprintf("caso %d", n), Text: "no funciona"}, "", opened)
	t := o.Ticket
	for i, m := range mails {
		o := d.Reply(t, ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: fmt.Sprintf("%d-%d@x", n, i+1),
			From: ticket.Address{Addr: m.from}, Text: m.text}, m.at)
		if o.Refused {
			tb.Fatalf("ticket %d, mail %d %q refused: %+v", n, i+1, m.text, o.Results)
		}
	}
	return t
}

// caseSet is ten cases through the procedure, times in UTC. Level visits
// (wall-clock business time: the report's default 24x7), as the test
// below reads them:
//
//	 1  2 Nov 10:00 open; resolved 12:00 at L1 (L1 2h); closed 13:00 (closure 3h)
//	 2  3 Nov 09:00 open; escalated to L2 10:00 (L1 1h); resolved 15:00 (L2 5h); closed 4 Nov 09:00 (24h)
//	 3  5 Nov 08:00 open; escalated to L3 (provider) 09:00 (L1 1h); resolved 6 Nov 09:00 (L3 24h, provider 24h); closed 10:00 (26h)
//	 4  9 Nov 10:00 open; L2 11:00 (L1 1h); L3 infra 14:00 (L2 3h); resolved 10 Nov 14:00 (L3 24h);
//	    reopened 16:00 (against L3); resolved 17:00 at L1 (L1 1h); closed 11 Nov 10:00 (48h)
//	 5 12 Nov 09:00 open; L2 provider garantia 10:00 (L1 1h); resolved 18:00 (L2 8h, provider 8h); not closed
//	 6 16 Nov 09:00 open; resolved 09:30 (L1 0.5h); not closed
//	 7 17 Nov 09:00 open; still at L1 (a visit that has not ended counts nowhere)
//	 8 20 Oct 09:00 open; L2 10:00 (L1 1h, in October); resolved 2 Nov 10:00 (L2 312h); closed 11:00 (314h)
//	 9 25 Nov 09:00 open; L2 10:00 (L1 1h); resolved 2 Dec 10:00 (L2 168h, in December)
//	10 20 Nov 09:00 open; closed unresolved ("forzar") 09:15 (L1 0.25h, closure 0.25h)
func caseSet(tb testing.TB) (*ticket.Desk, []*ticket.Ticket) {
	d := testDesk(tb)
	return d, []*ticket.Ticket{
		play(tb, d, 1, at(11, 2, 10, 0), mail{at(11, 2, 12, 0), agent, "#resolver reinicio"}, mail{at(11, 2, 13, 0), agent, "#cerrar"}),
		play(tb, d, 2, at(11, 3, 9, 0), mail{at(11, 3, 10, 0), agent, "#clasificar red\n#escalar nivel2"},
			mail{at(11, 3, 15, 0), specialist, "#resolver"}, mail{at(11, 4, 9, 0), agent, "#cerrar"}),
		play(tb, d, 3, at(11, 5, 8, 0), mail{at(11, 5, 9, 0), agent, "#clasificar hardware\n#escalar nivel3"},
			mail{at(11, 6, 9, 0), provider3, "#resolver cambio de disco"}, mail{at(11, 6, 10, 0), agent, "#cerrar"}),
		play(tb, d, 4, at(11, 9, 10, 0), mail{at(11, 9, 11, 0), agent, "#clasificar red\n#escalar nivel2"},
			mail{at(11, 9, 14, 0), specialist, "#escalar nivel3 infra"}, mail{at(11, 10, 14, 0), engineer, "#resolver"},
			mail{at(11, 10, 16, 0), agent, "#reabrir sigue fallando"}, mail{at(11, 10, 17, 0), agent, "#resolver"},
			mail{at(11, 11, 10, 0), agent, "#cerrar"}),
		play(tb, d, 5, at(11, 12, 9, 0), mail{at(11, 12, 10, 0), agent, "#clasificar hardware\n#escalar nivel2 garantia"},
			mail{at(11, 12, 18, 0), provider2, "#resolver"}),
		play(tb, d, 6, at(11, 16, 9, 0), mail{at(11, 16, 9, 30), agent, "#resolver"}),
		play(tb, d, 7, at(11, 17, 9, 0)),
		play(tb, d, 8, at(10, 20, 9, 0), mail{at(10, 20, 10, 0), agent, "#escalar nivel2"},
			mail{at(11, 2, 10, 0), specialist, "#resolver"}, mail{at(11, 2, 11, 0), agent, "#cerrar"}),
		play(tb, d, 9, at(11, 25, 9, 0), mail{at(11, 25, 10, 0), agent, "#escalar nivel2"}, mail{at(12, 2, 10, 0), specialist, "#resolver"}),
		play(tb, d, 10, at(11, 20, 9, 0), mail{at(11, 20, 9, 15), agent, "#cerrar forzar duplicado de 9"}),
	}
}

// slice is a Source over tickets in memory.
type slice []*ticket.Ticket

func (s slice) Touched(_, _ time.Time, fn func(*ticket.Ticket) error) error {
	for _, t := range s {
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

func november(tb testing.TB, d *ticket.Desk, by Dimension, targets *ticket.ServiceLevels) Options {
	from, to, err := Period("2026-11-01", "2026-11-30", time.UTC)
	if err != nil {
		tb.Fatal(err)
	}
	return Options{From: from, To: to, Location: time.UTC, By: by, ServiceLevels: targets, Directory: d.Directory()}
}

var targets = &ticket.ServiceLevels{Targets: ticket.Targets{Level1: time.Hour, Level2: 8 * time.Hour, Level3: 24 * time.Hour}}

// TestTargetsByPriority: a level visit is held to the target of the
// ticket's priority when the visit ended, the one the desk's timers used:
// a visit that ended before #prioridad alta keeps the general target.
func TestTargetsByPriority(t *testing.T) {
	d := testDesk(t)
	ts := []*ticket.Ticket{
		// 30m at level 1 as alta (target 15m): not within.
		play(t, d, 1, at(11, 3, 9, 0), mail{at(11, 3, 9, 10), agent, "#prioridad alta"}, mail{at(11, 3, 9, 30), agent, "#resolver"}),
		// 30m at level 1 without a priority (target 1h): within.
		play(t, d, 2, at(11, 3, 9, 0), mail{at(11, 3, 9, 30), agent, "#resolver"}),
		// 30m at level 1 (within 1h), made alta at level 2 after the
		// escalation: the level-1 visit keeps 1h; 2h at level 2 as alta
		// (target 1h): not within.
		play(t, d, 3, at(11, 3, 9, 0), mail{at(11, 3, 9, 30), agent, "#escalar nivel2"},
			mail{at(11, 3, 9, 40), agent, "#prioridad alta"}, mail{at(11, 3, 11, 30), specialist, "#resolver"}),
	}
	sl := &ticket.ServiceLevels{Targets: ticket.Targets{Level1: time.Hour, Level2: 8 * time.Hour},
		ByPriority: map[ticket.Priority]ticket.Targets{ticket.PriorityHigh: {Level1: 15 * time.Minute, Level2: time.Hour}}}
	r, err := Run(slice(ts), november(t, d, ByNone, sl))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		got    Durations
		within int
		share  float64
		target float64
	}{"level 1": {r.Levels.Level1, 2, 2.0 / 3, 3600}, "level 2": {r.Levels.Level2, 0, 0, 8 * 3600}} {
		if c.got.WithinTarget == nil || *c.got.WithinTarget != c.within || c.got.WithinShare == nil || math.Abs(*c.got.WithinShare-c.share) > 1e-9 || c.got.Target != c.target {
			t.Errorf("%s: within %v share %v target %v, want %d, %v, %v", name, c.got.WithinTarget, c.got.WithinShare, c.got.Target, c.within, c.share, c.target)
		}
	}
}

func hoursOf(sec float64) float64 { return math.Round(sec/3600*1000) / 1000 }

func TestFiguresByHand(t *testing.T) {
	d, ts := caseSet(t)
	r, err := Run(slice(ts), november(t, d, ByLevel, targets))
	if err != nil {
		t.Fatal(err)
	}
	f := r.Figures
	// Opened in November: all but 8 (October). Resolved: 1, 2, 3, 4
	// twice, 5, 6, 8 (9's is in December). Closed: 1, 2, 3, 4, 8, 10.
	if f.Opened != 9 || f.Resolved != 8 || f.Closed != 6 || f.Reopened != 1 {
		t.Errorf("opened/resolved/closed/reopened = %d/%d/%d/%d, want 9/8/6/1", f.Opened, f.Resolved, f.Closed, f.Reopened)
	}
	if f.ReopenRate != 0.125 {
		t.Errorf("reopen rate = %v, want 1/8", f.ReopenRate)
	}
	// Solved at L1: 1, 4 (after the reopening), 6; at L2: 2, 5, 8; at L3: 3, 4.
	if f.SolvedAt != (Levels[int]{3, 3, 2}) {
		t.Errorf("solved at level = %+v, want 3/3/2", f.SolvedAt)
	}
	type want struct {
		count        int
		median, p90  float64 // hours
		within       int
		share        float64
		checkTargets bool
	}
	check := func(name string, got Durations, w want) {
		t.Helper()
		if got.Count != w.count || hoursOf(got.Median) != w.median || hoursOf(got.P90) != w.p90 {
			t.Errorf("%s: count %d median %vh p90 %vh, want %d, %vh, %vh", name, got.Count, hoursOf(got.Median), hoursOf(got.P90), w.count, w.median, w.p90)
		}
		if !w.checkTargets {
			return
		}
		if got.WithinTarget == nil || got.WithinShare == nil || *got.WithinTarget != w.within || math.Abs(*got.WithinShare-w.share) > 1e-9 {
			t.Errorf("%s: within target %v share %v, want %d, %v", name, got.WithinTarget, got.WithinShare, w.within, w.share)
		}
	}
	// L1 visits ended in November: 0.25 0.5 1 1 1 1 1 1 2 (9, 4 and 10
	// included; 7 still running, 8's in October). Median: the 5th, 1h.
	// P90: rank 0.9×8 = 7.2 → 1 + 0.2×(2−1) = 1.2h. Within 1h: 8 of 9.
	check("level 1", f.Levels.Level1, want{9, 1, 1.2, 8, 8.0 / 9, true})
	// L2: 3 5 8 312. Median (5+8)/2 = 6.5h. P90: rank 2.7 → 8 + 0.7×304
	// = 220.8h. Within 8h: 3 of 4.
	check("level 2", f.Levels.Level2, want{4, 6.5, 220.8, 3, 0.75, true})
	// L3: 24 24. Within 24h: both.
	check("level 3", f.Levels.Level3, want{2, 24, 24, 2, 1, true})
	// Closure: 0.25 3 24 26 48 314. Median (24+26)/2 = 25h. P90: rank
	// 4.5 → 48 + 0.5×266 = 181h.
	check("closure", f.Closure, want{count: 6, median: 25, p90: 181})
	// Provider: 5 (8h with garantia) and 3 (24h with proveedor). Median
	// 16h, P90: rank 0.9 → 8 + 0.9×16 = 22.4h.
	check("provider", f.Provider, want{count: 2, median: 16, p90: 22.4})

	// By level: openings count at level 1; closures at the level that
	// held the case (1, 4, 10 at L1; 2, 8 at L2; 3 at L3); the reopening
	// against L3, whose resolution did not hold (2 resolutions: rate 1/2).
	if len(r.Rows) != 3 {
		t.Fatalf("rows = %+v, want levels 1, 2, 3", r.Rows)
	}
	for i, w := range []struct {
		opened, resolved, closed, reopened int
		rate                               float64
	}{{9, 3, 3, 0, 0}, {0, 3, 2, 0, 0}, {0, 2, 1, 1, 0.5}} {
		g := r.Rows[i]
		if g.Key != fmt.Sprint(i+1) || g.Opened != w.opened || g.Resolved != w.resolved || g.Closed != w.closed || g.Reopened != w.reopened || g.ReopenRate != w.rate {
			t.Errorf("row %d = %s: %d/%d/%d/%d rate %v, want %+v", i, g.Key, g.Opened, g.Resolved, g.Closed, g.Reopened, g.ReopenRate, w)
		}
	}
	if len(r.Months) != 1 || r.Months[0].Key != "2026-11" || r.Months[0].Opened != 9 {
		t.Errorf("months = %+v, want only 2026-11 with the totals", r.Months)
	}
}

func TestBreakdowns(t *testing.T) {
	d, ts := caseSet(t)
	opts := november(t, d, ByMonth, nil)
	opts.From = at(10, 1, 0, 0)
	opts.To = at(12, 31, 0, 0)
	r, err := Run(slice(ts), opts)
	if err != nil {
		t.Fatal(err)
	}
	// October: 8 opened, its L1 visit (1h) ended. December: 9 resolved
	// at L2 after 168h.
	if len(r.Rows) != 3 || r.Rows[0].Key != "2026-10" || r.Rows[0].Opened != 1 || r.Rows[0].Levels.Level1.Count != 1 ||
		r.Rows[2].Key != "2026-12" || r.Rows[2].Resolved != 1 || hoursOf(r.Rows[2].Levels.Level2.Median) != 168 {
		t.Errorf("by month = %+v", r.Rows)
	}
	if r.Targets || r.Levels.Level1.WithinTarget != nil {
		t.Errorf("without targets: targets %v, within %v", r.Targets, r.Levels.Level1.WithinTarget)
	}

	byCat, err := Run(slice(ts), november(t, d, ByCategory, nil))
	if err != nil {
		t.Fatal(err)
	}
	// hardware: 3 and 5 (both provider cases); red: 2 and 4.
	got := map[string]Figures{}
	for _, row := range byCat.Rows {
		got[row.Key] = row.Figures
	}
	if got["hardware"].Provider.Count != 2 || got["red"].Opened != 2 || got["red"].Reopened != 1 || got[""].Opened != 5 {
		t.Errorf("by category = %+v", byCat.Rows)
	}

	byGroup, err := Run(slice(ts), november(t, d, ByGroup, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range byGroup.Rows {
		if row.Key == "garantia" && (row.Resolved != 1 || row.Provider.Count != 1 || hoursOf(row.Levels.Level2.Median) != 8) {
			t.Errorf("garantia = %+v", row.Figures)
		}
	}
}

func TestBusinessCalendarIsUsed(t *testing.T) {
	d, ts := caseSet(t)
	opts := november(t, d, ByNone, nil)
	// A calendar that counts only whole hours from 08:00 to 17:00.
	opts.Business = func(from, to time.Time) time.Duration {
		var n time.Duration
		for h := from.Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
			if h.Hour() >= 8 && h.Hour() < 17 && !h.Before(from) {
				n += time.Hour
			}
		}
		return n
	}
	r, err := Run(slice(ts), opts)
	if err != nil {
		t.Fatal(err)
	}
	// L3: case 3, 5 Nov 09:00 → 6 Nov 09:00 is 9 business hours (09–17
	// and 08–09); case 4, 9 Nov 14:00 → 10 Nov 14:00 is 3 + 6 = 9.
	if hoursOf(r.Levels.Level3.Median) != 9 {
		t.Errorf("level 3 median = %vh, want 9 business hours", hoursOf(r.Levels.Level3.Median))
	}
}

func TestPercentile(t *testing.T) {
	h := time.Hour
	for _, c := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0}, {[]time.Duration{h}, 90, h}, {[]time.Duration{h, 2 * h}, 50, 90 * time.Minute},
		{[]time.Duration{h, 2 * h, 3 * h, 4 * h, 5 * h, 6 * h, 7 * h, 8 * h, 9 * h, 10 * h}, 90, 9*h + 6*time.Minute},
	} {
		if got := Percentile(c.in, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.in, c.p, got, c.want)
		}
	}
}

func TestCSVAndJSONSchema(t *testing.T) {
	d, ts := caseSet(t)
	r, err := Run(slice(ts), november(t, d, ByLevel, targets))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, r, FormatCSV, "es"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || strings.Join(recs[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("csv = %q", recs)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	total := recs[1]
	for k, want := range map[string]string{"key": "total", "opened": "9", "closed": "6", "reopen_rate": "0.125", "solved_level2": "3",
		"level2_median_seconds": "23400", "level1_within_target": "8", "level3_target_seconds": "86400", "closure_median_seconds": "90000", "provider_cases": "2"} {
		if got := total[col[k]]; got != want {
			t.Errorf("csv total %s = %q, want %q", k, got, want)
		}
	}
	if recs[4][0] != "3" || recs[4][col["reopened"]] != "1" {
		t.Errorf("csv level 3 row = %q", recs[4])
	}

	buf.Reset()
	if err := Write(&buf, r, FormatJSON, "es"); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"opened": 9.0, "closed": 6.0, "resolved": 8.0, "reopened": 1.0, "from": "2026-11-01", "to": "2026-11-30",
		"timezone": "UTC", "by": "level", "targets": true, "reopen_rate": 0.125} {
		if m[k] != want {
			t.Errorf("json %s = %v, want %v", k, m[k], want)
		}
	}
	lv := m["levels"].(map[string]any)["level1"].(map[string]any)
	for _, k := range []string{"count", "median_seconds", "p90_seconds", "target_seconds", "within_target", "within_target_share", "histogram"} {
		if _, ok := lv[k]; !ok {
			t.Errorf("json levels.level1 has no %s: %v", k, lv)
		}
	}
	for _, k := range []string{"solved_at_level", "closure", "provider", "rows", "months"} {
		if _, ok := m[k]; !ok {
			t.Errorf("json has no %s", k)
		}
	}
}

func TestHTMLSelfContained(t *testing.T) {
	d, ts := caseSet(t)
	for _, c := range []struct {
		lang, want string
		targets    *ticket.ServiceLevels
	}{{"es", "Atenciones por nivel y mes", targets}, {"en", "no targets", nil}} {
		r, err := Run(slice(ts), november(t, d, ByGroup, c.targets))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Write(&buf, r, FormatHTML, c.lang); err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		if !strings.Contains(page, c.want) {
			t.Errorf("%s page lacks %q", c.lang, c.want)
		}
		if strings.Contains(page, "http") || strings.Contains(page, "<script") || strings.Contains(page, "<link") || strings.Contains(page, "@import") {
			t.Errorf("%s page refers to something outside itself", c.lang)
		}
		doc, err := html.Parse(strings.NewReader(page))
		if err != nil {
			t.Fatal(err)
		}
		var svgs, srcs int
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				if n.Data == "svg" {
					svgs++
				}
				for _, a := range n.Attr {
					if a.Key == "src" || a.Key == "href" {
						srcs++
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if svgs != 5 || srcs != 0 {
			t.Errorf("%s page: %d svg charts (want 5), %d src/href attributes (want 0)", c.lang, svgs, srcs)
		}
	}
}

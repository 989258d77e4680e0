package report

import (
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"strings"
)

//go:embed report.html.tmpl
var pageSource string

var page = template.Must(template.New("report").Parse(pageSource))

// levelColours are the fills of levels 1, 2 and 3 in the charts.
var levelColours = [3]string{"#2f6db5", "#e08a1e", "#3a9a5b"}

// writeHTML renders r as one self-contained page: inline CSS and SVG, no
// script, no external resource.
func writeHTML(w io.Writer, r Report, lang string) error {
	wd := wordsFor(lang)
	if lang != "en" {
		lang = "es"
	}
	type levelRow struct {
		Level                                       int
		Visits                                      int
		Median, P90, Target, Within, Colour, Solved string
	}
	var lrows []levelRow
	for i, l := range levels {
		d := *r.Levels.At(l)
		target := wd.NoTargets
		if d.Target > 0 {
			target = hours(d.Target, wd)
		}
		lrows = append(lrows, levelRow{Level: int(l), Visits: d.Count, Median: span(d, false, wd), P90: span(d, true, wd), Target: target,
			Within: within(d, wd), Colour: levelColours[i], Solved: fmt.Sprint(*r.SolvedAt.At(l))})
	}
	type row struct {
		Key                                string
		Opened, Resolved, Closed, Reopened int
		Solved, Closure, Within            string
	}
	var rows []row
	for _, x := range r.Rows {
		g := x.Figures
		rows = append(rows, row{Key: keyLabel(r.By, x.Key, wd), Opened: g.Opened, Resolved: g.Resolved, Closed: g.Closed, Reopened: g.Reopened,
			Solved:  fmt.Sprintf("%d / %d / %d", g.SolvedAt.Level1, g.SolvedAt.Level2, g.SolvedAt.Level3),
			Closure: span(g.Closure, false, wd),
			Within:  within(g.Levels.Level1, wd) + " · " + within(g.Levels.Level2, wd) + " · " + within(g.Levels.Level3, wd)})
	}
	data := map[string]any{
		"Lang": lang, "W": wd, "R": r, "ByLabel": wd.By[r.By], "Levels": lrows, "Rows": rows,
		"ReopenRate":  percent(r.ReopenRate),
		"Closure":     []string{fmt.Sprint(r.Closure.Count), hours(r.Closure.Median, wd), hours(r.Closure.P90, wd)},
		"Provider":    []string{fmt.Sprint(r.Provider.Count), hours(r.Provider.Median, wd), hours(r.Provider.P90, wd)},
		"MonthChart":  template.HTML(monthChart(r, wd)),
		"DistCharts":  []template.HTML{template.HTML(histChart(r, 0, wd)), template.HTML(histChart(r, 1, wd)), template.HTML(histChart(r, 2, wd))},
		"TargetChart": template.HTML(targetChart(r, wd)),
	}
	return page.Execute(w, data)
}

// svg builds one chart; every text it writes is escaped.
type svg struct{ b strings.Builder }

func newSVG(w, h int, title string) *svg {
	s := &svg{}
	fmt.Fprintf(&s.b, `<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s">`, w, h, html.EscapeString(title))
	return s
}

func (s *svg) rect(x, y, w, h float64, fill string) {
	fmt.Fprintf(&s.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x, y, w, h, fill)
}

func (s *svg) line(x1, y1, x2, y2 float64, stroke string) {
	fmt.Fprintf(&s.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`, x1, y1, x2, y2, stroke)
}

func (s *svg) text(x, y float64, anchor, class, t string) {
	fmt.Fprintf(&s.b, `<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`, x, y, anchor, class, html.EscapeString(t))
}

func (s *svg) String() string { return s.b.String() + "</svg>" }

// axis draws a vertical scale from 0 to top on a plot area and returns the
// y of a value.
func (s *svg) axis(left, topY, bottomY, right float64, top int) func(v int) float64 {
	top = niceCeil(top)
	y := func(v int) float64 { return bottomY - float64(v)/float64(top)*(bottomY-topY) }
	for _, v := range []int{0, top / 2, top} {
		s.line(left, y(v), right, y(v), "#ddd")
		s.text(left-6, y(v)+4, "end", "tick", fmt.Sprint(v))
	}
	return y
}

// niceCeil rounds n up to an even number at least 2, so the half-way tick
// is whole.
func niceCeil(n int) int {
	if n < 2 {
		return 2
	}
	return n + n%2
}

func (s *svg) legend(x, y float64, wd words) {
	for i := range levels {
		s.rect(x+float64(i)*90, y-9, 10, 10, levelColours[i])
		s.text(x+float64(i)*90+14, y, "start", "tick", fmt.Sprintf("%s %d", wd.Level, i+1))
	}
}

// monthChart is a grouped bar chart of the level visits per month.
func monthChart(r Report, wd words) string {
	const w, h, left, top, bottom = 720, 260, 44, 30, 220
	s := newSVG(w, h, wd.PerMonth)
	s.legend(left, 16, wd)
	peak := 0
	for _, m := range r.Months {
		for _, l := range levels {
			peak = max(peak, m.Levels.At(l).Count)
		}
	}
	y := s.axis(left, top, bottom, w-10, peak)
	if len(r.Months) == 0 {
		s.text(w/2, (top+bottom)/2, "middle", "note", wd.NoData)
		return s.String()
	}
	slot := float64(w-10-left) / float64(len(r.Months))
	bar := min(slot*0.8/3, 40)
	for i, m := range r.Months {
		x0 := left + float64(i)*slot + (slot-3*bar)/2
		for j, l := range levels {
			n := m.Levels.At(l).Count
			s.rect(x0+float64(j)*bar, y(n), bar-1, bottom-y(n), levelColours[j])
			if n > 0 {
				s.text(x0+float64(j)*bar+bar/2, y(n)-3, "middle", "value", fmt.Sprint(n))
			}
		}
		s.text(left+float64(i)*slot+slot/2, bottom+16, "middle", "tick", m.Key)
	}
	return s.String()
}

// histChart is the distribution of the business time of one level's
// visits: a bar per histogram bucket.
func histChart(r Report, i int, wd words) string {
	const w, h, left, top, bottom = 240, 200, 34, 24, 160
	d := r.Levels.At(levels[i])
	s := newSVG(w, h, fmt.Sprintf("%s: %s %d", wd.Distribution, wd.Level, i+1))
	s.text(w/2, 14, "middle", "caption", fmt.Sprintf("%s %d · %s %s", wd.Level, i+1, wd.Median, span(*d, false, wd)))
	peak := 0
	for _, b := range d.Histogram {
		peak = max(peak, b.Count)
	}
	y := s.axis(left, top, bottom, w-6, peak)
	slot := float64(w-6-left) / float64(max(len(d.Histogram), 1))
	for j, b := range d.Histogram {
		x := left + float64(j)*slot
		s.rect(x+1, y(b.Count), slot-2, bottom-y(b.Count), levelColours[i])
		label := fmt.Sprintf("≤%g", b.UpTo/3600)
		if b.UpTo == 0 {
			label = wd.More
		}
		s.text(x+slot/2, bottom+14, "middle", "tick", label)
	}
	s.text(w/2, bottom+32, "middle", "tick", wd.Hours)
	return s.String()
}

// targetChart is a horizontal bar per level: the share of its visits
// within target.
func targetChart(r Report, wd words) string {
	const w, h, left, barH = 720, 130, 80, 26
	s := newSVG(w, h, wd.TargetsMet)
	if !r.Targets {
		s.text(w/2, h/2, "middle", "note", wd.NoTargets)
		return s.String()
	}
	span := float64(w - left - 120)
	for i, l := range levels {
		d := r.Levels.At(l)
		yy := 10 + float64(i)*(barH+12)
		s.text(left-8, yy+barH/2+4, "end", "tick", fmt.Sprintf("%s %d", wd.Level, l))
		s.rect(left, yy, span, barH, "#eee")
		if d.WithinShare != nil {
			s.rect(left, yy, span**d.WithinShare, barH, levelColours[i])
		}
		s.text(left+span+8, yy+barH/2+4, "start", "value", within(*d, wd))
	}
	return s.String()
}

package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/ticketd/ticketd/ticket"
)

// Format is how [Write] renders a report.
type Format string

// The formats of `ticketd report --format`.
const (
	FormatTable Format = "table"
	FormatCSV   Format = "csv"
	FormatJSON  Format = "json"
	FormatHTML  Format = "html"
)

// ParseFormat returns the Format named s ("" means table).
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return FormatTable, nil
	case FormatTable, FormatCSV, FormatJSON, FormatHTML:
		return f, nil
	}
	return "", fmt.Errorf("report: unknown format %q (want table, csv, json or html)", s)
}

// Write renders r to w in format f, its words in lang ("en" for English,
// anything else Spanish; CSV and JSON keys are always the English ones).
func Write(w io.Writer, r Report, f Format, lang string) error {
	switch f {
	case FormatCSV:
		return writeCSV(w, r)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatHTML:
		return writeHTML(w, r, lang)
	}
	return writeTable(w, r, lang)
}

var levels = []ticket.Level{ticket.Level1, ticket.Level2, ticket.Level3}

// CSVHeader is the header line of the CSV format: one line for the totals
// (key "total") and one per row follow it.
var CSVHeader = func() []string {
	h := []string{"key", "opened", "resolved", "closed", "reopened", "reopen_rate", "solved_level1", "solved_level2", "solved_level3"}
	for _, l := range levels {
		p := fmt.Sprintf("level%d_", l)
		h = append(h, p+"visits", p+"median_seconds", p+"p90_seconds", p+"target_seconds", p+"within_target", p+"within_target_share")
	}
	return append(h, "closure_count", "closure_median_seconds", "closure_p90_seconds",
		"provider_cases", "provider_median_seconds", "provider_p90_seconds")
}()

func writeCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	rows := append([]Row{{Key: "total", Figures: r.Figures}}, r.Rows...)
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, row := range rows {
		f := row.Figures
		rec := []string{row.Key, strconv.Itoa(f.Opened), strconv.Itoa(f.Resolved), strconv.Itoa(f.Closed), strconv.Itoa(f.Reopened),
			num(f.ReopenRate), strconv.Itoa(f.SolvedAt.Level1), strconv.Itoa(f.SolvedAt.Level2), strconv.Itoa(f.SolvedAt.Level3)}
		for _, l := range levels {
			d := f.Levels.At(l)
			within, share := "", ""
			if d.WithinTarget != nil {
				within = strconv.Itoa(*d.WithinTarget)
			}
			if d.WithinShare != nil {
				share = num(*d.WithinShare)
			}
			rec = append(rec, strconv.Itoa(d.Count), num(d.Median), num(d.P90), num(d.Target), within, share)
		}
		rec = append(rec, strconv.Itoa(f.Closure.Count), num(f.Closure.Median), num(f.Closure.P90),
			strconv.Itoa(f.Provider.Count), num(f.Provider.Median), num(f.Provider.P90))
		_ = cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// words are the labels users read, in Spanish and English.
type words struct {
	Title, Period, Opened, Resolved, Closed, Reopened, ReopenRate, SolvedAt, Level, Visits, Median, P90, Target, Within,
	Closure, Provider, Cases, NoTargets, Key, Total, Hours, PerMonth, Distribution, TargetsMet, NoData, More string
	By map[Dimension]string
}

var vocab = map[string]words{
	"es": {Title: "Indicadores del procedimiento de soporte técnico", Period: "Periodo", Opened: "Abiertos", Resolved: "Resueltos",
		Closed: "Cerrados", Reopened: "Reabiertos", ReopenRate: "Tasa de reapertura", SolvedAt: "Resueltos en el nivel",
		Level: "Nivel", Visits: "Atenciones", Median: "Mediana", P90: "Percentil 90", Target: "Objetivo", Within: "Dentro del objetivo",
		Closure: "Hasta el cierre definitivo", Provider: "Con proveedor", Cases: "Casos", NoTargets: "sin objetivos",
		Key: "Clave", Total: "Total", Hours: "h hábiles", PerMonth: "Atenciones por nivel y mes",
		Distribution: "Tiempo hábil por nivel (atenciones por intervalo)", TargetsMet: "Atenciones dentro del objetivo",
		NoData: "sin datos", More: "más",
		By: map[Dimension]string{ByLevel: "Nivel", ByGroup: "Grupo", ByCategory: "Categoría", ByMonth: "Mes"}},
	"en": {Title: "Technical support procedure indicators", Period: "Period", Opened: "Opened", Resolved: "Resolved",
		Closed: "Closed", Reopened: "Reopened", ReopenRate: "Reopen rate", SolvedAt: "Solved at level",
		Level: "Level", Visits: "Visits", Median: "Median", P90: "90th percentile", Target: "Target", Within: "Within target",
		Closure: "To definitive closure", Provider: "With a provider", Cases: "Cases", NoTargets: "no targets",
		Key: "Key", Total: "Total", Hours: "business h", PerMonth: "Level visits per level and month",
		Distribution: "Business time per level (visits per interval)", TargetsMet: "Level visits within target",
		NoData: "no data", More: "more",
		By: map[Dimension]string{ByLevel: "Level", ByGroup: "Group", ByCategory: "Category", ByMonth: "Month"}},
}

func wordsFor(lang string) words {
	if lang == "en" {
		return vocab["en"]
	}
	return vocab["es"]
}

// hours formats seconds as business hours with one decimal.
func hours(sec float64, w words) string {
	return strconv.FormatFloat(sec/3600, 'f', 1, 64) + " " + w.Hours
}

// span formats the median (or, with p90, the 90th percentile) of d, or
// a dash when d is empty.
func span(d Durations, p90 bool, w words) string {
	switch {
	case d.Count == 0:
		return "–"
	case p90:
		return hours(d.P90, w)
	}
	return hours(d.Median, w)
}

func percent(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + " %" }

// within returns the within-target figure of d as users read it.
func within(d Durations, w words) string {
	switch {
	case d.WithinTarget == nil:
		return w.NoTargets
	case d.WithinShare == nil:
		return "–"
	}
	return fmt.Sprintf("%d (%s)", *d.WithinTarget, percent(*d.WithinShare))
}

func writeTable(out io.Writer, r Report, lang string) error {
	w := wordsFor(lang)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	f := r.Figures
	fmt.Fprintf(tw, "%s\n%s: %s – %s (%s)\n\n", w.Title, w.Period, r.From, r.To, r.Timezone)
	fmt.Fprintf(tw, "%s\t%d\n%s\t%d\n%s\t%d\n%s\t%d\n%s\t%s\n", w.Opened, f.Opened, w.Resolved, f.Resolved, w.Closed, f.Closed,
		w.Reopened, f.Reopened, w.ReopenRate, percent(f.ReopenRate))
	fmt.Fprintf(tw, "%s 1 / 2 / 3\t%d / %d / %d\n\n", w.SolvedAt, f.SolvedAt.Level1, f.SolvedAt.Level2, f.SolvedAt.Level3)
	fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\n", w.Visits, w.Median, w.P90, w.Target, w.Within)
	for _, l := range levels {
		d := *f.Levels.At(l)
		target := w.NoTargets
		if d.Target > 0 {
			target = hours(d.Target, w)
		}
		fmt.Fprintf(tw, "%s %d\t%d\t%s\t%s\t%s\t%s\n", w.Level, l, d.Count, span(d, false, w), span(d, true, w), target, within(d, w))
	}
	for _, x := range []struct {
		name string
		d    Durations
	}{{w.Closure, f.Closure}, {w.Provider, f.Provider}} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\t\n", x.name, x.d.Count, span(x.d, false, w), span(x.d, true, w))
	}
	if r.By != ByNone {
		fmt.Fprintf(tw, "\n%s\t%s\t%s\t%s\t%s\t%s 1/2/3\t%s\t%s 1/2/3\n", w.By[r.By], w.Opened, w.Resolved, w.Closed, w.Reopened,
			w.SolvedAt, w.Closure+" ("+w.Median+")", w.Within)
		for _, row := range r.Rows {
			g := row.Figures
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d/%d/%d\t%s\t%s / %s / %s\n", keyLabel(r.By, row.Key, w), g.Opened, g.Resolved, g.Closed, g.Reopened,
				g.SolvedAt.Level1, g.SolvedAt.Level2, g.SolvedAt.Level3, span(g.Closure, false, w),
				within(g.Levels.Level1, w), within(g.Levels.Level2, w), within(g.Levels.Level3, w))
		}
	}
	return tw.Flush()
}

// keyLabel returns a row's key as users read it.
func keyLabel(d Dimension, key string, w words) string {
	switch {
	case d == ByLevel:
		return w.Level + " " + key
	case key == "":
		return "–"
	}
	return key
}

// MailSubject is the subject of the monthly report's mail for month
// (YYYY-MM).
func MailSubject(month, lang string) string {
	if lang == "en" {
		return "Technical support indicators, " + month
	}
	return "Indicadores de soporte técnico, " + month
}

// MailFile is the start of the name of the page attached to the monthly
// mail.
func MailFile(lang string) string {
	if lang == "en" {
		return "indicators"
	}
	return "indicadores"
}

// Package view renders tickets as text for a terminal: the page of one
// ticket that `ticketd show` and the demo print, and the small helpers the
// command line's tables use. It does no I/O beyond writing to the writer it
// is given.
package view

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
)

// Ticket writes t as `ticketd show` prints it: the summary, the time at
// each level, each level visit with its target, the attachments and the whole history, with dates in loc
// (ticket.timezone; nil means the machine's local zone).
func Ticket(w io.Writer, t admin.TicketJSON, loc *time.Location) {
	if loc == nil {
		loc = time.Local
	}
	fmt.Fprintf(w, "%s  %s\n", t.ID, t.Subject)
	fmt.Fprintf(w, "  requester: %s\n  state: %s   level: %d   group: %s   assignee: %s\n", Addr(t.RequesterName, t.Requester), t.State, t.Level, t.Group, Dash(t.Assignee))
	if t.Category != "" || t.Priority != "" {
		fmt.Fprintf(w, "  category: %s   priority: %s\n", Dash(t.Category), Dash(string(t.Priority)))
	}
	if t.RelatedTo != "" {
		fmt.Fprintf(w, "  follows: %s\n", t.RelatedTo)
	}
	fmt.Fprintf(w, "  opened: %s   updated: %s\n", t.CreatedAt.In(loc).Format(time.RFC3339), t.UpdatedAt.In(loc).Format(time.RFC3339))
	if lt := t.LevelTimes; lt != nil {
		fmt.Fprintf(w, "  time at level 1: %s   level 2: %s   level 3: %s   with a provider: %s   resolved: %s\n",
			lt.Level1.Round(time.Second), lt.Level2.Round(time.Second), lt.Level3.Round(time.Second), lt.Provider.Round(time.Second), lt.Resolved.Round(time.Second))
	}
	visits(w, t.Visits, loc)
	for _, a := range t.Attachments {
		fmt.Fprintf(w, "  attachment: %s (%s, %d bytes, sha256 %s)\n", a.Filename, a.ContentType, a.Size, a.SHA256)
	}
	fmt.Fprintln(w, "\nHistory:")
	for _, e := range t.History {
		fmt.Fprintf(w, "  %3d  %s  %-15s %-28s level %d, %s, %s\n", e.Seq, e.At.In(loc).Format(DateTime), e.Kind, e.Actor, e.Level, e.Group, e.State)
		if e.Data["reason"] != "" {
			fmt.Fprintf(w, "       reason: %s\n", e.Data["reason"])
		}
		for _, line := range strings.Split(Clip(e.Text, 600), "\n") {
			if strings.TrimSpace(line) != "" {
				fmt.Fprintf(w, "       | %s\n", line)
			}
		}
	}
}

// visits writes each level visit: when it started and ended, its
// business time against its target, and whether it was met.
func visits(w io.Writer, vs []admin.VisitJSON, loc *time.Location) {
	if len(vs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nLevel visits:")
	for _, v := range vs {
		end := "ongoing"
		if !v.End.IsZero() {
			end = v.End.In(loc).Format(DateTime)
		}
		took := seconds(v.BusinessSeconds)
		verdict := took.String() + "  no target"
		if v.TargetSeconds > 0 {
			verdict = took.String() + " of " + seconds(v.TargetSeconds).String()
			switch {
			case !v.Met:
				verdict += "  overdue"
			case v.End.IsZero():
				verdict += "  within target so far"
			default:
				verdict += "  met"
			}
		}
		fmt.Fprintf(w, "  level %d  %-12s %s  %-23s  %s\n", v.Level, v.Group, v.Start.In(loc).Format(DateTime), end, verdict)
	}
}

// seconds returns s seconds as a duration rounded to the second.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Second)
}

// DateTime is the layout of dates in the command line's pages and tables,
// with the zone so that a reader knows which it is.
const DateTime = "2006-01-02 15:04:05 MST"

// Dash returns s, or "-" when s is empty.
func Dash(s string) string { return cmp.Or(s, "-") }

// Clip returns s cut to at most n characters, an ellipsis marking a cut.
func Clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Addr formats a mail address with its display name, if any.
func Addr(name, addr string) string {
	if name == "" {
		return addr
	}
	return name + " <" + addr + ">"
}

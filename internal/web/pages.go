package web

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/ticket"
	"github.com/ticketd/ticketd/ticket/action"
)

// pageNames are the templates of assets/, each rendered in layout.html.
var pageNames = []string{"login", "confirm", "message", "status", "queues", "ticket", "search", "reports"}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.ParseFS(assets, "assets/layout.html", "assets/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", n, err)
		}
		out[n] = t
	}
	return out, nil
}

func staticFS() fs.FS {
	sub, _ := fs.Sub(assets, "assets") // a constant path of the embedded tree
	return onlyStatic{sub}
}

// onlyStatic serves the script and the style sheet, not the templates.
type onlyStatic struct{ fs.FS }

func (o onlyStatic) Open(name string) (fs.File, error) {
	if name != "static" && !strings.HasPrefix(name, "static/") {
		return nil, fs.ErrNotExist
	}
	return o.FS.Open(name)
}

// render executes page name in the layout with data; u is the signed-in
// person (nil on the public pages).
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, u *user, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["W"], data["Lang"], data["User"], data["Path"] = s.w, s.w["lang"], u, r.URL.Path
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.log.Error("page not rendered", "page", name, "err", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (s *Server) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.o.Location).Format("2006-01-02 15:04")
}

// span says a duration in days, hours and minutes: "2 d 3 h", "45 min".
func span(d time.Duration) string {
	d = d.Round(time.Minute)
	days, h, m := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h", days, h)
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d min", m)
}

func (s *Server) stateWords(st ticket.State) string { return st.Label(s.w["lang"]) }

func (s *Server) levelWords(l ticket.Level) string {
	return s.w["level"+strconv.Itoa(int(l))]
}

// levelsOf returns the levels at which addr is staff.
func (s *Server) levelsOf(addr string) []ticket.Level {
	dir := s.o.Desk.Directory()
	var ls []ticket.Level
	for _, n := range dir.GroupsOf(addr) {
		if g, ok := dir.Group(n); ok && !slices.Contains(ls, g.Level) {
			ls = append(ls, g.Level)
		}
	}
	return ls
}

// seesAll reports whether u may see every ticket: the desk, or any staff
// member with web.staff_see_all.
func (s *Server) seesAll(u user) bool {
	return s.o.Desk.Directory().IsDesk(u.Addr) || s.o.StaffSeeAll
}

// visible reports whether u may see t, whose history must be loaded for
// a ticket outside u's levels: the desk sees all; level-2 and level-3
// members the tickets at their levels and those they worked on.
func (s *Server) visible(u user, t *ticket.Ticket) bool {
	return s.seesAll(u) || slices.Contains(s.levelsOf(u.Addr), t.Level) || workedOn(t, u.Addr)
}

// workedOn reports whether addr held t or acted on it (a command, a note).
func workedOn(t *ticket.Ticket, addr string) bool {
	if ticket.SameAddr(t.Assignee, addr) {
		return true
	}
	for _, e := range t.History {
		if ticket.SameAddr(e.Assignee, addr) || ticket.SameAddr(e.Data["assignee"], addr) {
			return true
		}
		if ticket.SameAddr(e.Actor, addr) && e.Kind != ticket.KindReplied && e.Kind != ticket.KindThirdParty && e.Kind != ticket.KindRefused && e.Kind != ticket.KindHelp {
			return true
		}
	}
	return false
}

// slaState is a ticket's standing against its level's target.
type slaState struct {
	Class, Label, Due string
}

func (s *Server) sla(t *ticket.Ticket, now time.Time) slaState {
	sl := s.o.Desk.ServiceLevels()
	if sl == nil || !t.State.Queued() {
		return slaState{}
	}
	target := sl.Target(t.Level, t.Priority)
	if target <= 0 {
		return slaState{}
	}
	since, _ := t.Since()
	used := sl.Calendar.Business(since, now)
	due := s.when(sl.Calendar.Add(since, target))
	warn := sl.WarnAt
	if warn == 0 {
		warn = 75
	}
	switch {
	case used >= target:
		return slaState{"overdue", s.w["sla_overdue"], due}
	case used*100 >= target*time.Duration(warn):
		return slaState{"soon", s.w["sla_soon"], due}
	}
	return slaState{"ok", s.w["sla_ok"], due}
}

type row struct {
	T        ticket.Ticket
	Age, Req string
	SLA      slaState
	Priority string
}

type queue struct {
	Level      int
	Group      string
	Label      string
	Total      int
	From, To   int    // the rows shown, 1-based
	Prev, Next string // links to the queue's other pages, when there are
	Rows       []row
}

// queuePage is how many tickets of each queue the home page shows at a
// time.
const queuePage = 50

// queues is the home page: the tickets f selects (open by default) that u
// may see, per level and group, longest at the level first, each queue a
// page at a time with its count.
func (s *Server) queues(w http.ResponseWriter, r *http.Request, u user) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = string(ticket.StateOpen)
	}
	f, err := admin.ParseFilter(state, q.Get("level"), q.Get("group"))
	if err != nil {
		s.render(w, r, http.StatusBadRequest, "message", &u, map[string]any{"Title": s.w["queues"], "Text": err.Error()})
		return
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	category := strings.ToLower(q.Get("category"))
	now := s.o.Now()
	var l ticket.Listing
	err = s.o.Store.View(r.Context(), func(tx Tx) error {
		var err error
		if l, err = tx.Queues(f, ticket.Page{Order: ticket.BySince, Category: category, Offset: (page - 1) * queuePage, Limit: queuePage}); err != nil {
			return err
		}
		if s.seesAll(u) {
			return nil
		}
		return s.worked(tx, u, f, category, page, &l)
	})
	if err != nil {
		s.fail(w, r, &u, err)
		return
	}
	dir := s.o.Desk.Directory()
	var qs []*queue
	for _, lq := range l.Queues {
		qu := &queue{Level: int(lq.Level), Group: lq.Group, Label: cmp.Or(dir.GroupLabel(lq.Group), lq.Group), Total: lq.Total,
			From: (page-1)*queuePage + 1, To: (page-1)*queuePage + len(lq.Tickets)}
		link := url.Values{"state": {state}, "level": {strconv.Itoa(qu.Level)}, "group": {lq.Group}}
		if category != "" {
			link.Set("category", category)
		}
		if page > 1 {
			link.Set("page", strconv.Itoa(page-1))
			qu.Prev = "/?" + link.Encode()
		}
		if qu.To < lq.Total {
			link.Set("page", strconv.Itoa(page+1))
			qu.Next = "/?" + link.Encode()
		}
		for i := range lq.Tickets {
			t := &lq.Tickets[i]
			since, _ := t.Since()
			qu.Rows = append(qu.Rows, row{T: *t, Age: span(now.Sub(since)), SLA: s.sla(t, now), Req: cmp.Or(t.Requester.Name, t.Requester.Addr),
				Priority: string(t.Priority)})
		}
		qs = append(qs, qu)
	}
	s.render(w, r, http.StatusOK, "queues", &u, map[string]any{"Queues": qs, "Total": l.Total, "State": state, "Level": q.Get("level"),
		"Group": f.Group, "Category": category, "Groups": dir.Groups(), "Categories": l.Categories, "States": ticket.States(), "Now": s.when(now)})
}

// worked narrows l, the queues f selects, to what u, who does not see
// all, may see: the queues at u's levels whole; in the others only the
// tickets u worked on, which their histories say, so these are read one by
// one (only for such a person, and only outside their levels).
func (s *Server) worked(tx Tx, u user, f ticket.Filter, category string, page int, l *ticket.Listing) error {
	levels := s.levelsOf(u.Addr)
	kept := l.Queues[:0]
	l.Total = 0
	for _, lq := range l.Queues {
		if !slices.Contains(levels, lq.Level) {
			var mine []ticket.Ticket
			qf := ticket.Filter{State: f.State, Level: lq.Level, Group: lq.Group}
			err := tx.Each(qf, func(t *ticket.Ticket) error {
				if category != "" && !strings.EqualFold(t.Category, category) {
					return nil
				}
				full, err := tx.Ticket(t.ID)
				if err == nil && workedOn(full, u.Addr) {
					mine = append(mine, *t)
				}
				return nil
			})
			if err != nil {
				return err
			}
			slices.SortStableFunc(mine, func(a, b ticket.Ticket) int { return levelSince(&a).Compare(levelSince(&b)) })
			lq.Total = len(mine)
			lq.Tickets = mine[min((page-1)*queuePage, len(mine)):min(page*queuePage, len(mine))]
		}
		if lq.Total > 0 {
			kept = append(kept, lq)
			l.Total += lq.Total
		}
	}
	l.Queues = kept
	return nil
}

// levelSince is since when t is at its level, as the store sorts a queue
// ([ticket.BySince]): its creation time when it has no mark.
func levelSince(t *ticket.Ticket) time.Time {
	if t.LevelSince.IsZero() {
		return t.CreatedAt
	}
	return t.LevelSince
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, u *user, err error) {
	s.log.Error("web page failed", "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusInternalServerError, "message", u, map[string]any{"Title": "500", "Text": s.w["failed"]})
}

// load reads ticket id for u: nil and a 404 page when it does not exist
// or u may not see it (the same answer, so the page tells nothing).
func (s *Server) load(w http.ResponseWriter, r *http.Request, u user) *ticket.Ticket {
	id, err := ticket.ParseID(s.o.Prefix, r.PathValue("id"))
	var t *ticket.Ticket
	if err == nil {
		err = s.o.Store.View(r.Context(), func(tx Tx) error {
			var err error
			t, err = tx.Ticket(id)
			return err
		})
	}
	switch {
	case err == nil && s.visible(u, t):
		return t
	case err == nil, errors.Is(err, record.ErrNotFound), strings.HasPrefix(err.Error(), "ticket:"):
		if err == nil {
			s.log.Warn("ticket refused: not visible to this person", "ticket_id", id, "addr", u.Addr)
		}
		s.render(w, r, http.StatusNotFound, "message", &u, map[string]any{"Title": s.w["ticket"], "Text": s.w["not_found"]})
	default:
		s.fail(w, r, &u, err)
	}
	return nil
}

type entryRow struct {
	ticket.Entry
	At       string
	Actor    string
	What     string
	Internal bool
	Raw      bool
}

type visitRow struct {
	Level            int
	Group            string
	Start, End       string
	Business, Target string
	Met, Late        bool
}

func (s *Server) ticketPage(w http.ResponseWriter, r *http.Request, u user) {
	t := s.load(w, r, u)
	if t == nil {
		return
	}
	now, dir := s.o.Now(), s.o.Desk.Directory()
	var hist []entryRow
	for _, e := range t.History {
		hist = append(hist, entryRow{Entry: e, At: s.when(e.At), Actor: cmp.Or(dir.DisplayName(e.Actor), e.Actor),
			What: cmp.Or(s.w["kind_"+string(e.Kind)], string(e.Kind)), Internal: !publicKinds[e.Kind], Raw: e.Data["raw_sha256"] != ""})
	}
	var visits []visitRow
	for _, v := range s.o.Desk.Visits(t, now) {
		end := s.when(v.End)
		if v.End.IsZero() {
			end = s.w["ongoing"]
		}
		vr := visitRow{Level: int(v.Level), Group: cmp.Or(dir.GroupLabel(v.Group), v.Group), Start: s.when(v.Start), End: end, Met: v.Met}
		if v.Target > 0 {
			vr.Business, vr.Target, vr.Late = span(v.Business), span(v.Target), !v.Met
		} else {
			vr.Business = span(cmp.Or(v.Business, v.End.Sub(v.Start)))
			if v.End.IsZero() {
				vr.Business = span(now.Sub(v.Start))
			}
		}
		visits = append(visits, vr)
	}
	to := s.o.Support
	if s.o.ReplyTo != nil {
		to = cmp.Or(s.o.ReplyTo(t.ID, u.Addr), to)
	}
	m := action.Mail{To: to, References: t.Thread, Lang: s.w["lang"]}
	if n := len(t.Thread); n > 0 {
		m.InReplyTo = t.Thread[n-1]
	}
	s.render(w, r, http.StatusOK, "ticket", &u, map[string]any{"T": t, "State": s.stateWords(t.State), "SLA": s.sla(t, now),
		"Group": cmp.Or(dir.GroupLabel(t.Group), t.Group), "Assignee": cmp.Or(dir.DisplayName(t.Assignee), t.Assignee),
		"Created": s.when(t.CreatedAt), "History": hist, "Visits": visits, "Actions": action.Offer(s.o.Desk, t, u.Addr, m)})
}

// attachment serves one of the ticket's files as a download: never shown
// inline, whatever its type says, under a name that cannot escape.
func (s *Server) attachment(w http.ResponseWriter, r *http.Request, u user) {
	t := s.load(w, r, u)
	if t == nil {
		return
	}
	sha := r.PathValue("sha")
	i := slices.IndexFunc(t.Attachments, func(a ticket.Attachment) bool { return a.SHA256 == sha })
	if i < 0 {
		http.Error(w, "404 no such file in this ticket", http.StatusNotFound)
		return
	}
	a := t.Attachments[i]
	s.download(w, r, &u, sha, cmp.Or(a.Filename, "adjunto"), "application/octet-stream")
}

// raw serves the raw mail of one history entry, for staff.
func (s *Server) raw(w http.ResponseWriter, r *http.Request, u user) {
	t := s.load(w, r, u)
	if t == nil {
		return
	}
	seq, err := strconv.Atoi(r.PathValue("seq"))
	i := slices.IndexFunc(t.History, func(e ticket.Entry) bool { return e.Seq == seq })
	if err != nil || i < 0 || t.History[i].Data["raw_sha256"] == "" {
		http.Error(w, "404 no raw mail for this entry", http.StatusNotFound)
		return
	}
	s.download(w, r, &u, t.History[i].Data["raw_sha256"], fmt.Sprintf("%s-%d.eml", t.ID, seq), "message/rfc822")
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, u *user, sha, name, ctype string) {
	f, err := s.o.Blobs.Open(sha)
	if err != nil {
		s.fail(w, r, u, fmt.Errorf("open stored file %s: %w", sha, err))
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": safeName(name)}))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	io.Copy(w, f)
}

// safeName keeps the base name of a file, without control characters,
// separators or quotes, at most 100 characters.
func safeName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(`"/\:*?<>|`, c) {
			return '_'
		}
		return c
	}, name)
	if name == "." || name == ".." || name == "/" || name == "" {
		name = "adjunto"
	}
	if r := []rune(name); len(r) > 100 {
		name = string(r[len(r)-100:])
	}
	return name
}

// maxResults bounds a search.
const maxResults = 200

// search scans the tickets of the period (every ticket when no dates are
// given): each ticket record is read, and the history of those whose
// dates fall within it, one at a time; it stops at maxResults matches.
func (s *Server) search(w http.ResponseWriter, r *http.Request, u user) {
	q := r.URL.Query()
	data := map[string]any{"Q": q.Get("q"), "Requester": q.Get("requester"), "From": q.Get("from"), "To": q.Get("to"),
		"Category": q.Get("category"), "State": q.Get("state"), "Level": q.Get("level"), "States": ticket.States()}
	if id, err := ticket.ParseID(s.o.Prefix, strings.TrimSpace(q.Get("q"))); err == nil {
		http.Redirect(w, r, "/t/"+url.PathEscape(string(id)), http.StatusSeeOther)
		return
	}
	if len(q) == 0 {
		s.render(w, r, http.StatusOK, "search", &u, data)
		return
	}
	f, err := admin.ParseFilter(q.Get("state"), q.Get("level"), "")
	from, to := time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err == nil && (q.Get("from") != "" || q.Get("to") != "") {
		from, to, err = report.Period(cmp.Or(q.Get("from"), "2000-01-01"), cmp.Or(q.Get("to"), "9998-12-31"), s.o.Location)
	}
	if err != nil {
		data["Error"] = err.Error()
		s.render(w, r, http.StatusBadRequest, "search", &u, data)
		return
	}
	words := strings.Fields(strings.ToLower(q.Get("q")))
	req, cat := strings.ToLower(strings.TrimSpace(q.Get("requester"))), strings.ToLower(q.Get("category"))
	var found []row
	more := false
	errFull := errors.New("full")
	now := s.o.Now()
	err = s.o.Store.View(r.Context(), func(tx Tx) error {
		return tx.Touched(from, to, func(t *ticket.Ticket) error {
			if err := r.Context().Err(); err != nil {
				return err
			}
			if !f.Match(t) || cat != "" && !strings.EqualFold(t.Category, cat) || !t.CreatedAt.Before(to) ||
				req != "" && !strings.Contains(strings.ToLower(t.Requester.Addr+" "+t.Requester.Name), req) ||
				!matches(t, words) || !s.visible(u, t) {
				return nil
			}
			if len(found) == maxResults {
				more = true
				return errFull
			}
			c := *t
			c.History = nil
			since, _ := t.Since()
			found = append(found, row{T: c, Age: span(now.Sub(since)), SLA: s.sla(t, now), Req: cmp.Or(t.Requester.Name, t.Requester.Addr), Priority: string(t.Priority)})
			return nil
		})
	})
	if err != nil && !errors.Is(err, errFull) {
		s.fail(w, r, &u, err)
		return
	}
	data["Results"], data["More"], data["Searched"], data["Max"] = found, more, true, maxResults
	s.render(w, r, http.StatusOK, "search", &u, data)
}

// matches reports whether every word is in t's subject, body or history.
func matches(t *ticket.Ticket, words []string) bool {
	if len(words) == 0 {
		return true
	}
	var b strings.Builder
	b.WriteString(strings.ToLower(t.Subject + "\n" + t.Body))
	for _, e := range t.History {
		b.WriteString("\n" + strings.ToLower(e.Text))
	}
	text := b.String()
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

func (s *Server) reportRequest(r *http.Request) admin.ReportRequest {
	q := r.URL.Query()
	return admin.ReportRequest{From: q.Get("from"), To: q.Get("to"), By: report.Dimension(q.Get("by"))}
}

// reports is the indicators page: the period's form, the report's own
// page in a frame, and the CSV download.
func (s *Server) reports(w http.ResponseWriter, r *http.Request, u user) {
	if s.o.Reports == nil {
		s.render(w, r, http.StatusNotFound, "message", &u, map[string]any{"Title": s.w["reports"], "Text": s.w["no_reports"]})
		return
	}
	req := s.reportRequest(r)
	if _, err := s.o.Reports.Report(r.Context(), req); err != nil {
		s.render(w, r, http.StatusBadRequest, "reports", &u, map[string]any{"Error": err.Error(), "Req": req})
		return
	}
	qs := r.URL.RawQuery
	s.render(w, r, http.StatusOK, "reports", &u, map[string]any{"Req": req, "Page": "/reports/page?" + qs, "CSV": "/reports/csv?" + qs})
}

// reportPage is internal/report's self-contained HTML page. Its style is
// inline, so its policy allows inline style and nothing else: no script
// at all, no other resource, framed by the console only.
func (s *Server) reportPage(w http.ResponseWriter, r *http.Request, u user) {
	s.writeReport(w, r, u, report.FormatHTML, "text/html; charset=utf-8", "")
}

func (s *Server) reportCSV(w http.ResponseWriter, r *http.Request, u user) {
	s.writeReport(w, r, u, report.FormatCSV, "text/csv; charset=utf-8", "indicadores.csv")
}

func (s *Server) writeReport(w http.ResponseWriter, r *http.Request, u user, f report.Format, ctype, file string) {
	if s.o.Reports == nil {
		http.Error(w, "404 no reports", http.StatusNotFound)
		return
	}
	rep, err := s.o.Reports.Report(r.Context(), s.reportRequest(r))
	if err != nil {
		http.Error(w, "400 "+err.Error(), http.StatusBadRequest)
		return
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, rep, f, s.w["lang"]); err != nil {
		s.fail(w, r, &u, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	if file != "" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": file}))
	} else {
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'")
		h.Set("X-Frame-Options", "SAMEORIGIN")
	}
	w.Write(buf.Bytes())
}

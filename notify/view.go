package notify

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// view is what templates see. Every field is plain data; the templates
// choose what to show. History and Notes are filled only for notices to
// staff, so a template for the requester cannot show them by mistake.
type view struct {
	Kind  string
	Lang  string
	ID    string
	Tag   string
	Staff bool

	Subject       string
	Requester     string // "Name <addr>", or addr
	RequesterName string // the name, or the address
	RequesterAddr string
	Recipient     string // the name of the addressee, or ""
	// ToRequester is set when the one addressee is the ticket's requester,
	// so that an answer to her mail speaks plainly, without commands' jargon.
	ToRequester bool
	Support     string // the name of the support address, or the address
	SupportAddr string

	Body      string
	Via       string // "phone" when the desk typed in a call
	Created   string
	Level     int
	Group     string
	Assignee  string
	State     string // the ticket's state, in the template's language
	StateCode string // open, resolved, closed
	Category  string
	Priority  string
	RelatedTo string

	Actor string
	Text  string

	History []entryView
	Notes   []entryView
	Verbs   []verbView
	Results []resultView
	// Refused is set when a command of the mail was refused, so none applied.
	Refused bool
	// Files lists every file of the ticket, for the desk's first look.
	Files []attView

	Attached []attView
	Listed   []attView
	// Timer is what a service-level notice tells (see timerView).
	Timer timerView
	// Actions are the one-tap actions of assignment and new-ticket mails.
	Actions []actionView
	// StatusURL is the requester's status page, in the acknowledgement
	// to her only; "" when there is none.
	StatusURL string
}

// actionView is one command offered as a mailto: link (package
// ticket/action).
type actionView struct {
	Label   string
	Command string
	URL     string
}

type entryView struct {
	Seq      int
	At       string
	Actor    string
	Kind     string
	Text     string
	Data     map[string]string
	Level    int
	Group    string
	Assignee string
}

type verbView struct {
	Verb   string // canonical (English) name, for the explanation
	Name   string // Spanish spelling, as written: "escalar"
	Syntax string
	// Explain is what the "explain" template of the text part writes for
	// Verb, ExplainHTML that of the HTML part: the same as
	// {{template "explain" .Verb}}, made once per renderer.
	Explain     string
	ExplainHTML htmltemplate.HTML
}

type resultView struct {
	Raw    string
	Verb   string
	Status string // applied, refused, skipped
	Reason string
	Syntax string
}

type attView struct {
	Name        string
	ContentType string
	Size        string
	SHA256      string
}

func (r *Renderer) view(n ticket.Notice, attach, listed []ticket.Attachment) view {
	t := n.Ticket
	if !n.Kind.RevealsTicket() {
		// The recipient may not learn anything of the ticket: its templates
		// see a blank one, whatever they ask for.
		t = &ticket.Ticket{}
	}
	v := view{
		Kind:          string(n.Kind),
		Lang:          r.lang,
		ID:            string(t.ID),
		Tag:           t.ID.Tag(),
		Staff:         n.Kind.ForStaff(),
		Subject:       oneLine(t.Subject),
		Requester:     displayAddr(t.Requester),
		RequesterName: t.Requester.Name,
		RequesterAddr: t.Requester.Addr,
		Support:       r.from.Name,
		SupportAddr:   r.support,
		Body:          strings.TrimSpace(t.Body),
		Created:       r.date(t.CreatedAt),
		Level:         int(t.Level),
		Group:         r.group(t.Group),
		Assignee:      r.person(t.Assignee),
		State:         t.State.Label(r.lang),
		StateCode:     string(t.State),
		Category:      t.Category,
		Priority:      string(t.Priority),
		RelatedTo:     string(t.RelatedTo),
		Actor:         r.person(n.Actor),
		Text:          strings.TrimSpace(n.Text),
		Timer:         r.timer(n),
	}
	if v.RequesterName == "" {
		v.RequesterName = t.Requester.Addr
	}
	if v.Support == "" {
		v.Support = r.from.Addr
	}
	if len(n.To) == 1 {
		v.ToRequester = t.Requester.Addr != "" && ticket.NormalizeAddr(n.To[0].Addr) == t.Requester.Addr
		v.Recipient = n.To[0].Name
		if v.Recipient == "" && r.people != nil && n.Kind.ForStaff() {
			v.Recipient = r.people.DisplayName(n.To[0].Addr)
		}
	}
	if r.status != nil && n.Kind == ticket.NoticeAck && v.ToRequester {
		// RevealsTicket holds for an acknowledgement; the link is a
		// capability, so it goes to the requester alone.
		v.StatusURL = r.status(t.ID)
	}
	for _, e := range t.History {
		if e.Kind == ticket.KindOpened && e.Data["via"] == "phone" {
			v.Via = "phone"
		}
	}
	if v.Staff {
		// The text of a mail with several commands is recorded under each;
		// show it once per mail, and not at all for the last mail when the
		// notice shows it as its comment.
		shown := map[string]bool{}
		if len(t.History) > 0 && v.Text != "" {
			shown[t.History[len(t.History)-1].MessageID+"\x00"+v.Text] = true
		}
		for _, e := range t.History {
			ev := entryView{
				Seq: e.Seq, At: r.date(e.At), Actor: r.person(e.Actor), Kind: string(e.Kind),
				Text: strings.TrimSpace(e.Text), Data: r.entryData(e.Data),
				Level: int(e.Level), Group: r.group(e.Group), Assignee: r.person(e.Assignee),
			}
			if key := e.MessageID + "\x00" + ev.Text; e.MessageID != "" && ev.Text != "" && e.Kind != ticket.KindNoted {
				if shown[key] {
					ev.Text = ""
				}
				shown[key] = true
			}
			v.History = append(v.History, ev)
			if e.Kind == ticket.KindNoted {
				v.Notes = append(v.Notes, ev)
			}
		}
	}
	en := r.lang == "en"
	for _, vb := range noticeVerbs(n) {
		vv := verbView{Verb: string(vb), Name: vb.Spanish(), Syntax: vb.Syntax()}
		if en {
			vv.Name, vv.Syntax = string(vb), vb.SyntaxEN()
		}
		v.Verbs = append(v.Verbs, vv)
	}
	for _, res := range n.Results {
		rv := resultView{
			Raw: res.Command.Raw, Verb: string(res.Command.Verb), Status: res.Status,
			Reason: res.Reason, Syntax: res.Command.Verb.Syntax(),
		}
		if en {
			rv.Syntax = res.Command.Verb.SyntaxEN()
			if res.ReasonEN != "" {
				rv.Reason = res.ReasonEN
			}
		}
		if strings.Contains(rv.Reason, rv.Syntax) {
			rv.Syntax = "" // the reason already quotes it
		}
		if res.Status == ticket.ResultRefused {
			v.Refused = true
		}
		v.Results = append(v.Results, rv)
	}
	if n.Kind == ticket.NoticeNewTicket {
		for _, a := range t.Attachments {
			v.Files = append(v.Files, r.attView(a))
		}
	}
	for _, a := range attach {
		v.Attached = append(v.Attached, r.attView(a))
	}
	for _, a := range listed {
		v.Listed = append(v.Listed, r.attView(a))
	}
	return v
}

// noticeVerbs returns the commands the recipients of n may use: those it
// names, or every command for the notices that go to the desk.
func noticeVerbs(n ticket.Notice) []ticket.Verb {
	if len(n.Verbs) == 0 && (n.Kind == ticket.NoticeNewTicket || n.Kind == ticket.NoticeReopened) {
		return ticket.AllVerbs()
	}
	return n.Verbs
}

func (r *Renderer) attView(a ticket.Attachment) attView {
	name := a.Filename
	if name == "" {
		name = "(sin nombre)"
		if r.lang == "en" {
			name = "(no name)"
		}
	}
	return attView{Name: name, ContentType: a.ContentType, Size: humanSize(r.lang, a.Size), SHA256: a.SHA256}
}

// person names the staff member at addr by their display name, or by
// the address when none is known.
func (r *Renderer) person(addr string) string {
	if r.people != nil && addr != "" {
		if name := r.people.DisplayName(addr); name != "" {
			return name
		}
	}
	return addr
}

// group names the group called name by its label, or by its name.
func (r *Renderer) group(name string) string {
	if r.people != nil && name != "" {
		if label := r.people.GroupLabel(name); label != "" {
			return label
		}
	}
	return name
}

// entryData returns the data of a history entry with its group and
// assignee named as people read them.
func (r *Renderer) entryData(data map[string]string) map[string]string {
	if r.people == nil || (data["group"] == "" && data["assignee"] == "") {
		return data
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = v
	}
	out["group"], out["assignee"] = r.group(data["group"]), r.person(data["assignee"])
	return out
}

func (r *Renderer) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(r.loc).Format("2006-01-02 15:04 MST")
}

func displayAddr(a ticket.Address) string {
	if a.Name == "" {
		return a.Addr
	}
	return a.Name + " <" + a.Addr + ">"
}

// humanSize formats n bytes for people, with the decimal comma in Spanish.
func humanSize(lang string, n int64) string {
	var s string
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		s = fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		s = fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	if lang == "es" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// indent prefixes every line of s with prefix, for quoting text in the
// plain-text part.
func indent(prefix, s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(prefix+l, " ")
	}
	return strings.Join(lines, "\n")
}

func textFuncs() texttemplate.FuncMap {
	return texttemplate.FuncMap{"indent": indent}
}

func htmlFuncs() htmltemplate.FuncMap {
	return htmltemplate.FuncMap{"indent": indent}
}

// samplePending is a notice of kind k that exercises every field, rendered
// by [NewRenderer] to find template errors early.
func samplePending(k ticket.NoticeKind) ticket.Pending {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t := &ticket.Ticket{
		ID: "OTI-2026-000001", Subject: "muestra", Requester: ticket.Address{Name: "Ana", Addr: "ana@example.org"},
		Body: "texto", Level: ticket.Level2, Group: "redes", Assignee: "x@example.org", State: ticket.StateOpen,
		Category: "red", Priority: ticket.PriorityHigh, CreatedAt: at, UpdatedAt: at, RelatedTo: "OTI-2025-000009",
		Attachments: []ticket.Attachment{{Filename: "a.pdf", ContentType: "application/pdf", Size: 10, SHA256: "00"}},
		Thread:      []string{"a@example.org"},
	}
	for _, kind := range []ticket.Kind{ticket.KindOpened, ticket.KindClassified, ticket.KindPrioritized,
		ticket.KindEscalated, ticket.KindAssigned, ticket.KindReplied, ticket.KindNoted, ticket.KindResolved,
		ticket.KindClosed, ticket.KindReopened, ticket.KindRefused, ticket.KindHelp, ticket.KindAutoReply,
		ticket.KindDeliveryFailed, ticket.KindDegraded, ticket.KindThirdParty, ticket.KindRelayPaused} {
		t.Append(ticket.Entry{At: at, Actor: "x@example.org", Kind: kind, Text: "t", Data: map[string]string{
			"via": "mail", "category": "red", "priority": "alta", "previous": "baja", "from_level": "1",
			"to_level": "2", "group": "redes", "assignee": "x@example.org", "command": "#x", "reason": "r",
			"recipient": "y@example.org", "forced": "true", "attachments": "a.pdf", "related_to": "OTI-2025-000009",
			"commands": "#x", "not_relayed": "r", "reason_en": "r",
		}})
	}
	return ticket.Pending{Seq: 1, MessageID: "s@example.org", CreatedAt: at, Notice: ticket.Notice{
		Kind: k, To: []ticket.Address{{Name: "Ana", Addr: "ana@example.org"}}, Ticket: t, Actor: "x@example.org",
		Text: "t", InReplyTo: "a@example.org", Verbs: ticket.AllVerbs(),
		Results: []ticket.Result{
			{Command: ticket.Command{Verb: ticket.VerbClose, Raw: "#cerrar"}, Status: ticket.ResultRefused, Reason: "r"},
			{Command: ticket.Command{Verb: ticket.VerbNote, Raw: "#nota x"}, Status: ticket.ResultSkipped, Reason: "r"},
			{Command: ticket.Command{Verb: ticket.VerbHelp, Raw: "#ayuda"}, Status: ticket.ResultApplied},
		},
	}}
}

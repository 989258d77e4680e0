// Package action turns the commands a person may use on a ticket into
// one-tap actions: for each, a label and a mailto: URL (RFC 6068) that
// opens the person's own mail program with a reply to the ticket, its
// [OTI-…] tag in the subject and the command already in the body
// ("#escalar nivel2 redes", "#resolver ", "#cerrar", "#nota ", …). The
// console's case page and the assignment and new-ticket mails show them,
// so that a specialist on a phone resolves or escalates without typing a
// command.
//
// An action changes nothing by itself: the mail it opens goes through the
// intake like any other, where the sender is authenticated and the command
// authorised by level. What is offered follows the same rules
// ([ticket.Desk.AllowedVerbs], and the state of the ticket) so that a tap
// does not end in a refusal.
//
// # Mail clients and the threading headers
//
// The URL carries In-Reply-To (and References when given), which RFC 6068
// §2 allows as hfields. Not every client honours them: mutt, since 2016,
// takes only subject and body from a mailto: URL unless mailto_allow says
// otherwise; most webmail and phone clients keep only to, cc, subject and
// body. Nothing depends on them: the [OTI-…] tag in the subject routes the
// reply to its ticket, and with reply tokens the To address proves who
// read which notification.
//
// Everything here is pure computation over its arguments: no I/O, no
// clock.
package action

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ticketd/ticketd/ticket"
)

// Action is one command offered as a link.
type Action struct {
	// Verb is the command.
	Verb ticket.Verb
	// Label is what the link says, in the language asked for: "Escalar a
	// nivel 2: Redes".
	Label string
	// Command is the line the mail's body carries: "#escalar nivel2 redes".
	// A command that wants words after it (a resolution, a note) ends in a
	// space, for the person to go on typing.
	Command string
	// URL is the mailto: URL that opens the mail.
	URL string
}

// Mail says where the mails of the actions go and what they answer.
type Mail struct {
	// To is the address the mail is sent to: the support address, or the
	// person's own reply-token address when reply tokens are on (package
	// notify/replytoken makes it). Required.
	To string
	// InReplyTo is the Message-ID the mail answers (with or without angle
	// brackets); empty for none.
	InReplyTo string
	// References are the Message-IDs of the thread, oldest first; empty
	// for none.
	References []string
	// Lang is the language of labels and commands: "es" (the zero value)
	// or "en".
	Lang string
}

// Offer lists the actions person may use on t under the rules of d, with
// mails built by m. It returns nil for a nil ticket.
func Offer(d *ticket.Desk, t *ticket.Ticket, person string, m Mail) []Action {
	if d == nil || t == nil {
		return nil
	}
	return Build(d.AllowedVerbs(t, person), t, d.Directory().Groups(), person, m)
}

// Build lists the actions of verbs (the commands the person may use, as
// [ticket.Desk.AllowedVerbs] or an assignment notice gives them) on t,
// in the order of verbs. groups are the desk's groups, for the targets of
// escalation and assignment; with none, escalation goes to each higher
// level's default group. self is the person the actions are for: one
// who works at the ticket's level and does not hold it is offered to take
// it. A command that would be refused in the ticket's state is left out:
// on a closed ticket only a note and help remain.
func Build(verbs []ticket.Verb, t *ticket.Ticket, groups []ticket.Group, self string, m Mail) []Action {
	if t == nil {
		return nil
	}
	// Every action of the list answers the same mail: the part of the URL
	// before its body is escaped once.
	b := builder{t: t, en: m.Lang == "en", self: ticket.NormalizeAddr(self), prefix: urlPrefix(m, t)}
	for _, v := range verbs {
		if t.State.Final() && v != ticket.VerbNote && v != ticket.VerbHelp {
			continue
		}
		b.add(v, groups)
	}
	return b.out
}

type builder struct {
	t      *ticket.Ticket
	en     bool
	self   string
	prefix string // of every URL, up to its body (urlPrefix)
	out    []Action
}

// tr returns es or en, by the language asked for.
func (b *builder) tr(es, en string) string {
	if b.en {
		return en
	}
	return es
}

// word returns the spelling of v users write in the language asked for.
func (b *builder) word(v ticket.Verb) string {
	if b.en {
		return string(v)
	}
	return v.Spanish()
}

func (b *builder) push(v ticket.Verb, label, args string, open bool) {
	cmd := "#" + b.word(v)
	if args != "" {
		cmd += " " + args
	}
	if open {
		cmd += " "
	}
	b.out = append(b.out, Action{Verb: v, Label: label, Command: cmd, URL: withBody(b.prefix, cmd)})
}

func (b *builder) add(v ticket.Verb, groups []ticket.Group) {
	t, open := b.t, b.t.State == ticket.StateOpen
	switch v {
	case ticket.VerbEscalate:
		if !open {
			return
		}
		for l := t.Level + 1; l <= ticket.Level3; l++ {
			level := fmt.Sprintf(b.tr("nivel%d", "level%d"), l)
			found := false
			for _, g := range groups {
				if g.Level != l {
					continue
				}
				found = true
				b.push(v, fmt.Sprintf(b.tr("Escalar a nivel %d: %s", "Escalate to level %d: %s"), l, label(g)), level+" "+g.Name, false)
			}
			if !found && len(groups) == 0 {
				b.push(v, fmt.Sprintf(b.tr("Escalar a nivel %d", "Escalate to level %d"), l), level, false)
			}
		}
	case ticket.VerbAssign:
		if !open {
			return
		}
		if b.self != "" && b.self != t.Assignee && memberAt(groups, b.self, t.Level) {
			b.push(v, b.tr("Tomar el caso", "Take the case"), b.self, false)
		}
		for _, g := range groups {
			if g.Level == t.Level && g.Name != t.Group {
				b.push(v, fmt.Sprintf(b.tr("Asignar a %s", "Assign to %s"), label(g)), g.Name, false)
			}
		}
	case ticket.VerbClassify:
		if open {
			b.push(v, b.tr("Clasificar", "Classify"), "", true)
		}
	case ticket.VerbPriority:
		if !open {
			return
		}
		for _, p := range []ticket.Priority{ticket.PriorityHigh, ticket.PriorityMedium, ticket.PriorityLow} {
			if p != t.Priority {
				b.push(v, fmt.Sprintf(b.tr("Prioridad %s", "Priority %s"), priorityWord(p, b.en)), priorityWord(p, b.en), false)
			}
		}
	case ticket.VerbResolve:
		if open {
			b.push(v, b.tr("Resolver", "Resolve"), "", true)
		}
	case ticket.VerbClose:
		switch t.State {
		case ticket.StateResolved:
			b.push(v, b.tr("Cerrar", "Close"), "", false)
		case ticket.StateOpen:
			b.push(v, b.tr("Cerrar sin resolver", "Close unresolved"), b.tr("forzar", "force"), true)
		}
	case ticket.VerbReopen:
		if t.State == ticket.StateResolved {
			b.push(v, b.tr("Reabrir", "Reopen"), "", true)
		}
	case ticket.VerbNote:
		b.push(v, b.tr("Nota interna", "Internal note"), "", true)
	case ticket.VerbHelp:
		b.push(v, b.tr("Ayuda: órdenes que puede usar", "Help: the commands you may use"), "", false)
	}
}

func label(g ticket.Group) string {
	if g.Label != "" {
		return g.Label
	}
	return g.Name
}

func memberAt(groups []ticket.Group, addr string, l ticket.Level) bool {
	for _, g := range groups {
		if g.Level != l {
			continue
		}
		for _, m := range g.Members {
			if ticket.SameAddr(m, addr) {
				return true
			}
		}
	}
	return false
}

func priorityWord(p ticket.Priority, en bool) string {
	if !en {
		return string(p)
	}
	switch p {
	case ticket.PriorityHigh:
		return "high"
	case ticket.PriorityMedium:
		return "medium"
	}
	return "low"
}

// Subject returns the subject of a reply about t: "Re: [OTI-…] <subject>",
// on one line, without the tag twice.
func Subject(t *ticket.Ticket) string {
	s := strings.Join(strings.FieldsFunc(t.Subject, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if tag := t.ID.Tag(); !strings.Contains(s, tag) {
		s = strings.TrimSpace(tag + " " + s)
	}
	return "Re: " + s
}

// URL returns the mailto: URL of a reply about t to m.To whose body is
// body (RFC 6068): subject, In-Reply-To and References when m has them,
// and body, each percent-encoded as UTF-8. Line breaks in body become
// CRLF (RFC 6068 §5).
func URL(m Mail, t *ticket.Ticket, body string) string {
	return withBody(urlPrefix(m, t), body)
}

// urlPrefix returns the mailto: URL of [URL] up to its body parameter.
func urlPrefix(m Mail, t *ticket.Ticket) string {
	var b strings.Builder
	b.WriteString("mailto:")
	local, domain, ok := strings.Cut(strings.TrimSpace(m.To), "@")
	escapeTo(&b, local)
	if ok {
		// RFC 6068 §2: the "@" of an addr-spec stays as it is.
		b.WriteByte('@')
		escapeTo(&b, domain)
	}
	b.WriteString("?subject=")
	escapeTo(&b, Subject(t))
	if id := msgID(m.InReplyTo); id != "" {
		b.WriteString("&In-Reply-To=")
		escapeTo(&b, id)
	}
	var refs []string
	for _, r := range m.References {
		if id := msgID(r); id != "" {
			refs = append(refs, id)
		}
	}
	if len(refs) > 0 {
		b.WriteString("&References=")
		escapeTo(&b, strings.Join(refs, " "))
	}
	return b.String()
}

// withBody returns prefix (from urlPrefix) with body as its body
// parameter, line breaks as CRLF: one allocation for a body without
// line breaks.
func withBody(prefix, body string) string {
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	var b strings.Builder
	b.Grow(len(prefix) + len("&body=") + 3*len(body))
	b.WriteString(prefix)
	b.WriteString("&body=")
	escapeTo(&b, body)
	return b.String()
}

// msgID returns id in angle brackets, or "" when it is not one Message-ID
// (empty, or with spaces or brackets inside).
func msgID(id string) string {
	id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
	if id == "" || strings.ContainsAny(id, "<> \t\r\n") {
		return ""
	}
	return "<" + id + ">"
}

// escapeTo writes s to b with every byte percent-encoded but the
// unreserved characters of RFC 3986 §2.3. RFC 6068 lets some delimiters
// stand as they are, but encoding them is always valid and keeps clients
// that decode "+" as a space (as HTML forms do) from changing an address
// or a subject. Invalid UTF-8 becomes U+FFFD, since RFC 6068 §2 requires
// UTF-8.
func escapeTo(b *strings.Builder, s string) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

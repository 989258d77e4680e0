package ticket

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Inbound is a mail as the rules see it: already decoded, with the new text
// of a reply separated from what it quotes.
type Inbound struct {
	// MessageID identifies the mail (a content hash when the mail had none).
	MessageID string
	From      Address
	Subject   string
	// Text is the new text of the mail: for a reply, without the quoted
	// history. Commands are read from it.
	Text string
	// Body is the whole text of the mail (with a forwarded or quoted
	// request), recorded as the request when the mail opens a ticket; empty
	// means Text.
	Body string
	// Attachments that came with the mail, already stored.
	Attachments []Attachment
	// RawSHA256 is the hash of the raw mail as received and stored.
	RawSHA256 string
	// Auto is non-empty for a mail that must never be answered automatically
	// (out of office, list, bounce, …), and says why.
	Auto string
	// Problems lists what was damaged in the mail or not kept (too large).
	Problems []string
	// Via names the desk agent who typed in a request received by phone; the
	// requester is From.
	Via string
	// Sender says whether From is proven to be who sent the mail. The zero
	// value is "not verified": commands that change a ticket are then
	// refused. Callers that authenticated the sender themselves (the admin
	// API's operator typing a phone request) set [Trusted].
	Sender Verification
	// ReturnPath is the envelope sender (RFC 5321 MAIL FROM, as the
	// receiving server recorded it in Return-Path), empty when unknown.
	// The rules do not use it; the auto-answer allowance does.
	ReturnPath string
	// Cc are the other recipients the mail was copied to. When the mail
	// opens a ticket they take part in it (see [Desk.TakesPart]).
	Cc []Address
	// ArrivedAt is when the mail reached the mailbox (the IMAP server's
	// INTERNALDATE), zero when unknown. A ticket opened from an older mail
	// (a first start, a backlog after an outage) opens at that time.
	ArrivedAt time.Time
}

// openedAt returns when a ticket opened from in opens, recorded at now:
// when the mail arrived, if that is known and plausible (not after now,
// not before 1971, as a server without a date says), else now.
func (in Inbound) openedAt(now time.Time) time.Time {
	if a := in.ArrivedAt; a.Year() > 1970 && a.Before(now) {
		return a.UTC()
	}
	return now.UTC()
}

// Outcome is what one inbound mail (or one command-line action) did to a
// ticket: the ticket after it, the history entries it appended and the
// notifications it owes. Callers persist all of it in one transaction.
type Outcome struct {
	// raw and msgID identify the mail being applied: every entry it causes
	// carries the SHA-256 of the raw mail, so the register can show exactly
	// what was received.
	raw, msgID string

	Ticket  *Ticket
	Entries []Entry
	Notices []Notice
	// Results says what became of each command; Refused is set when a
	// command was refused (and therefore none applied).
	Results []Result
	Refused bool
}

// Desk applies the support procedure. It is immutable and safe for
// concurrent use.
type Desk struct {
	dir        *Directory
	voc        *vocabulary
	relayLimit int
	// sl is the service-level policy, nil for none (no timers).
	sl *ServiceLevels
	// off holds the requester notices turned off ([WithRequesterNotices]).
	off map[NoticeKind]bool
	// errs are the problems of the options, reported by NewDesk.
	errs []error
}

// NewDesk returns the rules engine for the groups of dir, configured by
// opts.
func NewDesk(dir *Directory, opts ...DeskOption) (*Desk, error) {
	if dir == nil {
		return nil, errors.New("ticket: NewDesk needs a directory")
	}
	d := &Desk{dir: dir, voc: std, relayLimit: DefaultRelayLimit, off: map[NoticeKind]bool{}}
	for _, o := range opts {
		o(d)
	}
	if err := errors.Join(d.errs...); err != nil {
		return nil, err
	}
	d.errs = nil
	return d, nil
}

// Directory returns the groups the desk works with.
func (d *Desk) Directory() *Directory { return d.dir }

// Open opens ticket id for a new request (activity 1): at level 1 with the
// service desk. The requester is acknowledged and the desk alerted. When the
// request carries commands (an agent opening a case and classifying it in
// the same mail), they are applied after the opening, all or none.
// relatedTo names the closed ticket a later mail was about, if any.
func (d *Desk) Open(id ID, in Inbound, relatedTo ID, now time.Time) Outcome {
	desk := d.dir.Desk()
	body := in.Body
	if body == "" {
		body = in.Text
	}
	t := &Ticket{
		ID:        id,
		Subject:   cleanSubject(in.Subject),
		Requester: Address{Name: in.From.Name, Addr: WrittenAddr(in.From.Addr)},
		Body:      body,
		Level:     Level1,
		Group:     desk.Name,
		State:     StateOpen,
		CreatedAt: in.openedAt(now),
		UpdatedAt: now.UTC(),
		RelatedTo: relatedTo,
		Cc:        dedupe(in.Cc),
	}
	t.Attachments = append(t.Attachments, in.Attachments...)
	t.AddThread(in.MessageID)
	actor, via := NormalizeAddr(t.Requester.Addr), "mail"
	if in.Via != "" {
		actor, via = NormalizeAddr(in.Via), "phone"
	}
	data := map[string]string{"via": via}
	if opened := in.openedAt(now); !opened.Equal(now) {
		// The register keeps both: the entry is dated when the request
		// arrived, and says when ticketd recorded it.
		data["recorded_at"] = now.UTC().Format(time.RFC3339Nano)
	}
	if relatedTo != "" {
		data["related_to"] = string(relatedTo)
	}
	addAttachmentData(data, in.Attachments)
	o := Outcome{Ticket: t, raw: in.RawSHA256, msgID: in.MessageID}
	o.append(Entry{At: t.CreatedAt, Actor: actor, Kind: KindOpened, Text: body, MessageID: in.MessageID, Data: data})
	o.degraded(in, now)
	if SameAddr(t.Requester.Addr, UnknownRequester) {
		o.unknownRequester(in, now)
	}

	parsed := d.voc.parse(in.Text)
	switch {
	case len(parsed.Commands) == 0 || !d.dir.IsStaff(in.From.Addr):
	case !in.Sender.Verified:
		// The request opens as any other; its commands are not trusted.
		d.refuseUnverified(&o, in, parsed, now)
	default:
		// A staff member opening a case may classify and route it at once.
		d.applyCommands(&o, in, parsed, now)
	}
	o.notify(Notice{Kind: NoticeAck, To: []Address{t.Requester}, InReplyTo: in.MessageID})
	o.notify(Notice{Kind: NoticeNewTicket, To: d.dir.MemberAddresses(desk.Name), Actor: actor, Text: body})
	d.finish(&o)
	return o
}

// Reply threads a mail onto ticket t (which it changes in place): it records
// the mail, applies its commands as one unit, relays its text to whoever
// must read it, and answers commands with a receipt. The caller has already
// routed mail about a closed ticket from anyone but staff to a new ticket.
//
// Mail from someone who does not take part in t ([Desk.TakesPart]) is
// recorded for the desk only. Commands that change a ticket apply only
// when in.Sender is verified; #ayuda from a sender who is not verified
// gets the generic help, which says nothing of the ticket.
func (d *Desk) Reply(t *Ticket, in Inbound, now time.Time) Outcome {
	o := Outcome{Ticket: t, raw: in.RawSHA256, msgID: in.MessageID}
	t.AddThread(in.MessageID)
	t.Attachments = append(t.Attachments, in.Attachments...)
	from := NormalizeAddr(in.From.Addr)
	if in.Auto != "" {
		data := map[string]string{"reason": in.Auto}
		o.append(Entry{At: now, Actor: from, Kind: KindAutoReply, Text: in.Text, MessageID: in.MessageID, Data: data})
		d.finish(&o)
		return o
	}
	o.degraded(in, now)
	parsed := d.voc.parse(in.Text)
	switch {
	case !d.TakesPart(t, from):
		d.thirdParty(&o, in, parsed, now)
	case len(parsed.Commands) == 0:
		d.recordReply(&o, in, now)
	case !in.Sender.Verified:
		d.refuseUnverified(&o, in, parsed, now)
	default:
		d.applyCommands(&o, in, parsed, now)
	}
	d.finish(&o)
	return o
}

// Tick applies the passing of time to ticket t (which it changes in place)
// at now: it is the entry point of the procedure's timers (reminders,
// overdue levels, resolved tickets waiting for their closure), whose
// outcome the caller persists exactly like a mail's. It records and
// notifies the events of [ServiceLevels] due at now; without a policy, or
// with nothing due, it changes nothing but [Ticket.Due] and owes nothing
// ([Outcome.Empty]).
func (d *Desk) Tick(t *Ticket, now time.Time) Outcome {
	o := Outcome{Ticket: t}
	d.tick(&o, now.UTC())
	d.finish(&o)
	return o
}

// recordReply records a mail without commands and relays it: staff text
// goes to the requester, anyone else's to whoever holds the case (and to the
// desk as well when the case is resolved, since only the desk closes it).
// Relays are within the budget of [Desk.relay].
func (d *Desk) recordReply(o *Outcome, in Inbound, now time.Time) {
	t := o.Ticket
	from := NormalizeAddr(in.From.Addr)
	data := map[string]string{}
	addAttachmentData(data, in.Attachments)
	entry := Entry{At: now, Actor: from, Kind: KindReplied, Text: in.Text, MessageID: in.MessageID, Data: data}
	switch {
	case t.State.Final():
		// Staff writing on a closed case: recorded, told to no one.
		o.append(entry)
	case d.dir.IsStaff(from) && !SameAddr(from, t.Requester.Addr):
		d.relay(o, entry, sideStaff, Notice{Kind: NoticeReply, To: []Address{t.Requester}, Actor: from, Text: in.Text}, now)
	default:
		to := t.Holders(d.dir)
		if t.State == StateResolved {
			to = append(to, d.dir.MemberAddresses(d.dir.Desk().Name)...)
		}
		d.relay(o, entry, sideRequester, Notice{Kind: NoticeRequesterReply, To: without(to, from), Actor: from, Text: in.Text}, now)
	}
}

// applyCommands applies the parsed commands of one mail on a copy of the
// ticket; if every one is allowed the copy replaces the ticket, otherwise
// nothing changes but the refusals, which are recorded. The sender gets a
// receipt (or only the help text when #ayuda was all the mail asked).
func (d *Desk) applyCommands(o *Outcome, in Inbound, parsed Parsed, now time.Time) {
	from := NormalizeAddr(in.From.Addr)
	work := &Outcome{Ticket: o.Ticket.Clone(), raw: o.raw, msgID: o.msgID}
	results := make([]Result, len(parsed.Commands))
	refused := false
	onlyHelp := true
	for i, cmd := range parsed.Commands {
		results[i].Command = cmd
		if cmd.Verb != VerbHelp {
			onlyHelp = false
		}
		if err := d.apply(work, from, cmd, parsed.Comment, in.MessageID, now); err != nil {
			results[i].Status, results[i].Reason, results[i].ReasonEN = ResultRefused, err.Error(), English(err)
			refused = true
			continue
		}
		results[i].Status = ResultApplied
	}
	if refused {
		for i := range results {
			if results[i].Status == ResultApplied {
				results[i].Status = ResultSkipped
				results[i].Reason = "no se aplicó porque otra orden del mismo correo fue rechazada"
				results[i].ReasonEN = "not applied because another command of the same mail was refused"
			}
		}
		for _, r := range results {
			if r.Status != ResultRefused {
				continue
			}
			o.append(Entry{At: now, Actor: from, Kind: KindRefused, Text: parsed.Comment, MessageID: in.MessageID,
				Data: map[string]string{"command": r.Command.Raw, "reason": r.Reason}})
		}
	} else {
		// Adopt the copy: its ticket and what it owes.
		*o.Ticket = *work.Ticket
		o.Entries = append(o.Entries, work.Entries...)
		o.Notices = append(o.Notices, work.Notices...)
	}
	o.Results = append(o.Results, results...)
	o.Refused = o.Refused || refused
	if (!onlyHelp || refused) && (refused || d.dir.IsStaff(from) || !d.told(work.Notices, from)) {
		// A requester whose commands all applied hears of them from the
		// notices they caused (reopened_user): no receipt on top, whose
		// list of commands means little to her.
		o.notify(Notice{Kind: NoticeReceipt, To: []Address{{Name: in.From.Name, Addr: from}}, Results: results, InReplyTo: in.MessageID})
	}
}

// apply applies one command to o.Ticket, or says why it may not.
func (d *Desk) apply(o *Outcome, from string, cmd Command, comment, msgID string, now time.Time) error {
	if cmd.Err != nil {
		return cmd.Err
	}
	t := o.Ticket
	if err := d.allowed(t, from, cmd.Verb); err != nil {
		return err
	}
	spec, _ := d.voc.lookup(cmd.Verb) // allowed refuses a verb that is no command
	if t.State.Final() && !spec.onFinal {
		return refuse("el caso %s está cerrado definitivamente; para un problema nuevo escriba un correo nuevo", "case %s is closed for good; for a new problem write a new mail", t.ID)
	}
	entry := Entry{At: now, Actor: from, MessageID: msgID, Text: joinText(cmd.Text, comment)}
	return spec.syntaxError(spec.apply(d, o, cmd, entry))
}

func (d *Desk) help(o *Outcome, _ Command, entry Entry) error {
	entry.Kind = KindHelp
	o.append(entry)
	o.notify(Notice{Kind: NoticeHelp, To: []Address{{Addr: entry.Actor}}, Verbs: d.AllowedVerbs(o.Ticket, entry.Actor), InReplyTo: entry.MessageID})
	return nil
}

func (d *Desk) note(o *Outcome, _ Command, entry Entry) error {
	if entry.Text == "" {
		return badArgs("la nota está vacía", "the note is empty")
	}
	entry.Kind = KindNoted
	o.append(entry)
	return nil
}

func (d *Desk) classify(o *Outcome, cmd Command, entry Entry) error {
	t := o.Ticket
	t.Category = cmd.Category
	entry.Data = map[string]string{"category": cmd.Category}
	if cmd.Priority != "" {
		t.Priority = cmd.Priority
		entry.Data["priority"] = string(cmd.Priority)
	}
	entry.Kind = KindClassified
	o.append(entry)
	return nil
}

func (d *Desk) prioritize(o *Outcome, cmd Command, entry Entry) error {
	t := o.Ticket
	entry.Data = map[string]string{"priority": string(cmd.Priority), "previous": string(t.Priority)}
	t.Priority = cmd.Priority
	entry.Kind = KindPrioritized
	o.append(entry)
	return nil
}

func (d *Desk) resolve(o *Outcome, _ Command, entry Entry) error {
	t := o.Ticket
	if t.State == StateResolved {
		return refuse("el caso %s ya está resuelto", "case %s is already resolved", t.ID)
	}
	t.State = StateResolved
	entry.Kind = KindResolved
	o.append(entry)
	o.notify(Notice{Kind: NoticeResolved, To: []Address{t.Requester}, Actor: entry.Actor, Text: entry.Text})
	o.notify(Notice{Kind: NoticeResolvedDesk, To: d.dir.MemberAddresses(d.dir.Desk().Name), Actor: entry.Actor, Text: entry.Text})
	return nil
}

func (d *Desk) close(o *Outcome, cmd Command, entry Entry) error {
	t := o.Ticket
	if t.State == StateOpen && !cmd.Force {
		return refuse("el caso %s no está resuelto; use #resolver antes de #cerrar, o #cerrar forzar <motivo> para cerrarlo sin resolver (duplicado, desistido)",
			"case %s is not resolved; use #resolve before #close, or #close force <reason> to close it unresolved (duplicate, withdrawn)", t.ID)
	}
	if cmd.Force && t.State == StateOpen && entry.Text == "" {
		return badArgs("cerrar sin resolver exige un motivo", "closing an unresolved case needs a reason")
	}
	if cmd.Force && t.State == StateOpen {
		entry.Data = map[string]string{"forced": "true"}
	}
	t.State = StateClosed
	entry.Kind = KindClosed
	o.append(entry)
	o.notify(Notice{Kind: NoticeClosed, To: []Address{t.Requester}, Actor: entry.Actor, Text: entry.Text})
	return nil
}

func (d *Desk) reopen(o *Outcome, _ Command, entry Entry) error {
	t := o.Ticket
	if t.State != StateResolved {
		return refuse("el caso %s no está resuelto, no hay nada que reabrir", "case %s is not resolved: there is nothing to reopen", t.ID)
	}
	prev := t.Level
	desk := d.dir.Desk()
	t.State, t.Level, t.Group, t.Assignee = StateOpen, Level1, desk.Name, ""
	entry.Kind = KindReopened
	entry.Data = map[string]string{"from_level": fmt.Sprint(int(prev))}
	o.append(entry)
	o.notify(Notice{Kind: NoticeReopened, To: d.dir.MemberAddresses(desk.Name), Actor: entry.Actor, Text: entry.Text})
	o.notify(Notice{Kind: NoticeReopenedUser, To: []Address{t.Requester}, Actor: entry.Actor, Text: entry.Text})
	return nil
}

func (d *Desk) escalate(o *Outcome, cmd Command, entry Entry) error {
	t := o.Ticket
	if t.State != StateOpen {
		return refuse("el caso %s está resuelto; para seguir trabajándolo use #reabrir", "case %s is resolved; to keep working on it use #reopen", t.ID)
	}
	if t.Level == Level3 && cmd.Level == Level3 {
		return refuse("el caso %s ya está en nivel 3, el último nivel de soporte", "case %s is already at level 3, the last support level", t.ID)
	}
	if cmd.Level <= t.Level {
		return refuse("el caso %s está en nivel %d; solo se escala hacia un nivel superior", "case %s is at level %d; cases are only escalated to a higher level", t.ID, t.Level)
	}
	g, err := d.targetGroup(cmd.Target, cmd.Level)
	if err != nil {
		return err
	}
	entry.Data = map[string]string{"from_level": fmt.Sprint(int(t.Level)), "to_level": fmt.Sprint(int(cmd.Level)), "group": g.Name}
	t.Level, t.Group, t.Assignee = cmd.Level, g.Name, ""
	entry.Kind = KindEscalated
	o.append(entry)
	o.notify(Notice{Kind: NoticeAssigned, To: d.dir.MemberAddresses(g.Name), Actor: entry.Actor, Text: entry.Text, Verbs: d.groupVerbs(g)})
	o.notify(Notice{Kind: NoticeLevelChanged, To: []Address{t.Requester}, Actor: entry.Actor})
	d.tellDesk(o, entry, d.dir.MemberAddresses(g.Name))
	return nil
}

func (d *Desk) targetGroup(name string, l Level) (Group, error) {
	if name == "" {
		g, ok := d.dir.DefaultGroup(l)
		if !ok {
			return Group{}, refuse("no hay ningún grupo de nivel %d configurado", "no level-%d group is configured", l)
		}
		return g, nil
	}
	g, ok := d.dir.Group(name)
	if !ok || g.Level != l {
		return Group{}, refuse("no existe el grupo %q de nivel %d; grupos de nivel %d: %s", "there is no level-%[2]d group %[1]q; level-%[3]d groups: %[4]s", name, l, l, strings.Join(d.dir.groupNamesAt(l), ", "))
	}
	return g, nil
}

func (d *Desk) assign(o *Outcome, cmd Command, entry Entry) error {
	t := o.Ticket
	if t.State != StateOpen {
		return refuse("el caso %s no está abierto; solo se asignan casos abiertos", "case %s is not open; only open cases are assigned", t.ID)
	}
	if strings.Contains(cmd.Target, "@") {
		addr := NormalizeAddr(cmd.Target)
		g, ok := d.dir.groupAtLevel(addr, t.Level)
		if !ok {
			return refuse("%s no pertenece a ningún grupo de nivel %d; para cambiar de nivel use #escalar", "%s belongs to no level-%d group; to change the level use #escalate", addr, t.Level)
		}
		if slices.Contains(d.dir.GroupsOf(addr), t.Group) {
			g, _ = d.dir.Group(t.Group)
		}
		t.Group, t.Assignee = g.Name, addr
		entry.Data = map[string]string{"group": g.Name, "assignee": addr}
		entry.Kind = KindAssigned
		o.append(entry)
		o.notify(Notice{Kind: NoticeAssigned, To: []Address{{Addr: addr}}, Actor: entry.Actor, Text: entry.Text, Verbs: d.groupVerbs(g)})
		d.tellDesk(o, entry, []Address{{Addr: addr}})
		return nil
	}
	g, ok := d.dir.Group(cmd.Target)
	if !ok {
		return refuse("no existe el grupo %q; grupos de nivel %d: %s", "there is no group %q; level-%d groups: %s", cmd.Target, t.Level, strings.Join(d.dir.groupNamesAt(t.Level), ", "))
	}
	if g.Level != t.Level {
		return refuse("el grupo %q es de nivel %d y el caso está en nivel %d; para cambiar de nivel use #escalar", "group %q is at level %d and the case at level %d; to change the level use #escalate", g.Name, g.Level, t.Level)
	}
	t.Group, t.Assignee = g.Name, ""
	entry.Data = map[string]string{"group": g.Name}
	entry.Kind = KindAssigned
	o.append(entry)
	o.notify(Notice{Kind: NoticeAssigned, To: d.dir.MemberAddresses(g.Name), Actor: entry.Actor, Text: entry.Text, Verbs: d.groupVerbs(g)})
	d.tellDesk(o, entry, d.dir.MemberAddresses(g.Name))
	return nil
}

// tellDesk tells the Mesa, which follows every case, that someone outside
// it moved the case (entry): a transferred notice to the members of the
// desk but those in assigned, who get the assignment. When the desk did it
// itself, the one who did gets a receipt and the others need no mail.
func (d *Desk) tellDesk(o *Outcome, entry Entry, assigned []Address) {
	if d.dir.IsDesk(entry.Actor) {
		return
	}
	to := d.dir.MemberAddresses(d.dir.Desk().Name)
	for _, a := range assigned {
		to = without(to, NormalizeAddr(a.Addr))
	}
	o.notify(Notice{Kind: NoticeTransferred, To: to, Actor: entry.Actor, Text: entry.Text})
}

// allowed says whether from may use verb on t, by the command's entry in
// the vocabulary:
//   - members of a level-1 group (the desk) may use every command;
//   - members of a level-2 or level-3 group may use the commands open to
//     their level (escalate, assign, resolve, note) on tickets at their level;
//   - the requester may only use the requester's commands (reopen);
//   - anyone may use the commands open to anyone (help); anyone else is
//     refused.
func (d *Desk) allowed(t *Ticket, from string, verb Verb) error {
	c, ok := d.voc.lookup(verb)
	if !ok {
		return refuse("#%[1]s no es una orden de ticketd", "#%[1]s is not a ticketd command", verb)
	}
	if c.who&byAnyone != 0 || d.dir.IsDesk(from) {
		return nil
	}
	levels := d.dir.levelsOf(from)
	if len(levels) > 0 && c.who&byLevel != 0 {
		if slices.Contains(levels, t.Level) {
			return nil
		}
		return refuse("el caso %s está en nivel %d y usted atiende el nivel %s", "case %s is at level %d and you work at level %s", t.ID, t.Level, joinLevels(levels))
	}
	if SameAddr(from, t.Requester.Addr) {
		if c.who&byRequester != 0 {
			return nil
		}
		return refuse("como solicitante solo puede usar #reabrir cuando el caso está resuelto; la orden #%[1]s es de la Mesa de servicios",
			"as the requester you may only use #reopen when the case is resolved; #%[2]s is for the service desk", c.es, c.en)
	}
	if len(levels) > 0 {
		return refuse("solo la Mesa de servicios puede usar #%[1]s", "only the service desk may use #%[2]s", c.es, c.en)
	}
	return refuse("%s no tiene permiso para dar órdenes sobre el caso %s", "%s may not give commands on case %s", from, t.ID)
}

// AllowedVerbs lists the commands addr may use on t (on any ticket of their
// level when t is nil), for help mails.
func (d *Desk) AllowedVerbs(t *Ticket, addr string) []Verb {
	addr = NormalizeAddr(addr)
	var out []Verb
	for _, v := range d.voc.verbs() {
		probe := t
		if probe == nil {
			probe = &Ticket{Level: Level1}
			if ls := d.dir.levelsOf(addr); len(ls) > 0 {
				probe.Level = ls[0]
			}
		}
		if d.allowed(probe, addr, v) == nil {
			out = append(out, v)
		}
	}
	return out
}

// groupVerbs lists what members of g may answer an assignment with: every
// command for the desk; for the other levels the commands open to their
// level or to anyone, without those that raise the level at the top one.
func (d *Desk) groupVerbs(g Group) []Verb {
	if g.Level == Level1 {
		return d.voc.verbs()
	}
	var out []Verb
	for _, c := range d.voc.cmds {
		if c.who&(byLevel|byAnyone) == 0 || (c.raises && g.Level == Level3) {
			continue
		}
		out = append(out, c.verb)
	}
	return out
}

// Empty reports whether the outcome changed nothing and owes nothing, so
// there is nothing to persist.
func (o Outcome) Empty() bool { return len(o.Entries) == 0 && len(o.Notices) == 0 }

// append adds e to the ticket's history and to the outcome's new entries.
func (o *Outcome) append(e Entry) {
	if o.raw != "" && e.MessageID == o.msgID && e.Data["raw_sha256"] == "" {
		data := make(map[string]string, len(e.Data)+1)
		maps.Copy(data, e.Data)
		data["raw_sha256"] = o.raw
		e.Data = data
	}
	o.Entries = append(o.Entries, o.Ticket.Append(e))
}

// unknownRequester tells the desk, in an internal note its new-ticket
// notice shows, that the request named no sender: nobody was acknowledged,
// and the raw mail is kept for whoever must find out who wrote it.
func (o *Outcome) unknownRequester(in Inbound, now time.Time) {
	o.append(Entry{At: now, Actor: "ticketd", Kind: KindNoted, MessageID: in.MessageID,
		Text: fmt.Sprintf("Solicitante desconocido: el correo no dice quién lo envió (sin From ni Return-Path). "+
			"No se envió acuse de recibo ni se enviará aviso al solicitante; identifíquelo por el texto. "+
			"El correo original se guarda (SHA-256 %s).", in.RawSHA256),
		Data: map[string]string{"reason_en": fmt.Sprintf("Unknown requester: the mail names no sender (no From, no Return-Path). "+
			"No acknowledgement was sent and no notice will go to the requester; identify them from the text. "+
			"The raw mail is kept (SHA-256 %s).", in.RawSHA256)}})
}

// degraded records what was damaged in or cut from the mail.
func (o *Outcome) degraded(in Inbound, now time.Time) {
	if len(in.Problems) == 0 {
		return
	}
	o.append(Entry{At: now, Actor: "ticketd", Kind: KindDegraded, MessageID: in.MessageID,
		Text: strings.Join(in.Problems, "\n")})
}

func (o *Outcome) notify(n Notice) {
	if len(n.To) == 0 {
		return
	}
	o.Notices = append(o.Notices, n)
}

// told reports whether one of ns tells addr what happened: a notice of a
// requester kind to addr that is not turned off.
func (d *Desk) told(ns []Notice, addr string) bool {
	for _, n := range ns {
		if n.Kind.ForStaff() || d.off[n.Kind] {
			continue
		}
		for _, a := range n.To {
			if NormalizeAddr(a.Addr) == addr {
				return true
			}
		}
	}
	return false
}

// finish points every notice of o at the final state of the ticket and
// drops duplicate and empty recipients, and the requester from the notices
// of the kinds turned off. A recipient whose address cannot be mailed is
// dropped too, and the ticket records at once that the notice did not go
// to them and why (a [KindDeliveryFailed] the desk sees).
func (d *Desk) finish(o *Outcome) {
	if o.Ticket != nil {
		o.Ticket.Due = d.NextDue(o.Ticket)
	}
	kept := o.Notices[:0]
	for _, n := range o.Notices {
		n.Ticket = o.Ticket
		// Nobody can be told anything at the unknown requester's address.
		n.To = without(dedupe(n.To), UnknownRequester)
		if d.off[n.Kind] {
			n.To = without(n.To, o.Ticket.Requester.Addr)
		}
		n.To = o.mailable(n)
		if len(n.To) > 0 {
			kept = append(kept, n)
		}
	}
	o.Notices = kept
}

// mailable returns the recipients of n that can be mailed, recording a
// delivery failure for each of the others.
func (o *Outcome) mailable(n Notice) []Address {
	var out []Address
	for _, a := range n.To {
		err := Mailable(a.Addr)
		if err == nil {
			out = append(out, a)
			continue
		}
		at := o.Ticket.UpdatedAt
		if l := len(o.Ticket.History); l > 0 {
			at = o.Ticket.History[l-1].At
		}
		o.append(Entry{At: at, Actor: "ticketd", Kind: KindDeliveryFailed,
			Text: fmt.Sprintf("aviso %s no enviado: la dirección %q no admite correo", n.Kind, a.Addr),
			Data: map[string]string{"recipient": a.Addr, "reason_en": fmt.Sprintf("%s notice not sent: %v", n.Kind, err)}})
	}
	return out
}

// dedupe drops empty recipients and repeated ones (by [NormalizeAddr]),
// keeping each address as written ([WrittenAddr]).
func dedupe(as []Address) []Address {
	seen := make(map[string]bool, len(as))
	var out []Address
	for _, a := range as {
		a.Addr = WrittenAddr(a.Addr)
		k := NormalizeAddr(a.Addr)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, a)
	}
	return out
}

func without(as []Address, addr string) []Address {
	var out []Address
	for _, a := range as {
		if NormalizeAddr(a.Addr) != addr {
			out = append(out, a)
		}
	}
	return out
}

func joinText(inline, comment string) string {
	inline, comment = strings.TrimSpace(inline), strings.TrimSpace(comment)
	switch {
	case inline == "":
		return comment
	case comment == "":
		return inline
	}
	return inline + "\n\n" + comment
}

func joinLevels(ls []Level) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = fmt.Sprint(int(l))
	}
	return strings.Join(s, ", ")
}

func addAttachmentData(data map[string]string, as []Attachment) {
	if len(as) == 0 {
		return
	}
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = fmt.Sprintf("%s (%d bytes, sha256 %s)", a.Filename, a.Size, a.SHA256)
	}
	data["attachments"] = strings.Join(names, "\n")
}

// cleanSubject trims a new ticket's subject and removes ticket tags (a
// follow-up to a closed ticket carries the old one), leaving "(sin asunto)"
// when nothing is left.
func cleanSubject(s string) string {
	s = tagPattern.ReplaceAllString(s, " ")
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(sin asunto)"
	}
	return s
}

var tagPattern = regexp.MustCompile(`\[\s*[A-Za-z][A-Za-z0-9]{0,15}-\d{4}-\d{6,}\s*\]`)

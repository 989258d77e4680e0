package ticket

import (
	"fmt"
	"slices"
	"time"
)

// NoticeKind names a notification ticketd owes someone. Each kind has a
// template of its own in package notify.
type NoticeKind string

// The notifications of the procedure.
const (
	NoticeAck            NoticeKind = "ack"             // requester: the ticket is open, keep the ID in the subject
	NoticeNewTicket      NoticeKind = "new_ticket"      // level-1 group: a new ticket to classify
	NoticeAssigned       NoticeKind = "assigned"        // the group or person that now holds the case
	NoticeLevelChanged   NoticeKind = "level_changed"   // requester: the case moved to level N
	NoticeResolved       NoticeKind = "resolved"        // requester: the resolution, and how to say it is not solved
	NoticeResolvedDesk   NoticeKind = "resolved_desk"   // level-1 group: close it definitively
	NoticeClosed         NoticeKind = "closed"          // requester: closed definitively
	NoticeReopened       NoticeKind = "reopened"        // level-1 group: the case is back at level 1
	NoticeReopenedUser   NoticeKind = "reopened_user"   // requester: the case is back at level 1
	NoticeReply          NoticeKind = "reply"           // requester: a public reply from staff
	NoticeRequesterReply NoticeKind = "requester_reply" // holders: the requester (or someone else) wrote
	NoticeReceipt        NoticeKind = "receipt"         // sender of commands: applied or refused, and why
	NoticeHelp           NoticeKind = "help"            // sender of #ayuda: the commands they may use
	NoticeHelpGeneric    NoticeKind = "help_generic"    // an unverified sender or a third party who wrote commands: how commands work, nothing of the ticket
	NoticeUnverified     NoticeKind = "unverified"      // sender of commands: not applied, the sender could not be verified; nothing of the ticket
	NoticeThirdParty     NoticeKind = "third_party"     // level-1 group: someone who takes no part in the ticket wrote
	NoticeRelayPaused    NoticeKind = "relay_paused"    // level-1 group: relaying stopped (budget spent or a loop)
	NoticeTransferred    NoticeKind = "transferred"     // level-1 group: level 2 or 3 escalated or assigned the case
	NoticeSLAWarning     NoticeKind = "sla_warning"     // holder: the case is close to its level's target
	NoticeSLABreached    NoticeKind = "sla_breached"    // holder and level-1 group: the case passed its level's target
	NoticeCloseReminder  NoticeKind = "close_reminder"  // level-1 group: a resolved case still waits for its closure
)

// noticeTable lists the notice kinds in the order of the procedure, each
// with whether it goes to staff. Adding a kind is adding one entry here and
// its templates in package notify. It is never changed.
var noticeTable = []struct {
	kind  NoticeKind
	staff bool
}{
	{NoticeAck, false}, {NoticeNewTicket, true}, {NoticeAssigned, true}, {NoticeLevelChanged, false},
	{NoticeResolved, false}, {NoticeResolvedDesk, true}, {NoticeClosed, false}, {NoticeReopened, true},
	{NoticeReopenedUser, false}, {NoticeReply, false}, {NoticeRequesterReply, true}, {NoticeReceipt, false},
	{NoticeHelp, false}, {NoticeHelpGeneric, false}, {NoticeUnverified, false}, {NoticeThirdParty, true},
	{NoticeRelayPaused, true}, {NoticeTransferred, true},
	{NoticeSLAWarning, true}, {NoticeSLABreached, true}, {NoticeCloseReminder, true},
}

// RequesterNotices lists the notice kinds that tell a requester what
// happened to their case, in the order of the procedure: the kinds
// [WithRequesterNotices] may turn off. The answers to a mail someone wrote
// (receipt, help, help_generic, unverified) are not among them: a command
// always gets an answer. It returns a new slice on every call.
func RequesterNotices() []NoticeKind {
	return []NoticeKind{NoticeAck, NoticeLevelChanged, NoticeResolved, NoticeClosed, NoticeReopenedUser, NoticeReply}
}

// WithRequesterNotices turns off the requester notices of the kinds that
// map to false (the others stay on): such a notice is not sent to the
// requester, and a command of the requester's whose effect it would have
// told gets a receipt instead. Only the kinds of [RequesterNotices] may be
// turned off; any other makes [NewDesk] fail.
func WithRequesterNotices(on map[NoticeKind]bool) DeskOption {
	return func(d *Desk) {
		for k, v := range on {
			if !slices.Contains(RequesterNotices(), k) {
				d.errs = append(d.errs, fmt.Errorf("ticket: %q is not a requester notice that may be turned off (those are %v)", k, RequesterNotices()))
				continue
			}
			if !v {
				d.off[k] = true
			}
		}
	}
}

// NoticeKinds lists every notice kind in the order of the procedure. It
// returns a new slice on every call.
func NoticeKinds() []NoticeKind {
	out := make([]NoticeKind, len(noticeTable))
	for i, n := range noticeTable {
		out[i] = n.kind
	}
	return out
}

// ForStaff reports whether notices of kind k go to staff (the groups). Only
// those may show a ticket's history and internal notes; the others go to
// requesters (or, for receipts and help, to whoever wrote) and never do.
func (k NoticeKind) ForStaff() bool {
	for _, n := range noticeTable {
		if n.kind == k {
			return n.staff
		}
	}
	return false
}

// RevealsTicket reports whether notices of kind k may show anything of
// their ticket (ID, subject, level, state, …). Those that do not go to a
// sender who could not be verified or who takes no part in the ticket;
// package notify renders them from the notice alone.
func (k NoticeKind) RevealsTicket() bool {
	return k != NoticeHelpGeneric && k != NoticeUnverified
}

// Result is what became of one command of a mail.
type Result struct {
	Command Command `json:"command"`
	// Status is "applied", "refused" (this command is not allowed) or
	// "skipped" (allowed, but another command of the same mail was refused,
	// and a mail's commands apply all or none).
	Status string `json:"status"`
	// Reason says why it was refused or skipped, in Spanish; ReasonEN in
	// English.
	Reason   string `json:"reason,omitempty"`
	ReasonEN string `json:"reason_en,omitempty"`
}

// Result statuses.
const (
	ResultApplied = "applied"
	ResultRefused = "refused"
	ResultSkipped = "skipped"
)

// Notice is a notification owed: who must be told what. The store keeps it in
// the same transaction as the change that caused it; package notify renders
// and sends it.
type Notice struct {
	Kind NoticeKind `json:"kind"`
	To   []Address  `json:"to"`
	// Ticket is the ticket as it stood after the change, history included.
	Ticket *Ticket `json:"ticket,omitempty"`
	// Actor is the address of whoever caused the change.
	Actor string `json:"actor,omitempty"`
	// Text is the resolution, the relayed reply, the closing comment, ….
	Text string `json:"text,omitempty"`
	// Results lists each command of the mail, for receipts; for
	// relay_paused, its one entry says why relaying stopped.
	Results []Result `json:"results,omitempty"`
	// Verbs are the commands the recipients may use (help and assignment).
	Verbs []Verb `json:"verbs,omitempty"`
	// InReplyTo is the Message-ID of the mail this notice answers, if any.
	// A notice that answers a mail is sent as "Auto-Submitted: auto-replied",
	// any other as "auto-generated".
	InReplyTo string `json:"in_reply_to,omitempty"`
}

// Pending is one notification ready to render for one recipient
// (Notice.To holds exactly one address): the notice with the ticket as it
// stood when the notice was owed, and the Message-ID it is sent with, the
// same on every retry so that a reply to it threads back to the ticket.
type Pending struct {
	Seq       uint64    `json:"seq"`
	MessageID string    `json:"message_id"`
	Notice    Notice    `json:"notice"`
	CreatedAt time.Time `json:"created_at"`
}

// Owed is a notice as the outbox keeps it until it is sent: what is owed to
// whom about which ticket, and the point of the ticket's life it speaks of;
// not a copy of the ticket. [Owed.Rebuild] rebuilds the notice from the
// ticket read at send time.
type Owed struct {
	// Notice is the notice without its Ticket (nil): At stands for it.
	Notice
	TicketID ID `json:"ticket_id"`
	// MessageIDs are the Message-IDs of the mails to To, one each.
	MessageIDs []string `json:"message_ids"`
	At         Snapshot `json:"at"`
	// TextOf is the Seq of the history entry whose text is the notice's
	// Text, which is then left out (a new-ticket alert's request, a
	// resolution, a relayed reply: the history keeps them already); zero
	// when Text is the notice's own.
	TextOf int `json:"text_of,omitempty"`
}

// Snapshot is a ticket as it stood when a notice about it was owed,
// without what is large and only ever grows: its fields but not its body,
// and how long its files, thread of Message-IDs and history were.
type Snapshot struct {
	Fields      Ticket `json:"fields"`
	Attachments int    `json:"attachments"`
	Thread      int    `json:"thread"`
	History     int    `json:"history"`
}

// SnapshotOf returns what of t a notice about it must remember.
func SnapshotOf(t *Ticket) Snapshot {
	s := Snapshot{Fields: *t, Attachments: len(t.Attachments), Thread: len(t.Thread), History: len(t.History)}
	s.Fields.Body, s.Fields.Attachments, s.Fields.Thread, s.Fields.History = "", nil, nil, nil
	return s
}

// Owe returns notice n as the outbox keeps it, with the Message-ID of each
// recipient's mail made by msgID (which the caller makes unique). A text
// that is the text of an entry of n's ticket's history is kept as a
// reference to that entry ([Owed.TextOf]), not copied.
func Owe(n Notice, msgID func(rcpt Address) string) Owed {
	o := Owed{Notice: n, TicketID: n.Ticket.ID, At: SnapshotOf(n.Ticket)}
	o.Ticket = nil
	if h := n.Ticket.History; o.Text != "" {
		for i := len(h) - 1; i >= 0; i-- {
			if h[i].Text == o.Text {
				o.TextOf, o.Text = h[i].Seq, ""
				break
			}
		}
	}
	for _, a := range n.To {
		o.MessageIDs = append(o.MessageIDs, msgID(a))
	}
	return o
}

// Rebuild returns the notice owed to rcpt, from t, the ticket as it is now:
// t as it stood when the notice was owed (later history, files and thread
// left out). It fails when t is not that ticket or has less than it had.
func (o Owed) Rebuild(t *Ticket, rcpt Address) (Notice, error) {
	s := o.At
	if t.ID != o.TicketID {
		return Notice{}, fmt.Errorf("ticket: notice about %s given ticket %s", o.TicketID, t.ID)
	}
	if len(t.History) < s.History || len(t.Attachments) < s.Attachments || len(t.Thread) < s.Thread {
		return Notice{}, fmt.Errorf("ticket: %s has less history, files or thread than when the notice was owed", t.ID)
	}
	now := t.Clone()
	n := o.Notice
	if o.TextOf > 0 {
		i := slices.IndexFunc(now.History[:s.History], func(e Entry) bool { return e.Seq == o.TextOf })
		if i < 0 {
			return Notice{}, fmt.Errorf("ticket: %s has no history entry %d, whose text the notice carries", t.ID, o.TextOf)
		}
		n.Text = now.History[i].Text
	}
	at := s.Fields
	at.Body = now.Body
	at.History, at.Attachments, at.Thread = now.History[:s.History], now.Attachments[:s.Attachments], now.Thread[:s.Thread]
	if !o.Kind.ForStaff() {
		at.History = nil // a mail to a requester never shows the history
	}
	n.To, n.Ticket = []Address{rcpt}, &at
	return n, nil
}

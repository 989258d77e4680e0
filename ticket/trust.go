package ticket

import (
	"slices"
	"strings"
	"time"
)

// Verification is what the intake established about who sent a mail. The
// rules trust a mail's commands only when Verified is set; the zero value
// means "not verified", so a caller that forgets to say is safe.
//
// The intake decides it from evidence the mail itself cannot forge (the
// receiving server's Authentication-Results, a DKIM signature ticketd
// verified, Exchange's internal marker); the rules never look at headers.
type Verification struct {
	// Verified reports that the sender is the From address.
	Verified bool `json:"verified"`
	// Evidence names what proved it ("dmarc", "dkim", "internal", "admin"
	// for a request typed by an operator the admin API authenticated, …).
	Evidence string `json:"evidence,omitempty"`
	// Reason says, when not Verified, which evidence was missing or
	// failed, in Spanish; ReasonEN in English. Short and human: it is
	// recorded in the history and told to the sender.
	Reason   string `json:"reason,omitempty"`
	ReasonEN string `json:"reason_en,omitempty"`
}

// Trusted returns the Verification of a sender the caller authenticated
// itself, by the means evidence names (an operator of the admin API typing
// a phone request: "admin"; a test: "test").
func Trusted(evidence string) Verification {
	return Verification{Verified: true, Evidence: evidence}
}

// reasons returns why the sender is not verified, in both languages, with
// a default when the intake gave none.
func (v Verification) reasons() (es, en string) {
	es, en = v.Reason, v.ReasonEN
	if es == "" && en == "" {
		return "el correo no trae ninguna prueba de quién lo envió", "the mail carries no evidence of who sent it"
	}
	if es == "" {
		es = en
	}
	if en == "" {
		en = es
	}
	return es, en
}

// TakesPart reports whether addr takes part in ticket t, and so may read
// about it and write on it. An address takes part when it is
//   - the requester;
//   - staff: a member of any group of the directory;
//   - the current or a past assignee (any entry of the history names it as
//     the assignee);
//   - the actor of an entry that changed the ticket (classified,
//     prioritized, escalated, assigned, noted, resolved, closed, reopened)
//     or the agent who typed in a phone request: staff who acted on it,
//     even if they have since left their group;
//   - a Cc recipient of the mail that opened the ticket ([Ticket.Cc]).
//
// Anyone else is a third party: their mail is recorded for the desk
// ([KindThirdParty]) and they learn nothing about the ticket. A plain reply
// ([KindReplied]) or a third-party mail never makes its sender take part.
func (d *Desk) TakesPart(t *Ticket, addr string) bool {
	addr = NormalizeAddr(addr)
	if addr == "" {
		return false
	}
	if SameAddr(addr, t.Requester.Addr) || d.dir.IsStaff(addr) || addr == t.Assignee {
		return true
	}
	for _, c := range t.Cc {
		if NormalizeAddr(c.Addr) == addr {
			return true
		}
	}
	for _, e := range t.History {
		if e.Assignee == addr || e.Data["assignee"] == addr {
			return true
		}
		if e.Actor == addr && (slices.Contains(actingKinds, e.Kind) || e.Kind == KindOpened && e.Data["via"] == "phone") {
			return true
		}
	}
	return false
}

// actingKinds are the entries only someone allowed to act on a ticket can
// cause.
var actingKinds = []Kind{KindClassified, KindPrioritized, KindEscalated, KindAssigned, KindNoted, KindResolved, KindClosed, KindReopened}

// changesTicket reports whether parsed holds a command that would change a
// ticket: any but #ayuda.
func changesTicket(parsed Parsed) bool {
	return slices.ContainsFunc(parsed.Commands, func(c Command) bool { return c.Verb != VerbHelp })
}

// refuseUnverified answers the commands of a sender who is not verified:
// #ayuda alone gets the generic help, which says nothing of the ticket;
// any other command is refused without being tried, recorded with the
// reason, and its sender told only that the commands were not applied
// because the sender could not be verified ([NoticeUnverified]).
func (d *Desk) refuseUnverified(o *Outcome, in Inbound, parsed Parsed, now time.Time) {
	from := NormalizeAddr(in.From.Addr)
	to := []Address{{Name: in.From.Name, Addr: from}}
	if !changesTicket(parsed) {
		o.append(Entry{At: now, Actor: from, Kind: KindHelp, Text: parsed.Comment, MessageID: in.MessageID,
			Data: map[string]string{"verified": "false"}})
		o.notify(Notice{Kind: NoticeHelpGeneric, To: to, Verbs: AllVerbs(), InReplyTo: in.MessageID})
		return
	}
	es, en := in.Sender.reasons()
	results := make([]Result, len(parsed.Commands))
	for i, cmd := range parsed.Commands {
		results[i] = Result{Command: cmd, Status: ResultRefused,
			Reason:   "no se aplicó porque no se pudo verificar el remitente: " + es,
			ReasonEN: "not applied because the sender could not be verified: " + en}
		o.append(Entry{At: now, Actor: from, Kind: KindRefused, Text: parsed.Comment, MessageID: in.MessageID,
			Data: map[string]string{"command": cmd.Raw, "reason": results[i].Reason, "verified": "false"}})
	}
	o.Results = append(o.Results, results...)
	o.Refused = true
	o.notify(Notice{Kind: NoticeUnverified, To: to, Results: results, InReplyTo: in.MessageID})
}

// thirdParty records a mail from someone who does not take part in the
// ticket: for the desk, which is told, and for no one else. Its commands
// are not applied; when it carried any, its sender gets the generic help,
// which says nothing of the ticket.
func (d *Desk) thirdParty(o *Outcome, in Inbound, parsed Parsed, now time.Time) {
	from := NormalizeAddr(in.From.Addr)
	data := map[string]string{}
	addAttachmentData(data, in.Attachments)
	if len(parsed.Commands) > 0 {
		raws := make([]string, len(parsed.Commands))
		for i, c := range parsed.Commands {
			raws[i] = c.Raw
		}
		data["commands"] = strings.Join(raws, "\n")
	}
	o.append(Entry{At: now, Actor: from, Kind: KindThirdParty, Text: in.Text, MessageID: in.MessageID, Data: data})
	o.notify(Notice{Kind: NoticeThirdParty, To: d.dir.MemberAddresses(d.dir.Desk().Name), Actor: from, Text: in.Text})
	if len(parsed.Commands) == 0 {
		return
	}
	for _, cmd := range parsed.Commands {
		r := Result{Command: cmd, Status: ResultRefused,
			Reason:   "no se aplicó: quien escribe no participa en el caso",
			ReasonEN: "not applied: the sender takes no part in the case"}
		if cmd.Verb == VerbHelp {
			r.Status, r.Reason, r.ReasonEN = ResultApplied, "", ""
		}
		o.Results = append(o.Results, r)
	}
	o.Refused = changesTicket(parsed)
	o.notify(Notice{Kind: NoticeHelpGeneric, To: []Address{{Name: in.From.Name, Addr: from}}, Verbs: AllVerbs(), InReplyTo: in.MessageID})
}

package ticket

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// Level is the support level that holds a ticket: 1 (the service desk),
// 2 (on-site support, a specialist or a provider) or 3 (a provider or a
// specialist).
type Level int

// The three levels of the procedure.
const (
	Level1 Level = 1
	Level2 Level = 2
	Level3 Level = 3
)

// Valid reports whether l is 1, 2 or 3.
func (l Level) Valid() bool { return l >= Level1 && l <= Level3 }

// State is where a ticket is in its life.
type State string

// The states of a ticket. A closed ticket is final.
const (
	StateOpen     State = "open"
	StateResolved State = "resolved"
	StateClosed   State = "closed"
)

// StateInfo describes one state of the procedure.
type StateInfo struct {
	State State
	// ES and EN are the state's name as users read it.
	ES, EN string
	// Final: nothing more happens to a ticket in this state; a later mail
	// about it is a new case.
	Final bool
	// Queued: the ticket waits on the level that holds it, so its time
	// there counts (open); otherwise it waits on someone else (resolved,
	// waiting for the desk's definitive closure).
	Queued bool
}

// stateSet is a table of states, in the order of a ticket's life.
type stateSet []StateInfo

// stateTable is the procedure's states. Adding a state is adding one entry
// (the store lists any state it finds in its index). It is never changed.
var stateTable = stateSet{
	{State: StateOpen, ES: "abierto", EN: "open", Queued: true},
	{State: StateResolved, ES: "resuelto", EN: "resolved"},
	{State: StateClosed, ES: "cerrado", EN: "closed", Final: true},
}

// info returns the entry of s; ok is false for a state not in the set,
// and the entry then names s in both languages.
func (ss stateSet) info(s State) (info StateInfo, ok bool) {
	for _, i := range ss {
		if i.State == s {
			return i, true
		}
	}
	return StateInfo{State: s, ES: string(s), EN: string(s)}, false
}

func (ss stateSet) parse(s string) (State, error) {
	st := State(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := ss.info(st); ok {
		return st, nil
	}
	names := make([]string, len(ss))
	for i, info := range ss {
		names[i] = string(info.State)
	}
	return "", fmt.Errorf("ticket: unknown state %q (want %s or %s)", s, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// States lists the states of the procedure in the order of a ticket's
// life. It returns a new slice on every call.
func States() []StateInfo { return slices.Clone(stateTable) }

// Info returns the table entry of s; ok is false for a state that is not
// in the table (the StateInfo then names s in both languages).
func (s State) Info() (info StateInfo, ok bool) { return stateTable.info(s) }

// Label returns the name of s as users read it in lang ("en" for English;
// anything else means Spanish).
func (s State) Label(lang string) string {
	i, _ := s.Info()
	if lang == "en" {
		return i.EN
	}
	return i.ES
}

// Final reports whether s is a final state (closed).
func (s State) Final() bool { i, _ := s.Info(); return i.Final }

// Queued reports whether a ticket in state s waits on the level that holds
// it (open).
func (s State) Queued() bool { i, _ := s.Info(); return i.Queued }

// ParseState returns the State named s (in any case), or an error.
func ParseState(s string) (State, error) { return stateTable.parse(s) }

// Address is a mail address with its display name.
type Address struct {
	Name string `json:"name,omitempty"`
	Addr string `json:"addr"`
}

// String formats a as a mail header value.
func (a Address) String() string {
	if a.Name == "" {
		return a.Addr
	}
	return (&mail.Address{Name: a.Name, Address: a.Addr}).String()
}

// NormalizeAddr returns addr lowercased and trimmed: the key by which
// addresses are compared (indexes, the directory, allowances). Mail goes to
// [WrittenAddr], which keeps the local part as written.
func NormalizeAddr(addr string) string {
	return strings.ToLower(strings.TrimSpace(addr))
}

// WrittenAddr returns addr trimmed with its domain lowercased and its local
// part as written (RFC 5321 §2.4: only the receiving host may treat the
// local part as case-insensitive): the form in which a requester is stored
// and mailed. Tickets recorded before it hold lowercased addresses, which
// compare the same.
func WrittenAddr(addr string) string {
	addr = strings.TrimSpace(addr)
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i+1] + strings.ToLower(addr[i+1:])
	}
	return addr
}

// UnknownRequester is the requester of a ticket opened from a mail that
// names no sender at all (no From, no Return-Path). The ticket opens as any
// other, so the desk sees it, but no notice ever goes to this address
// (RFC 6761 §6.4: the .invalid domain never resolves), and the desk is
// told in a note that the requester is unknown.
const UnknownRequester = "desconocido@invalid"

// SameAddr reports whether a and b are the same mailbox: equal keys
// ([NormalizeAddr]).
func SameAddr(a, b string) bool { return NormalizeAddr(a) == NormalizeAddr(b) }

// Mailable returns why mail cannot be sent to addr (spaces outside
// quotes, a trailing dot, no domain), or nil (RFC 5321 §4.1.2). A
// domain without a dot (a local host) is mailable.
func Mailable(addr string) error {
	a, err := mail.ParseAddress("<" + addr + ">")
	if err != nil {
		return fmt.Errorf("address %q cannot be mailed: %w", addr, err)
	}
	if !strings.Contains(a.Address, "@") {
		return fmt.Errorf("address %q cannot be mailed: no domain", addr)
	}
	return nil
}

// Attachment describes a file that came with a mail. The content itself lives
// in a content-addressed store under its SHA-256; Filename is metadata only.
type Attachment struct {
	Filename    string `json:"filename,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Inline      bool   `json:"inline,omitempty"`
}

// Ticket is one support case.
type Ticket struct {
	ID        ID      `json:"id"`
	Subject   string  `json:"subject"`
	Requester Address `json:"requester"`
	// Body is the text of the original request.
	Body  string `json:"body,omitempty"`
	Level Level  `json:"level"`
	// Group is the name of the group that holds the ticket.
	Group string `json:"group"`
	// Assignee is the address of the person who holds the ticket within
	// Group, or empty.
	Assignee  string    `json:"assignee,omitempty"`
	State     State     `json:"state"`
	Category  string    `json:"category,omitempty"`
	Priority  Priority  `json:"priority,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// RelatedTo names the closed ticket this one follows up, if any.
	RelatedTo   ID           `json:"related_to,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	// Thread lists the Message-IDs received and sent for the ticket, oldest
	// first, so that notifications can chain References.
	Thread []string `json:"thread,omitempty"`
	// History is the append-only register of everything that happened.
	History []Entry `json:"history,omitempty"`
	// LevelSince is when the ticket began its current visit of its level
	// (opened, escalated, reopened), and StateSince when it entered its
	// current state: what the procedure's timers count from. Both are kept
	// by [Ticket.Append]; tickets stored before they existed have neither,
	// and [Ticket.Since] derives them from the history.
	LevelSince time.Time `json:"level_since,omitzero"`
	StateSince time.Time `json:"state_since,omitzero"`
	// Due is the next instant a timer of the procedure is due on the
	// ticket ([Desk.NextDue]), zero when none: kept by the desk on every
	// outcome, indexed by the store so the daemon wakes for it.
	Due time.Time `json:"due,omitzero"`
	// Timers records which timer events of the current level visit and
	// resolved stay have happened.
	Timers Timers `json:"timers,omitzero"`
	// Cc are the other recipients of the mail that opened the ticket: they
	// take part in it ([Desk.TakesPart]).
	Cc []Address `json:"cc,omitempty"`
	// Relays marks the mails relayed within the last [RelayWindow], for
	// the relay budget and the loop guard; older marks are dropped.
	Relays []RelayMark `json:"relays,omitempty"`
	// RelayPaused is when relaying was last withheld in the current
	// episode (the desk is told once per episode), zero when relaying runs.
	RelayPaused time.Time `json:"relay_paused,omitzero"`
}

// Since returns when the ticket began its current visit of its level and
// when it entered its current state: the recorded times, or, for a ticket
// stored before they were recorded, the times [EnteredAt] derives from its
// history.
func (t *Ticket) Since() (level, state time.Time) {
	if t.LevelSince.IsZero() || t.StateSince.IsZero() {
		return EnteredAt(t.History)
	}
	return t.LevelSince, t.StateSince
}

// Clone returns a deep copy of t, so that rules can work on a copy and
// discard it when a mail's commands must not apply.
func (t *Ticket) Clone() *Ticket {
	c := *t
	c.Attachments = append([]Attachment(nil), t.Attachments...)
	c.Thread = append([]string(nil), t.Thread...)
	c.Cc = append([]Address(nil), t.Cc...)
	c.Relays = append([]RelayMark(nil), t.Relays...)
	c.History = make([]Entry, len(t.History))
	for i, e := range t.History {
		c.History[i] = e.clone()
	}
	return &c
}

// Holders returns who holds the ticket now: the assignee when there is one,
// else the members of its group.
func (t *Ticket) Holders(d *Directory) []Address {
	if t.Assignee != "" {
		return []Address{{Addr: t.Assignee}}
	}
	return d.MemberAddresses(t.Group)
}

// AddThread records a Message-ID in the ticket's thread, once.
func (t *Ticket) AddThread(msgID string) {
	if msgID == "" {
		return
	}
	for _, m := range t.Thread {
		if m == msgID {
			return
		}
	}
	t.Thread = append(t.Thread, msgID)
}

// Priority is the urgency set by classification.
type Priority string

// The priorities, in Spanish as users read them.
const (
	PriorityHigh   Priority = "alta"
	PriorityMedium Priority = "media"
	PriorityLow    Priority = "baja"
)

// ParsePriority accepts Spanish and English names, without regard to case or
// accents.
func ParsePriority(s string) (Priority, bool) {
	switch fold(s) {
	case "alta", "high", "urgente", "urgent":
		return PriorityHigh, true
	case "media", "medium", "normal":
		return PriorityMedium, true
	case "baja", "low":
		return PriorityLow, true
	}
	return "", false
}

package ticket

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Kind says what a history entry records.
type Kind string

// The kinds of history entry. The set is part of ticketd's contract
// (`ticketd show --json`): add to it, never rename.
const (
	KindOpened         Kind = "opened"          // the ticket was opened (activity 1)
	KindClassified     Kind = "classified"      // category (and priority) set (activity 2)
	KindPrioritized    Kind = "prioritized"     // priority changed
	KindEscalated      Kind = "escalated"       // moved to a higher level (activities 5, 6, 8)
	KindAssigned       Kind = "assigned"        // given to a group or person within a level
	KindReplied        Kind = "replied"         // a mail with public text, from staff or the requester
	KindNoted          Kind = "noted"           // an internal note
	KindResolved       Kind = "resolved"        // a solver marked it solved (activities 5, 8, 10)
	KindClosed         Kind = "closed"          // the desk closed it definitively (activity 11)
	KindReopened       Kind = "reopened"        // back to level 1 after a resolution (activity 11, "no")
	KindRefused        Kind = "refused"         // a command the procedure or the sender's role does not allow
	KindHelp           Kind = "help"            // someone asked for the list of commands
	KindAutoReply      Kind = "auto_reply"      // an automatic mail (out of office, list) recorded without answer
	KindDeliveryFailed Kind = "delivery_failed" // a notification could not be delivered
	KindDegraded       Kind = "degraded"        // a mail was damaged or too large; what was kept is said
	KindThirdParty     Kind = "third_party"     // a mail from someone who takes no part in the ticket, for the desk only
	KindRelayPaused    Kind = "relay_paused"    // relaying stopped: the hourly budget was spent or a loop was seen
	KindSLAWarning     Kind = "sla_warning"     // the level visit reached sla.warn_at of its target: the holder was reminded
	KindSLABreached    Kind = "sla_breached"    // the level visit passed its target: the holder and the desk were told
	KindCloseReminder  Kind = "close_reminder"  // resolved for sla.close_within without closure: the desk was reminded
)

// Entry is one line of a ticket's register. Entries are only ever appended;
// each carries the hash of the one before it, so any change or removal made
// behind ticketd's back is found by [Verify].
type Entry struct {
	Seq   int       `json:"seq"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Kind  Kind      `json:"kind"`
	Text  string    `json:"text,omitempty"`
	// MessageID is the Message-ID of the mail that caused the entry, empty
	// for entries no mail caused.
	MessageID string `json:"message_id"`
	// The ticket's level, group, assignee and state after the entry, so that
	// the time spent at each level can be derived from the history alone.
	Level    Level  `json:"level"`
	Group    string `json:"group"`
	Assignee string `json:"assignee,omitempty"`
	State    State  `json:"state"`
	// Data holds what is particular to a kind: category, priority, the
	// refused command, the raw mail's SHA-256, a failed recipient, ….
	Data map[string]string `json:"data,omitempty"`
	// Prev is the Hash of the entry before, empty for the first one.
	Prev string `json:"prev"`
	// Hash is the hex SHA-256 of the entry's canonical JSON with Hash empty.
	Hash string `json:"hash"`
}

func (e Entry) clone() Entry {
	e.Data = maps.Clone(e.Data)
	return e
}

// computeHash returns the hash e must carry.
func (e Entry) computeHash() string {
	e.Hash = ""
	e.At = e.At.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		// An Entry holds only strings, numbers and a time: Marshal cannot fail.
		panic(fmt.Sprintf("ticket: marshal entry: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Append adds an entry to the ticket's history, filling in its sequence
// number, the ticket's current position and the hash chain, and updates
// UpdatedAt. It returns the entry as stored.
func (t *Ticket) Append(e Entry) Entry {
	e.Seq = len(t.History) + 1
	e.At = e.At.UTC()
	e.Level, e.Group, e.Assignee, e.State = t.Level, t.Group, t.Assignee, t.State
	var prev *Entry
	if n := len(t.History); n > 0 {
		prev = &t.History[n-1]
		e.Prev = prev.Hash
	} else {
		e.Prev = ""
	}
	t.LevelSince, t.StateSince = t.Since() // a ticket stored without them gets them now
	level, state := enters(prev, e)
	if level {
		t.LevelSince = e.At
	}
	if state {
		t.StateSince = e.At
	}
	e.Hash = e.computeHash()
	t.History = append(t.History, e)
	if e.At.After(t.UpdatedAt) {
		t.UpdatedAt = e.At
	}
	return e
}

// enters reports whether entry e, which follows prev (nil for the first
// entry), begins a new visit of its level and a new stay in its state. A
// visit begins when the level changes, and when a ticket comes back to a
// state queued at a level (reopened): resolving, assigning within the
// level or writing on the ticket is no new visit.
func enters(prev *Entry, e Entry) (level, state bool) {
	if prev == nil {
		return true, true
	}
	state = e.State != prev.State
	level = e.Level != prev.Level || (state && e.State.Queued() && !prev.State.Queued())
	return level, state
}

// EnteredAt derives from a history when the ticket began its current visit
// of its level and when it entered its current state, by the same rule as
// [Ticket.Append]. Both are zero for an empty history.
func EnteredAt(history []Entry) (level, state time.Time) {
	var prev *Entry
	for i := range history {
		e := &history[i]
		l, s := enters(prev, *e)
		if l {
			level = e.At
		}
		if s {
			state = e.At
		}
		prev = e
	}
	return level, state
}

// Head returns the hash of the last entry, or "" for an empty history.
func (t *Ticket) Head() string {
	if n := len(t.History); n > 0 {
		return t.History[n-1].Hash
	}
	return ""
}

// ErrTampered is matched by errors.Is on every error [Verify] returns.
var ErrTampered = errors.New("ticket: history does not verify")

// Verify checks the hash chain of history against head, the hash of its last
// entry as recorded with the ticket, and n, the number of entries recorded.
// It finds any entry changed, inserted, reordered or removed (including the
// last ones) and says which.
func Verify(history []Entry, head string, n int) error {
	prev := ""
	for i, e := range history {
		if e.Seq != i+1 {
			return fmt.Errorf("%w: entry %d has sequence number %d (an entry was removed or inserted)", ErrTampered, i+1, e.Seq)
		}
		if e.Prev != prev {
			return fmt.Errorf("%w: entry %d does not chain to entry %d", ErrTampered, e.Seq, e.Seq-1)
		}
		if e.computeHash() != e.Hash {
			return fmt.Errorf("%w: entry %d was changed", ErrTampered, e.Seq)
		}
		prev = e.Hash
	}
	if len(history) != n {
		return fmt.Errorf("%w: %d entries found, %d recorded", ErrTampered, len(history), n)
	}
	if prev != head {
		return fmt.Errorf("%w: the last entry is not the one recorded", ErrTampered)
	}
	return nil
}

// LevelTimes is how long a ticket spent open at each level, and how much of
// it was with a provider.
type LevelTimes struct {
	Level1   time.Duration `json:"level1"`
	Level2   time.Duration `json:"level2"`
	Level3   time.Duration `json:"level3"`
	Provider time.Duration `json:"provider"`
	// Resolved is the time spent resolved and waiting for the desk to close.
	Resolved time.Duration `json:"resolved"`
}

// TimeAtLevel derives from the history how long the ticket spent open at
// each level until now (or until it was closed). Groups of kind
// [GroupProvider] in d count towards Provider as well as their level.
func TimeAtLevel(history []Entry, d *Directory, now time.Time) LevelTimes {
	var lt LevelTimes
	for i, e := range history {
		if e.State.Final() {
			break
		}
		end := now
		if i+1 < len(history) {
			end = history[i+1].At
		}
		span := end.Sub(e.At)
		if span < 0 {
			span = 0
		}
		if e.State == StateResolved {
			lt.Resolved += span
			continue
		}
		if !e.State.Queued() {
			continue
		}
		switch e.Level {
		case Level1:
			lt.Level1 += span
		case Level2:
			lt.Level2 += span
		case Level3:
			lt.Level3 += span
		}
		if g, ok := d.Group(e.Group); ok && g.Kind == GroupProvider {
			lt.Provider += span
		}
	}
	return lt
}

// DeliveryFailed appends to t's history that a notification to rcpt could
// not be delivered (a bounce, or a permanent refusal by the SMTP server), and
// returns the entry. msgID is the Message-ID of the bounce, if a mail told.
func (t *Ticket) DeliveryFailed(rcpt, reason, msgID string, now time.Time) Entry {
	return t.Append(Entry{At: now, Actor: "ticketd", Kind: KindDeliveryFailed, Text: reason, MessageID: msgID,
		Data: map[string]string{"recipient": NormalizeAddr(rcpt)}})
}

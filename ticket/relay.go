package ticket

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// DefaultRelayLimit is how many mails a ticket relays within
// [RelayWindow] when [WithRelayLimit] is not given.
const DefaultRelayLimit = 20

// RelayWindow is the span over which relays are counted and a repeated
// text is recognised.
const RelayWindow = time.Hour

// DeskOption configures a [Desk].
type DeskOption func(*Desk)

// WithRelayLimit sets how many mails a ticket relays within [RelayWindow]
// between the requester and whoever holds it; n <= 0 means
// [DefaultRelayLimit].
func WithRelayLimit(n int) DeskOption {
	return func(d *Desk) {
		if n > 0 {
			d.relayLimit = n
		}
	}
}

// The two sides of a relay.
const (
	sideRequester = "requester" // the requester (or another participant) wrote to whoever holds the case
	sideStaff     = "staff"     // staff wrote to the requester
)

// RelayMark remembers one relayed mail, for the relay budget and the loop
// guard. A ticket keeps only the marks of the last [RelayWindow].
type RelayMark struct {
	At time.Time `json:"at"`
	// Side is "requester" (relayed to the holders) or "staff" (relayed to
	// the requester).
	Side string `json:"side"`
	// Hash is the SHA-256 of the relayed text, normalised (see relayHash).
	Hash string `json:"hash"`
}

// relayHash hashes text with case, spacing and ticket tags folded away, so
// that an auto-responder's fixed text is recognised however it is wrapped.
func relayHash(text string) string {
	text = tagPattern.ReplaceAllString(strings.ToLower(text), " ")
	sum := sha256.Sum256([]byte(strings.Join(strings.Fields(text), " ")))
	return hex.EncodeToString(sum[:])
}

// withheld decides whether a mail of side with text may be relayed on t
// now. It forgets the marks older than the window, and says in both
// languages why not when it may not:
//   - the ticket already relayed the desk's limit of mails within the
//     window (the budget);
//   - the same text was relayed from the other side within the window (an
//     echo), or twice already from the same side (an auto-responder's fixed
//     answer): a loop.
//
// When it may, it marks the relay; the marks are therefore bounded by the
// limit.
func (d *Desk) withheld(t *Ticket, side, text string, now time.Time) (es, en string) {
	kept := t.Relays[:0]
	for _, m := range t.Relays {
		if now.Sub(m.At) < RelayWindow {
			kept = append(kept, m)
		}
	}
	t.Relays = kept
	h := relayHash(text)
	same := 0
	for _, m := range t.Relays {
		if m.Hash != h {
			continue
		}
		if m.Side != side {
			return "el mismo texto ya se reenvió desde el otro lado en la última hora (un bucle de correo)",
				"the same text was already relayed from the other side within the hour (a mail loop)"
		}
		same++
	}
	if same >= 2 {
		return "el mismo texto ya se reenvió dos veces en la última hora (una respuesta automática)",
			"the same text was already relayed twice within the hour (an automatic answer)"
	}
	if len(t.Relays) >= d.relayLimit {
		return "el caso ya reenvió " + strconv.Itoa(d.relayLimit) + " correos en la última hora",
			"the case already relayed " + strconv.Itoa(d.relayLimit) + " mails within the hour"
	}
	t.Relays = append(t.Relays, RelayMark{At: now.UTC(), Side: side, Hash: h})
	return "", ""
}

// relay owes n (a reply relayed from side) unless the budget or the loop
// guard withholds it; the reply's entry is then marked as not relayed, and
// the desk is told once per episode. An episode ends with the next relay
// that goes out, or when a whole window passes without a withheld mail.
func (d *Desk) relay(o *Outcome, entry Entry, side string, n Notice, now time.Time) {
	t := o.Ticket
	es, en := d.withheld(t, side, entry.Text, now)
	if es == "" {
		t.RelayPaused = time.Time{}
		o.append(entry)
		o.notify(n)
		return
	}
	entry.Data["not_relayed"] = es
	o.append(entry)
	if !t.RelayPaused.IsZero() && now.Sub(t.RelayPaused) < RelayWindow {
		t.RelayPaused = now.UTC()
		return
	}
	t.RelayPaused = now.UTC()
	o.append(Entry{At: now, Actor: "ticketd", Kind: KindRelayPaused, Text: es, MessageID: entry.MessageID,
		Data: map[string]string{"reason_en": en}})
	o.notify(Notice{Kind: NoticeRelayPaused, To: d.dir.MemberAddresses(d.dir.Desk().Name), Actor: entry.Actor, Text: entry.Text,
		Results: []Result{{Status: ResultRefused, Reason: es, ReasonEN: en}}})
}

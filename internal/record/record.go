// Package record holds the values that ticketd's storage keeps besides
// tickets and that several of its parts read or write: the mailbox
// checkpoint (internal/daemon), the quarantine of mails that could not
// become a ticket change (internal/daemon, internal/admin), and the mails
// kept aside without a ticket (internal/service). They are plain values,
// stored as JSON by whichever storage implements the consumers' interfaces
// (internal/store is the bbolt one); this package does no I/O.
package record

import (
	"errors"
	"time"
)

// ErrNotFound is matched by errors.Is when a ticket or record does not
// exist. Every storage implementation returns it (wrapped) for a missing
// ticket, quarantine record or outbox item.
var ErrNotFound = errors.New("store: not found")

// Checkpoint is how far the mailbox has been processed: the last UID whose
// mail is committed, under a UIDVALIDITY (RFC 9051 §2.3.1.1: UIDs are only
// stable while UIDVALIDITY is unchanged).
type Checkpoint struct {
	UIDValidity uint32 `json:"uidvalidity"`
	UID         uint32 `json:"uid"`
	// Base, FirstStart and Since record the first start under this
	// UIDVALIDITY (mailbox.Checkpoint): the mail up to UID Base was there
	// before and was taken only by the rule FirstStart ("unseen", "all",
	// "new", "since" from Since).
	Base       uint32    `json:"base,omitempty"`
	FirstStart string    `json:"first_start,omitempty"`
	Since      time.Time `json:"since,omitzero"`
}

// Quarantined is a mail that could not be turned into a ticket change. The
// raw mail stays in the blob store under RawSHA256 so that an operator can
// re-run it after a fix.
type Quarantined struct {
	ID         uint64    `json:"id"`
	MessageID  string    `json:"message_id"`
	From       string    `json:"from,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Reason     string    `json:"reason"`
	ReceivedAt time.Time `json:"received_at"`
	RawSHA256  string    `json:"raw_sha256"`
	RawSize    int64     `json:"raw_size"`
	Mailbox    string    `json:"mailbox,omitempty"`
	UID        uint32    `json:"uid,omitempty"`
	// Retries counts operator re-runs that failed again.
	Retries int `json:"retries,omitempty"`
}

// Unthreaded is a mail set aside without a ticket change: an automatic mail
// (out of office, list) or a bounce that belongs to no ticket and must not
// open one, a mail with nothing to read, or a copy of a mail already
// processed. Kind says which (empty in records written before it existed:
// automatic or a bounce, as Reason says).
type Unthreaded struct {
	Kind      string    `json:"kind,omitempty"`
	MessageID string    `json:"message_id"`
	From      string    `json:"from"`
	Subject   string    `json:"subject"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
	RawSHA256 string    `json:"raw_sha256"`
}

// Kinds of [Unthreaded].
const (
	AsideAutomatic  = "automatic"  // an automatic mail about no ticket
	AsideBounce     = "bounce"     // a bounce about no known ticket
	AsideUnreadable = "unreadable" // no sender and nothing that names or says anything
	AsideDuplicate  = "duplicate"  // a copy of a mail already processed
)

// LoginLink is a one-time sign-in link of the web console: Hash is the hex
// SHA-256 of its secret (the secret itself is only in the mail), Addr the
// staff address it signs in, Expires its end, and Used when it was used
// (zero while it has not been).
type LoginLink struct {
	Hash    string    `json:"hash"`
	Addr    string    `json:"addr"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Used    time.Time `json:"used,omitzero"`
}

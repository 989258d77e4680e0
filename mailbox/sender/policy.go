package sender

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Evidence is one kind of proof that a mail comes from the address in its
// From field. Its values are the words of the security.command_auth
// setting.
type Evidence string

// The kinds of evidence.
const (
	// DMARC is a DMARC pass (RFC 7489) for the From domain, reported by a
	// trusted server.
	DMARC Evidence = "dmarc"
	// DKIM is a valid DKIM signature (RFC 6376) whose d= domain is aligned
	// with the From domain, reported by a trusted server or verified here.
	DKIM Evidence = "dkim"
	// SPF is an SPF pass (RFC 7208) for an envelope sender whose domain is
	// aligned with the From domain, reported by a trusted server.
	SPF Evidence = "spf"
	// Auth is an RFC 8601 auth=pass from a trusted server whose smtp.auth
	// identity is the From address: the sender logged in to the
	// organisation's own submission server.
	Auth Evidence = "auth"
	// Internal is Exchange's X-MS-Exchange-Organization-AuthAs: Internal,
	// which Exchange removes from mail that comes from outside.
	Internal Evidence = "internal"
	// ReplyToken is a mail sent to a per-person reply address that only
	// ticketd's own notification carried; the caller decides it
	// ([Mail.ReplyToken]).
	ReplyToken Evidence = "reply_token"
	// None trusts every sender: for closed test setups only.
	None Evidence = "none"
)

// Kinds lists every kind of evidence, in the order of the documentation.
var Kinds = []Evidence{DMARC, DKIM, SPF, Auth, Internal, ReplyToken, None}

// Microsoft365 is the authserv-id word that stands for the results
// Microsoft 365 (Exchange Online Protection) writes into the mail of its
// mailboxes: its Authentication-Results field carries no authserv-id at all
// ("Authentication-Results: spf=pass (sender IP is …) smtp.mailfrom=…;
// dkim=…; dmarc=pass action=none header.from=…; compauth=pass"), against
// RFC 8601. Listed in security.authserv_id, the topmost field without an
// authserv-id counts.
const Microsoft365 = "microsoft365"

// DefaultAccept is the evidence accepted when security.command_auth is not
// set.
var DefaultAccept = []Evidence{DMARC, DKIM, Internal}

// Policy says which evidence makes a sender trusted, and which
// Authentication-Results header fields may supply it. The zero Policy
// accepts nothing; use [NewPolicy].
type Policy struct {
	accept      []Evidence
	authservIDs []string
}

// NewPolicy checks accept (the words of security.command_auth) and
// authservIDs (security.authserv_id) and returns the policy. An empty accept
// means [DefaultAccept]. Errors, joined with [errors.Join], name each bad
// entry: an unknown word, a repeated one, "none" with other evidence, an
// empty or blank authserv-id.
func NewPolicy(accept []string, authservIDs []string) (Policy, error) {
	var errs []error
	var p Policy
	for _, a := range accept {
		e := Evidence(strings.ToLower(strings.TrimSpace(a)))
		switch {
		case !slices.Contains(Kinds, e):
			errs = append(errs, fmt.Errorf("%q is not a kind of evidence: use %s", a, kindList()))
		case slices.Contains(p.accept, e):
			errs = append(errs, fmt.Errorf("%q is listed twice", a))
		default:
			p.accept = append(p.accept, e)
		}
	}
	if slices.Contains(p.accept, None) && len(accept) > 1 {
		errs = append(errs, errors.New("none must stand alone: it trusts every sender, so other evidence would mean nothing"))
	}
	for _, id := range authservIDs {
		id = strings.TrimSpace(id)
		if id == "" || strings.ContainsAny(id, " \t;()\"") {
			errs = append(errs, fmt.Errorf("authserv-id %q must be one word, as in the Authentication-Results header (\"mx.google.com\")", id))
			continue
		}
		p.authservIDs = append(p.authservIDs, strings.ToLower(id))
	}
	if len(p.accept) == 0 && len(errs) == 0 {
		p.accept = slices.Clone(DefaultAccept)
	}
	return p, errors.Join(errs...)
}

// kindList returns "dmarc, dkim, …, reply_token or none".
func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Accepts reports whether e is accepted.
func (p Policy) Accepts(e Evidence) bool { return slices.Contains(p.accept, e) }

// Accepted returns the accepted evidence, in configured order.
func (p Policy) Accepted() []Evidence { return slices.Clone(p.accept) }

// AuthservIDs returns the trusted authserv-ids, in lower case.
func (p Policy) AuthservIDs() []string { return slices.Clone(p.authservIDs) }

// Warnings returns what the daemon must log at every start: that "none"
// trusts every sender, that "internal" is only safe behind Exchange, and
// that without authserv-ids no server's results count.
func (p Policy) Warnings() []string {
	var w []string
	if p.Accepts(None) {
		w = append(w, "security.command_auth is none: every sender is trusted for commands, whoever the From says they are; use it only on a closed test setup")
		return w
	}
	if len(p.authservIDs) == 0 && (p.Accepts(DMARC) || p.Accepts(SPF) || p.Accepts(Auth)) {
		w = append(w, "security.authserv_id is empty: no Authentication-Results header counts, so dmarc, spf and auth can never be found; only DKIM verified by ticketd and Exchange's internal marker count")
	}
	return w
}

// trustedID reports whether id, "" for a field without one, is one of the
// trusted authserv-ids.
func (p Policy) trustedID(id string) bool {
	if id == "" {
		return slices.Contains(p.authservIDs, Microsoft365)
	}
	return id != Microsoft365 && slices.Contains(p.authservIDs, strings.ToLower(id))
}

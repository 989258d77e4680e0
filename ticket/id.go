package ticket

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ID identifies a ticket: a configured prefix, the year the ticket was opened
// and a sequence number, such as "OTI-2026-000123". IDs are never reused.
type ID string

// DefaultPrefix is the ID prefix used when none is configured.
const DefaultPrefix = "OTI"

// NewID formats the ID of the seq-th ticket of year under prefix.
func NewID(prefix string, year int, seq uint64) ID {
	return ID(fmt.Sprintf("%s-%04d-%06d", prefix, year, seq))
}

// Tag returns the ID as it appears in subjects: "[OTI-2026-000123]".
func (id ID) Tag() string { return "[" + string(id) + "]" }

// ValidPrefix reports whether p can prefix ticket IDs: 1 to 16 ASCII letters
// or digits, starting with a letter.
func ValidPrefix(p string) bool {
	if len(p) == 0 || len(p) > 16 {
		return false
	}
	for i, r := range p {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

var idPattern = regexp.MustCompile(`([A-Za-z][A-Za-z0-9]{0,15})-(\d{4})-(\d{6,})`)

// ParseID checks that s is a well-formed ID with the given prefix (compared
// without regard to case) and returns it in canonical form.
func ParseID(prefix, s string) (ID, error) {
	m := idPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || m[0] != strings.TrimSpace(s) || !strings.EqualFold(m[1], prefix) {
		return "", fmt.Errorf("ticket: %q is not a ticket ID of the form %s-YYYY-NNNNNN", s, prefix)
	}
	return canonicalID(prefix, m)
}

func canonicalID(prefix string, m []string) (ID, error) {
	year, _ := strconv.Atoi(m[2])
	seq, err := strconv.ParseUint(m[3], 10, 64)
	if err != nil || seq == 0 {
		return "", fmt.Errorf("ticket: %q has no valid sequence number", m[0])
	}
	return NewID(prefix, year, seq), nil
}

// IDsInSubject returns the ticket IDs with the given prefix that appear in
// brackets in subject, in order of appearance and without duplicates. It
// accepts whatever prefixes mail clients add ("Re:", "RV:", "AW:", …), since
// it looks for the bracketed tag anywhere. The subject must already be
// decoded (RFC 2047).
func IDsInSubject(prefix, subject string) []ID {
	var ids []ID
	for rest := subject; ; {
		open := strings.IndexByte(rest, '[')
		if open < 0 {
			return ids
		}
		rest = rest[open+1:]
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return ids
		}
		if id, err := ParseID(prefix, rest[:end]); err == nil && !containsID(ids, id) {
			ids = append(ids, id)
		}
	}
}

// IDInMessageID extracts the ticket ID that ticketd encodes in the
// Message-IDs of the mails it sends ("OTI-2026-000123.n42.x@host"), so that
// a reply whose subject lost the tag still threads.
func IDInMessageID(prefix, msgID string) (ID, bool) {
	local, _, ok := strings.Cut(strings.Trim(msgID, "<> "), "@")
	if !ok {
		return "", false
	}
	head, _, _ := strings.Cut(local, ".")
	id, err := ParseID(prefix, head)
	return id, err == nil
}

func containsID(ids []ID, id ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

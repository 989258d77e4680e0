package config

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The words of [SecurityConfig.CommandAuth]: the kinds of evidence that
// make a sender trusted for commands (mailbox/sender defines what each
// means).
const (
	EvidenceDMARC      = "dmarc"
	EvidenceDKIM       = "dkim"
	EvidenceSPF        = "spf"
	EvidenceAuth       = "auth"
	EvidenceInternal   = "internal"
	EvidenceReplyToken = "reply_token"
	EvidenceNone       = "none"
)

// evidenceWords lists the words of security.command_auth.
var evidenceWords = []string{EvidenceDMARC, EvidenceDKIM, EvidenceSPF, EvidenceAuth,
	EvidenceInternal, EvidenceReplyToken, EvidenceNone}

// maxDNSTimeout bounds security.dns_timeout: one mail waits at most a few
// such lookups, and the mailbox waits with it.
const maxDNSTimeout = time.Minute

// SecurityConfig says which senders are trusted for the commands that
// change a ticket.
type SecurityConfig struct {
	// CommandAuth lists the evidence any one of which makes a sender
	// trusted: dmarc, dkim, spf, auth, internal, reply_token, or none alone
	// (no check at all). Default [dmarc, dkim, internal].
	CommandAuth []string `mapstructure:"command_auth"`
	// AuthservID lists the authserv-ids of the desk's own receiving
	// servers, whose topmost Authentication-Results field counts; the word
	// "microsoft365" stands for Microsoft 365's field, which has none.
	// Default empty: no such field counts.
	AuthservID []string `mapstructure:"authserv_id"`
	// DNSResolver is the DNS server ("host:port") asked for DKIM keys; ""
	// (default) means the system's resolver.
	DNSResolver string `mapstructure:"dns_resolver"`
	// DNSTimeout bounds each DNS lookup. Default 5s.
	DNSTimeout time.Duration `mapstructure:"dns_timeout"`
	// ReplyTokenKeyFile holds the secret key of reply tokens (made with
	// mode 0600 at first start when missing). Default
	// "<data_dir>/reply.key".
	ReplyTokenKeyFile string `mapstructure:"reply_token_key_file"`
	// ReplyTokenTTL is how long a notification's reply address is valid.
	// Default 30 days (720h).
	ReplyTokenTTL time.Duration `mapstructure:"reply_token_ttl"`
	// ReplyTokenSeparator joins the support address's local part and the
	// token, as the mail server's recipient delimiter. Default "+".
	ReplyTokenSeparator string `mapstructure:"reply_token_separator"`
}

// The bounds of security.reply_token_ttl: long enough to answer after a
// holiday, short enough that an old mail's address stops working.
const (
	minReplyTokenTTL = time.Hour
	maxReplyTokenTTL = 366 * 24 * time.Hour
)

// replyTokenSeparators are the separators a reply address may use: not a
// letter or digit (those could be part of the token), and what Postfix,
// Exchange and Google accept as a recipient delimiter.
const replyTokenSeparators = "+-_="

// replyTokenLen is the length of a reply token (package notify/replytoken).
const replyTokenLen = 32

func defaultSecurity() SecurityConfig {
	return SecurityConfig{
		CommandAuth: []string{EvidenceDMARC, EvidenceDKIM, EvidenceInternal},
		AuthservID:  []string{},
		DNSTimeout:  5 * time.Second,

		ReplyTokenTTL:       30 * 24 * time.Hour,
		ReplyTokenSeparator: "+",
	}
}

// normalize lower-cases the evidence words and trims the ids; the key file
// defaults to reply.key in dataDir.
func (s *SecurityConfig) normalize(dataDir string) {
	if strings.TrimSpace(s.ReplyTokenKeyFile) == "" {
		s.ReplyTokenKeyFile = filepath.Join(dataDir, "reply.key")
	}
	for i, w := range s.CommandAuth {
		s.CommandAuth[i] = strings.ToLower(strings.TrimSpace(w))
	}
	for i, id := range s.AuthservID {
		s.AuthservID[i] = strings.TrimSpace(id)
	}
}

// validate checks the security section; support is the support address,
// whose reply addresses must stay within RFC 5321's 64-character local part.
func (s SecurityConfig) validate(p *problems, support string) {
	if len(s.CommandAuth) == 0 {
		p.add("security.command_auth", "must list at least one kind of evidence (%s)", orList(evidenceWords))
	}
	for i, w := range s.CommandAuth {
		key := fmt.Sprintf("security.command_auth[%d]", i)
		switch {
		case !slices.Contains(evidenceWords, w):
			p.add(key, "%q: must be %s", w, orList(evidenceWords))
		case slices.Index(s.CommandAuth, w) < i:
			p.add(key, "%q is listed twice", w)
		case w == EvidenceNone && len(s.CommandAuth) > 1:
			p.add(key, "none must stand alone: it trusts every sender, so the other evidence listed would mean nothing")
		}
	}
	for i, id := range s.AuthservID {
		if id == "" || strings.ContainsAny(id, " \t;()\"") {
			p.add(fmt.Sprintf("security.authserv_id[%d]", i), "%q: must be one word, as it appears first in the Authentication-Results header (\"mx.google.com\")", id)
		}
	}
	if r := s.DNSResolver; r != "" {
		if host, port, err := net.SplitHostPort(r); err != nil || host == "" {
			p.add("security.dns_resolver", "%q: must be host:port, e.g. 127.0.0.53:53", r)
		} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			p.add("security.dns_resolver", "%q: bad port", r)
		}
	}
	if s.DNSTimeout <= 0 || s.DNSTimeout > maxDNSTimeout {
		p.add("security.dns_timeout", "%v: must be positive and at most %v", s.DNSTimeout, maxDNSTimeout)
	}
	if s.ReplyTokenTTL < minReplyTokenTTL || s.ReplyTokenTTL > maxReplyTokenTTL {
		p.add("security.reply_token_ttl", "%v: must be between %v and %v", s.ReplyTokenTTL, minReplyTokenTTL, maxReplyTokenTTL)
	}
	if sep := s.ReplyTokenSeparator; len(sep) != 1 || !strings.Contains(replyTokenSeparators, sep) {
		p.add("security.reply_token_separator", "%q: must be one of the characters %s", sep, replyTokenSeparators)
	} else if local, _, _ := strings.Cut(support, "@"); slices.Contains(s.CommandAuth, EvidenceReplyToken) && len(local)+1+replyTokenLen > 64 {
		p.add("security.command_auth", "reply_token: the local part of smtp.support_address %q is %d characters; with the separator and the %d-character token it must fit in 64 (RFC 5321), so at most %d",
			support, len(local), replyTokenLen, 64-1-replyTokenLen)
	}
}

// warnings says what every start must log: that none trusts everyone.
func (s SecurityConfig) warnings() []string {
	if slices.Equal(s.CommandAuth, []string{EvidenceNone}) {
		return []string{"security.command_auth is none: every sender is trusted for commands, whoever the From says they are; use it only on a closed test setup"}
	}
	return nil
}

package sender

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/publicsuffix"
)

// DefaultDNSTimeout bounds each DNS lookup of a DKIM key when
// [Options.DNSTimeout] is zero.
const DefaultDNSTimeout = 5 * time.Second

// maxSignatures caps the DKIM signatures verified in one mail, so that a
// mail with hundreds of them cannot make ticketd do hundreds of lookups.
const maxSignatures = 5

// Options configures [New].
type Options struct {
	// Policy says which evidence is accepted. Required: the zero Policy
	// accepts nothing, so nobody would be trusted.
	Policy Policy
	// Resolver is the DNS server ("host:port") asked for DKIM keys; ""
	// means the system's resolver.
	Resolver string
	// DNSTimeout bounds each DNS lookup; zero means [DefaultDNSTimeout].
	DNSTimeout time.Duration
	// Logger receives debug detail about each check; nil discards it.
	Logger *slog.Logger
}

// Checker decides whether a mail's sender is trusted. It is safe for
// concurrent use; it keeps no state between mails.
type Checker struct {
	policy   Policy
	resolver *net.Resolver
	timeout  time.Duration
	log      *slog.Logger
}

// New returns a Checker. It does no I/O. It fails when the policy accepts
// nothing or Resolver is not host:port.
func New(opts Options) (*Checker, error) {
	if len(opts.Policy.accept) == 0 {
		return nil, errors.New("sender: the policy accepts no evidence (use NewPolicy)")
	}
	if opts.DNSTimeout < 0 {
		return nil, fmt.Errorf("sender: DNS timeout %v is negative", opts.DNSTimeout)
	}
	c := &Checker{policy: opts.Policy, timeout: opts.DNSTimeout, log: opts.Logger, resolver: net.DefaultResolver}
	if c.timeout == 0 {
		c.timeout = DefaultDNSTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if addr := opts.Resolver; addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("sender: resolver %q: must be host:port: %w", addr, err)
		}
		var d net.Dialer
		c.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}
	}
	return c, nil
}

// Mail is what [Checker.Check] looks at.
type Mail struct {
	// Raw reads the whole mail as fetched from the mailbox: header and
	// body (the body only matters for DKIM). Check reads it from the
	// start, twice at most (the header, then the whole mail for DKIM),
	// streaming: the mail is never held in memory (an *os.File of the raw
	// copy, or a *bytes.Reader).
	Raw io.ReaderAt
	// From is the address of the mail's From field, as the caller parsed
	// it. It must be the address of the field's only mailbox.
	From string
	// ReplyToken reports that the caller found, in the address the mail
	// was sent to, a reply token of ticketd's that is valid for From and
	// the ticket. Only the caller can know: the token lives in ticket
	// state.
	ReplyToken bool
}

// Problem is one kind of evidence looked for and not found, or found and
// failed.
type Problem struct {
	// Evidence is what was looked for.
	Evidence Evidence
	// Code is a stable machine-readable word: "dkim_unaligned", …
	Code string
	// Reason is a short English sentence fragment for people: "DKIM
	// signature of evil.example is not aligned with example.org".
	Reason string
}

// The codes of [Verdict.Code] besides those of each [Problem].
const (
	CodeTrusted    = "trusted"     // a kind of accepted evidence holds
	CodeNoEvidence = "no_evidence" // nothing was found at all
	CodeBadFrom    = "bad_from"    // the From field is missing, repeated or unreadable
)

// Verdict is the outcome of [Checker.Check].
type Verdict struct {
	// From is the address checked, in lower case.
	From string
	// Trusted reports whether the sender may give commands.
	Trusted bool
	// By is the accepted evidence that made the sender trusted; "" when
	// not trusted.
	By Evidence
	// Found lists every kind of evidence that holds, accepted or not.
	Found []Evidence
	// Problems lists the accepted evidence that was missing or failed, in
	// policy order (empty for a sender trusted by the first kind looked at).
	Problems []Problem
	// Code sums the verdict up for machines: [CodeTrusted],
	// [CodeNoEvidence], [CodeBadFrom] or the code of the first problem that
	// is a failure rather than an absence.
	Code string
	// Reason says it for people, in English: "trusted by dkim" or "sender
	// not verified: …".
	Reason string
	// Warning is set when the sender is trusted only because the policy is
	// "none".
	Warning string
}

// facts is what one mail shows, before the policy is applied.
type facts struct {
	found    map[Evidence]bool
	problems map[Evidence]Problem
	trusted  bool // a trusted Authentication-Results field was found
	dkimSaid bool // … and it had a dkim result
}

func (f *facts) pass(e Evidence) { f.found[e] = true; delete(f.problems, e) }

// fail records a problem unless e already holds or has a problem.
func (f *facts) fail(e Evidence, code, format string, args ...any) {
	if f.found[e] {
		return
	}
	if _, ok := f.problems[e]; ok {
		return
	}
	f.problems[e] = Problem{Evidence: e, Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Check looks at the mail's evidence and applies the policy. It does DNS
// lookups (at most a few, each bounded by the DNS timeout and by ctx) only
// when DKIM is accepted, the sender is not yet trusted otherwise, and no
// trusted server reported on DKIM. It never fails: a mail it cannot read
// gives an untrusted Verdict saying why.
func (c *Checker) Check(ctx context.Context, m Mail) Verdict {
	from := strings.ToLower(strings.TrimSpace(m.From))
	v := Verdict{From: from}
	if c.policy.Accepts(None) {
		v.Trusted, v.By, v.Code = true, None, CodeTrusted
		v.Reason = "trusted: security.command_auth is none"
		v.Warning = "sender not verified: security.command_auth is none"
		return v
	}
	h, err := textproto.ReadHeader(bufio.NewReader(whole(m.Raw)))
	if err != nil {
		return untrusted(v, CodeBadFrom, "the mail's header cannot be read")
	}
	domain, problem := fromDomain(h, from)
	if problem != "" {
		return untrusted(v, CodeBadFrom, problem)
	}

	f := &facts{found: map[Evidence]bool{}, problems: map[Evidence]Problem{}}
	c.authResults(f, h, from, domain)
	internal(f, h)
	if m.ReplyToken {
		f.pass(ReplyToken)
	} else {
		f.fail(ReplyToken, "reply_token_absent", "not sent to a reply address of ticketd's")
	}
	if c.policy.Accepts(DKIM) && !f.dkimSaid && !c.anyAccepted(f) {
		c.verifyDKIM(ctx, f, m.Raw, domain)
	}
	return c.decide(v, f)
}

// anyAccepted reports whether some accepted evidence already holds.
func (c *Checker) anyAccepted(f *facts) bool {
	return slices.ContainsFunc(c.policy.accept, func(e Evidence) bool { return f.found[e] })
}

func untrusted(v Verdict, code, reason string) Verdict {
	v.Code, v.Reason = code, "sender not verified: "+reason
	v.Problems = append(v.Problems, Problem{Code: code, Reason: reason})
	return v
}

// decide applies the policy to the facts.
func (c *Checker) decide(v Verdict, f *facts) Verdict {
	for _, e := range Kinds {
		if f.found[e] {
			v.Found = append(v.Found, e)
		}
	}
	for _, e := range c.policy.accept {
		if f.found[e] {
			v.Trusted, v.By, v.Code, v.Reason = true, e, CodeTrusted, "trusted by "+string(e)
			return v
		}
		if p, ok := f.problems[e]; ok {
			v.Problems = append(v.Problems, p)
		}
	}
	v.Code = CodeNoEvidence
	reasons := make([]string, 0, len(v.Problems))
	for _, p := range v.Problems {
		reasons = append(reasons, p.Reason)
		if v.Code == CodeNoEvidence && !absence(p.Code) {
			v.Code = p.Code
		}
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no accepted evidence")
	}
	v.Reason = "sender not verified: " + strings.Join(reasons, "; ")
	return v
}

// absence reports whether code says evidence is missing rather than failed.
func absence(code string) bool {
	return strings.HasSuffix(code, "_none") || strings.HasSuffix(code, "_absent") || code == "no_trusted_server"
}

// wordDecoder decodes encoded words in display names well enough to find
// the address: an unknown charset is left undecoded, not an error.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}

// fromDomain checks that h has exactly one From field holding exactly one
// mailbox whose address is from (RFC 7489 §6.6.1: a mail with several From
// addresses has no single author to verify), and returns its domain.
func fromDomain(h textproto.Header, from string) (domain, problem string) {
	var values []string
	for fs := h.FieldsByKey("From"); fs.Next(); {
		values = append(values, fs.Value())
	}
	switch len(values) {
	case 0:
		return "", "the mail has no From field"
	case 1:
	default:
		return "", "the mail has several From fields"
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	list, err := p.ParseList(values[0])
	if err != nil || len(list) != 1 {
		return "", "the From field does not hold exactly one address"
	}
	addr := strings.ToLower(list[0].Address)
	if from == "" || addr != from {
		return "", "the From field does not match the sender checked"
	}
	at := strings.LastIndexByte(addr, '@')
	return addr[at+1:], ""
}

// authResults reads the topmost Authentication-Results field whose
// authserv-id is trusted, and records what it says about the sender.
func (c *Checker) authResults(f *facts, h textproto.Header, from, domain string) {
	var results []Result
	var id string
	for fs := h.FieldsByKey("Authentication-Results"); fs.Next(); {
		fid, rs, err := ParseAuthResults(fs.Value())
		if errors.Is(err, errVersion) || !c.policy.trustedID(fid) {
			// RFC 8601 §5: a field of any other server is the sender's word.
			continue
		}
		// RFC 8601 §5: the receiving server's own field is above anything
		// that came with the mail; one further down is the sender's forgery.
		id, results, f.trusted = fid, rs, true
		break
	}
	if !f.trusted {
		reason := "no Authentication-Results from the desk's own servers"
		if len(c.policy.authservIDs) == 0 {
			reason = "no trusted mail server is configured (security.authserv_id)"
		}
		for _, e := range []Evidence{DMARC, SPF, Auth} {
			f.fail(e, "no_trusted_server", "%s", reason)
		}
		return
	}
	c.log.Debug("trusted authentication results", "authserv_id", id, "results", len(results))
	byMethod := map[string][]Result{}
	for _, r := range results {
		byMethod[r.Method] = append(byMethod[r.Method], r)
	}

	// DMARC, SPF and auth are evaluated once per mail: more than one result
	// means the field was forged into, e.g. through a quoted envelope
	// address the server copied unquoted.
	switch rs := byMethod["dmarc"]; {
	case len(rs) == 0:
		f.fail(DMARC, "dmarc_none", "no DMARC result")
	case len(rs) > 1:
		f.fail(DMARC, "dmarc_conflict", "several DMARC results")
	case rs[0].Value != "pass":
		f.fail(DMARC, "dmarc_fail", "DMARC %s for %s", rs[0].Value, domain)
	case !strings.EqualFold(strings.TrimSuffix(rs[0].Props["header.from"], "."), domain):
		f.fail(DMARC, "dmarc_other_domain", "the DMARC pass does not name %s", domain)
	default:
		f.pass(DMARC)
	}

	switch rs := byMethod["spf"]; {
	case len(rs) == 0:
		f.fail(SPF, "spf_none", "no SPF result")
	case len(rs) > 1:
		f.fail(SPF, "spf_conflict", "several SPF results")
	case rs[0].Value != "pass":
		f.fail(SPF, "spf_fail", "SPF %s", rs[0].Value)
	default:
		mf := addrDomain(rs[0].Props["smtp.mailfrom"])
		if mf == "" || !aligned(mf, domain) {
			f.fail(SPF, "spf_unaligned", "the SPF pass is for %s, not aligned with %s", orUnknown(mf), domain)
		} else {
			f.pass(SPF)
		}
	}

	switch rs := byMethod["auth"]; {
	case len(rs) == 0:
		f.fail(Auth, "auth_none", "the sender did not log in to the organisation's server")
	case len(rs) > 1:
		f.fail(Auth, "auth_conflict", "several auth results")
	case rs[0].Value == "none":
		// RFC 8601 §2.7.4: auth=none is a server saying nobody logged in.
		f.fail(Auth, "auth_none", "the sender did not log in to the organisation's server")
	case rs[0].Value != "pass":
		f.fail(Auth, "auth_fail", "login %s", rs[0].Value)
	case !strings.EqualFold(rs[0].Props["smtp.auth"], from):
		f.fail(Auth, "auth_other_identity", "logged in as %s, not as %s", orUnknown(rs[0].Props["smtp.auth"]), from)
	default:
		f.pass(Auth)
	}

	rs := byMethod["dkim"]
	f.dkimSaid = len(rs) > 0
	for _, r := range rs {
		d := dkimDomain(r)
		switch {
		case r.Value != "pass":
			f.fail(DKIM, "dkim_fail", "DKIM %s", r.Value)
		case d == "" || !aligned(d, domain):
			f.fail(DKIM, "dkim_unaligned", "the DKIM signature of %s is not aligned with %s", orUnknown(d), domain)
		default:
			f.pass(DKIM)
		}
	}
}

// dkimDomain is the signing domain of a dkim result: header.d, or the
// domain of header.i (Gmail writes only header.i=@example.org).
func dkimDomain(r Result) string {
	if d := r.Props["header.d"]; d != "" {
		return strings.ToLower(strings.TrimSuffix(d, "."))
	}
	return addrDomain(r.Props["header.i"])
}

// addrDomain returns the domain of "user@domain", "@domain" or "domain".
func addrDomain(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "<>")
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		s = s[at+1:]
	}
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown domain"
	}
	return s
}

// aligned reports whether domain d is aligned with the From domain in
// DMARC's relaxed mode (RFC 7489 §3.1): both have the same organizational
// domain, the registered domain below a public suffix (mail.example.gov.co
// and example.gov.co do; example.gov.co and other.gov.co do not). The
// suffix list is the one compiled into golang.org/x/net/publicsuffix; no
// list is downloaded. A name without an organizational domain (a bare
// public suffix, a single label) is aligned only with itself.
func aligned(d, from string) bool {
	d, from = strings.ToLower(d), strings.ToLower(from)
	if d == from {
		return true
	}
	od, err1 := publicsuffix.EffectiveTLDPlusOne(d)
	of, err2 := publicsuffix.EffectiveTLDPlusOne(from)
	return err1 == nil && err2 == nil && od == of
}

// internal records Exchange's marker. Exchange deletes the
// X-MS-Exchange-Organization-* fields of mail from outside and stamps its
// own; the topmost one is Exchange's.
func internal(f *facts, h textproto.Header) {
	fs := h.FieldsByKey("X-MS-Exchange-Organization-AuthAs")
	if !fs.Next() {
		f.fail(Internal, "internal_absent", "not marked internal by Exchange")
		return
	}
	if v := strings.TrimSpace(fs.Value()); !strings.EqualFold(v, "Internal") {
		f.fail(Internal, "internal_absent", "marked %s by Exchange, not internal", orUnknown(v))
		return
	}
	f.pass(Internal)
}

// whole reads r from its start to its end.
func whole(r io.ReaderAt) io.Reader { return io.NewSectionReader(r, 0, math.MaxInt64) }

// verifyDKIM verifies the mail's DKIM signatures itself (RFC 6376 §6).
func (c *Checker) verifyDKIM(ctx context.Context, f *facts, raw io.ReaderAt, domain string) {
	lookup := func(name string) ([]string, error) {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		return c.resolver.LookupTXT(ctx, name)
	}
	verifs, err := dkim.VerifyWithOptions(whole(raw), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		f.fail(DKIM, "dkim_unreadable", "the DKIM signatures cannot be read")
		return
	}
	if len(verifs) == 0 {
		f.fail(DKIM, "dkim_none", "no DKIM signature")
		return
	}
	// An aligned pass counts; otherwise the most telling failure is kept:
	// one of the From domain before one of another domain.
	var best *Problem
	keep := func(p Problem, own bool) {
		if best == nil || own {
			best = &p
		}
	}
	for _, vf := range verifs {
		d := strings.ToLower(vf.Domain)
		own := aligned(d, domain)
		switch {
		case vf.Err == nil && own:
			c.log.Debug("dkim verified", "domain", d)
			f.pass(DKIM)
			return
		case vf.Err == nil:
			keep(Problem{DKIM, "dkim_unaligned", fmt.Sprintf("the DKIM signature of %s is not aligned with %s", orUnknown(d), domain)}, false)
		case dkim.IsTempFail(vf.Err):
			keep(Problem{DKIM, "dkim_dns", fmt.Sprintf("the DKIM key of %s could not be looked up in DNS in time", orUnknown(d))}, own)
		default:
			keep(Problem{DKIM, "dkim_fail", fmt.Sprintf("the DKIM signature of %s does not verify (%s)", orUnknown(d), dkimWhy(vf.Err))}, own)
		}
		c.log.Debug("dkim not verified", "domain", d, "err", vf.Err)
	}
	f.fail(best.Evidence, best.Code, "%s", best.Reason)
}

// dkimWhy shortens go-msgauth's error text ("dkim: body hash did not
// verify") for a reason people read.
func dkimWhy(err error) string {
	s := strings.TrimPrefix(err.Error(), "dkim: ")
	if i := strings.Index(s, ": "); i > 0 && strings.HasPrefix(s, "no key for signature") {
		s = s[:i] // drop the resolver's own text
	}
	return s
}

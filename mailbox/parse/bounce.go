package parse

import (
	"bufio"
	"io"
	"regexp"
	"strings"

	"github.com/emersion/go-message/textproto"
)

const (
	maxStatusBytes = 256 << 10 // of a message/delivery-status part
	maxRecipients  = 1000
	maxDiagnostic  = 1000 // runes
)

// deliveryStatus reads a message/delivery-status part (RFC 3464 §2.1): a
// block of per-message fields, then one block per recipient.
func (p *parser) deliveryStatus(r io.Reader) {
	if p.bounce == nil {
		p.bounce = new(Bounce)
	}
	b := p.bounce
	br := bufio.NewReader(io.LimitReader(r, maxStatusBytes))
	for block := 0; ; block++ {
		h, err := readHeaderBlock(br)
		if block > 0 && h.Len() > 0 && len(b.Recipients) < maxRecipients {
			rcpt := dsnAddress(h.Get("Final-Recipient"))
			if rcpt == "" {
				rcpt = dsnAddress(h.Get("Original-Recipient"))
			}
			action := strings.ToLower(strings.TrimSpace(fixString(h.Get("Action"))))
			// RFC 3464 §2.3.3: only failed and delayed recipients bounced.
			if action == "" || action == "failed" || action == "delayed" {
				if rcpt != "" {
					b.Recipients = append(b.Recipients, rcpt)
				}
				if b.Action == "" {
					b.Action = action
					b.Status = firstWord(fixString(h.Get("Status")))
					b.Diagnostic = dsnDiagnostic(h.Get("Diagnostic-Code"))
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// headerBlock is the part of a go-message header used here.
type headerBlock interface {
	Get(string) string
	Len() int
}

// readHeaderBlock reads one block of fields; an empty block with a nil
// error is skipped (several blank lines between blocks).
func readHeaderBlock(br *bufio.Reader) (headerBlock, error) {
	for {
		// Skip blank lines between blocks.
		b, err := br.Peek(1)
		if err != nil {
			return emptyBlock{}, err
		}
		if b[0] != '\r' && b[0] != '\n' {
			break
		}
		br.ReadByte()
	}
	h, err := readMIMEHeader(br)
	return h, err
}

type emptyBlock struct{}

func (emptyBlock) Get(string) string { return "" }
func (emptyBlock) Len() int          { return 0 }

// dsnAddress extracts the address of an "rfc822; user@example.com" field.
func dsnAddress(v string) string {
	v = fixString(v)
	if _, a, ok := strings.Cut(v, ";"); ok {
		v = a
	}
	v = strings.Trim(strings.TrimSpace(v), "<>")
	if v == "" || strings.ContainsAny(v, " \t") {
		return ""
	}
	return normalizeAddr(v)
}

// dsnDiagnostic drops the diagnostic type ("smtp;") of a Diagnostic-Code.
func dsnDiagnostic(v string) string {
	v = fixString(v)
	if t, d, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(strings.TrimSpace(t), " \t") {
		v = d
	}
	v, _ = truncateRunes(cleanLine(v), maxDiagnostic)
	return v
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

var (
	// An RFC 3463 enhanced status code in free text.
	statusCode = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)
	// A "Message-ID: <...>" line of a quoted original message.
	messageIDLine = regexp.MustCompile(`(?im)^\s*message-id:\s*<([^<>\s]+)>`)
	// A recipient line of Postfix ("<a@b>: ..."), qmail or Exim ("  a@b").
	recipientLine = regexp.MustCompile(`(?m)^\s*<?([^\s<>@:;,"]+@[^\s<>@:;,"]+\.[A-Za-z0-9-]+)>?:?\s*(?:$|host|said|\()`)
	// Subjects of non-standard bounces, in English and Spanish.
	bounceSubject = regexp.MustCompile(`(?i)undeliver|delivery status notification|delivery (status )?fail|mail delivery|returned mail|failure notice|could not be delivered|no se (puede|ha podido|pudo) entregar|devuelto|error de entrega|notificaci[oó]n de estado de entrega`)
)

// finish derives the fields that need the whole mail: the bounce and the
// auto-reply reason.
func (p *parser) finish() {
	m := p.m
	switch {
	case p.bounce != nil:
		m.Bounce = p.bounce
	case p.looksLikeBounce():
		m.Bounce = guessBounce(m.Text)
		p.m.problem("bounce without a delivery-status part: details guessed from the text")
	}
	if m.Bounce != nil {
		if m.Bounce.OriginalMessageID == "" {
			m.Bounce.OriginalMessageID = p.bounceMsgID
		}
		if m.Bounce.OriginalMessageID == "" {
			if sm := messageIDLine.FindStringSubmatch(m.Text); sm != nil {
				m.Bounce.OriginalMessageID = sm[1]
			}
		}
	}
	m.AutoReason = autoReason(&p.hdr, m)
}

// looksLikeBounce recognizes a bounce that is not an RFC 3464 report: sent
// by a mailer daemon, or with a bounce subject and a null return path.
func (p *parser) looksLikeBounce() bool {
	m := p.m
	if !bounceSubject.MatchString(m.Subject) {
		return false
	}
	return isDaemon(m.From.Addr) || m.ReturnPathEmpty
}

// guessBounce takes what it can from the text of a non-standard bounce.
func guessBounce(text string) *Bounce {
	b := &Bounce{Action: "failed"}
	// Only the part before the returned message speaks of the failure.
	head := text
	if i := messageIDLine.FindStringIndex(text); i != nil {
		head = text[:i[0]]
	}
	if loc := statusCode.FindStringIndex(head); loc != nil {
		b.Status = head[loc[0]:loc[1]]
		start := strings.LastIndexByte(head[:loc[0]], '\n') + 1
		end := strings.IndexByte(head[loc[1]:], '\n')
		if end < 0 {
			end = len(head)
		} else {
			end += loc[1]
		}
		b.Diagnostic, _ = truncateRunes(cleanLine(head[start:end]), maxDiagnostic)
		if strings.HasPrefix(b.Status, "4.") {
			b.Action = "delayed"
		}
	}
	seen := map[string]bool{}
	for _, sm := range recipientLine.FindAllStringSubmatch(head, maxRecipients) {
		a := normalizeAddr(sm[1])
		if !seen[a] && !isDaemon(a) {
			seen[a] = true
			b.Recipients = append(b.Recipients, a)
		}
	}
	return b
}

// isDaemon reports whether addr is a mailer daemon or postmaster address.
func isDaemon(addr string) bool {
	return daemonKind(addr) != ""
}

// daemonKind returns "mailer-daemon" or "postmaster" for such senders.
func daemonKind(addr string) string {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	switch local {
	case "mailer-daemon", "mailerdaemon":
		return "mailer-daemon"
	case "postmaster":
		return "postmaster"
	}
	return ""
}

// autoReason says why the mail must not be answered automatically (RFC
// 3834), or returns "" when it may be.
func autoReason(h headerGetter, m *Mail) string {
	get := func(k string) string { return strings.TrimSpace(fixString(h.Get(k))) }
	// RFC 3834 §5: anything but "no" is automatic.
	if v := strings.ToLower(firstWord(strings.ReplaceAll(get("Auto-Submitted"), ";", " "))); v != "" && v != "no" {
		return "auto-submitted: " + v
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder"} {
		if v := strings.ToLower(get(k)); v != "" && v != "no" && v != "false" && v != "0" {
			return strings.ToLower(k)
		}
	}
	switch v := strings.ToLower(get("Precedence")); v {
	case "bulk", "junk", "list", "auto_reply":
		return "precedence: " + v
	}
	if get("List-Id") != "" {
		return "list-id"
	}
	if get("List-Unsubscribe") != "" {
		return "list-unsubscribe"
	}
	if m.ReturnPathEmpty {
		return "empty return-path"
	}
	if k := daemonKind(m.From.Addr); k != "" {
		return k + " sender"
	}
	if m.Bounce != nil {
		return "delivery status notification"
	}
	return ""
}

// headerGetter is the part of a header autoReason reads.
type headerGetter interface {
	Get(string) string
}

// readMIMEHeader reads one header block with go-message.
func readMIMEHeader(br *bufio.Reader) (headerBlock, error) {
	h, err := textproto.ReadHeader(br)
	return &h, err
}

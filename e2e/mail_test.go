//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/emersion/go-message/charset" // windows-1252 and friends in what we read back
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
)

// outMail is a mail a test sends. Body is used as is (already encoded as
// ContentType and CTE say); Text is a convenience for a UTF-8 plain body.
type outMail struct {
	From, To    string // addresses, a display name allowed
	Cc          []string
	Subject     string // encoded as RFC 2047 UTF-8 when not ASCII
	RawSubject  string // used as is instead of Subject when set
	MessageID   string // made up when empty
	InReplyTo   string
	References  string
	Headers     [][2]string // extra headers, in order
	ContentType string      // default text/plain; charset=utf-8
	CTE         string      // default 8bit
	Text        string
	Body        []byte
	Date        time.Time
	// Unsigned leaves out the DKIM signature that mails from the stack's
	// domain get (see signer): a forgery from outside.
	Unsigned bool
}

func newMessageID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@client.e2e.test>"
}

// bytes renders m as a complete message with CRLF line ends.
func (m *outMail) bytes() []byte {
	if m.MessageID == "" {
		m.MessageID = newMessageID()
	}
	var b bytes.Buffer
	h := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	h("Date", date.Format(time.RFC1123Z))
	h("From", m.From)
	h("To", m.To)
	h("Cc", strings.Join(m.Cc, ", "))
	subj := m.RawSubject
	if subj == "" {
		subj = mime.QEncoding.Encode("utf-8", m.Subject)
	}
	h("Subject", subj)
	h("Message-ID", m.MessageID)
	h("In-Reply-To", m.InReplyTo)
	h("References", m.References)
	for _, kv := range m.Headers {
		h(kv[0], kv[1])
	}
	ct, cte := m.ContentType, m.CTE
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	if cte == "" {
		cte = "8bit"
	}
	h("MIME-Version", "1.0")
	h("Content-Type", ct)
	h("Content-Transfer-Encoding", cte)
	b.WriteString("\r\n")
	body := m.Body
	if body == nil {
		body = []byte(m.Text)
	}
	b.Write(crlf(body))
	if !bytes.HasSuffix(body, []byte("\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// crlf turns bare LF line ends into CRLF.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// bareID strips the angle brackets of a Message-ID, as ticketd records it.
func bareID(id string) string { return strings.Trim(strings.TrimSpace(id), "<>") }

func bareAddr(s string) string {
	if a, err := netmail.ParseAddress(s); err == nil {
		return a.Address
	}
	return s
}

// rcpts lists the envelope recipients of m.
func (m *outMail) rcpts() []string {
	out := []string{bareAddr(m.To)}
	for _, c := range m.Cc {
		out = append(out, bareAddr(c))
	}
	return out
}

// send submits mails to Postfix over one SMTP connection.
func (s *stack) send(t testing.TB, ms ...*outMail) {
	t.Helper()
	if err := s.trySend(ms...); err != nil {
		t.Fatalf("send by SMTP to %s: %v", s.smtpAddr, err)
	}
}

func (s *stack) trySend(ms ...*outMail) error {
	c, err := smtp.Dial(s.smtpAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		return err
	}
	for _, m := range ms {
		raw, err := signer.sign(m, m.bytes())
		if err != nil {
			return err
		}
		if err := c.SendMail(bareAddr(m.From), m.rcpts(), bytes.NewReader(raw)); err != nil {
			return fmt.Errorf("mail %s: %w", m.MessageID, err)
		}
	}
	return c.Quit()
}

// deliverLMTP hands mails straight to Dovecot, as Postfix would.
func (s *stack) deliverLMTP(t testing.TB, ms ...*outMail) {
	t.Helper()
	conn, err := net.Dial("tcp", s.lmtpAddr)
	if err != nil {
		t.Fatalf("lmtp %s: %v", s.lmtpAddr, err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		t.Fatalf("lmtp LHLO: %v", err)
	}
	for _, m := range ms {
		raw, err := signer.sign(m, m.bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail(bareAddr(m.From), m.rcpts(), bytes.NewReader(raw)); err != nil {
			t.Fatalf("lmtp delivery of %s: %v", m.MessageID, err)
		}
	}
	_ = c.Quit()
}

// gotMail is a mail read back from a mailbox.
type gotMail struct {
	UID        uint32
	Seen       bool
	MessageID  string // with angle brackets
	InReplyTo  string
	References string
	From       string
	To         string
	Subject    string // decoded
	Ticket     string // X-Ticketd-Ticket
	Auto       string // Auto-Submitted
	Text       string // the text/plain part, decoded
	HTML       string
	Raw        []byte
}

var tagRe = regexp.MustCompile(`\[([A-Z][A-Z0-9]*-\d{4}-\d{6,})\]`)

// ticketID returns the ID in the subject's tag, or "".
func (m gotMail) ticketID() string {
	if s := tagRe.FindStringSubmatch(m.Subject); s != nil {
		return s[1]
	}
	return ""
}

func (m gotMail) String() string {
	return fmt.Sprintf("uid %d from %s to %s: %q", m.UID, m.From, m.To, m.Subject)
}

// imapLogin opens an IMAP session as local@domain.
func (s *stack) imapLogin(addr string) (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(s.imapAddr, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login(addr, s.password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login %s: %w", addr, err)
	}
	return c, nil
}

// mailbox reads every mail of mailbox mbox of user addr without changing
// any flag. A mailbox that does not exist yet is empty.
func (s *stack) mailbox(t testing.TB, addr, mbox string) []gotMail {
	t.Helper()
	ms, err := s.tryMailbox(addr, mbox, true)
	if err != nil {
		t.Fatalf("read %s of %s: %v", mbox, addr, err)
	}
	return ms
}

// tryMailbox reads mbox of addr; with bodies false only the headers and flags.
func (s *stack) tryMailbox(addr, mbox string, bodies bool) ([]gotMail, error) {
	c, err := s.imapLogin(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sel, err := c.Select(mbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		if strings.Contains(err.Error(), "NONEXISTENT") || strings.Contains(err.Error(), "doesn't exist") {
			return nil, nil
		}
		return nil, err
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	if !bodies {
		section = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, err
	}
	out := make([]gotMail, 0, len(msgs))
	for _, fm := range msgs {
		raw := fm.FindBodySection(section)
		g := parseGot(raw)
		g.UID = uint32(fm.UID)
		for _, f := range fm.Flags {
			if f == imap.FlagSeen {
				g.Seen = true
			}
		}
		out = append(out, g)
	}
	_ = c.Logout().Wait()
	return out, nil
}

// parseGot decodes the headers and the text parts of a raw mail.
func parseGot(raw []byte) gotMail {
	g := gotMail{Raw: raw}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if mr == nil {
		g.Text = fmt.Sprintf("(unparsable: %v)", err)
		return g
	}
	h := mr.Header
	g.MessageID = strings.TrimSpace(h.Get("Message-Id"))
	g.InReplyTo = strings.TrimSpace(h.Get("In-Reply-To"))
	g.References = strings.Join(strings.Fields(h.Get("References")), " ")
	g.From = h.Get("From")
	g.To = h.Get("To")
	g.Subject, _ = h.Subject()
	g.Ticket = h.Get("X-Ticketd-Ticket")
	g.Auto = h.Get("Auto-Submitted")
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ih, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			continue
		}
		ct, _, _ := ih.ContentType()
		b, _ := io.ReadAll(p.Body)
		switch {
		case ct == "text/plain" && g.Text == "":
			g.Text = string(b)
		case ct == "text/html" && g.HTML == "":
			g.HTML = string(b)
		}
	}
	return g
}

// waitMail waits until addr's INBOX holds a mail that match accepts and
// returns the first such mail.
func (s *stack) waitMail(t testing.TB, addr string, timeout time.Duration, what string, match func(gotMail) bool) gotMail {
	t.Helper()
	var found gotMail
	waitFor(t, timeout, fmt.Sprintf("%s in the mailbox of %s", what, addr), func() (bool, string) {
		ms, err := s.tryMailbox(addr, "INBOX", true)
		if err != nil {
			return false, err.Error()
		}
		for _, m := range ms {
			if match(m) {
				found = m
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d mails: %v", len(ms), ms)
	})
	return found
}

// subjectHas matches a mail about ticket id whose subject contains each of parts.
func subjectHas(id string, parts ...string) func(gotMail) bool {
	return func(m gotMail) bool {
		if id != "" && m.ticketID() != id {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(m.Subject, p) {
				return false
			}
		}
		return true
	}
}

// count returns how many of ms match.
func count(ms []gotMail, match func(gotMail) bool) int {
	n := 0
	for _, m := range ms {
		if match(m) {
			n++
		}
	}
	return n
}

// reply builds an answer from addr to m, as a mail client would: "RE:"
// subject, In-Reply-To and References, the original quoted below.
func reply(from string, m gotMail, text string) *outMail {
	refs := strings.TrimSpace(m.References + " " + m.MessageID)
	var quoted strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(m.Text), "\n") {
		quoted.WriteString("> " + strings.TrimRight(l, "\r") + "\n")
	}
	body := fmt.Sprintf("%s\n\nEl %s, %s escribió:\n%s", text, time.Now().Format("02/01/2006 15:04"), m.From, quoted.String())
	return &outMail{From: from, To: replyTo(m), Subject: "RE: " + m.Subject, InReplyTo: m.MessageID, References: refs, Text: body}
}

// replyTo is where an answer to m goes: its Reply-To, else its From.
func replyTo(m gotMail) string {
	if h, err := mail.CreateReader(bytes.NewReader(m.Raw)); err == nil {
		if v := h.Header.Get("Reply-To"); v != "" {
			return v
		}
	}
	return m.From
}

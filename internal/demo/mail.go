package demo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/view"
)

// Domain is the mail domain of the embedded mail system.
const Domain = "demo.test"

// Person is one mailbox of the embedded mail system: a person of the
// scripted case, or the support mailbox ticketd reads. The IMAP login is the
// address.
type Person struct {
	Name string
	Addr string
	// Role says who the person is in the procedure, for the operator.
	Role string
	// Group is the ticketd group the person belongs to, "" for none.
	Group string
}

// String formats the person as a mail address with its display name.
func (p Person) String() string { return view.Addr(p.Name, p.Addr) }

// Mail is a mail as the demo reads it: the headers that matter and the
// plain text.
type Mail struct {
	From       string
	To         string
	Subject    string
	MessageID  string
	References []string
	// Ticket is the X-Ticketd-Ticket header of the mail ticketd sends.
	Ticket string
	// Text is the first text/plain part, decoded.
	Text string
}

// delivery is one mail the embedded mail system accepted, decoded.
type delivery struct {
	devmail.Delivery
	Mail Mail
}

func decodeDeliveries(ds []devmail.Delivery) []delivery {
	out := make([]delivery, len(ds))
	for i, d := range ds {
		out[i] = delivery{Delivery: d, Mail: readDemoMail(d.Raw)}
	}
	return out
}

// readDemoMail decodes the headers and the first plain-text part of raw.
// It never fails: what cannot be read stays empty.
func readDemoMail(raw []byte) Mail {
	var m Mail
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return m
	}
	defer r.Close()
	h := r.Header
	if as, err := h.AddressList("From"); err == nil && len(as) > 0 {
		m.From = view.Addr(as[0].Name, as[0].Address)
	}
	if as, err := h.AddressList("To"); err == nil {
		var to []string
		for _, a := range as {
			to = append(to, a.Address)
		}
		m.To = strings.Join(to, ", ")
	}
	m.Subject, _ = h.Subject()
	m.MessageID, _ = h.MessageID()
	m.References, _ = h.MsgIDList("References")
	m.Ticket = h.Get("X-Ticketd-Ticket")
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		ih, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			continue
		}
		if ct, _, _ := ih.ContentType(); ct != "text/plain" && ct != "" {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(p.Body, 1<<20))
		m.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
		break
	}
	return m
}

// firstLines returns up to n non-blank lines of text, each clipped.
func firstLines(text string, n int) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() && len(out) < n {
		if line := strings.TrimRight(sc.Text(), " \t"); strings.TrimSpace(line) != "" {
			out = append(out, view.Clip(line, 100))
		}
	}
	return out
}

// demoMUA is one person's mail program: it sends through the SMTP server,
// logged in as the person (AUTH PLAIN, as to an organisation's submission
// server, which then records auth=pass for them), and reads the person's
// INBOX over IMAP. A forger's mail program (forged set) does not log in: it
// writes the person's address into From, as anyone on the Internet can.
type demoMUA struct {
	me       Person
	smtpAddr string
	imapAddr string
	password string
	forged   bool
}

// send composes a plain-text mail from the person and sends it over SMTP.
// With parent set it is a reply: In-Reply-To and References thread it
// (RFC 5322 §3.6.4). It returns the new mail's Message-ID.
func (a demoMUA) send(ctx context.Context, to Person, subject, body string, parent *Mail) (string, error) {
	var h mail.Header
	h.SetDate(time.Now())
	h.SetAddressList("From", []*mail.Address{{Name: a.me.Name, Address: a.me.Addr}})
	h.SetAddressList("To", []*mail.Address{{Name: to.Name, Address: to.Addr}})
	h.SetSubject(subject)
	if err := h.GenerateMessageIDWithHostname(Domain); err != nil {
		return "", err
	}
	if parent != nil && parent.MessageID != "" {
		h.SetMsgIDList("In-Reply-To", []string{parent.MessageID})
		h.SetMsgIDList("References", append(append([]string(nil), parent.References...), parent.MessageID))
	}
	h.Set("User-Agent", "ticketd-demo")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8", "format": "flowed"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, strings.ReplaceAll(body, "\n", "\r\n")); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	id, _ := h.MessageID()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", a.smtpAddr)
	if err != nil {
		return "", fmt.Errorf("dial smtp %s: %w", a.smtpAddr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := smtp.NewClient(conn)
	defer c.Close()
	if !a.forged {
		if err := c.Auth(sasl.NewPlainClient("", a.me.Addr, a.password)); err != nil {
			return "", fmt.Errorf("log in to smtp %s as %s: %w", a.smtpAddr, a.me.Addr, err)
		}
	}
	if err := c.SendMail(a.me.Addr, []string{to.Addr}, &buf); err != nil {
		return "", fmt.Errorf("send as %s to %s: %w", a.me.Addr, to.Addr, err)
	}
	return id, c.Quit()
}

// inbox reads every mail in the person's INBOX, oldest first, without
// marking it \Seen (EXAMINE, BODY.PEEK[]).
func (a demoMUA) inbox(ctx context.Context) ([]Mail, error) {
	return ReadInbox(ctx, a.imapAddr, a.me.Addr, a.password)
}

// ReadInbox logs in as user and reads every mail of its INBOX.
func ReadInbox(ctx context.Context, addr, user, password string) ([]Mail, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial imap %s: %w", addr, err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(user, password).Wait(); err != nil {
		return nil, fmt.Errorf("imap login %s: %w", user, err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, fmt.Errorf("examine INBOX of %s: %w", user, err)
	}
	// Search rather than trust the message count of SELECT.
	sd, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search INBOX of %s: %w", user, err)
	}
	uids := sd.AllUIDs()
	var out []Mail
	if len(uids) > 0 {
		section := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch INBOX of %s: %w", user, err)
		}
		sortByUID(msgs)
		for _, m := range msgs {
			out = append(out, readDemoMail(m.FindBodySection(section)))
		}
	}
	_ = c.Logout().Wait()
	return out, nil
}

func sortByUID(msgs []*imapclient.FetchMessageBuffer) {
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
}

// Package service ties the rules of package ticket to the store: it routes
// an inbound mail to its ticket (or opens one), applies it, and persists the
// change, its history and the notifications it owes in the caller's
// transaction, so that one mail is one atomic ticket change.
//
// The storage it needs is declared here, as [Store] and [Tx]; internal/store
// (bbolt) implements them, and internal/store/storetest is the contract any
// implementation passes.
package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/notify/replytoken"
	"github.com/ticketd/ticketd/ticket"
)

// Tx is what the service reads and writes within one transaction.
type Tx interface {
	// Ticket reads ticket id with its history; the error wraps
	// [record.ErrNotFound] when there is none.
	Ticket(id ticket.ID) (*ticket.Ticket, error)
	// PutTicket writes t, the history entries not stored yet (history is
	// append-only), and indexes its state, level and thread's Message-IDs.
	PutTicket(t *ticket.Ticket) error
	// Due returns up to limit tickets due at or before until (by
	// [ticket.Ticket.Due]), earliest first.
	Due(until time.Time, limit int) []ticket.ID
	// NextDue returns the earliest instant a ticket is due, zero for none.
	NextDue() time.Time
	// OnCommit has fn called after the transaction commits (never when
	// it rolls back).
	OnCommit(fn func())
	// NextID allocates the next ticket ID of now's year, never reused.
	NextID(prefix string, now time.Time) (ticket.ID, error)
	// Message reports whether the mail msgID was seen, and the ticket it
	// belongs to (empty when none).
	Message(msgID string) (ticket.ID, bool)
	// RecordUnthreaded keeps a mail set aside without a ticket change and
	// marks its Message-ID as seen (when it was not seen already).
	RecordUnthreaded(u record.Unthreaded) error
	// Enqueue writes the notices owed and indexes their Message-IDs to
	// their tickets, returning one item per recipient.
	Enqueue(notices []ticket.Owed, now time.Time) ([]outbox.Item, error)
	// TakeAutoReply counts an automatic answer in bucket key at now unless
	// limit of them were counted within window before now; it reports
	// whether the answer may go out.
	TakeAutoReply(key string, now time.Time, limit int, window time.Duration) (bool, error)
}

// Store runs transactions: fn's writes are committed together when it
// returns nil, and none of them otherwise.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
}

// Options configures a [Service].
type Options struct {
	Store Store
	Desk  *ticket.Desk
	// Prefix of ticket IDs; empty means ticket.DefaultPrefix.
	Prefix string
	// MessageIDHost is the right-hand side of the Message-IDs of the
	// notifications; empty means "ticketd.invalid".
	MessageIDHost string
	// Self lists ticketd's own addresses (the support address, the sender of
	// notifications): mail from them is a loop and is never answered.
	Self []string
	// AutoReplyLimit caps the automatic answers (acknowledgements, receipts,
	// help) one sender gets within AutoReplyWindow, per bucket of
	// [Service.allowances] (a verified staff member's receipts count per
	// ticket and commands); zero means 10 an hour.
	AutoReplyLimit  int
	AutoReplyWindow time.Duration
	// ReplyTokens, when set, checks the per-person reply addresses of
	// ticketd's notifications: a mail about an existing ticket from a
	// sender the intake did not verify is verified ("reply_token") when one
	// of its [Mail.Recipients] carries a token valid for that ticket and
	// its From. Nil (reply_token not in security.command_auth) checks none.
	ReplyTokens ReplyTokens
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// ReplyTokens checks reply tokens; *replytoken.Tokens is one.
type ReplyTokens interface {
	// Check returns nil when one of addrs carries a token valid for
	// ticket id and sender from at now, an error wrapping
	// replytoken.ErrNone when none carries a token, and another error
	// (replytoken.ErrExpired, replytoken.ErrInvalid) when the tokens do
	// not hold.
	Check(addrs []string, id ticket.ID, from string, now time.Time) error
}

// Service routes and applies mail. It is safe for concurrent use.
type Service struct {
	opts Options
	self map[string]bool
	log  *slog.Logger
	// desk holds the rules in force: opts.Desk, until [Service.SetDesk].
	desk atomic.Pointer[ticket.Desk]
	// tick is the current desk's Tick (a test puts timers in its place).
	tick func(*ticket.Ticket, time.Time) ticket.Outcome
	seq  atomic.Uint64 // numbers the Message-IDs made since start
	// due is signalled when a commit sets a ticket's due time.
	due chan struct{}
}

// New checks opts and returns a Service. It does no I/O.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Desk == nil {
		return nil, errors.New("service: Store and Desk are required")
	}
	if opts.Prefix == "" {
		opts.Prefix = ticket.DefaultPrefix
	}
	if opts.MessageIDHost == "" {
		opts.MessageIDHost = "ticketd.invalid"
	}
	if opts.AutoReplyLimit == 0 {
		opts.AutoReplyLimit = 10
	}
	if opts.AutoReplyWindow == 0 {
		opts.AutoReplyWindow = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{opts: opts, self: map[string]bool{}, log: opts.Logger.With("component", "service")}
	s.desk.Store(opts.Desk)
	s.tick = func(t *ticket.Ticket, now time.Time) ticket.Outcome { return s.Desk().Tick(t, now) }
	s.due = make(chan struct{}, 1)
	for _, a := range opts.Self {
		s.self[ticket.NormalizeAddr(a)] = true
	}
	return s, nil
}

// Desk returns the rules in force. Each mail is handled with the desk
// read once at its start, so a [Service.SetDesk] meanwhile does not mix
// two configurations in one change.
func (s *Service) Desk() *ticket.Desk { return s.desk.Load() }

// SetDesk puts d in force for the mails handled from now on (a
// configuration reloaded with new groups or limits). Safe for concurrent
// use; a nil d is ignored.
func (s *Service) SetDesk(d *ticket.Desk) {
	if d != nil {
		s.desk.Store(d)
	}
}

// Bounce is a delivery-status notification about a mail ticketd sent.
type Bounce struct {
	OriginalMessageID string
	Recipients        []string
	Status            string
	Diagnostic        string
}

// Mail is an inbound mail with what routing needs besides the rules' view.
type Mail struct {
	ticket.Inbound
	InReplyTo  []string
	References []string
	// Recipients are the addresses the mail was delivered to
	// (Delivered-To, X-Original-To) and addressed to (To, Cc), where a
	// reply token may be.
	Recipients []string
	Bounce     *Bounce
}

// Outcome kinds of [Result].
const (
	Opened     = "opened"     // a new ticket
	Threaded   = "threaded"   // recorded on an existing ticket
	Duplicate  = "duplicate"  // the same mail was already processed: nothing done
	Unthreaded = "unthreaded" // an automatic mail or a bounce about no ticket, or an unreadable one: set aside
	Bounced    = "bounced"    // a bounce recorded on its ticket
	Ticked     = "ticked"     // time passed on a ticket (see [Service.Tick])
)

// Result says what one mail did.
type Result struct {
	Outcome  string
	TicketID ticket.ID
	Notices  int
	Refused  bool
	// Results lists each command of the mail and what became of it.
	Results []ticket.Result
}

// Ingest processes m in its own transaction.
func (s *Service) Ingest(ctx context.Context, m Mail) (Result, error) {
	var res Result
	err := s.opts.Store.Update(ctx, func(tx Tx) error {
		var err error
		res, err = s.IngestTx(tx, m)
		return err
	})
	return res, err
}

// IngestTx processes m inside tx, so that the caller can commit more with
// it (the mailbox checkpoint). The same Message-ID twice is a no-op.
func (s *Service) IngestTx(tx Tx, m Mail) (Result, error) {
	now, desk := s.opts.Now().UTC(), s.Desk()
	if m.MessageID == "" {
		return Result{}, errors.New("service: mail without an identity (the caller derives one from the content hash)")
	}
	from := ticket.NormalizeAddr(m.From.Addr)
	if id, seen := tx.Message(m.MessageID); seen {
		reason := "a copy of a mail already processed, which went to no ticket"
		if id != "" {
			reason = "a copy of a mail already processed on ticket " + string(id)
		}
		return Result{Outcome: Duplicate, TicketID: id}, s.setAside(tx, m, record.AsideDuplicate, reason, now)
	}
	if s.self[from] && m.Auto == "" {
		m.Auto = "sent by ticketd itself"
	}
	if m.Bounce != nil {
		return s.bounce(tx, m, now)
	}
	id, err := s.route(tx, m)
	if err != nil {
		return Result{}, err
	}
	switch {
	case id == "" && m.Auto != "":
		return Result{Outcome: Unthreaded}, s.setAside(tx, m, record.AsideAutomatic, m.Auto, now)
	case id == "" && unreadable(m):
		return Result{Outcome: Unthreaded}, s.setAside(tx, m, record.AsideUnreadable,
			"unreadable: no sender, no subject, no recipient and no Message-ID (garbage or an empty mail)", now)
	case id == "":
		return s.open(tx, desk, m.Inbound, "", now)
	}
	t, err := tx.Ticket(id)
	if err != nil {
		return Result{}, err
	}
	if t.State == ticket.StateClosed && m.Auto == "" && !desk.Directory().IsStaff(from) {
		// Activity 12 is final: a later mail about a closed case is a new case.
		return s.open(tx, desk, m.Inbound, t.ID, now)
	}
	m.Sender = s.replyToken(m, id, from, now)
	o := desk.Reply(t, m.Inbound, now)
	n, err := s.persist(tx, o, m.Inbound, now)
	return Result{Outcome: Threaded, TicketID: id, Notices: n, Refused: o.Refused, Results: o.Results}, err
}

// setAside records m, which changes no ticket, where an operator lists it
// (`ticketd quarantine list --all`), with its kind and why.
func (s *Service) setAside(tx Tx, m Mail, kind, reason string, now time.Time) error {
	s.log.Info("mail set aside", "message_id", m.MessageID, "kind", kind, "reason", reason)
	return tx.RecordUnthreaded(record.Unthreaded{Kind: kind, MessageID: m.MessageID, From: ticket.NormalizeAddr(m.From.Addr),
		Subject: m.Subject, Reason: reason, At: now, RawSHA256: m.RawSHA256})
}

// unreadable reports whether m names no sender and nothing else either: no
// subject, no recipient, no Message-ID. A person's mail, however broken,
// says at least one of these; garbage and empty mails say none, and are
// set aside rather than opening a ticket for the desk.
func unreadable(m Mail) bool {
	return ticket.SameAddr(m.From.Addr, ticket.UnknownRequester) && strings.TrimSpace(m.Subject) == "" &&
		len(m.Recipients) == 0 && strings.HasPrefix(m.MessageID, "sha256:")
}

func (s *Service) open(tx Tx, desk *ticket.Desk, in ticket.Inbound, related ticket.ID, now time.Time) (Result, error) {
	id, err := tx.NextID(s.opts.Prefix, now)
	if err != nil {
		return Result{}, err
	}
	o := desk.Open(id, in, related, now)
	n, err := s.persist(tx, o, in, now)
	return Result{Outcome: Opened, TicketID: id, Notices: n, Refused: o.Refused, Results: o.Results}, err
}

// OpenByPhone opens a ticket for a request received by phone (key 5): agent
// typed it in for requester, who is acknowledged by mail like anyone else.
func (s *Service) OpenByPhone(ctx context.Context, requester ticket.Address, agent, subject, body string) (Result, error) {
	if !strings.Contains(requester.Addr, "@") {
		return Result{}, fmt.Errorf("service: requester %q is not a mail address", requester.Addr)
	}
	var res Result
	err := s.opts.Store.Update(ctx, func(tx Tx) error {
		now := s.opts.Now().UTC()
		in := ticket.Inbound{
			MessageID: fmt.Sprintf("phone.%d.%s", now.UnixNano(), ticket.NormalizeAddr(requester.Addr)),
			From:      requester, Subject: subject, Text: body, Via: agent,
			// The agent authenticated to the admin API; the requester's
			// identity is the agent's word, as on the phone.
			Sender: ticket.Trusted("admin"),
		}
		var err error
		res, err = s.open(tx, s.Desk(), in, "", now)
		return err
	})
	return res, err
}

// replyToken returns the verification of m, a mail about ticket id from
// from: the intake's, upgraded to "reply_token" when m was sent to a reply
// address of ticketd's made for from and this ticket and not expired. The
// ticket is the one the mail routes to (its subject's ID or its threading),
// so a token of one ticket proves nothing on another, and a token made for
// someone else proves nothing for from. A token that does not hold adds why
// to the reasons the sender was not verified.
func (s *Service) replyToken(m Mail, id ticket.ID, from string, now time.Time) ticket.Verification {
	v := m.Sender
	if v.Verified || s.opts.ReplyTokens == nil {
		return v
	}
	err := s.opts.ReplyTokens.Check(m.Recipients, id, from, now)
	var es, en string
	switch {
	case err == nil:
		return ticket.Trusted(EvidenceReplyToken)
	case errors.Is(err, replytoken.ErrNone):
		return v
	case errors.Is(err, replytoken.ErrExpired):
		es, en = "su dirección de respuesta caducó", "its reply address has expired"
	default:
		es, en = "la dirección de respuesta no es la de una notificación de este caso a quien escribe",
			"the reply address is not that of a notification of this case to the sender"
	}
	s.log.Info("reply token refused", "ticket_id", id, "message_id", m.MessageID, "err", err)
	v.Reason, v.ReasonEN = joinReason(v.Reason, es), joinReason(v.ReasonEN, en)
	return v
}

// EvidenceReplyToken is the Evidence of a sender verified by a reply token.
const EvidenceReplyToken = "reply_token"

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// route finds the ticket m belongs to: a known ID in brackets in the subject
// first; else a Message-ID named by In-Reply-To or References that the
// ticket received or that ticketd sent for it. Empty when none.
func (s *Service) route(tx Tx, m Mail) (ticket.ID, error) {
	for _, id := range ticket.IDsInSubject(s.opts.Prefix, m.Subject) {
		if _, err := tx.Ticket(id); err == nil {
			return id, nil
		} else if !errors.Is(err, record.ErrNotFound) {
			return "", err
		}
	}
	refs := append(append([]string(nil), m.InReplyTo...), m.References...)
	for i := len(refs) - 1; i >= 0; i-- { // the most recent reference first
		if id, ok := tx.Message(refs[i]); ok && id != "" {
			return id, nil
		}
	}
	for _, r := range refs {
		if id, ok := ticket.IDInMessageID(s.opts.Prefix, r); ok {
			if _, err := tx.Ticket(id); err == nil {
				return id, nil
			}
		}
	}
	return "", nil
}

func (s *Service) bounce(tx Tx, m Mail, now time.Time) (Result, error) {
	var id ticket.ID
	if got, ok := tx.Message(m.Bounce.OriginalMessageID); ok && got != "" {
		id = got
	} else if got, ok := ticket.IDInMessageID(s.opts.Prefix, m.Bounce.OriginalMessageID); ok {
		id = got
	} else if got, err := s.route(tx, Mail{Inbound: ticket.Inbound{Subject: m.Subject}}); err == nil {
		id = got
	}
	t, err := tx.Ticket(id)
	if id == "" || errors.Is(err, record.ErrNotFound) {
		return Result{Outcome: Unthreaded}, s.setAside(tx, m, record.AsideBounce, "bounce about no known ticket", now)
	}
	if err != nil {
		return Result{}, err
	}
	reason := strings.TrimSpace(strings.Join([]string{m.Bounce.Status, m.Bounce.Diagnostic}, " "))
	if reason == "" {
		reason = "the mail bounced"
	}
	rcpts := m.Bounce.Recipients
	if len(rcpts) == 0 {
		rcpts = []string{""}
	}
	for _, r := range rcpts {
		t.DeliveryFailed(r, reason, m.MessageID, now)
	}
	t.AddThread(m.MessageID)
	return Result{Outcome: Bounced, TicketID: t.ID}, tx.PutTicket(t)
}

// errIdle rolls back the transaction of a tick that did nothing.
var errIdle = errors.New("service: nothing to commit")

// Tick applies the passing of time to ticket id at now ([ticket.Desk.Tick])
// in its own transaction, and persists what it did and owes exactly as a
// mail's outcome is persisted. A tick that does nothing writes nothing.
// The error matches record.ErrNotFound when there is no such ticket.
func (s *Service) Tick(ctx context.Context, id ticket.ID, now time.Time) (Result, error) {
	now = now.UTC()
	res := Result{Outcome: Ticked, TicketID: id}
	err := s.opts.Store.Update(ctx, func(tx Tx) error {
		t, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		due := t.Due
		o := s.tick(t, now)
		if o.Empty() && o.Ticket.Due.Equal(due) {
			return errIdle
		}
		res.Notices, err = s.persist(tx, o, ticket.Inbound{}, now)
		return err
	})
	if errors.Is(err, errIdle) {
		err = nil
	}
	return res, err
}

// DueChanged is signalled (without blocking, coalesced) when a change sets
// a ticket's due time, so that a timer sleeping until a later one wakes.
func (s *Service) DueChanged() <-chan struct{} { return s.due }

// dueBatch is how many due tickets [Service.TickDue] ticks at most in one
// call; the caller calls again at once when there were that many.
const dueBatch = 100

// TickDue ticks, each in its own transaction, the tickets due at or before
// now by the store's index of due times (at most dueBatch of them), and
// returns how many it ticked and the earliest instant due after that (zero
// when none). A ticket whose tick fails is logged and left in the index,
// to be tried again at the next call.
func (s *Service) TickDue(ctx context.Context, now time.Time) (ticked int, next time.Time, err error) {
	var ids []ticket.ID
	if err := s.opts.Store.View(ctx, func(tx Tx) error {
		ids = tx.Due(now, dueBatch)
		return nil
	}); err != nil {
		return 0, time.Time{}, fmt.Errorf("read due tickets: %w", err)
	}
	failed := false
	for _, id := range ids {
		if ctx.Err() != nil {
			return ticked, time.Time{}, ctx.Err()
		}
		res, err := s.Tick(ctx, id, now)
		if err != nil {
			s.log.Error("timer tick failed", "ticket_id", id, "err", err)
			failed = true
			continue
		}
		ticked++
		if res.Notices > 0 {
			s.log.Info("timer fired", "ticket_id", id, "notices", res.Notices)
		}
	}
	if err := s.opts.Store.View(ctx, func(tx Tx) error {
		next = tx.NextDue()
		return nil
	}); err != nil {
		return ticked, time.Time{}, fmt.Errorf("read next due time: %w", err)
	}
	if failed && !next.After(now) {
		// Do not spin on a ticket that cannot be ticked: try again later.
		next = now.Add(time.Minute)
	}
	return ticked, next, nil
}

// persist stores the outcome and the notices it owes. Automatic answers to
// the sender (acknowledgement, receipt, help) are capped per sender, the
// last guard against a mail loop, in the buckets of [Service.allowances].
func (s *Service) persist(tx Tx, o ticket.Outcome, in ticket.Inbound, now time.Time) (int, error) {
	if err := tx.PutTicket(o.Ticket); err != nil {
		return 0, err
	}
	if !o.Ticket.Due.IsZero() {
		// After the commit: a timer woken earlier would read the index as
		// it was and sleep its longest sleep past the new due time.
		tx.OnCommit(func() {
			select {
			case s.due <- struct{}{}:
			default:
			}
		})
	}
	sender := ticket.NormalizeAddr(in.From.Addr)
	var notices []ticket.Owed
	for _, n := range o.Notices {
		if n.InReplyTo != "" && len(n.To) == 1 && ticket.NormalizeAddr(n.To[0].Addr) == sender {
			ok, err := s.takeAutoReply(tx, in, o, n, sender, now)
			if err != nil {
				return 0, err
			}
			if !ok {
				s.log.Warn("auto-reply limit reached: not answering", "rcpt", sender, "ticket_id", o.Ticket.ID, "kind", n.Kind)
				continue
			}
		}
		n.To = s.notSelf(n.To)
		if len(n.To) > 0 {
			notices = append(notices, ticket.Owe(n, s.messageID(o.Ticket.ID, n.Kind)))
		}
	}
	p, err := tx.Enqueue(notices, now)
	return len(p), err
}

// messageID returns a maker of Message-IDs for the notifications of kind
// k about ticket id: the ID first (so that a reply whose subject lost it
// still threads, see [ticket.IDInMessageID]), then a number and random part
// that make it unique. A kind that must show nothing of the ticket
// ([ticket.NoticeKind.RevealsTicket]) gets no ID in its Message-ID either:
// a reply to it still threads through the Message-ID index, where every
// notice's Message-ID is recorded when it is owed.
func (s *Service) messageID(id ticket.ID, k ticket.NoticeKind) func(ticket.Address) string {
	return func(ticket.Address) string {
		b := make([]byte, 4)
		_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
		if !k.RevealsTicket() {
			return fmt.Sprintf("n%d.%s@%s", s.seq.Add(1), hex.EncodeToString(b), s.opts.MessageIDHost)
		}
		return fmt.Sprintf("%s.n%d.%s@%s", id, s.seq.Add(1), hex.EncodeToString(b), s.opts.MessageIDHost)
	}
}

func (s *Service) notSelf(as []ticket.Address) []ticket.Address {
	var out []ticket.Address
	for _, a := range as {
		if !s.self[ticket.NormalizeAddr(a.Addr)] {
			out = append(out, a)
		}
	}
	return out
}

package service

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// staffSlots is how many buckets of receipts each staff member has, chosen
// by a hash of the ticket and the command lines a receipt answers.
const staffSlots = 32

// allowance is one bucket of automatic answers: its key in the store and
// how many answers it allows within Options.AutoReplyWindow.
type allowance struct {
	key   string
	limit int
}

// allowances returns the buckets an automatic answer of kind k to the
// sender of in must fit in, taken in order. The guard against mail loops
// counts answers per bucket, and the buckets are chosen so that a forger
// cannot silence a genuine sender and a loop cannot silence staff at work:
//
//   - a receipt or help mail to a verified staff member counts in one of
//     staffSlots buckets of theirs ("staff:<addr>|<slot>"), the slot chosen
//     by a hash of the ticket and the command lines of the mail answered
//     (results). An agent at work writes different commands on different
//     tickets, so their receipts spread over the slots and no human rate
//     fills one: every receipt goes out. A loop repeats itself: a mail that
//     answers a receipt quotes it (quoted lines are never read as commands,
//     so it carries none and gets no receipt), and the one way to go round
//     is a responder that sends no Auto-Submitted and echoes the receipt
//     unquoted, which sends the same command lines to the same ticket each
//     time and so fills one slot at the limit. Unverified mail from a staff
//     address is not staff here: it takes the unverified buckets;
//   - any other answer to a verified sender (acknowledgements, receipts to
//     requesters) counts in a bucket of their own per address
//     ("verified:<addr>"): mail that fails authentication never counts in
//     it, however many forged mails carry that From;
//   - unverified mail counts per address and origin
//     ("unverified:<addr>|<return-path>"): the envelope sender is recorded
//     by the receiving server, so a forger using another origin uses up only
//     their own bucket;
//   - and all unverified mail to one address shares a hard cap of three
//     times the limit ("unverified:<addr>"), so that a loop stays
//     impossible even when every mail comes from a different origin. A
//     forger who varies the origin can exhaust that cap, which silences
//     only unverified mail "from" that address, never verified mail.
//
// Beyond these buckets, ticketd never answers a mail marked automatic
// (Auto-Submitted, Precedence, List-Id, …) nor one from its own addresses,
// and marks everything it sends Auto-Submitted, so well-behaved responders
// never answer it.
func (s *Service) allowances(in ticket.Inbound, k ticket.NoticeKind, id ticket.ID, results []ticket.Result, sender string) []allowance {
	if in.Sender.Verified && (k == ticket.NoticeReceipt || k == ticket.NoticeHelp) && s.opts.Desk.Directory().IsStaff(sender) {
		h := sha256.New()
		h.Write([]byte(id))
		for _, r := range results {
			fmt.Fprintf(h, "\n%s", strings.Join(strings.Fields(r.Command.Raw), " "))
		}
		slot := h.Sum(nil)[0] % staffSlots
		return []allowance{{key: fmt.Sprintf("staff:%s|%d", sender, slot), limit: s.opts.AutoReplyLimit}}
	}
	if in.Sender.Verified {
		return []allowance{{key: "verified:" + sender, limit: s.opts.AutoReplyLimit}}
	}
	return []allowance{
		{key: "unverified:" + sender + "|" + ticket.NormalizeAddr(in.ReturnPath), limit: s.opts.AutoReplyLimit},
		{key: "unverified:" + sender, limit: 3 * s.opts.AutoReplyLimit},
	}
}

// takeAutoReply takes one answer from each bucket of notice n to in's
// sender (see [Service.allowances]), in order, and reports whether the
// answer may go out; a bucket that is full stops the count there, so the
// later ones are not spent.
func (s *Service) takeAutoReply(tx Tx, in ticket.Inbound, o ticket.Outcome, n ticket.Notice, sender string, now time.Time) (bool, error) {
	for _, a := range s.allowances(in, n.Kind, o.Ticket.ID, o.Results, sender) {
		ok, err := tx.TakeAutoReply(a.key, now, a.limit, s.opts.AutoReplyWindow)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

package service

import (
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// allowance is one bucket of automatic answers: its key in the store and
// how many answers it allows within Options.AutoReplyWindow.
type allowance struct {
	key   string
	limit int
}

// allowances returns the buckets an automatic answer to the sender of in
// must fit in, taken in order. The guard against mail loops counts answers
// per bucket, and the buckets are chosen so that a forger cannot silence a
// genuine sender:
//
//   - a verified sender has a bucket of their own per address
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
func (s *Service) allowances(in ticket.Inbound, sender string) []allowance {
	if in.Sender.Verified {
		return []allowance{{key: "verified:" + sender, limit: s.opts.AutoReplyLimit}}
	}
	return []allowance{
		{key: "unverified:" + sender + "|" + ticket.NormalizeAddr(in.ReturnPath), limit: s.opts.AutoReplyLimit},
		{key: "unverified:" + sender, limit: 3 * s.opts.AutoReplyLimit},
	}
}

// takeAutoReply takes one answer from each bucket of in's sender, in
// order, and reports whether the answer may go out; a bucket that is full
// stops the count there, so the later ones are not spent.
func (s *Service) takeAutoReply(tx Tx, in ticket.Inbound, sender string, now time.Time) (bool, error) {
	for _, a := range s.allowances(in, sender) {
		ok, err := tx.TakeAutoReply(a.key, now, a.limit, s.opts.AutoReplyWindow)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

package mailbox

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// FirstStartMode says which of the messages already in the mailbox a first
// start takes.
type FirstStartMode string

// The first-start modes. The zero value "" means [FirstStartUnseen].
const (
	// FirstStartUnseen takes the messages without \Seen: mail nobody has
	// read yet.
	FirstStartUnseen FirstStartMode = "unseen"
	// FirstStartAll takes every message in the mailbox.
	FirstStartAll FirstStartMode = "all"
	// FirstStartNew takes none of them: only what arrives afterwards.
	FirstStartNew FirstStartMode = "new"
	// FirstStartSince takes the messages whose INTERNALDATE is at or after
	// [FirstStart.Since].
	FirstStartSince FirstStartMode = "since"
)

// FirstStart is the rule for the messages that are in the mailbox when
// ticketd starts following it: at its first start (the caller has no
// checkpoint), and again when the server's UIDVALIDITY changes (a
// resync), where [FirstStartNew] counts as [FirstStartUnseen] so that mail
// that arrived while the UIDs changed is not lost. Messages that arrive
// afterwards are always taken.
type FirstStart struct {
	Mode FirstStartMode
	// Since is the first instant taken by [FirstStartSince].
	Since time.Time
}

// mode returns fs.Mode with the default applied.
func (fs FirstStart) mode() FirstStartMode {
	if fs.Mode == "" {
		return FirstStartUnseen
	}
	return fs.Mode
}

// String describes fs for logs.
func (fs FirstStart) String() string {
	if fs.mode() == FirstStartSince {
		return "since " + fs.Since.Format(time.RFC3339)
	}
	return string(fs.mode())
}

// criteria returns the search that finds the messages fs takes among the
// UIDs lo..hi; ok is false when fs takes none. A [FirstStartSince] search
// is a day wider than Since (SEARCH SINCE compares dates in the server's
// own time zone): [Poller.matching] filters it by INTERNALDATE.
func (fs FirstStart) criteria(lo, hi uint32) (crit *imap.SearchCriteria, ok bool) {
	if lo > hi || hi == 0 {
		return nil, false
	}
	crit = &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: imap.UID(max(lo, 1)), Stop: imap.UID(hi)}}}}
	switch fs.mode() {
	case FirstStartNew:
		return nil, false
	case FirstStartUnseen:
		crit.NotFlag = []imap.Flag{imap.FlagSeen}
	case FirstStartSince:
		crit.Since = fs.Since.AddDate(0, 0, -1)
	}
	return crit, true
}

// resync returns the rule for a UIDVALIDITY change.
func (fs FirstStart) resync() FirstStart {
	if fs.mode() == FirstStartNew {
		return FirstStart{Mode: FirstStartUnseen}
	}
	return fs
}

// matching returns, sorted, the UIDs in lo..hi that fs takes, further
// narrowed by extra (nil for none).
func (p *Poller) matching(cn *conn, fs FirstStart, lo, hi uint32, extra *imap.SearchCriteria) ([]imap.UID, error) {
	crit, ok := fs.criteria(lo, hi)
	if !ok {
		return nil, nil
	}
	if extra != nil {
		crit.And(extra)
	}
	uids, err := cn.search(crit)
	if err != nil {
		return nil, cn.wrap(fmt.Sprintf("uid search %d:%d (first start: %s)", lo, hi, fs), err)
	}
	// "UID lo:hi" may also match the highest UID when it is above hi.
	uids = slices.DeleteFunc(uids, func(u imap.UID) bool { return uint32(u) < lo || uint32(u) > hi })
	if fs.mode() != FirstStartSince || len(uids) == 0 {
		return uids, nil
	}
	var kept []imap.UID
	for chunk := range slices.Chunk(uids, storeChunk) {
		metas, err := p.fetchMeta(cn, chunk)
		if err != nil {
			return nil, err
		}
		for _, m := range metas {
			if !m.date.Before(fs.Since) {
				kept = append(kept, m.uid)
			}
		}
	}
	return kept, nil
}

// start records where a first start (or, with resync, a UIDVALIDITY
// change) begins: the messages up to UIDNEXT-1 were there before and are
// taken only if fs takes them. It returns the checkpoint saved.
func (p *Poller) start(ctx context.Context, cn *conn, cps Checkpoints, fs FirstStart, resync bool) (Checkpoint, error) {
	base, err := cn.lastUID()
	if err != nil {
		return Checkpoint{}, err
	}
	fs.Mode = fs.mode()
	cp := Checkpoint{UIDValidity: cn.uidValidity, Base: base, Select: fs}
	switch fs.mode() {
	case FirstStartAll:
		cp.Base = 0 // nothing is skipped
	case FirstStartNew:
		cp.UID = base
	}
	if err := cps.SetCheckpoint(ctx, cp); err != nil {
		return Checkpoint{}, &retryError{op: "checkpoint write", err: err}
	}
	what := "first start"
	if resync {
		what = "resync"
	}
	p.log.Info(what+": mail already in the mailbox taken by rule", "uidvalidity", cn.uidValidity,
		"first_start", fs.String(), "base_uid", cp.Base)
	return cp, nil
}

// lastUID returns the highest UID the mailbox had when it was selected:
// UIDNEXT-1, or the highest UID present when the server sent no UIDNEXT.
func (cn *conn) lastUID() (uint32, error) {
	if cn.uidNext > 0 {
		return cn.uidNext - 1, nil
	}
	uids, err := cn.search(&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 1, Stop: 0}}}})
	if err != nil {
		return 0, cn.wrap("uid search 1:*", err)
	}
	if len(uids) == 0 {
		return 0, nil
	}
	return uint32(uids[len(uids)-1]), nil
}

// FirstStartCount connects, selects the mailbox and returns how many of the
// messages in it a first start would take by [Options.FirstStart] and how
// many it holds in all. It reads no bodies and changes nothing.
func (p *Poller) FirstStartCount(ctx context.Context) (take, total int, err error) {
	cn, err := p.dial(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer cn.logout()
	base, err := cn.lastUID()
	if err != nil {
		return 0, 0, err
	}
	all, err := p.matching(cn, FirstStart{Mode: FirstStartAll}, 1, base, nil)
	if err != nil {
		return 0, 0, err
	}
	uids, err := p.matching(cn, p.opts.FirstStart, 1, base, nil)
	if err != nil {
		return 0, 0, err
	}
	return len(uids), len(all), nil
}

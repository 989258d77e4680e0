package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/ticket"
)

// spyStore is the loop's store seen from the test: it records, for each
// committed transaction, the checkpoint it set and the test mails it
// processed (by the Message-IDs the service looked up); it can panic in the
// processing of one mail and fail the commit of the first mails.
type spyStore struct {
	Store
	// poison is the Message-ID whose processing panics.
	poison string
	// failing is how many transactions that move the checkpoint still
	// fail after their work is done (a failure to write at the commit).
	failing atomic.Int32
	mu      sync.Mutex
	commits []commitSeen
}

// commitSeen is one committed transaction.
type commitSeen struct {
	uid   uint32   // the checkpoint's UID, 0 when it set none
	mails []string // Message-IDs of the test mails processed
}

func (s *spyStore) Update(ctx context.Context, fn func(Tx) error) error {
	tx := &spyTx{s: s}
	err := s.Store.Update(ctx, func(inner Tx) error {
		tx.Tx, tx.cp, tx.mails = inner, nil, nil
		if err := fn(tx); err != nil {
			return err
		}
		if tx.cp != nil && tx.cp.UID > 0 && s.failing.Add(-1) >= 0 {
			return errors.New("no space left on device")
		}
		return nil
	})
	if err == nil {
		c := commitSeen{mails: tx.mails}
		if tx.cp != nil {
			c.uid = tx.cp.UID
		}
		s.mu.Lock()
		s.commits = append(s.commits, c)
		s.mu.Unlock()
	}
	return err
}

// mailCommits returns the committed transactions that processed test mails.
func (s *spyStore) mailCommits() []commitSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []commitSeen
	for _, c := range s.commits {
		if len(c.mails) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// waitCommits waits until n committed transactions processed test mails:
// the tickets are visible a moment before Update returns and notes them.
func (s *spyStore) waitCommits(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d commits of mails", n), func() bool { return len(s.mailCommits()) >= n })
}

type spyTx struct {
	Tx
	s     *spyStore
	cp    *record.Checkpoint
	mails []string
}

func (t *spyTx) SetCheckpoint(mb string, cp record.Checkpoint) error {
	t.cp = &cp
	return t.Tx.SetCheckpoint(mb, cp)
}

func (t *spyTx) Message(id string) (ticket.ID, bool) {
	if id == t.s.poison {
		panic("poisoned mail " + id)
	}
	if strings.HasPrefix(id, "batch") && !slices.Contains(t.mails, id) {
		t.mails = append(t.mails, id)
	}
	return t.Tx.Message(id)
}

// batchMail sends mail i of a test to the desk; its Message-ID is
// batch<i>@unidad.test.
func batchMail(t *testing.T, sys *devmail.System, i int) {
	t.Helper()
	send(t, sys, userAddr, deskAddr, fmt.Sprintf("Subject: Pedido %d\r\nMessage-ID: <batch%d@unidad.test>", i, i), "No imprime.")
}

func batchIDs(from, to int) []string {
	var ids []string
	for i := from; i <= to; i++ {
		ids = append(ids, fmt.Sprintf("batch%d@unidad.test", i))
	}
	return ids
}

// newBatchRig is newRig with n mails waiting in the INBOX before the
// daemon starts, and the loop's store spied on.
func newBatchRig(t *testing.T, n int, spy *spyStore) *rig {
	t.Helper()
	sys := newMail(t)
	for i := 1; i <= n; i++ {
		batchMail(t, sys, i)
	}
	r := &rig{mail: sys, dir: t.TempDir(), wrap: func(s Store) Store { spy.Store = s; return spy }}
	r.start(t)
	return r
}

// waitTickets waits for n tickets and checks that each test mail opened
// exactly one.
func (r *rig) waitTickets(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d tickets", n), func() bool { return len(r.tickets(t)) >= n })
	seen := map[string]int{}
	for _, tk := range r.tickets(t) {
		seen[tk.Subject]++
	}
	for i := 1; i <= n; i++ {
		if c := seen[fmt.Sprintf("Pedido %d", i)]; c != 1 {
			t.Errorf("mail %d opened %d tickets, want 1", i, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct tickets, want %d", len(seen), n)
	}
}

// A backlog waiting at the start is committed in one transaction that
// moves the checkpoint to its last mail; a mail arriving alone under IDLE
// is committed at once, in a transaction of its own.
func TestBacklogCommittedInOneTransaction(t *testing.T) {
	const n = 12
	spy := &spyStore{}
	r := newBatchRig(t, n, spy)
	defer func() { r.stop() }()
	r.waitTickets(t, n)
	spy.waitCommits(t, 1)
	commits := spy.mailCommits()
	if len(commits) != 1 || commits[0].uid != n || !slices.Equal(commits[0].mails, batchIDs(1, n)) {
		t.Fatalf("transactions with mails %+v, want one of mails 1..%d with checkpoint uid %d", commits, n, n)
	}

	waitFor(t, "idling", func() bool { return r.loop.opts.Fetcher.Status().Idling })
	batchMail(t, r.mail, n+1)
	r.waitTickets(t, n+1)
	spy.waitCommits(t, 2)
	commits = spy.mailCommits()
	if last := commits[len(commits)-1]; len(commits) != 2 || last.uid != n+1 || !slices.Equal(last.mails, batchIDs(n+1, n+1)) {
		t.Errorf("transactions with mails %+v, want the lone mail committed on its own", commits)
	}
}

// A commit that fails to write leaves the whole batch uncommitted and
// unflagged: it is fetched again after a backoff, and after a restart
// besides each mail has opened exactly one ticket.
func TestFailedCommitLeavesEachMailOnce(t *testing.T) {
	const n = 6
	spy := &spyStore{}
	spy.failing.Store(2)
	r := newBatchRig(t, n, spy)
	r.waitTickets(t, n)
	spy.waitCommits(t, 1)
	if commits := spy.mailCommits(); len(commits) != 1 || commits[0].uid != n {
		t.Errorf("transactions with mails %+v, want the batch in one after the failures", commits)
	}
	if left := spy.failing.Load(); left >= 0 {
		t.Errorf("%d failures left unused", left+1)
	}
	r.stop()
	r.db.Close()

	r.start(t)
	defer func() { r.stop() }()
	batchMail(t, r.mail, n+1)
	r.waitTickets(t, n+1)
}

// kicks counts the outbox worker's wake-ups.
type kicks struct{ n atomic.Int32 }

func (k *kicks) Kick() { k.n.Add(1) }

// A panic while processing mail k of a batch quarantines k alone: the mails
// before it are committed in a transaction of their own, k is quarantined
// with its checkpoint, the ones after it go on; the outbox is woken once.
func TestPanicInBatchQuarantinesOnlyThatMail(t *testing.T) {
	db, base := newIngestLoop(t, 0)
	spy := &spyStore{Store: base.opts.Store, poison: "batch3@unidad.test"}
	opts := base.opts
	opts.Store = spy
	out := &kicks{}
	opts.Outbox = out
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const n = 5
	for i := 1; i <= n; i++ {
		raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: Pedido %d\r\nMessage-ID: <batch%d@unidad.test>\r\n\r\nNo imprime.\r\n", userAddr, deskAddr, i, i)
		m := &mailbox.Message{UIDValidity: 7, UID: uint32(i), Size: int64(len(raw)), Body: strings.NewReader(raw)}
		if err := l.Stage(ctx, m); err != nil {
			t.Fatalf("stage %d: %v", i, err)
		}
	}
	if got, err := l.Commit(ctx); got != n || err != nil {
		t.Fatalf("Commit = %d, %v; want %d, nil", got, err, n)
	}

	var quarantined []record.Quarantined
	var tickets []ticket.Ticket
	var cp record.Checkpoint
	if err := db.View(ctx, func(tx *store.Tx) error {
		var err error
		if quarantined, err = tx.QuarantineList(); err != nil {
			return err
		}
		if tickets, err = tx.List(ticket.Filter{}); err != nil {
			return err
		}
		cp, err = tx.Checkpoint("INBOX")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(quarantined) != 1 || quarantined[0].MessageID != "batch3@unidad.test" || quarantined[0].UID != 3 {
		t.Errorf("quarantined %+v, want mail 3 alone", quarantined)
	}
	var subjects []string
	for _, tk := range tickets {
		subjects = append(subjects, tk.Subject)
	}
	slices.Sort(subjects)
	if want := []string{"Pedido 1", "Pedido 2", "Pedido 4", "Pedido 5"}; !slices.Equal(subjects, want) {
		t.Errorf("tickets %v, want %v", subjects, want)
	}
	if cp.UID != n || cp.UIDValidity != 7 {
		t.Errorf("checkpoint %+v, want uid %d", cp, n)
	}
	var uids []uint32
	for _, c := range spy.commits {
		uids = append(uids, c.uid)
	}
	if want := []uint32{2, 3, 5}; !slices.Equal(uids, want) {
		t.Errorf("transactions committed with checkpoints %v, want %v (mails 1-2, the quarantine of 3, mails 4-5)", uids, want)
	}
	if k := out.n.Load(); k != 1 {
		t.Errorf("outbox woken %d times, want once for the batch", k)
	}
}

// TestBacklogged: a full batch says the intake has a backlog in hand (the
// outbox then sends one notice at a time); a batch that is not full says
// it is in.
func TestBacklogged(t *testing.T) {
	_, l := newIngestLoop(t, 0)
	ctx := t.Context()
	stage := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: Pedido %d\r\nMessage-ID: <bl%d@unidad.test>\r\n\r\nNo imprime.\r\n", userAddr, deskAddr, i, i)
			if err := l.Stage(ctx, &mailbox.Message{UIDValidity: 7, UID: uint32(i), Size: int64(len(raw)), Body: strings.NewReader(raw)}); err != nil {
				t.Fatalf("stage %d: %v", i, err)
			}
		}
		if got, err := l.Commit(ctx); got != n || err != nil {
			t.Fatalf("Commit = %d, %v; want %d, nil", got, err, n)
		}
	}
	if l.Backlogged() {
		t.Error("backlogged before any mail")
	}
	stage(1, mailbox.MaxBatch)
	if !l.Backlogged() {
		t.Error("not backlogged after a full batch")
	}
	stage(1+mailbox.MaxBatch, 3)
	if l.Backlogged() {
		t.Error("still backlogged after a batch that was not full")
	}
}

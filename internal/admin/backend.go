// Package admin is the operators' side of ticketd: listing and showing
// tickets, opening a ticket for a phone call, the quarantine, verification
// of the register and backups. [Local] does it on an open store; [Server]
// serves it over HTTP on admin.listen (with /healthz, /metrics and Go's
// profiles under /debug/pprof/) while the daemon holds the store; [Client]
// is what the command line uses to reach a running daemon. [Local] reads
// through [Store] and [Tx], declared here and implemented by
// internal/store; its bbolt file is held by one process at a time, hence
// the API.
package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ticketd/ticketd/internal/blob"
	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/report"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/ticket"
)

// Backend is what operators can do. [Local] and [Client] implement it.
type Backend interface {
	Tickets(ctx context.Context, f ticket.Filter) ([]TicketJSON, error)
	Ticket(ctx context.Context, id ticket.ID) (TicketJSON, error)
	Open(ctx context.Context, req OpenRequest) (OpenResult, error)
	Quarantine(ctx context.Context) ([]record.Quarantined, error)
	QuarantineShow(ctx context.Context, id uint64) (QuarantineDetail, error)
	QuarantineRetry(ctx context.Context, id uint64) (OpenResult, error)
	// Aside lists every mail that did not become a ticket change.
	Aside(ctx context.Context) ([]AsideJSON, error)
	// OpenRaw opens the raw mail of one of them by its SHA-256.
	OpenRaw(ctx context.Context, sha256 string) (io.ReadCloser, error)
	Verify(ctx context.Context) (VerifyReport, error)
	Backup(ctx context.Context, w io.Writer) (int64, error)
	Report(ctx context.Context, req ReportRequest) (report.Report, error)
}

// TicketJSON is the contract of `ticketd tickets --json` and `ticketd show
// --json`. Fields are only ever added.
type TicketJSON struct {
	ID            ticket.ID           `json:"id"`
	Subject       string              `json:"subject"`
	Requester     string              `json:"requester"`
	RequesterName string              `json:"requester_name,omitempty"`
	State         ticket.State        `json:"state"`
	Level         ticket.Level        `json:"level"`
	Group         string              `json:"group"`
	Assignee      string              `json:"assignee"`
	Category      string              `json:"category,omitempty"`
	Priority      ticket.Priority     `json:"priority,omitempty"`
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
	RelatedTo     ticket.ID           `json:"related_to,omitempty"`
	Body          string              `json:"body,omitempty"`
	Attachments   []ticket.Attachment `json:"attachments,omitempty"`
	LevelTimes    *ticket.LevelTimes  `json:"level_times,omitempty"`
	// Visits are the level visits with their targets (sla), in order.
	Visits  []VisitJSON    `json:"visits,omitempty"`
	History []ticket.Entry `json:"history,omitempty"`
}

// VisitJSON is one visit of a ticket to a level in `ticketd show --json`:
// its business time and the target the desk held it to, in seconds.
type VisitJSON struct {
	Level ticket.Level `json:"level"`
	Group string       `json:"group"`
	Start time.Time    `json:"start"`
	// End is absent while the visit goes on.
	End             time.Time `json:"end,omitzero"`
	BusinessSeconds float64   `json:"business_seconds"`
	// TargetSeconds is absent without a target; Met then is false.
	TargetSeconds float64 `json:"target_seconds,omitempty"`
	Met           bool    `json:"met"`
}

// visitsJSON converts desk's visits of t at now; an empty (non-nil) list
// without a desk.
func visitsJSON(desk *ticket.Desk, t *ticket.Ticket, now time.Time) []VisitJSON {
	out := []VisitJSON{}
	if desk == nil {
		return out
	}
	for _, v := range desk.Visits(t, now) {
		out = append(out, VisitJSON{Level: v.Level, Group: v.Group, Start: v.Start.UTC(), End: v.End.UTC(),
			BusinessSeconds: v.Business.Seconds(), TargetSeconds: v.Target.Seconds(), Met: v.Met})
	}
	return out
}

// ToJSON converts a ticket to its JSON view; with history when full.
func ToJSON(t *ticket.Ticket, d *ticket.Directory, now time.Time, full bool) TicketJSON {
	j := TicketJSON{ID: t.ID, Subject: t.Subject, Requester: t.Requester.Addr, RequesterName: t.Requester.Name,
		State: t.State, Level: t.Level, Group: t.Group, Assignee: t.Assignee, Category: t.Category, Priority: t.Priority,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, RelatedTo: t.RelatedTo}
	if full {
		j.Body, j.Attachments, j.History = t.Body, t.Attachments, t.History
		if j.History == nil {
			j.History = []ticket.Entry{}
		}
		lt := ticket.TimeAtLevel(t.History, d, now)
		j.LevelTimes = &lt
	}
	return j
}

// OpenRequest asks to open a ticket for a request received by phone.
type OpenRequest struct {
	Requester     string `json:"requester"`
	RequesterName string `json:"requester_name,omitempty"`
	Subject       string `json:"subject"`
	Body          string `json:"body"`
	// Agent is who took the call; empty means "ticketd".
	Agent string `json:"agent,omitempty"`
}

// OpenResult says which ticket an action opened or touched.
type OpenResult struct {
	ID      ticket.ID `json:"id"`
	Outcome string    `json:"outcome"`
}

// QuarantineDetail is a quarantine record with the start of its raw mail.
type QuarantineDetail struct {
	record.Quarantined
	// Raw is the beginning of the raw mail as received (at most 64 KiB).
	Raw string `json:"raw"`
}

// VerifyReport is the result of checking every ticket's history.
type VerifyReport struct {
	Checked int         `json:"checked"`
	Bad     []BadTicket `json:"bad"`
}

// BadTicket is a ticket whose history does not verify.
type BadTicket struct {
	ID    ticket.ID `json:"id"`
	Error string    `json:"error"`
}

// Retrier re-runs quarantined mail; *daemon.Loop implements it.
type Retrier interface {
	RetryQuarantined(ctx context.Context, id uint64) (service.Result, error)
}

// Tx is what [Local] reads of the storage within one transaction.
type Tx interface {
	// Each calls fn with each ticket f's State, Level and Group select,
	// without its history, oldest first; the ticket is overwritten after
	// fn returns.
	Each(f ticket.Filter, fn func(*ticket.Ticket) error) error
	// Due returns up to limit tickets due at or before until by the index
	// of due times, earliest first (a limit below 1 means no limit).
	Due(until time.Time, limit int) []ticket.ID
	// Ticket reads ticket id with its history; the error wraps
	// [ErrNotFound] when there is none.
	Ticket(id ticket.ID) (*ticket.Ticket, error)
	// QuarantineList returns every quarantine record, oldest first.
	QuarantineList() ([]record.Quarantined, error)
	// Quarantined returns quarantine record id; the error wraps
	// [ErrNotFound] when there is none.
	Quarantined(id uint64) (record.Quarantined, error)
	// UnthreadedList returns the mails the service set aside, oldest
	// first.
	UnthreadedList() ([]record.Unthreaded, error)
	// VerifyAll checks every ticket's history, calling bad for each that
	// fails, and returns how many it checked.
	VerifyAll(bad func(id ticket.ID, err error)) (int, error)
}

// Store is the storage [Local] works on: read-only transactions and a
// consistent copy of everything.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	// Backup writes a consistent copy of the whole store to w while other
	// transactions go on, and returns how many bytes it wrote.
	Backup(w io.Writer) (int64, error)
}

// Local implements Backend on an open store.
type Local struct {
	Store     Store
	Service   *service.Service
	Directory *ticket.Directory
	Retrier   Retrier
	// Blobs holds the raw mails, for QuarantineShow.
	Blobs *blob.Store
	// OnCommit, if set, is called after a change that owes notifications
	// (it wakes the outbox worker).
	OnCommit func()
	Now      func() time.Time
	// Reports computes the indicators; nil refuses them.
	Reports *Reports
}

// ErrNotFound is matched by errors.Is when a ticket or record does not exist.
var ErrNotFound = record.ErrNotFound

func (l *Local) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// ErrNoServiceLevels is matched by errors.Is when a listing asks for
// overdue or soon-due tickets and the configuration has no sla section.
var ErrNoServiceLevels = errors.New("no service levels configured (the sla section), so no ticket is ever overdue")

// desk returns the service's rules in force (they change on a reload).
func (l *Local) desk() *ticket.Desk {
	if l.Service == nil {
		return nil
	}
	return l.Service.Desk()
}

// Tickets lists tickets matching f. Overdue and soon-due tickets are
// judged by the service levels in force at now: soon due alone reads the
// candidates from the index of due times (a ticket's next due instant is
// never after its deadline), overdue walks the open and resolved tickets
// by the state index (a ticket whose overdue notice was sent owes no timer,
// so the index does not hold it); closed tickets are never read.
func (l *Local) Tickets(ctx context.Context, f ticket.Filter) ([]TicketJSON, error) {
	out := []TicketJSON{}
	now := l.now()
	desk := l.desk()
	if f.DueFiltered() && (desk == nil || desk.ServiceLevels() == nil) {
		return nil, ErrNoServiceLevels
	}
	err := l.Store.View(ctx, func(tx Tx) error {
		return eachDue(tx, f, desk, now, func(t *ticket.Ticket) error {
			out = append(out, ToJSON(t, l.Directory, now, false))
			return nil
		})
	})
	return out, err
}

// eachDue calls fn with each ticket f selects at now, oldest first (see
// [Tx.Each]).
func eachDue(tx Tx, f ticket.Filter, desk *ticket.Desk, now time.Time, fn func(*ticket.Ticket) error) error {
	if !f.DueFiltered() {
		return tx.Each(f, fn)
	}
	var candidates []ticket.Ticket
	if f.Overdue {
		for _, st := range ticket.States() {
			if st.Final || f.State != "" && f.State != st.State {
				continue
			}
			sf := f
			sf.State = st.State
			err := tx.Each(sf, func(t *ticket.Ticket) error {
				if desk.MatchDue(f, t, now) {
					candidates = append(candidates, *t)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	} else {
		for _, id := range tx.Due(now.Add(f.DueWithin), 0) {
			t, err := tx.Ticket(id)
			if err != nil {
				return fmt.Errorf("read due ticket %s: %w", id, err)
			}
			if t.History = nil; f.Match(t) && desk.MatchDue(f, t, now) {
				candidates = append(candidates, *t)
			}
		}
	}
	slices.SortFunc(candidates, func(a, b ticket.Ticket) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	for i := range candidates {
		if err := fn(&candidates[i]); err != nil {
			return err
		}
	}
	return nil
}

// Ticket returns one ticket with its history and level visits.
func (l *Local) Ticket(ctx context.Context, id ticket.ID) (TicketJSON, error) {
	var out TicketJSON
	err := l.Store.View(ctx, func(tx Tx) error {
		t, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		now := l.now()
		out = ToJSON(t, l.Directory, now, true)
		out.Visits = visitsJSON(l.desk(), t, now)
		return nil
	})
	return out, err
}

// Open opens a ticket for a phone request.
func (l *Local) Open(ctx context.Context, req OpenRequest) (OpenResult, error) {
	if req.Subject == "" {
		return OpenResult{}, errors.New("a subject is required")
	}
	agent := req.Agent
	if agent == "" {
		agent = "ticketd"
	}
	res, err := l.Service.OpenByPhone(ctx, ticket.Address{Name: req.RequesterName, Addr: req.Requester}, agent, req.Subject, req.Body)
	if err != nil {
		return OpenResult{}, err
	}
	if l.OnCommit != nil {
		l.OnCommit()
	}
	return OpenResult{ID: res.TicketID, Outcome: res.Outcome}, nil
}

// Quarantine lists the quarantined mails.
func (l *Local) Quarantine(ctx context.Context) ([]record.Quarantined, error) {
	out := []record.Quarantined{}
	err := l.Store.View(ctx, func(tx Tx) error {
		qs, err := tx.QuarantineList()
		out = append(out, qs...)
		return err
	})
	return out, err
}

// QuarantineShow returns quarantine record id with the start of its raw mail.
func (l *Local) QuarantineShow(ctx context.Context, id uint64) (QuarantineDetail, error) {
	var d QuarantineDetail
	err := l.Store.View(ctx, func(tx Tx) error {
		var err error
		d.Quarantined, err = tx.Quarantined(id)
		return err
	})
	if err != nil || l.Blobs == nil {
		return d, err
	}
	r, err := l.Blobs.Open(d.RawSHA256)
	if err != nil {
		return d, fmt.Errorf("open raw mail of quarantine record %d: %w", id, err)
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, 64<<10))
	d.Raw = string(raw)
	return d, err
}

// QuarantineRetry re-runs quarantined mail id.
func (l *Local) QuarantineRetry(ctx context.Context, id uint64) (OpenResult, error) {
	if l.Retrier == nil {
		return OpenResult{}, errors.New("re-running quarantined mail needs the daemon's mail pipeline")
	}
	res, err := l.Retrier.RetryQuarantined(ctx, id)
	if err != nil {
		return OpenResult{}, err
	}
	return OpenResult{ID: res.TicketID, Outcome: res.Outcome}, nil
}

// Verify checks the hash chain of every ticket's history.
func (l *Local) Verify(ctx context.Context) (VerifyReport, error) {
	rep := VerifyReport{Bad: []BadTicket{}}
	err := l.Store.View(ctx, func(tx Tx) error {
		n, err := tx.VerifyAll(func(id ticket.ID, err error) {
			rep.Bad = append(rep.Bad, BadTicket{ID: id, Error: err.Error()})
		})
		rep.Checked = n
		return err
	})
	return rep, err
}

// Backup writes a consistent copy of the store to w.
func (l *Local) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := l.Store.Backup(w)
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

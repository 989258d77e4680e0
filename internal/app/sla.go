package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

// serviceLevels returns the desk option of cfg's sla section, nil when
// the section is absent (no timers).
func serviceLevels(cfg config.Config) (ticket.DeskOption, error) {
	sl, err := slaPolicy(cfg)
	if sl == nil || err != nil {
		return nil, err
	}
	return ticket.WithServiceLevels(*sl), nil
}

// slaPolicy returns the service-level policy of cfg's sla section, nil
// when the section is absent.
func slaPolicy(cfg config.Config) (*ticket.ServiceLevels, error) {
	s := cfg.SLA
	if !s.Enabled() {
		return nil, nil
	}
	loc, err := cfg.Ticket.Location()
	if err != nil {
		return nil, fmt.Errorf("ticket.timezone: %w", err)
	}
	cal, err := s.Calendar(loc)
	if err != nil {
		return nil, fmt.Errorf("sla: %w", err)
	}
	warn, err := s.WarnPercent()
	if err != nil {
		return nil, fmt.Errorf("sla.warn_at: %w", err)
	}
	targets := func(t config.SLATargets) ticket.Targets {
		return ticket.Targets{Level1: t.Level1, Level2: t.Level2, Level3: t.Level3}
	}
	by := map[ticket.Priority]ticket.Targets{}
	for name, t := range s.TargetsByPriority {
		p, ok := ticket.ParsePriority(name)
		if !ok {
			return nil, fmt.Errorf("sla.targets_by_priority.%s: unknown priority", name)
		}
		by[p] = targets(t)
	}
	return &ticket.ServiceLevels{
		Calendar: cal, Targets: targets(s.Targets), ByPriority: by, WarnAt: warn, CloseWithin: s.CloseWithin,
	}, nil
}

// slaFingerprint identifies the sla section of cfg and the time zone its
// business hours are in: the due times computed under one fingerprint hold
// while it stays the same. "off" without an sla section.
func slaFingerprint(cfg config.Config) string {
	if !cfg.SLA.Enabled() {
		return "off"
	}
	raw, _ := json.Marshal(struct {
		SLA      config.SLAConfig
		Timezone string
	}{cfg.SLA, cfg.Ticket.Timezone}) // plain values: it cannot fail
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// rescheduleBatch is how many tickets one transaction of the pass of
// [rescheduleTimers] updates.
const rescheduleBatch = 500

// rescheduleTimers computes again the due time of every open or resolved
// ticket under desk's policy, in batches of rescheduleBatch tickets per
// transaction, when the policy's fingerprint fp differs from the one the
// store recorded (or none was: the store is from before the sla section,
// or before this pass existed), then records fp. Tickets opened before the
// sla section was added get their timers so, and a change of targets
// moves every ticket's next due instant. It returns how many tickets it
// read and how many changed (0, 0 when the fingerprint was the same); a
// crash midway leaves the old fingerprint, so the pass runs again.
func rescheduleTimers(ctx context.Context, db *store.DB, desk *ticket.Desk, fp string, log *slog.Logger) (read, changed int, err error) {
	var ids []ticket.ID
	run := false
	err = db.View(ctx, func(tx *store.Tx) error {
		if old, ok := tx.TimersFingerprint(); ok && old == fp {
			return nil
		}
		run = true
		for _, st := range ticket.States() {
			if st.Final {
				continue
			}
			err := tx.Each(ticket.Filter{State: st.State}, func(t *ticket.Ticket) error {
				ids = append(ids, t.ID)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !run {
		return 0, 0, err
	}
	log.Info("computing the timers of open and resolved tickets", "tickets", len(ids), "batch", rescheduleBatch)
	for len(ids) > 0 {
		batch := ids[:min(rescheduleBatch, len(ids))]
		ids = ids[len(batch):]
		n := 0
		err := db.Update(ctx, func(tx *store.Tx) error {
			n = 0
			for _, id := range batch {
				t, err := tx.Ticket(id)
				if err != nil {
					return err
				}
				if due := desk.NextDue(t); !due.Equal(t.Due) {
					t.Due = due
					if err := tx.PutTicket(t); err != nil {
						return err
					}
					n++
				}
			}
			return nil
		})
		if err != nil {
			return read, changed, fmt.Errorf("compute the timers of tickets %s…: %w", batch[0], err)
		}
		read, changed = read+len(batch), changed+n
		log.Info("timers computed", "tickets", read, "changed", changed, "left", len(ids))
	}
	if err := db.Update(ctx, func(tx *store.Tx) error { return tx.SetTimersFingerprint(fp) }); err != nil {
		return read, changed, err
	}
	return read, changed, nil
}

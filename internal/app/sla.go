package app

import (
	"fmt"

	"github.com/ticketd/ticketd/internal/config"
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

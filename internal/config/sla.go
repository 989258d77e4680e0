package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ticketd/ticketd/ticket/sla"
)

// SLAConfig is the service-level policy: the business time a ticket may
// spend at each support level, and who is reminded when. A config without
// an sla section (every field zero) runs no timers.
type SLAConfig struct {
	// BusinessHours is the weekly schedule business time is counted in, in
	// ticket.timezone: "mon-fri 07:00-17:00", several clauses such as
	// "mon-thu 07:00-17:00, fri 07:00-13:00", or "24x7". Required when the
	// section is present.
	BusinessHours string `mapstructure:"business_hours"`
	// Holidays are whole days off (YYYY-MM-DD).
	Holidays []string `mapstructure:"holidays"`
	// Targets are the business time a ticket may stay at each level before
	// it is overdue; a zero level has no target.
	Targets SLATargets `mapstructure:"targets"`
	// TargetsByPriority overrides Targets for tickets of a priority (alta,
	// media, baja); a level it leaves out keeps the Targets value.
	TargetsByPriority map[string]SLATargets `mapstructure:"targets_by_priority"`
	// WarnAt is the share of the target, "75%", at which the holder is
	// reminded; "" means no reminder before the overdue notice.
	WarnAt string `mapstructure:"warn_at"`
	// CloseWithin is the business time a resolved ticket may wait for the
	// desk's definitive closure before the desk is reminded; 0 means never.
	CloseWithin time.Duration `mapstructure:"close_within"`
}

// SLATargets are the targets of the three levels.
type SLATargets struct {
	Level1 time.Duration `mapstructure:"level1"`
	Level2 time.Duration `mapstructure:"level2"`
	Level3 time.Duration `mapstructure:"level3"`
}

// Enabled reports whether the sla section is present (any key set).
func (s SLAConfig) Enabled() bool {
	return s.BusinessHours != "" || len(s.Holidays) > 0 || s.Targets != (SLATargets{}) ||
		len(s.TargetsByPriority) > 0 || s.WarnAt != "" || s.CloseWithin != 0
}

// WarnPercent returns WarnAt as a number (75 for "75%"), 0 when it is "".
func (s SLAConfig) WarnPercent() (int, error) {
	w := strings.TrimSpace(s.WarnAt)
	if w == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(w, "%")))
	if err != nil || !strings.HasSuffix(w, "%") || n < 1 || n > 99 {
		return 0, fmt.Errorf("%q: want a percentage from 1%% to 99%%, such as \"75%%\"", s.WarnAt)
	}
	return n, nil
}

// Calendar builds the business-time calendar of the section in loc.
func (s SLAConfig) Calendar(loc *time.Location) (*sla.Calendar, error) {
	return sla.New(s.BusinessHours, s.Holidays, loc)
}

// slaPriorities are the priority names targets_by_priority accepts, as
// ticket.ParsePriority spells them in Spanish.
var slaPriorities = map[string]bool{"alta": true, "media": true, "baja": true}

func (s SLAConfig) validate(p *problems, loc *time.Location) {
	if !s.Enabled() {
		return
	}
	if strings.TrimSpace(s.BusinessHours) == "" {
		p.add("sla.business_hours", `required in the sla section (e.g. "mon-fri 07:00-17:00" or "24x7")`)
	} else if _, err := sla.New(s.BusinessHours, nil, loc); err != nil {
		p.add("sla.business_hours", "%v", err)
	}
	for i, h := range s.Holidays {
		if _, err := time.Parse(time.DateOnly, strings.TrimSpace(h)); err != nil {
			p.add(fmt.Sprintf("sla.holidays[%d]", i), "%q: want a date YYYY-MM-DD", h)
		}
	}
	if _, err := s.WarnPercent(); err != nil {
		p.add("sla.warn_at", "%v", err)
	}
	if s.CloseWithin < 0 {
		p.add("sla.close_within", "%v: must not be negative", s.CloseWithin)
	}
	s.Targets.validate(p, "sla.targets")
	names := make([]string, 0, len(s.TargetsByPriority))
	for n := range s.TargetsByPriority {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !slaPriorities[n] {
			p.add("sla.targets_by_priority."+n, "unknown priority (want alta, media or baja)")
		}
		s.TargetsByPriority[n].validate(p, "sla.targets_by_priority."+n)
	}
	if s.Targets == (SLATargets{}) && len(s.TargetsByPriority) == 0 && s.CloseWithin == 0 {
		p.add("sla.targets", "the sla section sets no target and no close_within: nothing would ever be due")
	}
}

func (t SLATargets) validate(p *problems, key string) {
	for i, d := range []time.Duration{t.Level1, t.Level2, t.Level3} {
		if d < 0 {
			p.add(fmt.Sprintf("%s.level%d", key, i+1), "%v: must not be negative", d)
		}
	}
}

// dateHook lets a YAML date (holidays: [2026-12-08], which the YAML decoder
// reads as a time) fill a string as YYYY-MM-DD.
func dateHook(from, to reflect.Type, data any) (any, error) {
	if t, ok := data.(time.Time); ok && to.Kind() == reflect.String {
		if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
			return t.Format(time.RFC3339), nil
		}
		return t.Format(time.DateOnly), nil
	}
	return data, nil
}

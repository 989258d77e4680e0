package config

import (
	"slices"
	"testing"
	"time"
)

// TestSLAKeys: the sla section as written in a file reaches the Config,
// YAML dates included; without it, no timers.
func TestSLAKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, _, err := loadMap(t, dir, base(dir))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SLA.Enabled() {
		t.Fatalf("no sla section: Enabled() = true (%+v)", cfg.SLA)
	}
	m := base(dir)
	m["sla"] = map[string]any{
		"business_hours":      "mon-thu 07:00-17:00, fri 07:00-13:00",
		"holidays":            []any{time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC), "2026-12-25"},
		"targets":             map[string]any{"level1": "4h", "level2": "16h", "level3": "40h"},
		"targets_by_priority": map[string]any{"alta": map[string]any{"level1": "2h"}},
		"warn_at":             "75%",
		"close_within":        "8h",
	}
	cfg, _, err = loadMap(t, dir, m)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SLA
	if !s.Enabled() || !slices.Equal(s.Holidays, []string{"2026-12-08", "2026-12-25"}) ||
		s.Targets != (SLATargets{4 * time.Hour, 16 * time.Hour, 40 * time.Hour}) ||
		s.TargetsByPriority["alta"] != (SLATargets{Level1: 2 * time.Hour}) || s.CloseWithin != 8*time.Hour {
		t.Fatalf("SLA = %+v", s)
	}
	if w, err := s.WarnPercent(); w != 75 || err != nil {
		t.Fatalf("WarnPercent() = %d, %v", w, err)
	}
	cal, err := s.Calendar(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	fri := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	if got := cal.Business(fri, fri.Add(3*time.Hour)); got != time.Hour {
		t.Fatalf("Friday 12:00-15:00 = %v of business time, want 1h", got)
	}
}

// TestSLASecondsAccepted: targets and close_within of a few seconds load
// (any non-negative duration does): the e2e tests and a trial run depend
// on it, and a desk that sets seconds gets what it asked for.
func TestSLASecondsAccepted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := base(dir)
	m["sla"] = map[string]any{"business_hours": "24x7", "targets": map[string]any{"level1": "6s", "level2": "1m"},
		"warn_at": "50%", "close_within": "4s"}
	cfg, _, err := loadMap(t, dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SLA.Targets.Level1 != 6*time.Second || cfg.SLA.CloseWithin != 4*time.Second {
		t.Fatalf("SLA = %+v", cfg.SLA)
	}
}

package app

import (
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/notify"
)

func TestOutboxHealthy(t *testing.T) {
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	down := notify.Stats{Unavailable: "notify: server takes no mail: smtp 127.0.0.1:25: connection refused", UnavailableSince: now.Add(-time.Hour)}
	tests := []struct {
		name    string
		ob      outbox.Stats
		ws      notify.Stats
		unsent  int
		healthy bool
		reason  []string
	}{
		{"empty", outbox.Stats{}, notify.Stats{}, 0, true, nil},
		{"young", outbox.Stats{Depth: 5, Oldest: now.Add(-14 * time.Minute)}, down, 0, true, nil},
		{"stuck, one recipient", outbox.Stats{Depth: 2, Oldest: now.Add(-16 * time.Minute)}, notify.Stats{}, 0, false,
			[]string{"2 notifications", "16m0s"}},
		{"stuck, SMTP down, alert not mailed", outbox.Stats{Depth: 7, Oldest: now.Add(-time.Hour)}, down, 1, false,
			[]string{"7 notifications", "connection refused", "could not be alerted by mail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := outboxHealthy(tt.ob, tt.ws, tt.unsent, now, 15*time.Minute)
			if ok != tt.healthy {
				t.Errorf("outboxHealthy = %v (%q), want %v", ok, why, tt.healthy)
			}
			for _, r := range tt.reason {
				if !strings.Contains(why, r) {
					t.Errorf("reason %q lacks %q", why, r)
				}
			}
		})
	}
}

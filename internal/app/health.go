package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
	"github.com/ticketd/ticketd/notify"
)

// registerMetrics exposes the worker's, the poller's and the store's
// figures as Prometheus metrics computed at scrape time.
func (d *Daemon) registerMetrics() {
	counter := func(name, help string, f func() float64) {
		d.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		d.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter("ticketd_notifications_sent_total", "Notifications accepted by the SMTP server.", func() float64 { return float64(d.worker.Stats().Sent) })
	counter("ticketd_notifications_failed_total", "Notifications refused permanently or given up after outbox.give_up_after (recorded on the ticket).", func() float64 { return float64(d.worker.Stats().Failed) })
	counter("ticketd_notifications_retried_total", "Temporary notification failures, retried.", func() float64 { return float64(d.worker.Stats().Retried) })
	counter("ticketd_imap_reconnects_total", "IMAP reconnections.", func() float64 { return float64(d.poller.Status().Reconnects) })
	gauge("ticketd_notifications_pending", "Notifications waiting in the outbox.", func() float64 {
		s, _ := d.outboxStats()
		return float64(s.Depth)
	})
	gauge("ticketd_outbox_oldest_age_seconds", "Age of the oldest notification waiting in the outbox (0 when empty).", func() float64 {
		s, _ := d.outboxStats()
		return age(d.now(), s).Seconds()
	})
	gauge("ticketd_outbox_stuck", "1 when the oldest notification waiting is older than outbox.stuck_after.", func() float64 {
		s, _ := d.outboxStats()
		return bit(age(d.now(), s) > d.Cfg.Outbox.StuckAfter)
	})
	gauge("ticketd_smtp_unavailable", "1 while the SMTP server takes no mail at all.", func() float64 { return bit(d.worker.Stats().Unavailable != "") })
	gauge("ticketd_alerts_unsent", "Alerts to admin.alert_to that could not be mailed yet.", func() float64 { return float64(d.alertsUnsent()) })
	gauge("ticketd_quarantine_size", "Mails in quarantine.", func() float64 { return float64(d.quarantineCount()) })
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

func (d *Daemon) outboxStats() (outbox.Stats, error) {
	var s outbox.Stats
	err := d.DB.View(context.Background(), func(tx *store.Tx) error {
		var err error
		s, err = tx.OutboxStats()
		return err
	})
	return s, err
}

// age is how long the oldest notice of s has waited at now (zero when none
// waits).
func age(now time.Time, s outbox.Stats) time.Duration {
	if s.Oldest.IsZero() {
		return 0
	}
	return now.Sub(s.Oldest)
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// alertsUnsent counts the alerts the watcher could not mail (zero without
// admin.alert_to).
func (d *Daemon) alertsUnsent() int {
	if d.watcher == nil {
		return 0
	}
	return d.watcher.Unsent()
}

func (d *Daemon) quarantineCount() int {
	n := 0
	_ = d.DB.View(context.Background(), func(tx *store.Tx) error {
		n = tx.QuarantineCount()
		return nil
	})
	return n
}

// health computes /healthz: healthy while fetching works and notifications
// leave (see outboxHealthy).
func (d *Daemon) health(alertAfter time.Duration) func(ctx context.Context) admin.Health {
	return func(ctx context.Context) admin.Health {
		st := d.poller.Status()
		h := admin.Health{Connected: st.Connected, LastFetch: st.LastPoll, LastMail: st.LastFetch, Reconnects: st.Reconnects,
			OldestUnprocessed: st.OldestUnprocessed, Quarantine: d.quarantineCount()}
		h.Healthy, h.Reason = fetchHealthy(st, d.now(), alertAfter)
		ws := d.worker.Stats()
		h.SMTPUnavailable, h.AlertsUnsent = ws.Unavailable, d.alertsUnsent()
		if os, err := d.outboxStats(); err == nil {
			h.OutboxDepth = os.Depth
			h.OutboxOldestAge = age(d.now(), os).Seconds()
			if ok, why := outboxHealthy(os, ws, h.AlertsUnsent, d.now(), d.Cfg.Outbox.StuckAfter); !ok {
				h.OutboxStuck, h.Healthy = true, false
				h.Reason = strings.TrimPrefix(h.Reason+"; "+why, "; ")
			}
		}
		return h
	}
}

// outboxHealthy says whether notifications leave: the oldest one waiting
// is not older than stuckAfter. The reason names the SMTP server's error
// while it takes no mail (ws), and says when the operators could not be
// alerted by mail (unsent alerts).
func outboxHealthy(os outbox.Stats, ws notify.Stats, unsent int, now time.Time, stuckAfter time.Duration) (bool, string) {
	waited := age(now, os)
	if waited <= stuckAfter {
		return true, ""
	}
	why := fmt.Sprintf("the oldest of %d notifications waiting has waited %s (outbox.stuck_after %s)", os.Depth, waited.Round(time.Second), stuckAfter)
	if ws.Unavailable != "" {
		why += fmt.Sprintf("; the SMTP server takes no mail since %s: %s", ws.UnavailableSince.Format(time.RFC3339), ws.Unavailable)
	}
	if unsent > 0 {
		why += "; the operators could not be alerted by mail (see the log)"
	}
	return false, why
}

// fetchHealthy says whether fetching works: the last successful look at the
// mailbox is recent (within alertAfter, or twice the poll interval at least).
func fetchHealthy(st mailbox.Status, now time.Time, alertAfter time.Duration) (bool, string) {
	switch {
	case st.LastPoll.IsZero() && !st.Connected:
		return false, "the mailbox has not been read yet"
	case !st.LastPoll.IsZero() && now.Sub(st.LastPoll) > alertAfter:
		return false, fmt.Sprintf("the mailbox has not been read for %s", now.Sub(st.LastPoll).Round(time.Second))
	}
	return true, ""
}

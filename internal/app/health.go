package app

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox"
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
	counter("ticketd_notifications_failed_total", "Notifications refused permanently (recorded on the ticket).", func() float64 { return float64(d.worker.Stats().Failed) })
	counter("ticketd_notifications_retried_total", "Temporary notification failures, retried.", func() float64 { return float64(d.worker.Stats().Retried) })
	counter("ticketd_imap_reconnects_total", "IMAP reconnections.", func() float64 { return float64(d.poller.Status().Reconnects) })
	gauge("ticketd_notifications_pending", "Notifications waiting in the outbox.", func() float64 {
		s, _ := d.outboxStats()
		return float64(s.Depth)
	})
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

func (d *Daemon) quarantineCount() int {
	n := 0
	_ = d.DB.View(context.Background(), func(tx *store.Tx) error {
		n = tx.QuarantineCount()
		return nil
	})
	return n
}

// health computes /healthz: healthy while fetching works.
func (d *Daemon) health(alertAfter time.Duration) func(ctx context.Context) admin.Health {
	return func(ctx context.Context) admin.Health {
		st := d.poller.Status()
		h := admin.Health{Connected: st.Connected, LastFetch: st.LastPoll, LastMail: st.LastFetch, Reconnects: st.Reconnects,
			OldestUnprocessed: st.OldestUnprocessed, Quarantine: d.quarantineCount()}
		if os, err := d.outboxStats(); err == nil {
			h.OutboxDepth = os.Depth
			if !os.Oldest.IsZero() {
				h.OutboxOldestAge = d.now().Sub(os.Oldest).Seconds()
			}
		}
		h.Healthy, h.Reason = fetchHealthy(st, d.now(), alertAfter)
		return h
	}
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

package daemon

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the daemon's Prometheus metrics.
type Metrics struct {
	MailsFetched    prometheus.Counter
	TicketsOpened   prometheus.Counter
	CommandsApplied prometheus.Counter
	CommandsRefused prometheus.Counter
	Quarantined     prometheus.Counter
	// ProcessFailures counts mails that could not be committed (and are
	// retried), e.g. because the data directory is read-only.
	ProcessFailures prometheus.Counter
	Outcomes        *prometheus.CounterVec
	ArrivalToCommit prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		MailsFetched:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketd_mails_fetched_total", Help: "Mails fetched from the mailbox."}),
		TicketsOpened:   prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketd_tickets_opened_total", Help: "Tickets opened."}),
		CommandsApplied: prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketd_commands_applied_total", Help: "Commands applied."}),
		CommandsRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketd_commands_refused_total", Help: "Commands refused or skipped."}),
		Quarantined:     prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketd_mails_quarantined_total", Help: "Mails quarantined."}),
		ProcessFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketd_mail_commit_failures_total", Help: "Mails that could not be committed and will be retried (e.g. read-only or full disk)."}),
		Outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_mails_processed_total", Help: "Mails processed, by outcome."},
			[]string{"outcome"}),
		ArrivalToCommit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ticketd_arrival_to_commit_seconds",
			Help: "Time from the server receiving a mail to its ticket change being committed.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.MailsFetched, m.TicketsOpened, m.CommandsApplied, m.CommandsRefused, m.Quarantined, m.ProcessFailures, m.Outcomes, m.ArrivalToCommit)
	}
	return m
}

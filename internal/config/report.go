package config

import "fmt"

// ReportConfig is the monthly mail of the indicators (`ticketd report`).
type ReportConfig struct {
	// Monthly mails the report of the month just ended to MailTo on the
	// first business day of each month (of the sla calendar; Monday to
	// Friday without one). Default false.
	Monthly bool `mapstructure:"monthly"`
	// MailTo are the addresses the monthly report goes to; required when
	// Monthly is set.
	MailTo []string `mapstructure:"mail_to"`
}

// validate adds the problems of the report section to p.
func (r ReportConfig) validate(p *problems) {
	for n, a := range r.MailTo {
		address(p, fmt.Sprintf("report.mail_to[%d]", n), a)
	}
	if r.Monthly && len(r.MailTo) == 0 {
		p.add("report.monthly", "true: needs report.mail_to, the addresses the report goes to")
	}
}

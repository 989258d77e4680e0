package main

import (
	"github.com/spf13/cobra"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/report"
)

func (c *cli) reportCmd() *cobra.Command {
	var req admin.ReportRequest
	var by, format string
	cmd := &cobra.Command{
		Use:   "report [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--by level|group|category|month] [--format table|csv|json|html]",
		Short: "The procedure's indicators over a period (also while the daemon runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := report.ParseFormat(format)
			if err != nil {
				return err
			}
			if req.By, err = report.ParseDimension(by); err != nil {
				return err
			}
			cfg, err := c.loadConfig(nil, false)
			if err != nil {
				return err
			}
			return c.withReporter(cmd.Context(), cfg, func(b reporter) error {
				r, err := b.Report(cmd.Context(), req)
				if err != nil {
					return err
				}
				return report.Write(c.stdout, r, f, cfg.Ticket.Lang)
			})
		},
	}
	cmd.Flags().StringVar(&req.From, "from", "", "first day of the period, YYYY-MM-DD (default: the first day of this month)")
	cmd.Flags().StringVar(&req.To, "to", "", "last day of the period, YYYY-MM-DD, included (default: today)")
	cmd.Flags().StringVar(&by, "by", "", "break the figures down by level, group, category or month")
	cmd.Flags().StringVar(&format, "format", "table", "table, csv, json or html")
	return cmd
}

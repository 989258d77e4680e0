package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/view"
	"github.com/ticketd/ticketd/ticket"
)

func (c *cli) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground (for systemd)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(c.stderr, config.Default().Log)
			cfg, err := c.loadConfig(log, true)
			if err != nil {
				return err
			}
			log, level := newLevelLogger(c.stderr, cfg.Log)
			d, err := app.Build(cfg, app.Options{Version: version, Logger: log, Level: level})
			if err != nil {
				return err
			}
			return d.Run(cmd.Context())
		},
	}
}

func (c *cli) ticketsCmd() *cobra.Command {
	var state, level, group, dueWithin string
	var asJSON, overdue bool
	cmd := &cobra.Command{
		Use:   "tickets",
		Short: "List tickets",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := admin.ParseFilter(state, level, group)
			if err == nil {
				f, err = admin.ParseDueFilter(f, strconv.FormatBool(overdue), dueWithin)
			}
			if err != nil {
				return usageError(err)
			}
			return c.withBackend(cmd.Context(), func(b admin.Backend) error {
				ts, err := b.Tickets(cmd.Context(), f)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(c.stdout, ts)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tLEVEL\tGROUP\tASSIGNEE\tREQUESTER\tUPDATED\tSUBJECT")
				for _, t := range ts {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.State, t.Level, t.Group, view.Dash(t.Assignee), t.Requester,
						t.UpdatedAt.In(c.location()).Format(view.DateTime), view.Clip(t.Subject, 50))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "open, resolved or closed")
	cmd.Flags().StringVar(&level, "level", "", "1, 2 or 3")
	cmd.Flags().StringVar(&group, "group", "", "group name")
	cmd.Flags().BoolVar(&overdue, "overdue", false, "only tickets past their level's target (or a resolved one's close_within)")
	cmd.Flags().StringVar(&dueWithin, "due-within", "", "only tickets that will be overdue within this duration, e.g. 2h")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (c *cli) showCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one ticket with its whole history",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withBackend(cmd.Context(), func(b admin.Backend) error {
				t, err := b.Ticket(cmd.Context(), ticket.ID(strings.ToUpper(strings.TrimSpace(args[0]))))
				if err != nil {
					return notFound(err, "ticket", args[0])
				}
				if asJSON {
					return writeJSON(c.stdout, t)
				}
				view.Ticket(c.stdout, t, c.loc)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}

func (c *cli) openCmd() *cobra.Command {
	var req admin.OpenRequest
	var bodyFile string
	cmd := &cobra.Command{
		Use:   "open --requester ADDR --subject S [--body B | --body-file F]",
		Short: "Open a ticket for a request received by phone (key 5)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bodyFile != "" {
				if req.Body != "" {
					return usageError(errors.New("give --body or --body-file, not both"))
				}
				b, err := readFileOrStdin(bodyFile)
				if err != nil {
					return err
				}
				req.Body = string(b)
			}
			return c.withBackend(cmd.Context(), func(b admin.Backend) error {
				res, err := b.Open(cmd.Context(), req)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "opened %s for %s\n", res.ID, req.Requester)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.Requester, "requester", "", "the caller's mail address (required)")
	cmd.Flags().StringVar(&req.RequesterName, "name", "", "the caller's name")
	cmd.Flags().StringVar(&req.Subject, "subject", "", "subject (required)")
	cmd.Flags().StringVar(&req.Body, "body", "", "the request")
	cmd.Flags().StringVar(&bodyFile, "body-file", "", "read the request from a file (- for standard input)")
	cmd.Flags().StringVar(&req.Agent, "agent", os.Getenv("USER"), "who took the call")
	_ = cmd.MarkFlagRequired("requester")
	_ = cmd.MarkFlagRequired("subject")
	return cmd
}

func readFileOrStdin(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func (c *cli) checkCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and try the IMAP login and the SMTP connection",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(c.configPath)
			for _, w := range cfg.Warnings {
				fmt.Fprintln(c.stdout, "warning:", w)
			}
			if err != nil {
				fmt.Fprintf(c.stdout, "configuration: INVALID\n%v\n", err)
				return errors.New("the configuration is invalid")
			}
			fmt.Fprintf(c.stdout, "configuration: ok (%s)\n", cmp.Or(cfg.File, "defaults and environment"))
			if !admin.LocalOnly(cfg.Admin.Listen) {
				fmt.Fprintf(c.stdout, "warning: admin.listen %q may be reachable from other machines: keep the admin API on loopback or a unix socket, and reach it through ssh\n", cfg.Admin.Listen)
			}
			dir, err := app.Directory(cfg)
			if err != nil {
				fmt.Fprintf(c.stdout, "groups: INVALID\n%v\n", err)
				return errors.New("the groups are invalid")
			}
			c.printSharedMembers(dir)
			log := slog.New(slog.DiscardHandler)
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			failed := false
			report := func(what string, err error) {
				if err != nil {
					failed = true
					fmt.Fprintf(c.stdout, "%s: FAILED: %v\n", what, err)
					return
				}
				fmt.Fprintf(c.stdout, "%s: ok\n", what)
			}
			report("data_dir "+cfg.DataDir, app.CheckDataDir(cfg))
			report("templates ("+cmp.Or(cfg.Templates.Dir, "embedded")+", "+cfg.Ticket.Lang+")", app.CheckTemplates(cfg))
			p, err := app.NewPoller(cfg, log, app.NewToken("imap", cfg.IMAP.OAuth))
			if err == nil {
				err = p.Check(ctx)
			}
			report(fmt.Sprintf("imap %s:%d (%s, mailbox %s)", cfg.IMAP.Host, cfg.IMAP.Port, cfg.IMAP.TLS, cfg.IMAP.Mailbox), err)
			if err == nil {
				fsr, err := app.FirstStart(ctx, cfg, p)
				switch {
				case err != nil:
					report("first start", err)
				case fsr.Pending:
					fmt.Fprintf(c.stdout, "first start: not yet; it will take %d of the %d mails in %s (imap.first_start: %s)\n",
						fsr.Take, fsr.Total, cfg.IMAP.Mailbox, cfg.IMAP.FirstStart)
				default:
					fmt.Fprintf(c.stdout, "first start: done (mailbox read up to uid %d); imap.first_start no longer applies\n", fsr.Checkpoint.UID)
				}
			}
			s, err := app.NewSender(cfg, log, app.NewToken("smtp", cfg.SMTP.OAuth))
			if err == nil {
				err = s.Check(ctx)
				s.Close()
			}
			report(fmt.Sprintf("smtp %s:%d (%s)", cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS), err)
			if tf := cfg.AdminTokenFile(); cfg.Admin.Listen != "" {
				if _, err := os.Lstat(tf); errors.Is(err, os.ErrNotExist) {
					fmt.Fprintf(c.stdout, "admin token %s: none yet (the daemon creates it at its first start)\n", tf)
				} else {
					_, err := admin.ReadToken(tf)
					report("admin token "+tf, err)
				}
			}
			if failed {
				return errors.New("check failed")
			}
			return nil
		},
	}
}

// printSharedMembers notes each address that is in more than one group:
// allowed, and it acts in each of them (at every level it is in).
func (c *cli) printSharedMembers(dir *ticket.Directory) {
	seen := map[string]bool{}
	for _, g := range dir.Groups() {
		for _, m := range g.Members {
			names := dir.GroupsOf(m)
			if len(names) < 2 || seen[m] {
				continue
			}
			seen[m] = true
			var in []string
			for _, n := range names {
				if og, ok := dir.Group(n); ok {
					in = append(in, fmt.Sprintf("%s (level %d)", n, og.Level))
				}
			}
			fmt.Fprintf(c.stdout, "note: %s is in groups %s: it acts as a member of each\n", m, strings.Join(in, ", "))
		}
	}
}

func (c *cli) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the store, also while the daemon runs",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withBackend(cmd.Context(), func(b admin.Backend) error {
				tmp := args[0] + ".partial"
				f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
				if err != nil {
					return fmt.Errorf("create backup: %w", err)
				}
				n, err := b.Backup(cmd.Context(), f)
				if err == nil {
					err = f.Sync()
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err == nil {
					err = os.Rename(tmp, args[0])
				}
				if err != nil {
					os.Remove(tmp)
					return err
				}
				fmt.Fprintf(c.stdout, "backup written to %s (%d bytes)\n", args[0], n)
				return nil
			})
		},
	}
}

func (c *cli) quarantineCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "quarantine", Short: "Mails that did not become a ticket change: list, show, retry, raw"}
	var asJSON, all bool
	list := &cobra.Command{
		Use:   "list [--all]",
		Short: "List quarantined mails (--all: every mail that did not become a ticket change, with why)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withBackend(cmd.Context(), func(b admin.Backend) error {
				if all {
					return c.listAside(cmd.Context(), b, asJSON)
				}
				qs, err := b.Quarantine(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(c.stdout, qs)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tRECEIVED\tMESSAGE-ID\tREASON")
				for _, q := range qs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", q.ID, q.ReceivedAt.In(c.location()).Format(view.DateTime), q.MessageID, view.Clip(q.Reason, 80))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	list.Flags().BoolVar(&all, "all", false, "also the mails set aside: automatic mail and bounces about no ticket, unreadable mail, duplicates")
	show := c.quarantineOne("show ID", "Show a quarantined mail", func(ctx context.Context, b admin.Backend, id uint64) error {
		d, err := b.QuarantineShow(ctx, id)
		if err != nil {
			return err
		}
		return writeJSON(c.stdout, d)
	})
	retry := c.quarantineOne("retry ID", "Process a quarantined mail again (after a fix)", func(ctx context.Context, b admin.Backend, id uint64) error {
		res, err := b.QuarantineRetry(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "quarantined mail %d processed: %s %s\n", id, res.Outcome, res.ID)
		return nil
	})
	cmd.AddCommand(list, show, retry, c.rawCmd())
	return cmd
}

// listAside prints every mail that did not become a ticket change.
func (c *cli) listAside(ctx context.Context, b admin.Backend, asJSON bool) error {
	list, err := b.Aside(ctx)
	if err != nil || asJSON {
		return cmp.Or(err, writeJSON(c.stdout, list))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tAT\tFROM\tSUBJECT\tREASON\tRAW SHA-256")
	for _, a := range list {
		id := "-"
		if a.ID != 0 {
			id = strconv.FormatUint(a.ID, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Kind, id, a.At.In(c.location()).Format(view.DateTime), view.Dash(a.From),
			view.Dash(view.Clip(a.Subject, 40)), view.Clip(a.Reason, 60), a.RawSHA256)
	}
	return tw.Flush()
}

// rawCmd prints or saves the raw mail of a mail that did not become a
// ticket change, named by its SHA-256 as `quarantine list --all` shows it.
func (c *cli) rawCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "raw SHA256 [--output FILE]",
		Short: "Print (or save) the raw mail of a mail listed by list --all",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withBackend(cmd.Context(), func(b admin.Backend) error {
				rc, err := b.OpenRaw(cmd.Context(), strings.ToLower(strings.TrimSpace(args[0])))
				if err != nil {
					return notFound(err, "raw mail", args[0])
				}
				defer rc.Close()
				if output == "" {
					_, err = io.Copy(c.stdout, rc)
					return err
				}
				f, err := os.OpenFile(output, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("save raw mail: %w", err)
				}
				n, err := io.Copy(f, rc)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(output)
					return fmt.Errorf("save raw mail to %s: %w", output, err)
				}
				fmt.Fprintf(c.stdout, "raw mail written to %s (%d bytes)\n", output, n)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the mail to this new file instead of standard output")
	return cmd
}

func (c *cli) verifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check that no ticket's history was changed or cut behind ticketd's back",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withBackend(cmd.Context(), func(b admin.Backend) error {
				rep, err := b.Verify(cmd.Context())
				if err != nil {
					return err
				}
				for _, bad := range rep.Bad {
					fmt.Fprintf(c.stdout, "%s: %s\n", bad.ID, bad.Error)
				}
				fmt.Fprintf(c.stdout, "%d tickets checked, %d with a history that does not verify\n", rep.Checked, len(rep.Bad))
				if len(rep.Bad) > 0 {
					return errors.New("the register does not verify")
				}
				return nil
			})
		},
	}
}

// withBackend runs fn on how the commands reach the tickets (the running
// daemon's API, or the store opened directly) and releases it.
func (c *cli) withBackend(ctx context.Context, fn func(admin.Backend) error) error {
	b, done, err := c.backend(ctx)
	if err != nil {
		return err
	}
	defer done()
	return fn(b)
}

// quarantineOne is a quarantine subcommand that acts on one record, named
// by its number.
func (c *cli) quarantineOne(use, short string, fn func(ctx context.Context, b admin.Backend, id uint64) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usageError(fmt.Errorf("quarantine id %q is not a number", args[0]))
			}
			return c.withBackend(cmd.Context(), func(b admin.Backend) error {
				return notFound(fn(cmd.Context(), b, id), "quarantined mail", args[0])
			})
		},
	}
}

// location is the zone dates are printed in: ticket.timezone, or the
// machine's.
func (c *cli) location() *time.Location {
	if c.loc == nil {
		return time.Local
	}
	return c.loc
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

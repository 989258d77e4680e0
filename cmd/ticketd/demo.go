package main

import (
	"github.com/spf13/cobra"

	"github.com/ticketd/ticketd/internal/demo"
)

// demoCmd is `ticketd demo`: the real daemon on an embedded mail system.
func (c *cli) demoCmd() *cobra.Command {
	o := demo.DefaultOptions()
	o.Stdout, o.Stderr, o.Version = c.stdout, c.stderr, version
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play the whole procedure on an embedded mail system",
		Long: `Demo starts an in-memory IMAP server and an SMTP server on loopback ports,
runs the real daemon against them, and plays one case through the whole
support procedure with real mail: a user reports a problem, the service desk
classifies and escalates it, a specialist escalates it to a provider, the
provider resolves it, the user reopens it, the desk resolves and closes it.
It prints every mail and every change of the ticket as a timeline.

Then it stays up so that you can write your own mails to it (with swaks,
or any mail program) and read every notification over IMAP, until Ctrl-C.
Nothing needs to be installed; everything lives in a temporary folder that
is removed at exit unless --keep.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.IMAPAddr, "imap-addr", o.IMAPAddr, "where the IMAP server listens (port 0: any free port)")
	f.StringVar(&o.SMTPAddr, "smtp-addr", o.SMTPAddr, "where the SMTP server listens (port 0: any free port)")
	f.StringVar(&o.AdminAddr, "admin-addr", o.AdminAddr, "where the daemon's admin API listens (port 0: any free port)")
	f.StringVar(&o.WebAddr, "web-addr", o.WebAddr, "where the daemon's web console listens (port 0: any free port)")
	f.StringVar(&o.Dir, "dir", "", "folder for the data, the generated config and the log (kept at exit); default a new temporary folder")
	f.BoolVar(&o.Keep, "keep", false, "keep the temporary folder at exit")
	f.BoolVar(&o.ScriptOnly, "script-only", false, "play the scripted case and exit (non-zero if a step does not happen in time)")
	f.BoolVar(&o.ScriptOnly, "no-wait", false, "same as --script-only")
	f.BoolVar(&o.Verbose, "verbose", false, "write the daemon's log to standard error instead of the log file")
	f.DurationVar(&o.StepTimeout, "step-timeout", o.StepTimeout, "how long each step of the script may take")
	f.DurationVar(&o.Pause, "pause", o.Pause, "pause between the steps of the script, to watch them one by one")
	f.DurationVar(&o.PollInterval, "poll-interval", o.PollInterval, "the daemon's imap.poll_interval (it also uses IDLE)")
	return cmd
}

// Command ticketd runs the OTI service desk's support procedure by mail: it
// turns every request sent to the support mailbox into a ticket, threads
// replies, applies the commands agents write, and tells everyone concerned.
// Its subcommands let the desk list, show and open tickets, check the
// configuration, back up the store and verify the register.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// version is stamped by `make build` (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ticketd:", err)
		if exitCode(err) == exitUsage {
			fmt.Fprintln(os.Stderr, "Run 'ticketd --help' for usage.")
		}
	}
	os.Exit(exitCode(err))
}

// run executes the command line args; it is main without the process
// around it, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// cli holds what every subcommand shares.
type cli struct {
	configPath string
	stdout     io.Writer
	stderr     io.Writer
	// loc is the zone of ticket.timezone dates are printed in, set when
	// the configuration is loaded; nil means the machine's.
	loc *time.Location
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	c := &cli{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "ticketd",
		Short:         "Email-driven service desk for the OTI support procedure",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&c.configPath, "config", "c", os.Getenv("TICKETD_CONFIG"),
		"configuration file (default $TICKETD_CONFIG)")
	root.AddCommand(
		c.runCmd(), c.demoCmd(), c.ticketsCmd(), c.showCmd(), c.openCmd(), c.checkCmd(),
		c.backupCmd(), c.quarantineCmd(), c.verifyCmd(), c.reportCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  args(cobra.NoArgs),
			Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "ticketd", version) },
		},
	)
	return root
}

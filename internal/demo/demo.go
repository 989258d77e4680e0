// Package demo is `ticketd demo`: the real daemon (internal/app) on the
// embedded mail system of internal/devmail, with a scripted case played
// through the whole support procedure by people who send real mail over
// SMTP and read their INBOX over IMAP, printed as a timeline. Its people,
// their mail client and the daemon configuration it generates are exported
// for the command line's tests. It is a demonstration, not a test harness
// of the daemon: nothing in the daemon knows it runs in a demo.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/view"
	"github.com/ticketd/ticketd/ticket"
)

// Password is the password of every mailbox of the demo.
const Password = "demo"

// Options are the settings of [Run]: the flags of `ticketd demo`.
type Options struct {
	// IMAPAddr, SMTPAddr, AdminAddr and WebAddr are where the servers and
	// the web console listen (port 0: any free port).
	IMAPAddr, SMTPAddr, AdminAddr, WebAddr string
	// Dir is the folder for the data, the generated config and the log,
	// kept at exit; "" means a new temporary folder.
	Dir string
	// Keep keeps the temporary folder at exit.
	Keep bool
	// ScriptOnly plays the scripted case and returns.
	ScriptOnly bool
	// Verbose writes the daemon's log to Stderr instead of the log file.
	Verbose bool
	// StepTimeout is how long each step of the script may take.
	StepTimeout time.Duration
	// Pause is the pause between the steps of the script.
	Pause time.Duration
	// PollInterval is the daemon's imap.poll_interval.
	PollInterval time.Duration
	// Stdout gets the timeline; Stderr the log when Verbose.
	Stdout, Stderr io.Writer
	// Version is the daemon's version, for its log.
	Version string
}

// DefaultOptions returns the defaults of `ticketd demo`'s flags: every
// server on a free loopback port, 20 s per step, a 2 s poll interval.
func DefaultOptions() Options {
	return Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", WebAddr: "127.0.0.1:0",
		StepTimeout: 20 * time.Second, PollInterval: 2 * time.Second, Stdout: io.Discard, Stderr: io.Discard}
}

// Run runs `ticketd demo`: mail system, daemon, script, then (unless
// ScriptOnly) serves until ctx ends. Everything it started is stopped, and
// the temporary folder removed, before it returns.
func Run(ctx context.Context, o Options) (err error) {
	tl := &timeline{w: o.Stdout}

	dir, keep := o.Dir, o.Keep || o.Dir != ""
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ticketd-demo-"); err != nil {
			return err
		}
	} else if err = emptyDir(dir); err != nil {
		return err
	}
	defer func() {
		if keep {
			tl.printf("\nThe demo's folder is kept: %s\n", dir)
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()

	logOut := o.Stderr
	if !o.Verbose {
		f, err := os.OpenFile(filepath.Join(dir, "ticketd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		logOut = f
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))

	users := make([]string, len(People))
	for i, p := range People {
		users[i] = p.Addr
	}
	ms, err := devmail.Start(devmail.Options{IMAPAddr: o.IMAPAddr, SMTPAddr: o.SMTPAddr, Domain: Domain, AuthservID: Domain, Users: users,
		Password: Password, OnDeliver: func(d devmail.Delivery) { tl.mail(decodeDeliveries([]devmail.Delivery{d})[0]) }, Logger: log})
	if err != nil {
		return err
	}
	defer ms.Close()

	adminAddr, err := FreeAddr(o.AdminAddr)
	if err != nil {
		return err
	}
	webAddr, err := FreeAddr(o.WebAddr)
	if err != nil {
		return err
	}
	cfg, err := DaemonConfig(dir, ms.IMAPAddr(), ms.SMTPAddr(), adminAddr, o.PollInterval)
	if err != nil {
		return err
	}
	if cfg, err = withConsole(cfg, webAddr); err != nil {
		return err
	}
	if err := WriteConfig(cfg); err != nil {
		return err
	}
	// The admin token in the data directory, found there by the daemon,
	// the demo's own client and `ticketd tickets --config`.
	token, _, err := admin.LoadOrCreateToken(cfg.AdminTokenFile())
	if err != nil {
		return err
	}

	d, err := app.Build(cfg, app.Options{Version: o.Version, Logger: log})
	if err != nil {
		return err
	}
	daemonCtx, stopDaemon := context.WithCancelCause(ctx)
	daemonDone := make(chan error, 1)
	go func() {
		err := d.Run(daemonCtx)
		if err == nil {
			err = errors.New("the daemon stopped")
		}
		stopDaemon(fmt.Errorf("the daemon stopped: %w", err))
		daemonDone <- err
	}()
	defer func() {
		stopDaemon(context.Canceled)
		<-daemonDone
	}()

	tl.printf("ticketd demo: the real daemon on an embedded mail system (log: %s)\n\n", logPlace(o.Verbose, dir))
	tl.locked(func(w io.Writer) { printDemoSetup(w, ms, cfg) })

	adm := admin.NewClient(adminAddr, token)
	if err := WaitReady(daemonCtx, adm, o.StepTimeout); err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C while starting
		}
		return fmt.Errorf("start: %w", err)
	}
	if err := WaitConsole(daemonCtx, cfg.Web.BaseURL, o.StepTimeout); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	tl.printf("\nThe scripted case (mails in Spanish, as people write them):\n\n")
	s := &demoScript{tl: tl, ms: ms, adm: adm, imapAddr: ms.IMAPAddr(), smtpAddr: ms.SMTPAddr(), password: Password,
		stepTimeout: o.StepTimeout, pause: o.Pause}
	started := time.Now()
	if err := s.play(daemonCtx); err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C during the script
		}
		return fmt.Errorf("demo failed at %w", err)
	}
	tl.printf("\nThe script took %s. The ticket as `ticketd show %s` prints it:\n\n", time.Since(started).Round(time.Millisecond), s.id)
	t, err := adm.Ticket(daemonCtx, s.id)
	if err != nil {
		return err
	}
	tl.locked(func(w io.Writer) { view.Ticket(w, t, nil) })
	if err := printMailboxes(daemonCtx, tl, ms.IMAPAddr()); err != nil {
		return err
	}
	if o.ScriptOnly {
		tl.printf("\nDemo complete: ticket %s is %s.\n", t.ID, t.State)
		return nil
	}

	var console strings.Builder
	if err := printConsole(daemonCtx, &console, cfg, ms.IMAPAddr(), s.id, o.StepTimeout); err != nil {
		return err
	}
	tl.locked(func(w io.Writer) { printTryIt(w, ms, cfg, s.id, console.String(), keep, dir) })
	watchTickets(daemonCtx, tl, adm, map[ticket.ID]int{s.id: s.printed})
	if err := context.Cause(daemonCtx); ctx.Err() == nil && err != nil {
		return err // the daemon died under us
	}
	tl.printf("\nStopping the demo.\n")
	return nil
}

// emptyDir makes sure dir exists and is empty: the demo's mail system
// starts empty each time, and a store left by an earlier run would hold an
// IMAP checkpoint past every new mail.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(es) > 0 {
		return fmt.Errorf("--dir %s is not empty: the demo needs a new or empty folder", dir)
	}
	return nil
}

func logPlace(verbose bool, dir string) string {
	if verbose {
		return "standard error"
	}
	return filepath.Join(dir, "ticketd.log")
}

// FreeAddr returns addr with a port 0 replaced by a free port. The port is
// only reserved while we look: admin.Listen opens it again a moment later.
func FreeAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// DaemonConfig is the daemon's configuration for the embedded mail system:
// the defaults, plus the servers, the groups of the demo's people and a
// short poll interval.
func DaemonConfig(dir, imapAddr, smtpAddr, adminAddr string, poll time.Duration) (config.Config, error) {
	cfg := config.Default()
	cfg.File = filepath.Join(dir, "ticketd.yaml")
	cfg.DataDir = filepath.Join(dir, "data")
	var err error
	if cfg.IMAP.Host, cfg.IMAP.Port, err = splitHostPort(imapAddr); err != nil {
		return cfg, err
	}
	cfg.IMAP.TLS = config.TLSNone
	cfg.IMAP.AllowInsecure = !isLoopbackHost(cfg.IMAP.Host)
	cfg.IMAP.Username = Desk.Addr
	cfg.IMAP.Password = config.Secret(Password)
	cfg.IMAP.PollInterval = poll
	if cfg.SMTP.Host, cfg.SMTP.Port, err = splitHostPort(smtpAddr); err != nil {
		return cfg, err
	}
	cfg.SMTP.TLS = config.TLSNone
	cfg.SMTP.AllowInsecure = !isLoopbackHost(cfg.SMTP.Host)
	cfg.SMTP.From = Desk.String()
	cfg.Outbox.RetryMin = time.Second
	cfg.Outbox.RetryMax = 10 * time.Second
	cfg.Admin.Listen = adminAddr
	// Real evidence, not none: the embedded SMTP server records who logged
	// in (auth=pass smtp.auth=…) under its authserv-id, the domain.
	cfg.Security.AuthservID = []string{Domain}
	cfg.Security.CommandAuth = []string{config.EvidenceDMARC, config.EvidenceDKIM, config.EvidenceAuth}
	kinds := map[string]string{"mesa": config.KindDesk, "redes": config.KindSpecialist, "sitio": config.KindOnSite, "proveedor": config.KindProvider}
	levels := map[string]int{"mesa": 1, "redes": 2, "sitio": 2, "proveedor": 3}
	cfg.Groups = map[string]config.GroupConfig{}
	for _, p := range People {
		if p.Group == "" {
			continue
		}
		g := cfg.Groups[p.Group]
		g.Level, g.Kind, g.Default = levels[p.Group], kinds[p.Group], p.Group != "sitio"
		g.Members = append(g.Members, p.String())
		cfg.Groups[p.Group] = g
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("the demo's configuration:\n%w", err)
	}
	return cfg, nil
}

// splitHostPort splits a listening address into the host and port the
// daemon dials: a wildcard host (0.0.0.0, ::) is reached on loopback.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	port, err := strconv.Atoi(p)
	return host, port, err
}

// WriteConfig writes cfg as the YAML file cfg.File, so that the other
// commands (`ticketd tickets --config FILE`) reach the demo's daemon.
func WriteConfig(cfg config.Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `ticketd demo` for its embedded mail system.\n")
	fmt.Fprintf(&b, "data_dir: %q\n", cfg.DataDir)
	fmt.Fprintf(&b, "imap:\n  host: %q\n  port: %d\n  tls: %s\n  username: %q\n  password: %q\n  mailbox: %q\n  poll_interval: %s\n",
		cfg.IMAP.Host, cfg.IMAP.Port, cfg.IMAP.TLS, cfg.IMAP.Username, cfg.IMAP.Password.Reveal(), cfg.IMAP.Mailbox, cfg.IMAP.PollInterval)
	fmt.Fprintf(&b, "smtp:\n  host: %q\n  port: %d\n  tls: %s\n  from: %q\n", cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS, cfg.SMTP.From)
	fmt.Fprintf(&b, "outbox:\n  retry_min: %s\n  retry_max: %s\n", cfg.Outbox.RetryMin, cfg.Outbox.RetryMax)
	fmt.Fprintf(&b, "admin:\n  listen: %q\n", cfg.Admin.Listen)
	if cfg.Web.Enabled() {
		fmt.Fprintf(&b, "web:\n  listen: %q\n  base_url: %q\n", cfg.Web.Listen, cfg.Web.BaseURL)
	}
	ids := make([]string, len(cfg.Security.AuthservID))
	for i, id := range cfg.Security.AuthservID {
		ids[i] = strconv.Quote(id)
	}
	fmt.Fprintf(&b, "security:\n  command_auth: [%s]\n  authserv_id: [%s]\n", strings.Join(cfg.Security.CommandAuth, ", "), strings.Join(ids, ", "))
	b.WriteString("groups:\n")
	for _, name := range sortedKeys(cfg.Groups) {
		g := cfg.Groups[name]
		fmt.Fprintf(&b, "  %s:\n    level: %d\n    kind: %s\n    default: %t\n    members:\n", name, g.Level, g.Kind, g.Default)
		for _, m := range g.Members {
			fmt.Fprintf(&b, "      - %q\n", m)
		}
	}
	// 0600: the file holds the mailbox password.
	return os.WriteFile(cfg.File, []byte(b.String()), 0o600)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// WaitReady waits until the daemon's admin API answers and its poller is
// connected to the mailbox.
func WaitReady(ctx context.Context, adm *admin.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	last := "the admin API does not answer"
	for {
		if h, err := adm.Health(ctx); err == nil {
			if h.Connected || !h.LastFetch.IsZero() {
				return nil
			}
			last = "the daemon is not connected to the mailbox: " + h.Reason
		}
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
				return cause
			}
			return fmt.Errorf("the daemon was not ready within %s: %s", timeout, last)
		case <-t.C:
		}
	}
}

// printDemoSetup prints the servers and the people.
func printDemoSetup(w io.Writer, ms *devmail.System, cfg config.Config) {
	fmt.Fprintf(w, "  IMAP server  %s   (in memory, IMAP4rev1 + IDLE, plain text)\n", ms.IMAPAddr())
	fmt.Fprintf(w, "  SMTP server  %s   (delivers to the INBOX of every local recipient, 550 for others)\n", ms.SMTPAddr())
	fmt.Fprintf(w, "  admin API    %s\n", cfg.Admin.Listen)
	if cfg.Web.Enabled() {
		fmt.Fprintf(w, "  web console  %s/   (sign in as a staff member by a link mailed to them: see below)\n", cfg.Web.BaseURL)
	}
	fmt.Fprintf(w, "  config       %s\n  data         %s\n\n", cfg.File, cfg.DataDir)
	fmt.Fprintf(w, "  Mailboxes (IMAP login = the address, password %q):\n", Password)
	for _, p := range People {
		group := ""
		if p.Group != "" {
			group = "group " + p.Group
		}
		fmt.Fprintf(w, "    %-60s %-34s %s\n", p.String(), p.Role, group)
	}
}

// printMailboxes reads every person's INBOX over IMAP and lists what is in
// it: the mail each one received during the script.
func printMailboxes(ctx context.Context, tl *timeline, imapAddr string) error {
	var b strings.Builder
	b.WriteString("\nWhat each mailbox holds (read over IMAP):\n")
	for _, p := range People {
		ms, err := ReadInbox(ctx, imapAddr, p.Addr, Password)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n  %s: %d mails\n", p.Addr, len(ms))
		for _, m := range ms {
			fmt.Fprintf(&b, "    - %s\n", m.Subject)
		}
	}
	// One block: a mail delivered meanwhile prints before or after it.
	tl.printf("%s", b.String())
	return nil
}

// printTryIt tells the operator how to write their own mail to the demo,
// how to read the notifications and, with console, how to sign in to the
// web console.
func printTryIt(w io.Writer, ms *devmail.System, cfg config.Config, id ticket.ID, console string, keep bool, dir string) {
	host, port, _ := net.SplitHostPort(ms.SMTPAddr())
	exe := "ticketd"
	fmt.Fprintf(w, `
The demo keeps running. Try it yourself:

  Write a request as Laura (or as anyone with a mailbox here) to the SMTP server %s:
    swaks --server %s --port %s --from %s --to %s \
      --header "Subject: La impresora del piso 2 no imprime" --body "Sale una hoja en blanco."
  Answer a notification keeping [OTI-…] in the subject; staff write commands such as
    #clasificar impresoras media / #escalar nivel2 sitio / #resolver ... / #cerrar
  (Python works too: smtplib.SMTP(%q, %s).send_message(msg).)

  Read every notification over IMAP at %s, without TLS, login = the address, password %q,
  e.g. with curl:  curl -s --url "imap://%s/INBOX;UID=1" --user %s:%s
  or point Thunderbird or mutt at it (mutt -f imap://%s@%s/INBOX).

  The other commands work against this daemon (after make demo the binary is ./bin/ticketd):
    %s tickets --config %s
    %s show %s --config %s
%s
Press Ctrl-C to stop: the daemon stops, the servers close`, ms.SMTPAddr(), host, port, Requester.Addr, Desk.Addr,
		host, port, ms.IMAPAddr(), Password, ms.IMAPAddr(), Requester.Addr, Password,
		strings.ReplaceAll(Requester.Addr, "@", "%40"), ms.IMAPAddr(),
		exe, cfg.File, exe, id, cfg.File, console)
	if keep {
		fmt.Fprintf(w, " and %s is kept.\n\n", dir)
	} else {
		fmt.Fprintf(w, " and %s is removed.\n\n", dir)
	}
}

// watchTickets prints every new history entry of every ticket until ctx
// ends; printed says how many entries of each ticket are already shown.
func watchTickets(ctx context.Context, tl *timeline, adm *admin.Client, printed map[ticket.ID]int) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ts, err := adm.Tickets(ctx, ticket.Filter{})
		if err != nil {
			continue
		}
		for _, sum := range ts {
			full, err := adm.Ticket(ctx, sum.ID)
			if err != nil || len(full.History) <= printed[sum.ID] {
				continue
			}
			for _, e := range full.History[printed[sum.ID]:] {
				tl.change(full.ID, e)
			}
			printed[sum.ID] = len(full.History)
		}
	}
}

// isLoopbackHost reports whether host is a loopback address or localhost:
// only the operator's explicit --imap-addr or --smtp-addr on another
// address makes the daemon talk in clear text beyond this machine.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

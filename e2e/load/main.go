// Command load is ticketd's macro benchmark (issue 13). It drives the
// built ticketd binary against the real Dovecot and Postfix of the e2e
// stack (e2e/stack.sh up DIR) and measures, each over -runs runs:
//
//  1. backlog drain: -n new requests already in the INBOX (delivered to
//     Dovecot by LMTP) when ticketd starts: time until every ticket is
//     committed and until every notification is accepted by Postfix,
//     against Postfix alone accepting as many mails over one connection,
//     with how busy the machine's cores were in each and ticketd's CPU;
//  2. arrival latency: -arrivals mails at -rate a second through Postfix
//     while ticketd idles on IDLE, from Postfix's accept to the commit
//     (ticketd's log), and a bare IDLE client's time to see each; then
//     -during mails at -rate from the start of a daemon with a second
//     backlog of -n waiting, told apart by whether they arrived behind the
//     backlog or while its notifications went out;
//  3. big mailbox: CPU per idle poll and per new mail with -big-sizes old
//     (read, below the checkpoint) mails in the INBOX;
//  4. memory: peak and steady RSS while draining (steady also as its
//     anonymous and file-mapped parts); peak while taking one
//     25 MiB attachment;
//  5. store scale: -store tickets written with the store package: opening
//     the store, listing open level-2 tickets, showing one ticket;
//  6. idle CPU over -idle.
//
// It prints a table (median, min, max of each figure) and writes every
// value to -json. Run it as root (it writes into Dovecot's Maildir and
// resets /proc/PID/clear_refs); e2e/bench.sh sets the stack up around it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
}

// figures collects every measured value by name.
type figures struct {
	order   []string
	unit    map[string]string
	target  map[string]string
	values  map[string][]float64
	started time.Time
}

func newFigures() *figures {
	return &figures{unit: map[string]string{}, target: map[string]string{}, values: map[string][]float64{}, started: time.Now()}
}

func (f *figures) add(name, unit string, v float64, target string) {
	if _, ok := f.values[name]; !ok {
		f.order = append(f.order, name)
	}
	f.unit[name], f.target[name] = unit, target
	f.values[name] = append(f.values[name], v)
}

// figure is one line of the table and the JSON.
type figure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Runs   int       `json:"runs"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
	Target string    `json:"target,omitempty"`
}

func (f *figures) list() []figure {
	var out []figure
	for _, n := range f.order {
		v := slices.Clone(f.values[n])
		slices.Sort(v)
		out = append(out, figure{Name: n, Unit: f.unit[n], Runs: len(v), Median: (v[(len(v)-1)/2] + v[len(v)/2]) / 2, Min: v[0], Max: v[len(v)-1], Values: f.values[n], Target: f.target[n]})
	}
	return out
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runMain(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// options are the tool's flags.
type options struct {
	stackDir, bin, out, only, bigSizes  string
	runs, n, arrivals, during, newMails int
	tickets                             int
	rate                                float64
	idle, window                        time.Duration
	sizes                               []int
	keep                                bool
}

func runMain(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&o.stackDir, "stack", os.Getenv("E2E_DIR"), "directory of the e2e stack (e2e/stack.sh up DIR)")
	fs.StringVar(&o.bin, "ticketd", "bin/ticketd", "the ticketd binary")
	fs.StringVar(&o.out, "json", "bench.json", "file the figures are written to")
	fs.IntVar(&o.runs, "runs", 3, "runs of the drain, arrival and idle scenarios (and of the store timings)")
	fs.IntVar(&o.n, "n", 5000, "requests waiting in the INBOX for the backlog drain")
	fs.IntVar(&o.arrivals, "arrivals", 500, "mails sent while ticketd idles")
	fs.IntVar(&o.during, "during", 400, "mails sent from the start of a daemon with a backlog waiting (0 skips it)")
	fs.Float64Var(&o.rate, "rate", 20, "arrivals a second")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "how long the idle daemon's CPU is measured")
	fs.StringVar(&o.bigSizes, "big-sizes", "1000,100000", "old mails in the INBOX for the big-mailbox scenario, comma-separated")
	fs.DurationVar(&o.window, "big-window", 30*time.Second, "how long idle polls are measured in each big mailbox")
	fs.IntVar(&o.newMails, "big-new", 50, "new mails measured in each big mailbox")
	fs.IntVar(&o.tickets, "store", 1000000, "tickets in the store-scale scenario (0 skips it)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (each daemon's data and log) under -stack")
	fs.StringVar(&o.only, "only", "", "run only these scenarios, comma-separated: drain (1, 2, 4, 6), big (3, 4), store (5)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(o.bigSizes, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 {
			return fmt.Errorf("-big-sizes %q: want counts", o.bigSizes)
		}
		o.sizes = append(o.sizes, v)
	}
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	work, err := os.MkdirTemp(o.stackDir, "load-")
	if err != nil {
		return err
	}
	figs := newFigures()
	err = scenarios(ctx, o, work, figs)
	if o.keep {
		logf("work directory kept (daemon logs and data): %s", work)
	} else if rerr := os.RemoveAll(work); rerr != nil {
		logf("remove %s: %v", work, rerr)
	}
	// What was measured before a failure is reported all the same.
	if rerr := report(figs, o.out); err == nil {
		err = rerr
	}
	return err
}

// scenarios runs what -only selects.
func scenarios(ctx context.Context, o options, work string, figs *figures) error {
	want := func(s string) bool { return o.only == "" || slices.Contains(strings.Split(o.only, ","), s) }
	if want("drain") || want("big") {
		st, err := readStack(o.stackDir)
		if err != nil {
			return err
		}
		for i := range o.runs {
			r := &run{ctx: ctx, st: st, bin: o.bin, dir: filepath.Join(work, fmt.Sprint(i)), tag: fmt.Sprintf("ld%d%d", time.Now().Unix()%100000, i), figs: figs}
			if err := os.MkdirAll(r.dir, 0o700); err != nil {
				return err
			}
			if err := r.addUsers(len(o.sizes)); err != nil {
				return err
			}
			if want("drain") {
				logf("run %d of %d: backlog of %d, %d arrivals, idle %v", i+1, o.runs, o.n, o.arrivals, o.idle)
				if err := r.drainAndArrive(o.n, o.arrivals, o.during, o.rate, o.idle); err != nil {
					return fmt.Errorf("run %d: %w", i+1, err)
				}
			}
			// The big mailboxes are filled once: they take minutes.
			if want("big") && i == 0 {
				logf("big mailboxes of %v old mails", o.sizes)
				if err := r.bigMailbox(o.sizes, o.window, o.newMails, true); err != nil {
					return fmt.Errorf("big mailbox: %w", err)
				}
			}
		}
	}
	if want("store") && o.tickets > 0 {
		if err := storeScale(ctx, work, o.tickets, o.runs, figs); err != nil {
			return fmt.Errorf("store scale: %w", err)
		}
	}
	return nil
}

func report(figs *figures, out string) error {
	list := figs.list()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tunit\truns\tmedian\tmin\tmax\ttarget")
	for _, f := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.4g\t%.4g\t%.4g\t%s\n", f.Name, f.Unit, f.Runs, f.Median, f.Min, f.Max, f.Target)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	doc := struct {
		Started string   `json:"started"`
		Host    string   `json:"host"`
		LoadAvg string   `json:"loadavg_at_end"`
		Figures []figure `json:"figures"`
	}{figs.started.UTC().Format(time.RFC3339), host, strings.TrimSpace(string(load)), list}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	fmt.Printf("load average at the end: %s; figures written to %s\n", doc.LoadAvg, out)
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/outbox"
	"github.com/ticketd/ticketd/ticket"

	"github.com/ticketd/ticketd/internal/store/storetest"
)

// crashEnv names the store file the helper process writes to; unset, the
// helper is skipped.
const crashEnv = "TICKETD_STORE_CRASH_CHILD"

// TestHelperProcess is not a test: TestCrashLosesNoCommittedTicket runs the
// test binary again with only this function selected, and it commits new
// tickets as fast as it can, printing each ID once its transaction has
// returned, until it is killed (or gives up after 30s).
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process of TestCrashLosesNoCommittedTicket")
	}
	db, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	desk := storetest.Desk(t)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		var id ticket.ID
		err := db.Update(context.Background(), func(tx *Tx) error {
			var err error
			if id, err = tx.NextID("OTI", storetest.T0); err != nil {
				return err
			}
			o := desk.Open(id, ticket.Inbound{
				Sender:    ticket.Trusted("test"),
				MessageID: fmt.Sprintf("<crash-%d@example.org>", i),
				From:      ticket.Address{Addr: storetest.Requester},
				Subject:   "Caso de la prueba de caída",
				Text:      "Texto del caso.",
			}, "", storetest.T0)
			if err := tx.PutTicket(o.Ticket); err != nil {
				return err
			}
			_, err = tx.Enqueue(storetest.Owe(o.Notices), storetest.T0)
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// One write per line, unbuffered: what the parent reads is committed.
		fmt.Fprintln(os.Stdout, id)
	}
	os.Exit(3)
}

func TestCrashLosesNoCommittedTicket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel() // the child's few hundred fsynced commits take seconds
	const wantAtLeast = 300
	path := t.TempDir() + "/ticketd.db"
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Signal(syscall.SIGKILL) // our child, by its pid
		}
	}
	t.Cleanup(kill)

	var committed []ticket.ID
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		id, err := ticket.ParseID("OTI", sc.Text())
		if err != nil {
			continue // the testing package's own output
		}
		committed = append(committed, id)
		if len(committed) == wantAtLeast {
			kill() // while it keeps committing
		}
	}
	// IDs read after the kill signal were committed too; the pipe ends when
	// the child is gone.
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed mid-run: %v; %d IDs reported; stderr:\n%s", err, len(committed), stderr.String())
	}

	db := openAt(t, path)
	var stored []ticket.Ticket
	var outbox []outbox.Item
	mustView(t, db, func(tx *Tx) error {
		var err error
		if stored, err = tx.List(ticket.Filter{}); err != nil {
			return err
		}
		if outbox, err = tx.Pending(); err != nil {
			return err
		}
		for _, id := range committed {
			tk, err := tx.Ticket(id)
			if err != nil {
				t.Errorf("committed ticket %s: %v", id, err)
				continue
			}
			if len(tk.History) != 1 || tk.History[0].Kind != ticket.KindOpened {
				t.Errorf("committed ticket %s has history %+v, want one opened entry", id, tk.History)
			}
		}
		return nil
	})
	t.Logf("the child reported %d commits before dying; the store holds %d tickets", len(committed), len(stored))

	for i, id := range committed {
		if want := ticket.NewID("OTI", 2026, uint64(i+1)); id != want {
			t.Fatalf("the child's commit %d was %s, want %s", i+1, id, want)
		}
	}
	// At most one transaction committed without its ID being printed.
	if n := len(stored); n < len(committed) || n > len(committed)+1 {
		t.Errorf("the store holds %d tickets, the child reported %d", n, len(committed))
	}
	got := storetest.IDs(stored)
	slices.Sort(got)
	for i, id := range got {
		if want := ticket.NewID("OTI", 2026, uint64(i+1)); id != want {
			t.Fatalf("stored ticket %d is %s, want %s: a gap or a duplicate", i+1, id, want)
		}
	}
	if n := storetest.VerifyClean(t, bk(db)); n != len(stored) {
		t.Errorf("VerifyAll checked %d tickets, want %d", n, len(stored))
	}
	// Every stored ticket owes its ack and two alerts: nothing half-written.
	if len(outbox) != 3*len(stored) {
		t.Errorf("the outbox holds %d notices for %d tickets, want %d", len(outbox), len(stored), 3*len(stored))
	}
	if got, want := storetest.NextID(t, bk(db), storetest.T0), ticket.NewID("OTI", 2026, uint64(len(stored)+1)); got != want {
		t.Errorf("NextID after the crash = %s, want %s", got, want)
	}
}

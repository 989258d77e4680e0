//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestFirstStartOldMail: ticketd's first start on a desk mailbox holding
// old mail, some of it already read by a person, opens tickets only for the
// unread mails, each opened at the time the mail arrived; the read mails
// are left as they were, and mail that arrives afterwards is taken.
func TestFirstStartOldMail(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "u1", "u2", "u3", "u4", "u5", "u6")
	d := newDaemon(t, ppl, daemonOpts{noStart: true})
	users := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	for i, u := range users {
		stk.send(t, &outMail{From: ppl.addr(u), To: d.desk, Subject: fmt.Sprintf("Antigua %d", i+1), Text: "Pedido antiguo."})
	}
	waitFor(t, 60*time.Second, "6 mails in the desk's INBOX", func() (bool, string) {
		got, err := stk.tryMailbox(d.desk, "INBOX", false)
		return len(got) == len(users), fmt.Sprintf("%d mails (%v)", len(got), err)
	})

	// A person reads the first, third and fifth in a mail program.
	c, err := stk.imapLogin(d.desk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, InternalDate: true, Envelope: true}).Collect()
	if err != nil || len(bufs) != len(users) {
		t.Fatalf("fetch: %d mails, %v", len(bufs), err)
	}
	arrived := map[string]time.Time{} // subject -> INTERNALDATE
	var read imap.UIDSet
	for _, b := range bufs {
		arrived[b.Envelope.Subject] = b.InternalDate
		switch b.Envelope.Subject {
		case "Antigua 1", "Antigua 3", "Antigua 5":
			read.AddNum(b.UID)
		}
	}
	if err := c.Store(read, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()

	time.Sleep(2 * time.Second) // so that "opened when it arrived" differs from "opened now"
	out, err := d.cli("check")
	if !strings.Contains(string(out), "it will take 3 of the 6 mails") {
		t.Errorf("check (%v) does not say the first start takes 3 of 6:\n%s", err, out)
	}
	started := time.Now()
	d.start()
	waitFor(t, 60*time.Second, "3 tickets", func() (bool, string) {
		ts, err := d.tryTickets()
		return len(ts) >= 3, fmt.Sprintf("%d tickets (%v)", len(ts), err)
	})
	stk.send(t, &outMail{From: ppl.addr("u1"), To: d.desk, Subject: "Nueva", Text: "Pedido nuevo."})
	waitFor(t, 60*time.Second, "4 tickets", func() (bool, string) {
		ts, err := d.tryTickets()
		return len(ts) >= 4, fmt.Sprintf("%d tickets (%v)", len(ts), err)
	})
	ts := d.tickets()
	got := map[string]bool{}
	for _, tk := range ts {
		got[tk.Subject] = true
		full := d.show(tk.ID)
		opened := full.History[0]
		if tk.Subject == "Nueva" {
			continue
		}
		want := arrived[tk.Subject]
		if !full.CreatedAt.Equal(want) || !opened.At.Equal(want) || !full.CreatedAt.Before(started) {
			t.Errorf("%s (%s): created %v, opened entry at %v; want the arrival %v, before the start %v",
				tk.ID, tk.Subject, full.CreatedAt, opened.At, want, started)
		}
		if rec, err := time.Parse(time.RFC3339Nano, opened.Data["recorded_at"]); err != nil || rec.Before(started) {
			t.Errorf("%s: recorded_at %q (%v), want after the start %v", tk.ID, opened.Data["recorded_at"], err, started)
		}
	}
	for _, s := range []string{"Antigua 2", "Antigua 4", "Antigua 6", "Nueva"} {
		if !got[s] {
			t.Errorf("no ticket for %q", s)
		}
	}
	for _, s := range []string{"Antigua 1", "Antigua 3", "Antigua 5"} {
		if got[s] {
			t.Errorf("a ticket for %q, which was read before the first start", s)
		}
	}
	if len(ts) != 4 {
		t.Errorf("%d tickets, want 4", len(ts))
	}
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// slaSection is a 24x7 calendar with targets of seconds: a level-1 case is
// reminded at 4 s and overdue at 8 s, a resolved one reminds the desk after
// 8 s without its closure.
const slaSection = "sla: {business_hours: 24x7, targets: {level1: 8s, level2: 1h, level3: 1h}, warn_at: 50%, close_within: 8s}"

// The subjects of the three timer notices (notify/templates/es).
const (
	warnSubject        = "Recordatorio: vence el plazo del nivel 1"
	breachSubject      = "Vencido el plazo del nivel 1"
	closeRemindSubject = "Resuelto y sin cerrar"
)

// visitJSON is a level visit of `ticketd show --json`.
type visitJSON struct {
	Level         int       `json:"level"`
	Group         string    `json:"group"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	TargetSeconds float64   `json:"target_seconds"`
	Met           bool      `json:"met"`
}

// TestServiceLevelTimers runs the service-level timers by real mail: a
// request opens a level-1 ticket; the Mesa's members get the reminder at
// half its 8 s target with no mail arriving; ticketd is killed with
// SIGKILL and started again, and the overdue notice still arrives, once,
// without the reminder again; the desk resolves the case, and with no
// closure within close_within the Mesa is reminded. Each event is one
// history entry by ticketd with its target and due time.
func TestServiceLevelTimers(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario1")
	d := newDaemon(t, ppl, daemonOpts{sla: slaSection})
	user, mesa1, mesa2 := ppl.addr("usuario1"), ppl.addr("mesa1"), ppl.addr("mesa2")
	mesa := []string{mesa1, mesa2}

	id, _ := openTicket(t, ppl, "usuario1", "No enciende el monitor", "Buenos días:\n\nEl monitor de la oficina 204 no enciende.\n\nGracias.")
	opened := d.show(id)
	if opened.Level != 1 || opened.Group != "mesa" {
		t.Fatalf("new ticket at level %d group %q, want level 1 with mesa", opened.Level, opened.Group)
	}
	openedAt := opened.History[0].At

	// The reminder, by the timers alone, to the holder (the Mesa's group).
	var warning gotMail
	for _, a := range mesa {
		warning = stk.waitMail(t, a, mailWait, "the level-1 reminder", subjectHas(id, warnSubject))
	}
	record(t, "sla reminder", "in both Mesa mailboxes %v after the ticket opened (due at 4s)", time.Since(openedAt).Round(10*time.Millisecond))
	if !strings.Contains(warning.Text, id) || warning.Auto == "" {
		t.Errorf("reminder lacks the ticket ID or Auto-Submitted:\n%s", warning.Text)
	}
	tk := d.show(id)
	checkTimerEntry(t, tk, "sla_warning", openedAt, 4*time.Second, "8s")

	// kill -9 once the reminder is delivered and recorded as sent, before
	// or after the overdue notice is due: the restart must neither lose the
	// overdue notice nor send the reminder again.
	waitFor(t, mailWait, "the outbox to drain", func() (bool, string) {
		m, err := d.metrics()
		if err != nil {
			return false, err.Error()
		}
		return m["ticketd_notifications_pending"] == 0, fmt.Sprintf("%v pending", m["ticketd_notifications_pending"])
	})
	oldPid := d.pid()
	d.kill9()
	killedAt := time.Since(openedAt)
	d.start()
	if d.pid() == oldPid {
		t.Fatalf("ticketd pid %d after the restart, the killed one's", oldPid)
	}
	t.Logf("killed pid %d %v after the opening, restarted as pid %d", oldPid, killedAt.Round(10*time.Millisecond), d.pid())

	var breach gotMail
	for _, a := range mesa {
		breach = stk.waitMail(t, a, mailWait, "the level-1 overdue notice", subjectHas(id, breachSubject))
	}
	record(t, "sla overdue", "in both Mesa mailboxes %v after the ticket opened (due at 8s; killed at %v)",
		time.Since(openedAt).Round(10*time.Millisecond), killedAt.Round(10*time.Millisecond))
	tk = d.waitTicket(id, mailWait, "the overdue entry", func(tk ticketJSON) bool { return len(tk.entries("sla_breached")) > 0 })
	checkTimerEntry(t, tk, "sla_breached", openedAt, 8*time.Second, "8s")
	if out, err := d.cli("tickets", "--overdue", "--json"); err != nil {
		t.Error(err)
	} else if !strings.Contains(string(out), `"`+id+`"`) {
		t.Errorf("tickets --overdue does not list %s:\n%s", id, out)
	}
	vs := showVisits(t, d, id)
	if len(vs) != 1 || vs[0].Level != 1 || vs[0].Group != "mesa" || vs[0].TargetSeconds != 8 || vs[0].Met {
		t.Errorf("visits = %+v, want one level-1 visit with mesa, target 8 s, not met", vs)
	}

	// A desk agent resolves the case; nobody closes it.
	stk.send(t, reply(mesa1, breach, "#resolver Se cambió el cable de alimentación del monitor."))
	tk = d.waitTicket(id, mailWait, "resolved", func(tk ticketJSON) bool { return tk.State == "resolved" })
	resolvedAt := tk.entries("resolved")[0].At
	for _, a := range mesa {
		stk.waitMail(t, a, mailWait, "the reminder to close", subjectHas(id, closeRemindSubject))
	}
	record(t, "close reminder", "in both Mesa mailboxes %v after the resolution (due at 8s)", time.Since(resolvedAt).Round(10*time.Millisecond))
	tk = d.waitTicket(id, mailWait, "the close reminder entry", func(tk ticketJSON) bool { return len(tk.entries("close_reminder")) > 0 })
	checkTimerEntry(t, tk, "close_reminder", resolvedAt, 8*time.Second, "8s")

	// Nothing more comes: each notice reached each member once (one
	// Message-ID, one copy), the requester and the other groups none.
	time.Sleep(3 * time.Second)
	tk = d.show(id)
	var kinds []string
	for _, k := range tk.kinds() {
		if k != "replied" && k != "noted" {
			kinds = append(kinds, k)
		}
	}
	if want := []string{"opened", "sla_warning", "sla_breached", "resolved", "close_reminder"}; !slices.Equal(kinds, want) {
		t.Errorf("history = %v, want %v", kinds, want)
	}
	for _, a := range mesa {
		got := stk.mailbox(t, a, "INBOX")
		for _, s := range []string{warnSubject, breachSubject, closeRemindSubject} {
			if n := count(got, subjectHas(id, s)); n != 1 {
				t.Errorf("%s received %d mails %q, want 1:\n%v", a, n, s, got)
			}
		}
	}
	for _, a := range []string{user, ppl.addr("redes1"), ppl.addr("redes2"), ppl.addr("proveedor3"), ppl.addr("infra3")} {
		for _, g := range stk.mailbox(t, a, "INBOX") {
			for _, s := range []string{"Recordatorio", "Vencido", closeRemindSubject} {
				if strings.Contains(g.Subject, s) {
					t.Errorf("%s received a timer notice meant for the holder or the Mesa: %s", a, g)
				}
			}
		}
	}
}

// checkTimerEntry checks that tk has exactly one entry of kind, by ticketd
// at level 1, whose clock started at since (to the second) and was due
// after due, with target target.
func checkTimerEntry(t *testing.T, tk ticketJSON, kind string, since time.Time, due time.Duration, target string) {
	t.Helper()
	es := tk.entries(kind)
	if len(es) != 1 {
		t.Errorf("%s entries: %d, want 1 (history %v)", kind, len(es), tk.kinds())
		return
	}
	e := es[0]
	s, err1 := time.Parse(time.RFC3339, e.Data["since"])
	u, err2 := time.Parse(time.RFC3339, e.Data["due"])
	if e.Actor != "ticketd" || e.Data["level"] != "1" || e.Data["target"] != target || err1 != nil || err2 != nil {
		t.Errorf("%s entry = %+v, want by ticketd at level 1, target %s, since and due", kind, e, target)
		return
	}
	if !s.Equal(since.Truncate(time.Second)) || u.Sub(s) != due || e.At.Before(u) {
		t.Errorf("%s entry since %v due %v at %v; want since %v, due %v later, recorded after it", kind, s, u, e.At, since, due)
	}
}

// showVisits reads the level visits of `ticketd show id --json`.
func showVisits(t *testing.T, d *daemon, id string) []visitJSON {
	t.Helper()
	out, err := d.cli("show", id, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Visits []visitJSON `json:"visits"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("show %s: %v\n%s", id, err, out)
	}
	return v.Visits
}

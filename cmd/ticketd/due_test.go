package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/demo"
)

// TestTicketsDueFlags: `tickets --overdue` and `--due-within` select by
// the sla section's targets, and `show` prints the level visits with
// theirs (in JSON too); without an sla section the flags are refused.
func TestTicketsDueFlags(t *testing.T) {
	sys := startMail(t)
	file, _ := writeConfig(t, sys, nil)
	appendFile(t, file, "sla:\n  business_hours: 24x7\n  targets: {level1: 2h}\n  warn_at: 50%\n")
	out := mustCmd(t, "open", "--config", file, "--requester", demo.Requester.Addr, "--subject", "Llamada: sin red", "--body", "x", "--agent", demo.Agent.Addr)
	id := strings.Fields(out)[1]
	list := func(args ...string) string {
		t.Helper()
		var ts []admin.TicketJSON
		if err := json.Unmarshal([]byte(mustCmd(t, append([]string{"tickets", "--json", "--config", file}, args...)...)), &ts); err != nil {
			t.Fatal(err)
		}
		return strings.Join(ids(ts), ",")
	}
	if got := list("--due-within", "3h"); got != id {
		t.Errorf("--due-within 3h = %q, want %s", got, id)
	}
	if got := list("--due-within", "1h"); got != "" {
		t.Errorf("--due-within 1h = %q, want none", got)
	}
	if got := list("--overdue"); got != "" {
		t.Errorf("--overdue = %q, want none", got)
	}
	if _, err := cmd(t, "tickets", "--due-within", "pronto", "--config", file); err == nil || exitCode(err) != exitUsage {
		t.Errorf("--due-within pronto: %v (exit %d), want a usage error", err, exitCode(err))
	}
	var one admin.TicketJSON
	if err := json.Unmarshal([]byte(mustCmd(t, "show", id, "--json", "--config", file)), &one); err != nil {
		t.Fatal(err)
	}
	if len(one.Visits) != 1 || one.Visits[0].Level != 1 || one.Visits[0].TargetSeconds != 7200 || !one.Visits[0].Met {
		t.Errorf("show --json visits = %+v", one.Visits)
	}
	if text := mustCmd(t, "show", id, "--config", file); !strings.Contains(text, "Level visits:") || !strings.Contains(text, "of 2h0m0s  within target so far") {
		t.Errorf("show lacks the level visit:\n%s", text)
	}

	plain, _ := writeConfig(t, sys, nil)
	if _, err := cmd(t, "tickets", "--overdue", "--config", plain); err == nil || !strings.Contains(err.Error(), "sla") {
		t.Errorf("--overdue without sla: %v, want an error naming the sla section", err)
	}
}

func ids(ts []admin.TicketJSON) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t.ID))
	}
	return out
}

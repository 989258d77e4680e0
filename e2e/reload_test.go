//go:build e2e

package e2e

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadOnSIGHUP: a desk agent added to the configuration file while
// ticketd runs acts as the desk after SIGHUP, without a restart; a file
// made invalid afterwards (the agent removed and an unknown key added)
// changes nothing at the next SIGHUP: ticketd keeps running on the
// configuration in use and logs why at error level.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "mesa3", "redes1", "redes2", "proveedor3", "infra3", "usuario1")
	d := newDaemon(t, ppl, daemonOpts{})
	mesa3 := ppl.addr("mesa3")
	id, ack := openTicket(t, ppl, "usuario1", "Impresora sin tóner", "La impresora del piso 2 no imprime.")
	pid := d.pid()

	hup := func(parts ...string) {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(mailWait)
		for !d.logHas(parts...) {
			if time.Now().After(deadline) {
				t.Fatalf("no log line with %q after SIGHUP", parts)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	orig, err := os.ReadFile(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	oldMembers := "[" + strconv.Quote(ppl.addr("mesa1")) + ", " + strconv.Quote(ppl.addr("mesa2")) + "]"
	if !strings.Contains(string(orig), oldMembers) {
		t.Fatalf("the configuration has no line %s", oldMembers)
	}
	added := strings.Replace(string(orig), oldMembers, "["+strconv.Quote(ppl.addr("mesa1"))+", "+strconv.Quote(ppl.addr("mesa2"))+", "+strconv.Quote(mesa3)+"]", 1)
	writeFile(t, d.cfgPath, []byte(added), 0o600)
	hup("configuration reloaded", "groups.mesa")

	stk.send(t, reply(mesa3, ack, "#prioridad alta"))
	d.waitTicket(id, mailWait, "the new agent's #prioridad alta applied", func(tk ticketJSON) bool { return tk.Priority == "alta" })

	// Invalid: the agent removed and a mistyped key. Nothing changes.
	writeFile(t, d.cfgPath, []byte(string(orig)+"smpt:\n  host: x\n"), 0o600)
	hup("configuration not reloaded", "ERROR", "smpt")
	select {
	case <-d.done:
		t.Fatalf("ticketd exited after the invalid reload: %v", d.cmd.ProcessState)
	default:
	}
	// The commands read the file too: give them a valid one (without the
	// agent) but do not SIGHUP; the daemon still runs with the agent.
	writeFile(t, d.cfgPath, orig, 0o600)
	stk.send(t, reply(mesa3, ack, "#prioridad baja"))
	d.waitTicket(id, mailWait, "the agent's #prioridad baja still applied", func(tk ticketJSON) bool { return tk.Priority == "baja" })
}

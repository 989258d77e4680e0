//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// TestForgedSenderRefused: through real Postfix and Dovecot, a mail From
// the desk agent without the domain's DKIM signature, as anyone outside can
// send it, cannot close a ticket: the command is refused with its reason,
// the ticket stays open, and the From address is told without the ticket's
// content. The same command, signed, applies.
func TestForgedSenderRefused(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario5")
	d := newDaemon(t, ppl, daemonOpts{})
	mesa1 := ppl.addr("mesa1")
	subject := "El escáner de la sala 2 no envía correos"
	id, ack := openTicket(t, ppl, "usuario5", subject, "Escaneo y no llega nada.")

	forged := reply(mesa1, ack, "#cerrar forzar ya no hace falta")
	forged.Subject, forged.Unsigned = "RE: ["+id+"] "+subject, true
	stk.send(t, forged)
	tk := d.waitTicket(id, mailWait, "the refusal of the forged command", func(tk ticketJSON) bool { return len(tk.entries("refused")) == 1 })
	e := tk.entries("refused")[0]
	if tk.State != "open" || e.Actor != mesa1 || e.Data["verified"] != "false" || !strings.Contains(e.Data["reason"], "no se pudo verificar el remitente") {
		t.Fatalf("forged #cerrar forzar: state %s, entry %+v", tk.State, e)
	}
	told := stk.waitMail(t, mesa1, mailWait, "the answer to the forged address", func(g gotMail) bool {
		return strings.Contains(g.Subject, "no se pudo verificar el remitente")
	})
	if strings.Contains(told.Subject+told.Text, subject) || strings.Contains(told.Subject, id) {
		t.Errorf("the answer to a forged sender tells the ticket:\n%s\n%s", told.Subject, told.Text)
	}
	t.Logf("forged: refused: %s", e.Data["reason"])

	signed := reply(mesa1, ack, "#cerrar forzar ya no hace falta")
	signed.Subject = "RE: [" + id + "] " + subject
	stk.send(t, signed)
	d.waitTicket(id, mailWait, "the closure by the signed mail", func(tk ticketJSON) bool { return tk.State == "closed" })
}

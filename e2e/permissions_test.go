//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// TestRefusedCommands: a command from someone who may not give it is
// refused, recorded with its reason, and its sender told; the ticket does
// not change. A mail's commands apply all or none.
func TestRefusedCommands(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario2", "otro1")
	d := newDaemon(t, ppl, daemonOpts{})
	user, mesa1, redes1, stranger := ppl.addr("usuario2"), ppl.addr("mesa1"), ppl.addr("redes1"), ppl.addr("otro1")
	subject := "Necesito acceso a la carpeta de contabilidad"
	id, ack := openTicket(t, ppl, "usuario2", subject, "Por favor denme acceso a \\\\servidor\\contabilidad.")
	before := d.show(id)

	cases := []struct {
		who, name, text, command, reason string
	}{
		{user, "the requester", "#escalar nivel2\nEs urgente, que lo vea un especialista.", "#escalar nivel2", "solicitante"},
		{redes1, "a level-2 specialist on a level-1 case", "#resolver ya quedó", "#resolver ya quedó", "nivel 1"},
		{mesa1, "the desk with a bad argument", "#clasificar accesos alta\n#escalar nivel5", "#escalar nivel5", "nivel"},
	}
	for i, c := range cases {
		m := reply(c.who, ack, c.text)
		m.Subject = "RE: [" + id + "] " + subject
		stk.send(t, m)
		tk := d.waitTicket(id, mailWait, "the refusal for "+c.name, func(tk ticketJSON) bool { return len(tk.entries("refused")) == i+1 })
		e := tk.entries("refused")[i]
		if e.Actor != c.who || e.Data["command"] != c.command || !strings.Contains(e.Data["reason"], c.reason) || e.MessageID != bareID(m.MessageID) {
			t.Errorf("refusal for %s recorded as %+v, want actor %s, command %q, reason with %q", c.name, e, c.who, c.command, c.reason)
		}
		answer := "Órdenes rechazadas"
		if c.who == user {
			answer = "Sobre su correo" // plain words for the requester
		}
		told := stk.waitMail(t, c.who, mailWait, "the refusal notice for "+c.name, subjectHas(id, answer))
		if !strings.Contains(told.Text, c.command) || !strings.Contains(told.Text, c.reason) {
			t.Errorf("refusal notice to %s lacks the command %q or the reason %q:\n%s", c.name, c.command, c.reason, told.Text)
		}
		t.Logf("%s: refused: %s", c.name, e.Data["reason"])
	}
	// A stranger's command: recorded for the desk, which is told; the
	// stranger gets only the generic help, with nothing of the ticket.
	m := reply(stranger, ack, "#cerrar forzar no hace falta")
	m.Subject = "RE: [" + id + "] " + subject
	stk.send(t, m)
	tk := d.waitTicket(id, mailWait, "the stranger's mail", func(tk ticketJSON) bool { return len(tk.entries("third_party")) == 1 })
	if e := tk.entries("third_party")[0]; e.Actor != stranger || e.Data["commands"] != "#cerrar forzar no hace falta" {
		t.Errorf("the stranger's mail recorded as %+v", e)
	}
	told := stk.waitMail(t, stranger, mailWait, "the generic help", func(g gotMail) bool { return strings.Contains(g.Subject, "Cómo dar órdenes") })
	for _, secret := range []string{id, subject, "Nivel:", "Estado:", "abierto"} {
		if strings.Contains(told.Subject+told.Text, secret) {
			t.Errorf("the stranger's answer shows %q:\n%s\n%s", secret, told.Subject, told.Text)
		}
	}
	stk.waitMail(t, mesa1, mailWait, "the desk's third-party notice", subjectHas(id, "no participa en el caso"))

	tk = d.show(id)
	if tk.State != before.State || tk.Level != before.Level || tk.Group != before.Group || tk.Category != "" || tk.Priority != "" || tk.Assignee != "" {
		t.Errorf("ticket changed: %+v\nwas %+v", tk, before)
	}
	for _, k := range tk.kinds() {
		if k != "opened" && k != "refused" && k != "third_party" {
			t.Errorf("history has a %s entry: %v", k, tk.kinds())
		}
	}
	// The refused mails told no one else.
	if n := len(stk.mailbox(t, ppl.addr("redes2"), "INBOX")); n != 0 {
		t.Errorf("redes2 got %d mails", n)
	}
	if n := count(stk.mailbox(t, user, "INBOX"), func(g gotMail) bool { return true }); n != 2 {
		t.Errorf("the requester got %d mails, want 2 (the acknowledgement and their refusal)", n)
	}
}

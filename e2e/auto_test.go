//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestOutOfOffice: an out-of-office answer to the acknowledgement opens no
// ticket and sends nothing back, and neither does one about no ticket at all.
func TestOutOfOffice(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario3")
	d := newDaemon(t, ppl, daemonOpts{})
	user := ppl.addr("usuario3")
	subject := "No puedo entrar a la intranet"
	id, ack := openTicket(t, ppl, "usuario3", subject, "Me sale «acceso denegado» al entrar a la intranet.")
	stk.waitMail(t, ppl.addr("mesa1"), mailWait, "the new-case notice", subjectHas(id, "Nuevo caso"))

	// Exchange's automatic reply to the acknowledgement: threaded by
	// In-Reply-To and by the tag, marked by Auto-Submitted (RFC 3834).
	ooo := &outMail{From: user, To: d.desk, Subject: "Respuesta automática: [" + id + "] " + subject,
		InReplyTo: ack.MessageID, References: ack.MessageID,
		Headers: [][2]string{{"Auto-Submitted", "auto-replied"}, {"X-Auto-Response-Suppress", "All"}},
		Text:    "Estoy fuera de la oficina hasta el lunes 16 de marzo. Para asuntos urgentes escriba a mi jefe."}
	// A vacation answer to something else, about no ticket: no
	// Auto-Submitted, only the older marks.
	vacation := &outMail{From: user, To: d.desk, Subject: "Fuera de la oficina",
		Headers: [][2]string{{"X-Autoreply", "yes"}, {"Precedence", "auto_reply"}, {"X-Autorespond", "Fuera de la oficina"}},
		Text:    "Estoy de vacaciones hasta el 20 de marzo."}
	stk.send(t, ooo, vacation)

	tk := d.waitTicket(id, mailWait, "the auto-reply recorded", func(tk ticketJSON) bool { return len(tk.entries("auto_reply")) == 1 })
	if e := tk.entries("auto_reply")[0]; e.Actor != user || e.MessageID != bareID(ooo.MessageID) || e.Data["reason"] == "" {
		t.Errorf("auto-reply recorded as %+v", e)
	}
	waitFor(t, mailWait, "both automatic mails processed", func() (bool, string) {
		m, err := d.metrics()
		if err != nil {
			return false, err.Error()
		}
		return m["ticketd_mails_fetched_total"] >= 3 && m["ticketd_notifications_pending"] == 0, ""
	})
	time.Sleep(2 * time.Second) // anything sent back would arrive meanwhile
	if ts := d.tickets(); len(ts) != 1 {
		t.Errorf("%d tickets after the automatic replies, want 1: %s", len(ts), ids(ts))
	}
	if got := stk.mailbox(t, user, "INBOX"); len(got) != 1 {
		t.Errorf("the out-of-office sender got %d mails, want only the acknowledgement: %v", len(got), got)
	}
	for _, who := range []string{"mesa1", "mesa2"} {
		if got := stk.mailbox(t, ppl.addr(who), "INBOX"); len(got) != 1 {
			t.Errorf("%s got %d mails, want only the new-case notice: %v", who, len(got), got)
		}
	}
	tk = d.show(id)
	if tk.State != "open" || len(tk.History) != 2 {
		t.Errorf("ticket %s: state %s history %v, want open with opened and auto_reply", id, tk.State, tk.kinds())
	}
}

// TestBounce: a notification to an address that does not exist bounces
// (Dovecot refuses it at LMTP, Postfix sends a DSN to the envelope sender,
// the desk's address); ticketd records delivery_failed on the ticket and
// answers no one.
func TestBounce(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario1")
	ghost := ppl.addr("fantasma") // a member of redes without a mailbox
	d := newDaemon(t, ppl, daemonOpts{extraMembers: map[string][]string{"redes": {ghost}}})
	subject := "El correo no sincroniza en el celular"
	id, _ := openTicket(t, ppl, "usuario1", subject, "Desde ayer el correo no llega al celular.")
	newCase := stk.waitMail(t, ppl.addr("mesa1"), mailWait, "the new-case notice", subjectHas(id, "Nuevo caso"))
	stk.send(t, reply(ppl.addr("mesa1"), newCase, "#escalar nivel2 redes"))
	stk.waitMail(t, ppl.addr("redes1"), mailWait, "the assignment", subjectHas(id, "Caso asignado, nivel 2"))

	tk := d.waitTicket(id, mailWait, "delivery_failed recorded", func(tk ticketJSON) bool { return len(tk.entries("delivery_failed")) > 0 })
	e := tk.entries("delivery_failed")[0]
	if e.Data["recipient"] != ghost || !strings.Contains(e.Text, "5.1.1") {
		t.Errorf("delivery_failed recorded as %+v, want recipient %s and status 5.1.1", e, ghost)
	}
	t.Logf("bounce recorded: recipient %s: %s", e.Data["recipient"], e.Text)
	if n := len(tk.entries("delivery_failed")); n != 1 {
		t.Errorf("%d delivery_failed entries, want 1", n)
	}
	if tk.Level != 2 || tk.Group != "redes" || tk.State != "open" {
		t.Errorf("after the bounce: level %d group %s state %s", tk.Level, tk.Group, tk.State)
	}
	time.Sleep(2 * time.Second)
	if ts := d.tickets(); len(ts) != 1 {
		t.Errorf("%d tickets, want 1 (a bounce opens none): %s", len(ts), ids(ts))
	}
	for _, who := range []string{"mesa1", "mesa2", "usuario1"} {
		for _, g := range stk.mailbox(t, ppl.addr(who), "INBOX") {
			if strings.Contains(g.Subject, "Undelivered") || strings.Contains(g.Text, "fantasma") {
				t.Errorf("%s was sent something about the bounce: %s", who, g)
			}
		}
	}
}

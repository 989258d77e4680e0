//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestThreading: replies find their ticket when the user rewrote the
// subject (In-Reply-To and References), behind Outlook's "RE:"/"RV:"
// prefixes without any reference, and commands quoted from older mails are
// never run again.
func TestThreading(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario1")
	d := newDaemon(t, ppl, daemonOpts{})
	user, mesa1 := ppl.addr("usuario1"), ppl.addr("mesa1")
	subject := "La impresora del 2.º piso no imprime"
	id, ack := openTicket(t, ppl, "usuario1", subject, "La impresora HP del segundo piso no imprime desde ayer.")
	newCase := stk.waitMail(t, mesa1, mailWait, "the new-case notice", subjectHas(id, "Nuevo caso"))

	// 1. The user answers the acknowledgement under a subject of their own.
	edited := reply(user, ack, "Olvidé decir: el modelo es HP LaserJet 4000.")
	edited.Subject = "modelo de la impresora"
	stk.send(t, edited)
	tk := d.waitTicket(id, mailWait, "the reply with an edited subject", func(tk ticketJSON) bool { return len(tk.entries("replied")) == 1 })
	if e := tk.entries("replied")[0]; e.Actor != user || e.MessageID != bareID(edited.MessageID) || !strings.Contains(e.Text, "LaserJet 4000") {
		t.Errorf("reply recorded as %+v", e)
	}

	// 2. Outlook: "RE: RV:" before the tag, no In-Reply-To, no References,
	// only Thread-Index.
	outlook := &outMail{From: user, To: d.desk, Subject: "RE: RV: [" + id + "] " + subject,
		Headers: [][2]string{{"Thread-Index", "AdnR0tLQ0tLQ0tLQ0tLQ0tLQ0tLQ0g=="}, {"X-Mailer", "Microsoft Outlook 16.0"}},
		Text:    "Adjunto la captura del error.\r\n\r\n________________________________\r\nDe: Mesa de servicios OTI <" + d.desk + ">\r\nEnviado: lunes, 9 de marzo de 2026 10:00\r\nPara: " + user + "\r\nAsunto: [" + id + "] " + subject + "\r\n\r\nRecibimos su solicitud.\r\n"}
	stk.send(t, outlook)
	tk = d.waitTicket(id, mailWait, "the Outlook reply", func(tk ticketJSON) bool { return len(tk.entries("replied")) == 2 })
	if e := tk.entries("replied")[1]; e.MessageID != bareID(outlook.MessageID) || strings.Contains(e.Text, "Recibimos su solicitud") {
		t.Errorf("Outlook reply recorded as %+v (want its new text only)", e)
	}

	// 3. The desk classifies; later mails quote that command, in both
	// quoting styles, with more commands that were never given.
	stk.send(t, reply(mesa1, newCase, "#clasificar impresoras media"))
	d.waitTicket(id, mailWait, "classified", func(tk ticketJSON) bool { return tk.Category == "impresoras" })
	receipt := stk.waitMail(t, mesa1, mailWait, "the receipt", subjectHas(id, "Órdenes aplicadas"))
	quoted := reply(mesa1, receipt, "Seguimos revisando con el proveedor.")
	quoted.Text += "> #clasificar impresoras alta\n> #escalar nivel2 redes\n> #resolver listo\n"
	stk.send(t, quoted)
	tk = d.waitTicket(id, mailWait, "the reply quoting commands", func(tk ticketJSON) bool { return len(tk.entries("replied")) == 3 })
	outlookQuote := &outMail{From: mesa1, To: d.desk, Subject: "RE: [" + id + "] Órdenes aplicadas: " + subject,
		Text: "Ya hablé con el usuario.\n\n-----Mensaje original-----\nDe: " + mesa1 + "\nEnviado: martes, 10 de marzo de 2026 9:12\nPara: " + d.desk +
			"\nAsunto: RE: [" + id + "] " + subject + "\n\n#escalar nivel2 redes\n#cerrar forzar duplicado\n"}
	stk.send(t, outlookQuote)
	tk = d.waitTicket(id, mailWait, "the Outlook reply quoting commands", func(tk ticketJSON) bool { return len(tk.entries("replied")) == 4 })

	if n := len(tk.entries("classified")); n != 1 {
		t.Errorf("%d classified entries, want 1: the quoted #clasificar ran again", n)
	}
	for _, k := range []string{"escalated", "resolved", "closed", "refused"} {
		if n := len(tk.entries(k)); n != 0 {
			t.Errorf("%d %s entries: a quoted command ran (history %v)", n, k, tk.kinds())
		}
	}
	if tk.State != "open" || tk.Level != 1 || tk.Priority != "media" {
		t.Errorf("ticket state %s level %d priority %s, want open, 1, media", tk.State, tk.Level, tk.Priority)
	}
	if ts := d.tickets(); len(ts) != 1 {
		t.Errorf("%d tickets, want 1: %v", len(ts), ids(ts))
	}
	// The staff's replies without commands went to the requester.
	stk.waitMail(t, user, mailWait, "the desk's reply", func(g gotMail) bool {
		return subjectHas(id, "Respuesta sobre su caso")(g) && strings.Contains(g.Text, "Ya hablé con el usuario")
	})
	time.Sleep(time.Second)
	if n := count(stk.mailbox(t, mesa1, "INBOX"), subjectHas(id, "Órdenes")); n != 1 {
		t.Errorf("mesa1 got %d receipts, want 1 (quoted commands are not commands)", n)
	}
}

func ids(ts []ticketJSON) string {
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprintf("%s(%s)", t.ID, t.Subject))
	}
	return strings.Join(s, ", ")
}

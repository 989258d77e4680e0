//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// TestMailActionsOnAPhone: the desk's new-case mail and the specialist's
// assignment mail, shown in a real browser at a phone's width, carry one
// button per command the recipient may use, each a mailto: link that
// answers that very mail with the command prefilled; sending what the
// links open escalates the case and then resolves it, without anyone
// typing a command.
func TestMailActionsOnAPhone(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario1")
	d := newDaemon(t, ppl, daemonOpts{})
	mesa1, redes1, user := ppl.addr("mesa1"), ppl.addr("redes1"), ppl.addr("usuario1")
	subject := "No imprime la impresora & el escáner? 100% caídos"
	id, _ := openTicket(t, ppl, "usuario1", subject, "La impresora del piso 2 no imprime.")
	newCase := stk.waitMail(t, mesa1, mailWait, "the desk's new-case notice", subjectHas(id, "Nuevo caso"))

	b := newBrowser(t)
	b.view(phone)
	b.openHTML(newCase)
	actions := b.links(`a[href^="mailto:"][title^="#"]`)
	byLabel := map[string]mailto{}
	var labels []string
	for _, l := range actions {
		m := parseMailto(t, l.Href)
		byLabel[l.Text] = m
		labels = append(labels, l.Text)
		if m.To != d.desk {
			t.Errorf("%q goes to %q, want the support address %q", l.Text, m.To, d.desk)
		}
		if want := "Re: [" + id + "] " + subject; m.Subject != want {
			t.Errorf("%q: subject %q, want %q", l.Text, m.Subject, want)
		}
		if m.InReplyTo != newCase.MessageID {
			t.Errorf("%q: In-Reply-To %q, want the mail's own %q", l.Text, m.InReplyTo, newCase.MessageID)
		}
		if strings.TrimSpace(m.Body) != l.Title {
			t.Errorf("%q: body %q, its title says %q", l.Text, m.Body, l.Title)
		}
	}
	t.Logf("new-case buttons: %q", labels)
	for _, want := range []string{"Escalar a nivel 2: redes", "Escalar a nivel 3: infra", "Escalar a nivel 3: proveedor", "Tomar el caso", "Resolver", "Cerrar sin resolver", "Nota interna", "Prioridad alta"} {
		if _, ok := byLabel[want]; !ok {
			t.Errorf("the new-case mail lacks the button %q (has %q)", want, labels)
		}
	}
	b.screenshot("new-case-mail", phone)
	b.screenshot("new-case-mail", desktop)

	// The desk taps "Escalar a nivel 2: redes" and sends what opens.
	esc, ok := byLabel["Escalar a nivel 2: redes"]
	if !ok {
		t.FailNow()
	}
	if esc.Body != "#escalar nivel2 redes" {
		t.Errorf("escalation body %q", esc.Body)
	}
	esc.send(t, mesa1, "")
	d.waitTicket(id, mailWait, "escalated to redes by the button", func(tk ticketJSON) bool { return tk.Level == 2 && tk.Group == "redes" })

	// The specialist, on a phone, taps "Resolver" in the assignment mail
	// and types only the solution.
	assigned := stk.waitMail(t, redes1, mailWait, "the assignment to redes", subjectHas(id, "Caso asignado"))
	b.view(phone)
	b.openHTML(assigned)
	var res mailto
	var got []string
	for _, l := range b.links(`a[href^="mailto:"][title^="#"]`) {
		got = append(got, l.Text)
		if l.Text == "Resolver" {
			res = parseMailto(t, l.Href)
		}
	}
	if strings.Join(got, "|") != "Escalar a nivel 3: infra|Escalar a nivel 3: proveedor|Tomar el caso|Resolver|Nota interna" {
		t.Errorf("assignment buttons %q", got)
	}
	b.screenshot("assignment-mail", phone)
	if res.Body != "#resolver " || res.InReplyTo != assigned.MessageID {
		t.Fatalf("the Resolver button opens %+v", res)
	}
	res.send(t, redes1, "Se cambió el cable de red de la impresora.")
	tk := d.waitTicket(id, mailWait, "resolved by the button", func(tk ticketJSON) bool { return tk.State == "resolved" })
	if tk.Level != 2 {
		t.Errorf("resolved at level %d, want 2", tk.Level)
	}
	resolved := stk.waitMail(t, user, mailWait, "the requester's resolution notice", subjectHas(id, "Caso resuelto"))
	if !strings.Contains(resolved.Text, "Se cambió el cable de red de la impresora.") {
		t.Errorf("the requester's notice lacks the solution typed after the button:\n%s", resolved.Text)
	}
}

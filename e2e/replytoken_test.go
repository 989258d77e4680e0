//go:build e2e

package e2e

import (
	"net/mail"
	"strings"
	"testing"
)

// TestReplyToken: with reply_token in security.command_auth, the
// assignment mail's Reply-To is the support address with a token for its
// recipient; Postfix and Dovecot deliver a reply to it into the support
// mailbox, and its command applies.
func TestReplyToken(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario1")
	d := newDaemon(t, ppl, daemonOpts{commandAuth: "[dkim, reply_token]"})
	id, _ := openTicket(t, ppl, "usuario1", "Impresora atascada", "La impresora del piso 2 está atascada.")
	newCase := stk.waitMail(t, ppl.addr("mesa1"), mailWait, "the desk's new-case notice", subjectHas(id, "Nuevo caso"))
	other := stk.waitMail(t, ppl.addr("mesa2"), mailWait, "the desk's new-case notice", subjectHas(id, "Nuevo caso"))

	rt, err := mail.ParseAddress(replyTo(newCase))
	if err != nil {
		t.Fatalf("Reply-To %q: %v", replyTo(newCase), err)
	}
	local, domain, _ := strings.Cut(rt.Address, "@")
	base, token, ok := strings.Cut(local, "+")
	if !ok || base+"@"+domain != ppl.addr("soporte") || len(token) != 32 || strings.ToLower(token) != token {
		t.Fatalf("Reply-To of the new-case notice = %q, want %s with a 32-character lowercase token", rt.Address, ppl.addr("soporte"))
	}
	if replyTo(other) == replyTo(newCase) {
		t.Errorf("two agents got the same Reply-To %q", replyTo(other))
	}

	stk.send(t, reply(ppl.addr("mesa1"), newCase, "#escalar nivel2 redes\nQue lo vea redes."))
	tk := d.waitTicket(id, mailWait, "escalated by a reply to the reply address", func(tk ticketJSON) bool { return tk.Level == 2 })
	if tk.Group != "redes" {
		t.Errorf("group = %q, want redes", tk.Group)
	}
	assigned := stk.waitMail(t, ppl.addr("redes1"), mailWait, "the level-2 assignment", subjectHas(id, "Caso asignado, nivel 2"))
	if !strings.Contains(replyTo(assigned), "+") {
		t.Errorf("assignment Reply-To = %q, want a reply address", replyTo(assigned))
	}
}

//go:build e2e

package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const mailWait = 45 * time.Second

// openTicket sends a request from requester and waits for its
// acknowledgement; it returns the ticket ID and the acknowledgement.
func openTicket(t *testing.T, ppl *people, requester, subject, text string) (string, gotMail) {
	t.Helper()
	m := &outMail{From: ppl.addr(requester), To: ppl.addr("soporte"), Subject: subject, Text: text}
	stk.send(t, m)
	ack := stk.waitMail(t, ppl.addr(requester), mailWait, "the acknowledgement of "+subject, func(g gotMail) bool {
		return g.ticketID() != "" && g.Subject == "["+g.ticketID()+"] "+subject
	})
	if ack.InReplyTo != m.MessageID {
		t.Errorf("acknowledgement In-Reply-To = %q, want the request's %q", ack.InReplyTo, m.MessageID)
	}
	return ack.ticketID(), ack
}

// TestProcedure follows one case through the whole procedure by mail:
// request, acknowledgement, classification and escalation by the desk,
// escalation to level 3 by the specialist, resolution by the provider,
// reopening by the requester, resolution and definitive closure by the desk.
func TestProcedure(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario1")
	d := newDaemon(t, ppl, daemonOpts{})
	user, mesa1, mesa2, redes1, redes2, prov, infra := ppl.addr("usuario1"), ppl.addr("mesa1"), ppl.addr("mesa2"),
		ppl.addr("redes1"), ppl.addr("redes2"), ppl.addr("proveedor3"), ppl.addr("infra3")

	// Activity 1: the request opens a ticket; the requester is acknowledged
	// and the desk told.
	subject := "Sin red en el piso 3"
	id, ack := openTicket(t, ppl, "usuario1", subject, "Buenos días:\n\nDesde esta mañana no hay red en el piso 3, oficina 301.\n\nGracias.\nUsuario Uno")
	t.Logf("ticket %s opened; acknowledgement %s", id, ack.MessageID)
	if !strings.Contains(ack.Text, id) {
		t.Errorf("acknowledgement text does not name %s:\n%s", id, ack.Text)
	}
	newCase := stk.waitMail(t, mesa1, mailWait, "the desk's new-case notice", subjectHas(id, "Nuevo caso"))
	stk.waitMail(t, mesa2, mailWait, "the desk's new-case notice", subjectHas(id, "Nuevo caso"))
	tk := d.show(id)
	if tk.State != "open" || tk.Level != 1 || tk.Group != "mesa" || tk.Requester != user || tk.Subject != subject {
		t.Fatalf("new ticket = %+v, want open at level 1 with mesa for %s", tk, user)
	}

	// Activities 2, 5, 6: the desk classifies and escalates to level 2.
	stk.send(t, reply(mesa1, newCase, "#clasificar redes alta\n#escalar nivel2 redes\nRevisar el switch del piso 3."))
	tk = d.waitTicket(id, mailWait, "escalated to level 2", func(tk ticketJSON) bool { return tk.Level == 2 })
	if tk.Group != "redes" || tk.Category != "redes" || tk.Priority != "alta" {
		t.Errorf("after #clasificar and #escalar: group %q category %q priority %q, want redes, redes, alta", tk.Group, tk.Category, tk.Priority)
	}
	assigned2 := stk.waitMail(t, redes1, mailWait, "the level-2 assignment", subjectHas(id, "Caso asignado, nivel 2"))
	stk.waitMail(t, redes2, mailWait, "the level-2 assignment", subjectHas(id, "Caso asignado, nivel 2"))
	for _, want := range []string{id, user, "no hay red en el piso 3", "Revisar el switch"} {
		if !strings.Contains(assigned2.Text, want) {
			t.Errorf("level-2 assignment lacks %q:\n%s", want, assigned2.Text)
		}
	}
	stk.waitMail(t, user, mailWait, "the change of level", subjectHas(id, "Su caso pasó al nivel 2"))
	stk.waitMail(t, mesa1, mailWait, "the receipt of the desk's commands", subjectHas(id, "Órdenes aplicadas"))

	// Activities 7, 8, 9: the specialist escalates to the level-3 provider.
	stk.send(t, reply(redes1, assigned2, "#escalar nivel3 proveedor\nEl switch está en garantía: que lo cambie el proveedor."))
	tk = d.waitTicket(id, mailWait, "escalated to level 3", func(tk ticketJSON) bool { return tk.Level == 3 })
	if tk.Group != "proveedor" {
		t.Errorf("level-3 group = %q, want proveedor", tk.Group)
	}
	assigned3 := stk.waitMail(t, prov, mailWait, "the level-3 assignment", subjectHas(id, "Caso asignado, nivel 3"))
	for _, want := range []string{id, user, "no hay red en el piso 3", "garantía"} {
		if !strings.Contains(assigned3.Text, want) {
			t.Errorf("level-3 assignment lacks %q:\n%s", want, assigned3.Text)
		}
	}
	stk.waitMail(t, user, mailWait, "the change of level", subjectHas(id, "Su caso pasó al nivel 3"))

	// Activity 10: the provider resolves.
	stk.send(t, reply(prov, assigned3, "#resolver Se reemplazó el switch del piso 3 por garantía."))
	d.waitTicket(id, mailWait, "resolved", func(tk ticketJSON) bool { return tk.State == "resolved" })
	resolved := stk.waitMail(t, user, mailWait, "the resolution", subjectHas(id, "Caso resuelto"))
	if !strings.Contains(resolved.Text, "Se reemplazó el switch") {
		t.Errorf("resolution mail lacks the provider's text:\n%s", resolved.Text)
	}
	stk.waitMail(t, mesa2, mailWait, "the desk's resolved notice", subjectHas(id, "Resuelto, pendiente de cierre"))

	// Activity 11, "no": the requester reopens; the case is back at level 1.
	stk.send(t, reply(user, resolved, "#reabrir\nSigue sin funcionar la red en la oficina 301."))
	tk = d.waitTicket(id, mailWait, "reopened", func(tk ticketJSON) bool { return tk.State == "open" })
	if tk.Level != 1 || tk.Group != "mesa" || tk.Assignee != "" {
		t.Errorf("reopened ticket at level %d group %q assignee %q, want level 1, mesa, none", tk.Level, tk.Group, tk.Assignee)
	}
	reopened := stk.waitMail(t, mesa1, mailWait, "the desk's reopened notice", subjectHas(id, "Caso reabierto, vuelve al nivel 1"))
	stk.waitMail(t, mesa2, mailWait, "the desk's reopened notice", subjectHas(id, "Caso reabierto, vuelve al nivel 1"))

	// Activities 4, 5, 11 "yes", 12: the desk resolves, then closes.
	stk.send(t, reply(mesa2, reopened, "#resolver Se cambió el cable de red de la oficina 301."))
	d.waitTicket(id, mailWait, "resolved again", func(tk ticketJSON) bool { return tk.State == "resolved" })
	resolved2 := stk.waitMail(t, user, mailWait, "the second resolution", func(g gotMail) bool {
		return subjectHas(id, "Caso resuelto")(g) && strings.Contains(g.Text, "cable de red")
	})
	_ = resolved2
	stk.send(t, &outMail{From: mesa2, To: d.desk, Subject: "RE: [" + id + "] " + subject, Text: "#cerrar Confirmado con el usuario por teléfono."})
	tk = d.waitTicket(id, mailWait, "closed", func(tk ticketJSON) bool { return tk.State == "closed" })
	stk.waitMail(t, user, mailWait, "the closure", subjectHas(id, "Caso cerrado"))

	// The register: every step, in order, by whom, from which mail.
	type step struct{ kind, actor string }
	want := []step{{"opened", user}, {"classified", mesa1}, {"escalated", mesa1}, {"escalated", redes1},
		{"resolved", prov}, {"reopened", user}, {"resolved", mesa2}, {"closed", mesa2}}
	var got []step
	for _, e := range tk.History {
		if e.Kind == "replied" || e.Kind == "noted" {
			continue
		}
		got = append(got, step{e.Kind, e.Actor})
		if e.MessageID == "" || e.At.IsZero() {
			t.Errorf("history entry %s by %s lacks its mail or its time: %+v", e.Kind, e.Actor, e)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("history = %v\nwant      %v", got, want)
	}
	if esc := tk.entries("escalated"); len(esc) == 2 {
		if esc[0].Data["to_level"] != "2" || esc[0].Data["group"] != "redes" || esc[1].Data["to_level"] != "3" || esc[1].Data["group"] != "proveedor" {
			t.Errorf("escalations recorded as %v and %v", esc[0].Data, esc[1].Data)
		}
	}
	if ro := tk.entries("reopened"); len(ro) == 1 && ro[0].Data["from_level"] != "3" {
		t.Errorf("reopened entry data = %v, want from_level 3", ro[0].Data)
	}

	// Who received what, over the whole case: exactly these mails.
	time.Sleep(2 * time.Second) // let anything unexpected arrive
	inventory := map[string][]string{
		// The requester's own #reabrir brings "reopened" and no receipt;
		// the desk hears of level 2's escalation to level 3.
		user:   {"", "Su caso pasó al nivel 2", "Su caso pasó al nivel 3", "Caso resuelto", "Su caso fue reabierto", "Caso resuelto", "Caso cerrado"},
		mesa1:  {"Nuevo caso", "Órdenes aplicadas", "Caso trasladado al nivel 3", "Resuelto, pendiente de cierre", "Caso reabierto", "Resuelto, pendiente de cierre"},
		mesa2:  {"Nuevo caso", "Caso trasladado al nivel 3", "Resuelto, pendiente de cierre", "Caso reabierto", "Resuelto, pendiente de cierre", "Órdenes aplicadas", "Órdenes aplicadas"},
		redes1: {"Caso asignado, nivel 2", "Órdenes aplicadas"},
		redes2: {"Caso asignado, nivel 2"},
		prov:   {"Caso asignado, nivel 3", "Órdenes aplicadas"},
		infra:  {},
	}
	for addr, kinds := range inventory {
		got := stk.mailbox(t, addr, "INBOX")
		var subjects []string
		for _, g := range got {
			subjects = append(subjects, g.Subject)
			if g.ticketID() != id {
				t.Errorf("%s received a mail about another ticket: %s", addr, g)
			}
			if g.Auto == "" {
				t.Errorf("%s received a notification without Auto-Submitted: %s", addr, g)
			}
		}
		if !sameKinds(subjects, id, kinds) {
			t.Errorf("%s received %d mails:\n  %s\nwant the kinds %q", addr, len(got), strings.Join(subjects, "\n  "), kinds)
		}
	}
}

// sameKinds reports whether subjects are, in any order, one mail of each
// kind: "" is the acknowledgement ("[ID] subject"), anything else a prefix
// after the tag; a kind starting with "?" may be missing.
func sameKinds(subjects []string, id string, kinds []string) bool {
	left := slices.Clone(kinds)
	for _, s := range subjects {
		rest, ok := strings.CutPrefix(s, "["+id+"] ")
		if !ok {
			return false
		}
		i := slices.IndexFunc(left, func(k string) bool {
			k = strings.TrimPrefix(k, "?")
			return k != "" && strings.HasPrefix(rest, k)
		})
		if i < 0 {
			i = slices.Index(left, "")
		}
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	for _, k := range left {
		if !strings.HasPrefix(k, "?") {
			return false
		}
	}
	return true
}

package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/ticket"
)

// The people of the demo. The IMAP login of each is the address.
var (
	Desk      = Person{Name: "Mesa de servicios OTI", Addr: "soporte.oti@" + Domain, Role: "support mailbox (read by ticketd)"}
	Requester = Person{Name: "Laura Gómez", Addr: "laura.gomez@" + Domain, Role: "requester (Contabilidad, piso 3)"}
	Agent     = Person{Name: "Carlos Pérez", Addr: "agente.mesa@" + Domain, Role: "service desk agent, level 1", Group: "mesa"}
	Network   = Person{Name: "Andrés Rojas", Addr: "andres.rojas@" + Domain, Role: "network specialist, level 2", Group: "redes"}
	OnSite    = Person{Name: "Jorge Méndez", Addr: "tecnico.sitio@" + Domain, Role: "on-site technician, level 2", Group: "sitio"}
	Provider  = Person{Name: "Conectividad Andina S.A.", Addr: "soporte@conectividad-andina.test", Role: "provider under contract, level 3", Group: "proveedor"}

	People = []Person{Desk, Requester, Agent, Network, OnSite, Provider}
)

// demoSubject is the subject of the request that opens the scripted case.
const demoSubject = "No tengo internet en el piso 3"

// timeline prints the demo's events, one block at a time, each stamped
// with the wall clock. It is safe for concurrent use.
type timeline struct {
	mu sync.Mutex
	w  io.Writer
}

const timelineIndent = "                "

// event prints a stamped line with a label and its continuation lines.
func (tl *timeline) event(label, head string, more ...string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	fmt.Fprintf(tl.w, "%s  %-6s  %s\n", time.Now().Format("15:04:05.000"), label, head)
	for _, m := range more {
		fmt.Fprintf(tl.w, "%s        %s\n", timelineIndent, m)
	}
}

// locked runs f with the timeline's writer, alone.
func (tl *timeline) locked(f func(w io.Writer)) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	f(tl.w)
}

// printf prints plain text, not stamped.
func (tl *timeline) printf(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	fmt.Fprintf(tl.w, format, args...)
}

// mail prints one delivered mail.
func (tl *timeline) mail(d delivery) {
	m := d.Mail
	from := m.From
	if from == "" {
		from = d.From
	}
	more := []string{fmt.Sprintf("Subject: %s", m.Subject)}
	if m.Ticket != "" {
		// ticketd's notices: the greeting and what happened.
		for _, l := range firstLines(m.Text, 3) {
			more = append(more, "| "+l)
		}
	} else {
		// What people write: the whole new text, and the start of what
		// they quote, which ticketd leaves out of the ticket.
		quoted := 0
		for _, l := range firstLines(m.Text, 40) {
			if strings.HasPrefix(l, ">") {
				if quoted++; quoted == 4 {
					more = append(more, "| > …")
				}
				if quoted > 3 {
					continue
				}
			}
			more = append(more, "| "+l)
		}
	}
	tl.event("mail", fmt.Sprintf("%s -> %s", from, strings.Join(d.To, ", ")), more...)
}

// change prints one history entry of a ticket.
func (tl *timeline) change(id ticket.ID, e ticket.Entry) {
	head := fmt.Sprintf("%s #%d %s by %s -> %s, level %d, group %s", id, e.Seq, e.Kind, e.Actor, e.State, e.Level, e.Group)
	if e.Assignee != "" {
		head += ", assignee " + e.Assignee
	}
	var more []string
	var keys []string
	for k := range e.Data {
		if k != "raw_sha256" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+e.Data[k])
		}
		more = append(more, strings.Join(kv, " "))
	}
	if e.Kind != ticket.KindOpened {
		for _, l := range firstLines(e.Text, 2) {
			more = append(more, "| "+l)
		}
	}
	tl.event("ticket", head, more...)
}

// demoScript plays the scripted case against the running daemon: each
// person sends real mail through the SMTP server and reads their INBOX
// over IMAP; the daemon's admin API tells when the ticket has changed.
type demoScript struct {
	tl          *timeline
	ms          *devmail.System
	adm         *admin.Client
	imapAddr    string
	smtpAddr    string
	password    string
	stepTimeout time.Duration
	pause       time.Duration // between steps

	id      ticket.ID
	printed int // history entries already printed
}

func (s *demoScript) mua(p Person) demoMUA {
	return demoMUA{me: p, smtpAddr: s.smtpAddr, imapAddr: s.imapAddr, password: s.password}
}

// expect is one thing a step waits for: a mail to someone whose subject
// contains a marker, or a condition on the ticket.
type expect struct {
	what   string
	to     Person // mail
	marker string // mail: part of the subject
	// untagged: the mail's subject need not hold the ticket's tag (the
	// answer to an unverified sender names no ticket).
	untagged bool
	ticket   func(admin.TicketJSON) bool
}

func mailTo(p Person, marker, what string) expect {
	return expect{what: what, to: p, marker: marker}
}

func untaggedMailTo(p Person, marker, what string) expect {
	return expect{what: what, to: p, marker: marker, untagged: true}
}

func ticketIs(what string, f func(admin.TicketJSON) bool) expect {
	return expect{what: what, ticket: f}
}

// stateIs matches a ticket's state, level and group.
func stateIs(state ticket.State, level ticket.Level, group string) expect {
	return ticketIs(fmt.Sprintf("ticket %s at level %d with %s", state, level, group), func(t admin.TicketJSON) bool {
		return t.State == state && t.Level == level && t.Group == group
	})
}

// step runs act, then waits until every expectation holds, printing the
// ticket's new history entries as they appear. It fails naming the step
// and what did not happen within the step timeout.
func (s *demoScript) step(ctx context.Context, n int, title string, act func(ctx context.Context) error, want ...expect) error {
	fail := func(err error) error { return fmt.Errorf("step %d (%s): %w", n, title, err) }
	s.tl.event("STEP", fmt.Sprintf("%d. %s", n, title))
	ctx, cancel := context.WithTimeout(ctx, s.stepTimeout)
	defer cancel()
	_, mark, _ := s.ms.Deliveries(1 << 30)
	if err := act(ctx); err != nil {
		return fail(err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ds, _, changed := s.ms.Deliveries(mark)
		missing, err := s.check(ctx, decodeDeliveries(ds), want)
		if len(missing) == 0 && err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
				return fail(cause)
			}
			if err != nil {
				missing = append(missing, "the admin API: "+err.Error())
			}
			return fail(fmt.Errorf("not done within %s: still waiting for %s", s.stepTimeout, strings.Join(missing, "; ")))
		case <-changed:
		case <-tick.C:
		}
	}
}

// check returns what of want has not happened yet, after printing the
// ticket's new history entries; ds are the deliveries since the step began.
func (s *demoScript) check(ctx context.Context, ds []delivery, want []expect) ([]string, error) {
	var t admin.TicketJSON
	if s.id == "" {
		ts, err := s.adm.Tickets(ctx, ticket.Filter{})
		if err != nil {
			return nil, err
		}
		for _, c := range ts {
			if c.Subject == demoSubject {
				s.id = c.ID
			}
		}
	}
	if s.id != "" {
		var err error
		if t, err = s.adm.Ticket(ctx, s.id); err != nil {
			return nil, err
		}
		for _, e := range t.History[min(s.printed, len(t.History)):] {
			s.tl.change(t.ID, e)
		}
		s.printed = max(s.printed, len(t.History))
	}
	var missing []string
	for _, w := range want {
		ok := false
		switch {
		case w.ticket != nil:
			ok = s.id != "" && w.ticket(t)
		case w.untagged:
			ok = s.id != "" && hasMail(ds, w.to.Addr, "", w.marker)
		default:
			ok = s.id != "" && hasMail(ds, w.to.Addr, ticket.ID(s.id).Tag(), w.marker)
		}
		if !ok {
			missing = append(missing, w.what)
		}
	}
	return missing, nil
}

// hasMail reports whether one of ds went to addr with a subject holding
// the ticket's tag and marker.
func hasMail(ds []delivery, addr, tag, marker string) bool {
	for _, d := range ds {
		for _, to := range d.To {
			if strings.EqualFold(to, addr) && strings.Contains(d.Mail.Subject, tag) && strings.Contains(d.Mail.Subject, marker) {
				return true
			}
		}
	}
	return false
}

// latest reads p's INBOX over IMAP and returns the newest mail about the
// ticket whose subject holds marker: the mail p answers.
func (s *demoScript) latest(ctx context.Context, p Person, marker string) (*Mail, error) {
	ms, err := s.mua(p).inbox(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.Contains(ms[i].Subject, s.id.Tag()) && strings.Contains(ms[i].Subject, marker) {
			return &ms[i], nil
		}
	}
	return nil, fmt.Errorf("no mail %q about %s in the INBOX of %s", marker, s.id, p.Addr)
}

// reply answers the newest mail of p whose subject holds marker, keeping
// the subject (and so the ticket's tag) and threading the reply.
func (s *demoScript) reply(p Person, marker, body string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		m, err := s.latest(ctx, p, marker)
		if err != nil {
			return err
		}
		_, err = s.mua(p).send(ctx, Desk, replySubject(m.Subject), body, m)
		return err
	}
}

func replySubject(s string) string {
	if strings.HasPrefix(strings.ToLower(s), "re:") {
		return s
	}
	return "Re: " + s
}

// The subjects of ticketd's Spanish notices, as the script recognises them
// (notify/templates/es/*.subject.tmpl).
const (
	subjNewTicket    = "Nuevo caso:"
	subjAssigned2    = "Caso asignado, nivel 2:"
	subjAssigned3    = "Caso asignado, nivel 3:"
	subjLevel2       = "Su caso pasó al nivel 2:"
	subjLevel3       = "Su caso pasó al nivel 3:"
	subjResolved     = "Caso resuelto:"
	subjResolvedDesk = "Resuelto, pendiente de cierre:"
	subjReopened     = "Caso reabierto, vuelve al nivel 1:"
	subjReopenedUser = "Su caso fue reabierto:"
	subjApplied      = "Órdenes aplicadas:"
	subjTransferred3 = "Caso trasladado al nivel 3"
	subjClosed       = "Caso cerrado:"
	subjUnverified   = "Órdenes no aplicadas: no se pudo verificar el remitente"
)

// play runs the eight steps of the scripted case.
func (s *demoScript) play(ctx context.Context) error {
	laura, carlos, andres, prov := Requester, Agent, Network, Provider
	steps := []struct {
		title string
		act   func(context.Context) error
		want  []expect
	}{
		{
			title: "Laura writes to the service desk: no internet on floor 3 (activity 1)",
			act: func(ctx context.Context) error {
				_, err := s.mua(laura).send(ctx, Desk, demoSubject, demoRequest, nil)
				return err
			},
			want: []expect{
				stateIs(ticket.StateOpen, ticket.Level1, "mesa"),
				mailTo(laura, demoSubject, "acknowledgement to Laura with the ticket ID"),
				mailTo(carlos, subjNewTicket, "new-ticket alert to the Mesa"),
			},
		},
		{
			title: "the Mesa classifies the case and escalates it to level 2, Redes (activities 2, 3, 5, 6)",
			act:   s.reply(carlos, subjNewTicket, demoClassify),
			want: []expect{
				ticketIs("ticket classified redes/alta", func(t admin.TicketJSON) bool { return t.Category == "redes" && t.Priority == "alta" }),
				stateIs(ticket.StateOpen, ticket.Level2, "redes"),
				mailTo(andres, subjAssigned2, "assignment to the network specialist"),
				mailTo(laura, subjLevel2, "level-2 notice to Laura"),
				mailTo(carlos, subjApplied, "receipt to the Mesa"),
			},
		},
		{
			title: "the specialist escalates to level 3, the provider (activities 7, 8, 9)",
			act:   s.reply(andres, subjAssigned2, demoEscalate3),
			want: []expect{
				stateIs(ticket.StateOpen, ticket.Level3, "proveedor"),
				mailTo(prov, subjAssigned3, "assignment to the provider"),
				mailTo(laura, subjLevel3, "level-3 notice to Laura"),
				mailTo(andres, subjApplied, "receipt to the specialist"),
				mailTo(carlos, subjTransferred3, "the Mesa hears of the escalation it did not make"),
			},
		},
		{
			title: "a forger writes as the Mesa, without logging in, to close the case for good: refused, the ticket does not change",
			act: func(ctx context.Context) error {
				forger := s.mua(carlos)
				forger.forged = true
				_, err := forger.send(ctx, Desk, "Re: "+s.id.Tag()+" "+demoSubject, demoForgedClose, nil)
				return err
			},
			want: []expect{
				ticketIs("a refused entry for the forged #cerrar, the ticket still open at level 3", func(t admin.TicketJSON) bool {
					last := t.History[len(t.History)-1]
					return last.Kind == ticket.KindRefused && last.Actor == carlos.Addr && last.Data["verified"] == "false" &&
						t.State == ticket.StateOpen && t.Level == ticket.Level3 && t.Group == "proveedor"
				}),
				untaggedMailTo(carlos, subjUnverified, "the answer to the forged address, naming no ticket"),
			},
		},
		{
			title: "the provider resolves the case (activity 10)",
			act:   s.reply(prov, subjAssigned3, demoProviderResolve),
			want: []expect{
				ticketIs("ticket resolved", func(t admin.TicketJSON) bool { return t.State == ticket.StateResolved }),
				mailTo(laura, subjResolved, "resolution to Laura"),
				mailTo(carlos, subjResolvedDesk, "pending-closure notice to the Mesa"),
				mailTo(prov, subjApplied, "receipt to the provider"),
			},
		},
		{
			title: "Laura answers that it still does not work: the case goes back to level 1 (activity 11, no)",
			act: func(ctx context.Context) error {
				m, err := s.latest(ctx, laura, subjResolved)
				if err != nil {
					return err
				}
				_, err = s.mua(laura).send(ctx, Desk, replySubject(m.Subject), demoReopen+quote(m, time.Now()), m)
				return err
			},
			want: []expect{
				stateIs(ticket.StateOpen, ticket.Level1, "mesa"),
				mailTo(carlos, subjReopened, "reopen alert to the Mesa"),
				mailTo(laura, subjReopenedUser, "reopen notice to Laura"),
			},
		},
		{
			title: "the Mesa finds the cause and resolves the case at level 1 (activities 4, 5)",
			act:   s.reply(carlos, subjReopened, demoDeskResolve),
			want: []expect{
				ticketIs("ticket resolved again", func(t admin.TicketJSON) bool { return t.State == ticket.StateResolved }),
				mailTo(laura, subjResolved, "second resolution to Laura"),
				mailTo(carlos, subjApplied, "receipt to the Mesa"),
			},
		},
		{
			title: "the Mesa closes the case definitively (activities 11, 12)",
			act:   s.reply(carlos, subjResolvedDesk, demoClose),
			want: []expect{
				ticketIs("ticket closed", func(t admin.TicketJSON) bool { return t.State == ticket.StateClosed }),
				mailTo(laura, subjClosed, "closure notice to Laura"),
				mailTo(carlos, subjApplied, "receipt to the Mesa"),
			},
		},
	}
	for i, st := range steps {
		if i > 0 && s.pause > 0 {
			t := time.NewTimer(s.pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return context.Cause(ctx)
			case <-t.C:
			}
		}
		if err := s.step(ctx, i+1, st.title, st.act, st.want...); err != nil {
			return err
		}
	}
	return nil
}

// The mails of the script, as people write them.
const (
	demoRequest = `Buenos días:

Desde esta mañana no tengo internet en el piso 3. El computador dice
"Sin acceso a internet" y tampoco abre la intranet. A mis compañeros
de la oficina 304 les pasa lo mismo.

Gracias,
Laura Gómez
Contabilidad, piso 3 - ext. 4312
`
	demoClassify = `#clasificar redes alta
#escalar nivel2 redes

Hablé con la usuaria: todo el piso 3 está sin red y el switch de
acceso no responde al ping. Pasa a Redes.

Carlos Pérez
Mesa de servicios
`
	demoEscalate3 = `#escalar nivel3 proveedor

El switch de acceso del piso 3 (SW-P3-01) está dañado: no enciende
ningún puerto. Está en garantía con Conectividad Andina; lo escalo
para que lo reemplacen hoy.

Andrés Rojas
Redes - OTI
`
	demoForgedClose = `#cerrar forzar ya quedó

Mesa de servicios
`
	demoProviderResolve = `#resolver Se reemplazó el switch del piso 3

Instalamos un equipo nuevo con la configuración del respaldo de ayer.
Todos los puertos tienen enlace.

Mesa de ayuda - Conectividad Andina S.A.
`
	demoReopen = `#reabrir sigue sin funcionar

Buenas tardes. Ya cambiaron el switch, pero mi computador sigue sin
internet. Los de la oficina 304 ya tienen conexión; yo no.

Laura

`
	demoDeskResolve = `#resolver El puerto 12 del switch nuevo quedó en una VLAN equivocada; se corrigió y la usuaria confirmó por teléfono que ya navega.
`
	demoClose = `#cerrar Confirmado con la usuaria. Gracias a Redes y al proveedor.
`
)

// quote returns m as a mail program quotes it below a reply: an
// attribution line in Spanish and the text with "> " before each line.
func quote(m *Mail, now time.Time) string {
	days := []string{"dom", "lun", "mar", "mié", "jue", "vie", "sáb"}
	months := []string{"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"}
	var b strings.Builder
	fmt.Fprintf(&b, "El %s, %d %s %d a las %s, %s escribió:\n", days[now.Weekday()], now.Day(), months[now.Month()-1], now.Year(),
		now.Format("15:04"), m.From)
	for _, l := range strings.Split(strings.TrimRight(m.Text, "\n"), "\n") {
		if l == "" {
			b.WriteString(">\n")
			continue
		}
		b.WriteString("> " + l + "\n")
	}
	return b.String()
}

package ticket

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	agent      = "agente@oti.example"
	agent2     = "agente2@oti.example"
	specialist = "especialista@oti.example"
	onsite     = "tecnico@oti.example"
	engineer   = "ingeniero@oti.example"
	provider   = "soporte@proveedor.example"
	requester  = "usuario@unidad.example"
	stranger   = "otro@unidad.example"
	colleague  = "colega@unidad.example" // copied on the request: takes part, may give no command
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

func testDirectory(tb testing.TB) *Directory {
	tb.Helper()
	d, err := NewDirectory([]Group{
		{Name: "mesa", Level: Level1, Members: []string{agent, "Agente Dos <" + agent2 + ">"}},
		{Name: "redes", Level: Level2, Kind: GroupSpecialist, Members: []string{specialist}, Default: true},
		{Name: "sitio", Level: Level2, Kind: GroupOnSite, Members: []string{onsite}},
		{Name: "infra", Level: Level3, Kind: GroupSpecialist, Members: []string{engineer}},
		{Name: "proveedor", Level: Level3, Kind: GroupProvider, Members: []string{provider}, Default: true},
	})
	if err != nil {
		tb.Fatalf("NewDirectory: %v", err)
	}
	return d
}

func testDesk(tb testing.TB) *Desk {
	tb.Helper()
	d, err := NewDesk(testDirectory(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// step is one mail in a scenario.
type step struct {
	from string
	body string
}

// play opens a ticket with a request from requester and threads each step
// onto it, one minute apart, returning the ticket and the last outcome.
func play(tb testing.TB, d *Desk, steps ...step) (*Ticket, Outcome) {
	tb.Helper()
	now := t0
	o := d.Open("OTI-2026-000001", Inbound{Sender: verified, MessageID: "m0@x", From: Address{Name: "Usuario", Addr: requester},
		Subject: "No tengo red", Text: "Desde ayer no tengo red en el piso 3", Cc: []Address{{Addr: colleague}}}, "", now)
	t := o.Ticket
	for i, s := range steps {
		now = now.Add(time.Minute)
		o = d.Reply(t, Inbound{Sender: verified, MessageID: fmt.Sprintf("m%d@x", i+1), From: Address{Addr: s.from}, Text: s.body}, now)
	}
	return t, o
}

func kinds(es []Entry) []Kind {
	out := make([]Kind, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

func noticeKinds(ns []Notice) []NoticeKind {
	out := make([]NoticeKind, len(ns))
	for i, n := range ns {
		out[i] = n.Kind
	}
	return out
}

// TestFlowDiagram walks every arrow of the seed's flow diagram (activities 1
// to 12, both branches of 3, 5, 6, 8 and 11).
func TestFlowDiagram(t *testing.T) {
	type want struct {
		state State
		level Level
		group string
		kinds []Kind // the kinds of the whole history
	}
	cases := []struct {
		name  string
		steps []step
		want  want
	}{
		{"1-2 receive, open and classify", []step{{agent, "#clasificar redes alta"}},
			want{StateOpen, Level1, "mesa", []Kind{KindOpened, KindClassified}}},
		{"3 yes, 4, 5 yes, 11 yes, 12: level 1 solves and the desk closes", []step{
			{agent, "#clasificar software media"}, {agent, "Reinicie el equipo, por favor."},
			{agent, "#resolver Se reinició el equipo"}, {agent, "#cerrar"}},
			want{StateClosed, Level1, "mesa", []Kind{KindOpened, KindClassified, KindReplied, KindResolved, KindClosed}}},
		{"5 no, 6 yes, 7, 8 yes, 11 yes: level 2 solves", []step{
			{agent, "#escalar nivel2 redes"}, {specialist, "#nota Cambio el patch cord"},
			{specialist, "#resolver Patch cord cambiado"}, {agent, "#cerrar"}},
			want{StateClosed, Level2, "redes", []Kind{KindOpened, KindEscalated, KindNoted, KindResolved, KindClosed}}},
		{"8 no, 9, 10, 11 yes: level 3 solves", []step{
			{agent, "#escalar nivel2"}, {specialist, "#escalar nivel3 proveedor"},
			{provider, "#resolver Switch reemplazado en garantía"}, {agent, "#cerrar Gracias"}},
			want{StateClosed, Level3, "proveedor", []Kind{KindOpened, KindEscalated, KindEscalated, KindResolved, KindClosed}}},
		{"6 no, 9: the desk escalates straight to level 3", []step{
			{agent, "#escalar nivel 3 infra"}, {engineer, "#resolver listo"}},
			want{StateResolved, Level3, "infra", []Kind{KindOpened, KindEscalated, KindResolved}}},
		{"11 no, back to 4: the requester reopens, the case returns to level 1", []step{
			{agent, "#escalar n2"}, {specialist, "#resolver"}, {requester, "#reabrir sigue sin funcionar"}},
			want{StateOpen, Level1, "mesa", []Kind{KindOpened, KindEscalated, KindResolved, KindReopened}}},
		{"11 no: the desk reopens instead of closing", []step{
			{agent, "#escalar 2 sitio"}, {onsite, "#resolver"}, {agent, "#reabrir el usuario llamó"}},
			want{StateOpen, Level1, "mesa", []Kind{KindOpened, KindEscalated, KindResolved, KindReopened}}},
		{"reopened case goes round again and is closed", []step{
			{agent, "#escalar nivel2"}, {specialist, "#resolver"}, {requester, "#reabrir"},
			{agent, "#resolver ahora sí"}, {agent, "#cerrar"}},
			want{StateClosed, Level1, "mesa", []Kind{KindOpened, KindEscalated, KindResolved, KindReopened, KindResolved, KindClosed}}},
		{"several commands in one mail apply in order", []step{
			{agent, "#clasificar redes\n#escalar nivel2 redes\nRevisar el switch del piso 3"}},
			want{StateOpen, Level2, "redes", []Kind{KindOpened, KindClassified, KindEscalated}}},
		{"the desk resolves and closes in one mail", []step{{agent, "#resolver hecho\n#cerrar"}},
			want{StateClosed, Level1, "mesa", []Kind{KindOpened, KindResolved, KindClosed}}},
		{"the desk force-closes a case never resolved", []step{{agent, "#cerrar forzar duplicado de OTI-2026-000007"}},
			want{StateClosed, Level1, "mesa", []Kind{KindOpened, KindClosed}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tk, _ := play(t, testDesk(t), tc.steps...)
			if tk.State != tc.want.state || tk.Level != tc.want.level || tk.Group != tc.want.group {
				t.Errorf("got state %s level %d group %s, want %s %d %s", tk.State, tk.Level, tk.Group, tc.want.state, tc.want.level, tc.want.group)
			}
			if got := kinds(tk.History); !slices.Equal(got, tc.want.kinds) {
				t.Errorf("history kinds = %v, want %v", got, tc.want.kinds)
			}
			if err := Verify(tk.History, tk.Head(), len(tk.History)); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// TestRefusedTransitions covers every transition the procedure does not
// allow: the ticket does not change, the refusal is recorded with its reason
// and the sender gets a receipt.
func TestRefusedTransitions(t *testing.T) {
	cases := []struct {
		name   string
		before []step
		from   string
		body   string
		reason string // a fragment of the recorded reason
	}{
		{"escalate downwards", []step{{agent, "#escalar nivel3"}}, agent, "#escalar nivel2", "solo se escala hacia un nivel superior"},
		{"escalate to the same level", []step{{agent, "#escalar nivel2"}}, agent, "#escalar nivel2 sitio", "solo se escala hacia un nivel superior"},
		{"escalate from level 3", []step{{agent, "#escalar nivel3"}}, provider, "#escalar nivel3", "último nivel"},
		{"escalate to level 1", nil, agent, "#escalar nivel1", "#reabrir"},
		{"escalate a resolved ticket", []step{{agent, "#resolver"}}, agent, "#escalar nivel2", "#reabrir"},
		{"escalate a closed ticket", []step{{agent, "#resolver"}, {agent, "#cerrar"}}, agent, "#escalar nivel2", "cerrado definitivamente"},
		{"escalate to an unknown group", nil, agent, "#escalar nivel2 bases", "no existe el grupo"},
		{"escalate to a group of another level", nil, agent, "#escalar nivel2 infra", "no existe el grupo"},
		{"close an open ticket", nil, agent, "#cerrar", "no está resuelto"},
		{"force-close without a reason", nil, agent, "#cerrar forzar", "exige un motivo"},
		{"close twice", []step{{agent, "#resolver"}, {agent, "#cerrar"}}, agent, "#cerrar", "cerrado definitivamente"},
		{"reopen an open ticket", nil, requester, "#reabrir", "no está resuelto"},
		{"reopen a closed ticket", []step{{agent, "#resolver"}, {agent, "#cerrar"}}, agent, "#reabrir", "cerrado definitivamente"},
		{"resolve twice", []step{{agent, "#resolver"}}, agent, "#resolver", "ya está resuelto"},
		{"assign a resolved ticket", []step{{agent, "#resolver"}}, agent, "#asignar mesa", "no está abierto"},
		{"assign to a group of another level", nil, agent, "#asignar redes", "use #escalar"},
		{"assign to an unknown group", nil, agent, "#asignar nadie", "no existe el grupo"},
		{"assign to a person of another level", nil, agent, "#asignar " + specialist, "no pertenece a ningún grupo de nivel 1"},
		{"level 2 closes", []step{{agent, "#escalar nivel2"}, {specialist, "#resolver"}}, specialist, "#cerrar", "solo la Mesa"},
		{"level 2 classifies", []step{{agent, "#escalar nivel2"}}, specialist, "#clasificar redes", "solo la Mesa"},
		{"level 2 acts on a level-1 ticket", nil, specialist, "#resolver", "está en nivel 1"},
		{"level 3 acts on a level-2 ticket", []step{{agent, "#escalar nivel2"}}, provider, "#resolver", "está en nivel 2"},
		{"level 2 reopens", []step{{agent, "#escalar nivel2"}, {specialist, "#resolver"}}, specialist, "#reabrir", "solo la Mesa"},
		{"requester resolves", nil, requester, "#resolver ya funciona", "como solicitante"},
		{"requester closes", []step{{agent, "#resolver"}}, requester, "#cerrar", "como solicitante"},
		{"requester escalates", nil, requester, "#escalar nivel2", "como solicitante"},
		{"a copied colleague reopens", []step{{agent, "#resolver"}}, colleague, "#reabrir", "no tiene permiso"},
		{"bad priority", nil, agent, "#prioridad altísima", "prioridad desconocida"},
		{"empty note", nil, agent, "#nota", "la nota está vacía"},
		{"one bad command spoils the mail", nil, agent, "#clasificar redes\n#escalar nivel7", "nivel desconocido"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := testDesk(t)
			tk, _ := play(t, d, tc.before...)
			before := tk.Clone()
			o := d.Reply(tk, Inbound{Sender: verified, MessageID: "bad@x", From: Address{Addr: tc.from}, Text: tc.body}, t0.Add(time.Hour))
			if !o.Refused {
				t.Fatalf("Reply(%q from %s) was not refused", tc.body, tc.from)
			}
			if tk.State != before.State || tk.Level != before.Level || tk.Group != before.Group ||
				tk.Category != before.Category || tk.Priority != before.Priority {
				t.Errorf("ticket changed: %+v -> %+v", before, tk)
			}
			last := tk.History[len(tk.History)-1]
			if last.Kind != KindRefused || !strings.Contains(last.Data["reason"], tc.reason) {
				t.Errorf("last entry = %s %q, want refused with reason containing %q", last.Kind, last.Data["reason"], tc.reason)
			}
			if last.MessageID != "bad@x" || last.Actor != tc.from {
				t.Errorf("refusal recorded as from %s by mail %s", last.Actor, last.MessageID)
			}
			for _, r := range o.Results {
				if r.Status == ResultRefused && (r.ReasonEN == "" || r.ReasonEN == r.Reason || strings.Contains(r.ReasonEN, "%!")) {
					t.Errorf("refusal %q has English text %q", r.Reason, r.ReasonEN)
				}
			}
			if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeReceipt}) {
				t.Errorf("notices = %v, want only a receipt", got)
			}
			if o.Notices[0].To[0].Addr != tc.from {
				t.Errorf("receipt to %v, want %s", o.Notices[0].To, tc.from)
			}
		})
	}
}

// TestPermissions is the table of who may use which command on a ticket at
// a given level and state.
func TestPermissions(t *testing.T) {
	d := testDesk(t)
	tk := &Ticket{ID: "OTI-2026-000001", Requester: Address{Addr: requester}}
	type row struct {
		who   string
		level Level
		allow []Verb
	}
	rows := []row{
		{agent, Level1, AllVerbs()},
		{agent, Level2, AllVerbs()},
		{agent, Level3, AllVerbs()},
		{specialist, Level1, []Verb{VerbHelp}},
		{specialist, Level2, []Verb{VerbEscalate, VerbAssign, VerbResolve, VerbNote, VerbHelp}},
		{specialist, Level3, []Verb{VerbHelp}},
		{onsite, Level2, []Verb{VerbEscalate, VerbAssign, VerbResolve, VerbNote, VerbHelp}},
		{provider, Level2, []Verb{VerbHelp}},
		{provider, Level3, []Verb{VerbEscalate, VerbAssign, VerbResolve, VerbNote, VerbHelp}},
		{engineer, Level3, []Verb{VerbEscalate, VerbAssign, VerbResolve, VerbNote, VerbHelp}},
		{requester, Level1, []Verb{VerbReopen, VerbHelp}},
		{requester, Level3, []Verb{VerbReopen, VerbHelp}},
		{stranger, Level1, []Verb{VerbHelp}},
	}
	for _, r := range rows {
		t.Run(fmt.Sprintf("%s at level %d", r.who, r.level), func(t *testing.T) {
			tk.Level = r.level
			for _, v := range AllVerbs() {
				err := d.allowed(tk, r.who, v)
				if want := slices.Contains(r.allow, v); (err == nil) != want {
					t.Errorf("allowed(%s, %s) = %v, want allowed=%v", r.who, v, err, want)
				}
			}
			if got := d.AllowedVerbs(tk, r.who); !slices.Equal(got, filterVerbs(r.allow)) {
				t.Errorf("AllowedVerbs = %v, want %v", got, r.allow)
			}
		})
	}
}

func filterVerbs(allow []Verb) []Verb {
	var out []Verb
	for _, v := range AllVerbs() {
		if slices.Contains(allow, v) {
			out = append(out, v)
		}
	}
	return out
}

func TestOpenNotices(t *testing.T) {
	d := testDesk(t)
	o := d.Open("OTI-2026-000009", Inbound{Sender: verified, MessageID: "a@x", From: Address{Name: "Ana", Addr: "Ana@Unidad.example"},
		Subject: "RE: [OTI-2026-000001]  impresora ", Text: "No imprime", RawSHA256: "abc",
		Attachments: []Attachment{{Filename: "foto.jpg", Size: 10, SHA256: "def"}},
		Problems:    []string{"unknown charset x-foo"}}, "OTI-2026-000001", t0)
	tk := o.Ticket
	if tk.Subject != "RE: impresora" || tk.Requester.Addr != "Ana@unidad.example" || tk.RelatedTo != "OTI-2026-000001" {
		t.Errorf("ticket = %+v", tk)
	}
	if got := kinds(tk.History); !slices.Equal(got, []Kind{KindOpened, KindDegraded}) {
		t.Errorf("kinds = %v", got)
	}
	e := tk.History[0]
	if e.Data["via"] != "mail" || e.Data["raw_sha256"] != "abc" || e.Data["related_to"] != "OTI-2026-000001" || !strings.Contains(e.Data["attachments"], "foto.jpg") {
		t.Errorf("opened entry data = %v", e.Data)
	}
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeAck, NoticeNewTicket}) {
		t.Fatalf("notices = %v", got)
	}
	if o.Notices[0].InReplyTo != "a@x" || o.Notices[0].To[0].Addr != "Ana@unidad.example" {
		t.Errorf("ack = %+v", o.Notices[0])
	}
	if len(o.Notices[1].To) != 2 || o.Notices[1].Ticket != tk {
		t.Errorf("alert = %+v", o.Notices[1])
	}
	// By phone: the agent is the actor.
	o = d.Open("OTI-2026-000010", Inbound{Sender: verified, MessageID: "p@x", From: Address{Addr: requester}, Subject: "", Via: agent}, "", t0)
	if o.Ticket.History[0].Actor != agent || o.Ticket.History[0].Data["via"] != "phone" || o.Ticket.Subject != "(sin asunto)" {
		t.Errorf("phone ticket = %+v", o.Ticket)
	}
}

func TestOpenByStaffAppliesCommands(t *testing.T) {
	d := testDesk(t)
	o := d.Open("OTI-2026-000011", Inbound{Sender: verified, MessageID: "s@x", From: Address{Addr: agent}, Subject: "Caída",
		Text: "El usuario llamó.\n#clasificar redes alta\n#escalar nivel2"}, "", t0)
	if o.Ticket.Level != Level2 || o.Ticket.Priority != PriorityHigh {
		t.Errorf("ticket = level %d priority %s", o.Ticket.Level, o.Ticket.Priority)
	}
	want := []NoticeKind{NoticeAssigned, NoticeLevelChanged, NoticeReceipt, NoticeAck, NoticeNewTicket}
	if got := noticeKinds(o.Notices); !slices.Equal(got, want) {
		t.Errorf("notices = %v, want %v", got, want)
	}
	// A requester's "#resolver" in a first mail opens the ticket all the same.
	o = d.Open("OTI-2026-000012", Inbound{Sender: verified, MessageID: "u@x", From: Address{Addr: requester}, Text: "#resolver"}, "", t0)
	if o.Ticket.State != StateOpen || o.Refused {
		t.Errorf("requester's first mail: state %s refused %v", o.Ticket.State, o.Refused)
	}
}

func TestReplyNotices(t *testing.T) {
	cases := []struct {
		name   string
		before []step
		from   string
		body   string
		want   []NoticeKind
		to     []string // recipients of the first notice
	}{
		{"staff reply relayed to requester", nil, agent, "Reinicie el equipo", []NoticeKind{NoticeReply}, []string{requester}},
		{"requester reply relayed to holders", []step{{agent, "#escalar nivel2"}}, requester, "Sigue igual", []NoticeKind{NoticeRequesterReply}, []string{specialist}},
		{"requester reply to an assignee", []step{{agent, "#asignar " + agent2}}, requester, "Hola", []NoticeKind{NoticeRequesterReply}, []string{agent2}},
		{"requester reply on a resolved case reaches the desk", []step{{agent, "#escalar nivel2"}, {specialist, "#resolver"}}, requester, "No funciona",
			[]NoticeKind{NoticeRequesterReply}, []string{specialist, agent, agent2}},
		{"escalation", nil, agent, "#escalar nivel2\nRevisar switch", []NoticeKind{NoticeAssigned, NoticeLevelChanged, NoticeReceipt}, []string{specialist}},
		{"assignment to a group", []step{{agent, "#escalar nivel2"}}, specialist, "#asignar sitio", []NoticeKind{NoticeAssigned, NoticeTransferred, NoticeReceipt}, []string{onsite}},
		{"level 2 escalates to level 3: the desk is told", []step{{agent, "#escalar nivel2"}}, specialist, "#escalar nivel3 infra",
			[]NoticeKind{NoticeAssigned, NoticeLevelChanged, NoticeTransferred, NoticeReceipt}, []string{engineer}},
		{"the desk assigns within level 1: its receipt, no notice to itself", nil, agent, "#asignar " + agent2, []NoticeKind{NoticeAssigned, NoticeReceipt}, []string{agent2}},
		{"resolution", nil, agent, "#resolver listo", []NoticeKind{NoticeResolved, NoticeResolvedDesk, NoticeReceipt}, []string{requester}},
		{"closure", []step{{agent, "#resolver"}}, agent, "#cerrar", []NoticeKind{NoticeClosed, NoticeReceipt}, []string{requester}},
		{"reopened by the requester: no receipt, reopened_user says it", []step{{agent, "#resolver"}}, requester, "#reabrir", []NoticeKind{NoticeReopened, NoticeReopenedUser}, []string{agent, agent2}},
		{"a refused command of the requester is answered", nil, requester, "#reabrir", []NoticeKind{NoticeReceipt}, []string{requester}},
		{"reopened by the desk", []step{{agent, "#resolver"}}, agent2, "#reabrir", []NoticeKind{NoticeReopened, NoticeReopenedUser, NoticeReceipt}, []string{agent, agent2}},
		{"note goes to no one", nil, agent, "#nota llamar mañana", []NoticeKind{NoticeReceipt}, []string{agent}},
		{"help alone", nil, specialist, "#ayuda", []NoticeKind{NoticeHelp}, []string{specialist}},
		{"help with another command", nil, agent, "#ayuda\n#nota x", []NoticeKind{NoticeHelp, NoticeReceipt}, []string{agent}},
		{"staff writes on a closed case", []step{{agent, "#resolver"}, {agent, "#cerrar"}}, agent, "dato adicional", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := testDesk(t)
			tk, _ := play(t, d, tc.before...)
			o := d.Reply(tk, Inbound{Sender: verified, MessageID: "r@x", From: Address{Addr: tc.from}, Text: tc.body}, t0.Add(time.Hour))
			if got := noticeKinds(o.Notices); !slices.Equal(got, tc.want) {
				t.Fatalf("notices = %v, want %v", got, tc.want)
			}
			if len(tc.want) == 0 {
				return
			}
			var to []string
			for _, a := range o.Notices[0].To {
				to = append(to, a.Addr)
			}
			if !slices.Equal(to, tc.to) {
				t.Errorf("first notice to %v, want %v", to, tc.to)
			}
			for _, n := range o.Notices {
				if n.Ticket != tk {
					t.Errorf("notice %s does not carry the final ticket", n.Kind)
				}
			}
		})
	}
}

func TestReplyRecordsAutoAndDegraded(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d)
	o := d.Reply(tk, Inbound{Sender: verified, MessageID: "ooo@x", From: Address{Addr: requester}, Text: "Estoy de vacaciones\n#cerrar", Auto: "auto-submitted: auto-replied", RawSHA256: "r"}, t0)
	if len(o.Notices) != 0 || tk.State != StateOpen {
		t.Errorf("auto-reply: notices %v, state %s", noticeKinds(o.Notices), tk.State)
	}
	if e := tk.History[len(tk.History)-1]; e.Kind != KindAutoReply || e.Data["reason"] != "auto-submitted: auto-replied" {
		t.Errorf("last entry = %+v", e)
	}
	o = d.Reply(tk, Inbound{Sender: verified, MessageID: "big@x", From: Address{Addr: requester}, Text: "adjunto", Problems: []string{"mail larger than 25 MiB: only the first 25 MiB were kept"}}, t0)
	if got := kinds(o.Entries); !slices.Equal(got, []Kind{KindDegraded, KindReplied}) {
		t.Errorf("entries = %v", got)
	}
}

func TestAssignPerson(t *testing.T) {
	d := testDesk(t)
	tk, o := play(t, d, step{agent, "#escalar nivel2"}, step{specialist, "#asignar " + onsite + " pasar por la oficina"})
	if tk.Group != "sitio" || tk.Assignee != onsite || o.Refused {
		t.Fatalf("group %s assignee %s refused %v", tk.Group, tk.Assignee, o.Refused)
	}
	if e := tk.History[len(tk.History)-1]; e.Kind != KindAssigned || e.Text != "pasar por la oficina" {
		t.Errorf("entry = %+v", e)
	}
	if !slices.Equal(holderAddrs(tk, d), []string{onsite}) {
		t.Errorf("holders = %v", holderAddrs(tk, d))
	}
	// Escalating clears the assignee.
	play2, _ := play(t, d, step{agent, "#asignar " + agent2}, step{agent2, "#escalar nivel3 infra"})
	if play2.Assignee != "" || play2.Group != "infra" {
		t.Errorf("after escalation: group %s assignee %q", play2.Group, play2.Assignee)
	}
}

func holderAddrs(tk *Ticket, d *Desk) []string {
	var out []string
	for _, a := range tk.Holders(d.Directory()) {
		out = append(out, a.Addr)
	}
	return out
}

func TestCommentAndText(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d, step{agent, "Buenos días:\n#resolver Cambio de cable\nQuedó funcionando.\n> #cerrar citado\n"})
	e := tk.History[len(tk.History)-1]
	if e.Kind != KindResolved || e.Text != "Cambio de cable\n\nBuenos días:\nQuedó funcionando." {
		t.Errorf("entry %s text %q", e.Kind, e.Text)
	}
	if tk.State != StateResolved {
		t.Errorf("quoted #cerrar applied: state %s", tk.State)
	}
}

func TestTimeAtLevel(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d,
		step{agent, "#escalar nivel2"},      // t0+1m
		step{specialist, "#escalar nivel3"}, // +2m
		step{provider, "#resolver"},         // +3m
		step{requester, "#reabrir"},         // +4m
		step{agent, "#resolver"},            // +5m
		step{agent, "#cerrar"},              // +6m
	)
	lt := TimeAtLevel(tk.History, d.Directory(), t0.Add(time.Hour))
	want := LevelTimes{Level1: 2 * time.Minute, Level2: time.Minute, Level3: time.Minute, Provider: time.Minute, Resolved: 2 * time.Minute}
	if lt != want {
		t.Errorf("TimeAtLevel = %+v, want %+v", lt, want)
	}
	open, _ := play(t, d, step{agent, "#escalar nivel2"})
	if lt := TimeAtLevel(open.History, d.Directory(), t0.Add(11*time.Minute)); lt.Level2 != 10*time.Minute || lt.Level1 != time.Minute {
		t.Errorf("open ticket: %+v", lt)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d, step{agent, "#escalar nivel2"}, step{specialist, "#resolver"}, step{agent, "#cerrar"})
	n, head := len(tk.History), tk.Head()
	if err := Verify(tk.History, head, n); err != nil {
		t.Fatalf("Verify untouched: %v", err)
	}
	tamper := map[string]func([]Entry) []Entry{
		"text changed":       func(h []Entry) []Entry { h[1].Text = "otro"; return h },
		"actor changed":      func(h []Entry) []Entry { h[2].Actor = "x@y"; return h },
		"time changed":       func(h []Entry) []Entry { h[0].At = h[0].At.Add(time.Second); return h },
		"data changed":       func(h []Entry) []Entry { h[1].Data["group"] = "sitio"; return h },
		"middle removed":     func(h []Entry) []Entry { return append(h[:1], h[2:]...) },
		"last removed":       func(h []Entry) []Entry { return h[:len(h)-1] },
		"reordered":          func(h []Entry) []Entry { h[1], h[2] = h[2], h[1]; return h },
		"rehashed one entry": func(h []Entry) []Entry { h[1].Text = "x"; h[1].Hash = h[1].computeHash(); return h },
	}
	for name, f := range tamper {
		t.Run(name, func(t *testing.T) {
			h := f(tk.Clone().History)
			err := Verify(h, head, n)
			if !errors.Is(err, ErrTampered) {
				t.Errorf("Verify = %v, want ErrTampered", err)
			}
		})
	}
}

func TestNewDirectoryErrors(t *testing.T) {
	_, err := NewDirectory([]Group{
		{Name: "redes", Level: 2, Members: []string{"no es una dirección"}},
		{Name: "redes", Level: 2},
		{Name: "x y", Level: 2},
		{Name: "n4", Level: 4},
		{Name: "a", Level: 2, Default: true},
		{Name: "b", Level: 2, Default: true},
		{Name: "c", Level: 3, Kind: "robot"},
	})
	if err == nil {
		t.Fatal("NewDirectory accepted bad groups")
	}
	for _, want := range []string{"member", "defined twice", "one word", "level 4", "already has default", "kind", "no level-1 group"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := NewDesk(nil); err == nil {
		t.Error("NewDesk(nil) succeeded")
	}
}

func TestDirectoryLookups(t *testing.T) {
	d := testDirectory(t)
	if g, ok := d.DefaultGroup(Level2); !ok || g.Name != "redes" {
		t.Errorf("default level 2 = %v", g)
	}
	if g, ok := d.DefaultGroup(Level3); !ok || g.Name != "proveedor" || g.Kind != GroupProvider {
		t.Errorf("default level 3 = %v", g)
	}
	if d.Desk().Name != "mesa" || d.Desk().Kind != GroupDesk {
		t.Errorf("desk = %v", d.Desk())
	}
	if !d.IsDesk("AGENTE2@oti.example") || d.IsDesk(specialist) || !d.IsStaff(provider) || d.IsStaff(requester) {
		t.Error("membership wrong")
	}
	if len(d.Groups()) != 5 || d.MemberAddresses("nada") != nil {
		t.Error("Groups/MemberAddresses wrong")
	}
}

// TestEveryEntryOfAMailNamesItsRawCopy: each entry a mail causes carries
// the SHA-256 of the raw mail as received.
func TestEveryEntryOfAMailNamesItsRawCopy(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d)
	d.Reply(tk, Inbound{Sender: verified, MessageID: "c@x", From: Address{Addr: agent}, Text: "#clasificar redes\n#escalar nivel2", RawSHA256: "feed"}, t0)
	d.Reply(tk, Inbound{Sender: verified, MessageID: "r@x", From: Address{Addr: agent}, Text: "#cerrar", RawSHA256: "beef"}, t0) // refused
	for _, e := range tk.History[1:] {
		want := map[string]string{"c@x": "feed", "r@x": "beef"}[e.MessageID]
		if e.Data["raw_sha256"] != want {
			t.Errorf("entry %d (%s) raw_sha256 = %q, want %q", e.Seq, e.Kind, e.Data["raw_sha256"], want)
		}
	}
	if err := Verify(tk.History, tk.Head(), len(tk.History)); err != nil {
		t.Fatal(err)
	}
}

// verified is the sender verification of the tests' mails from people who
// are who they say.
var verified = Trusted("test")

// TestDeskHearsOfTransfers: when level 2 or 3 moves a case (up a level, to
// another group, to a person), every member of the Mesa is told, except
// those the case now goes to, who get the assignment.
func TestDeskHearsOfTransfers(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d, step{agent, "#escalar nivel2"})
	o := d.Reply(tk, Inbound{Sender: verified, MessageID: "r@x", From: Address{Addr: specialist}, Text: "#escalar nivel3 infra\nNo es de red, es del servidor."}, t0.Add(time.Hour))
	var got *Notice
	for i := range o.Notices {
		if o.Notices[i].Kind == NoticeTransferred {
			got = &o.Notices[i]
		}
	}
	if got == nil {
		t.Fatalf("notices %v: the desk is not told of the escalation to level 3", noticeKinds(o.Notices))
	}
	var to []string
	for _, a := range got.To {
		to = append(to, a.Addr)
	}
	if !slices.Equal(to, []string{agent, agent2}) || got.Actor != specialist || got.Text != "No es de red, es del servidor." {
		t.Errorf("transferred to %v by %s with %q", to, got.Actor, got.Text)
	}
	if !got.Kind.ForStaff() {
		t.Error("transferred is not a staff notice")
	}
}

// TestRequesterNoticesOff: a desk configured not to send level_changed
// sends the requester nothing when the case changes level, and the other
// notices as before.
func TestRequesterNoticesOff(t *testing.T) {
	d, err := NewDesk(testDirectory(t), WithRequesterNotices(map[NoticeKind]bool{NoticeLevelChanged: false}))
	if err != nil {
		t.Fatal(err)
	}
	_, o := play(t, d, step{agent, "#escalar nivel2"})
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeAssigned, NoticeReceipt}) {
		t.Errorf("notices %v, want no level_changed", got)
	}
	_, o = play(t, d, step{agent, "#resolver"})
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeResolved, NoticeResolvedDesk, NoticeReceipt}) {
		t.Errorf("notices %v, want resolved still sent", got)
	}
	// With reopened_user off the requester's own #reabrir is confirmed by
	// her receipt instead.
	d, _ = NewDesk(testDirectory(t), WithRequesterNotices(map[NoticeKind]bool{NoticeReopenedUser: false}))
	_, o = play(t, d, step{agent, "#resolver"}, step{requester, "#reabrir"})
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeReopened, NoticeReceipt}) {
		t.Errorf("notices %v, want reopened and her receipt", got)
	}
	if _, err := NewDesk(testDirectory(t), WithRequesterNotices(map[NoticeKind]bool{NoticeReceipt: false})); err == nil {
		t.Error("NewDesk accepted turning off receipts, which are not a requester notice that may be turned off")
	}
}

// TestDirectoryNames: a member written "Name <addr>" is known by that
// name, a group by its label; the plain address form stays valid.
func TestDirectoryNames(t *testing.T) {
	d, err := NewDirectory([]Group{
		{Name: "mesa", Level: Level1, Label: "Mesa de servicios", Members: []string{"Carlos Pérez <Carlos@OTI.example>", agent}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.DisplayName("carlos@oti.example"); got != "Carlos Pérez" {
		t.Errorf("DisplayName = %q", got)
	}
	if got := d.DisplayName(agent); got != "" {
		t.Errorf("DisplayName(plain address) = %q, want none", got)
	}
	if got := d.GroupLabel("MESA"); got != "Mesa de servicios" {
		t.Errorf("GroupLabel = %q", got)
	}
	if got := d.MemberAddresses("mesa"); got[0] != (Address{Name: "Carlos Pérez", Addr: "carlos@oti.example"}) {
		t.Errorf("MemberAddresses = %+v", got)
	}
	if _, err := NewDirectory([]Group{
		{Name: "mesa", Level: Level1, Members: []string{"Carlos <c@oti.example>"}},
		{Name: "redes", Level: Level2, Members: []string{"Carla <c@oti.example>"}},
	}); err == nil {
		t.Error("one address with two names was accepted")
	}
}

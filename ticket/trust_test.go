package ticket

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// forged is what the intake says of a mail whose From it could not prove.
var forged = Verification{Reason: "sin DKIM válido ni resultado DMARC del servidor propio", ReasonEN: "no valid DKIM signature and no DMARC result from our own server"}

// notRevealing checks that every notice of o to addr is of a kind that
// shows nothing of the ticket.
func notRevealing(t *testing.T, o Outcome, addr string) {
	t.Helper()
	for _, n := range o.Notices {
		for _, to := range n.To {
			if to.Addr == addr && n.Kind.RevealsTicket() {
				t.Errorf("%s got a %s notice, which shows the ticket", addr, n.Kind)
			}
		}
	}
}

// TestUnverifiedCommandsRefused: a mail whose From is the desk agent but
// whose sender could not be verified changes nothing; the refusal is
// recorded with the evidence that failed; the sender is told only that.
func TestUnverifiedCommandsRefused(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d)
	before := tk.Clone()
	o := d.Reply(tk, Inbound{Sender: forged, MessageID: "f@x", From: Address{Addr: agent}, Text: "#escalar nivel3\n#cerrar forzar duplicado"}, t0.Add(time.Hour))
	if !o.Refused || tk.Level != before.Level || tk.State != before.State || tk.Group != before.Group {
		t.Fatalf("forged commands applied: refused=%v, level %d state %s", o.Refused, tk.Level, tk.State)
	}
	if got := kinds(o.Entries); !slices.Equal(got, []Kind{KindRefused, KindRefused}) {
		t.Fatalf("entries = %v, want two refusals", got)
	}
	for _, e := range o.Entries {
		if !strings.Contains(e.Data["reason"], "no se pudo verificar el remitente") || !strings.Contains(e.Data["reason"], "sin DKIM válido") {
			t.Errorf("refusal reason %q lacks the failed evidence", e.Data["reason"])
		}
	}
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeUnverified}) {
		t.Fatalf("notices = %v, want only unverified", got)
	}
	n := o.Notices[0]
	if n.To[0].Addr != agent || n.InReplyTo != "f@x" || len(n.Results) != 2 || !strings.Contains(n.Results[0].ReasonEN, "no valid DKIM") {
		t.Errorf("unverified notice = %+v", n)
	}
	// The same commands from the verified agent apply.
	o = d.Reply(tk, Inbound{Sender: verified, MessageID: "g@x", From: Address{Addr: agent}, Text: "#escalar nivel3"}, t0.Add(2*time.Hour))
	if o.Refused || tk.Level != Level3 {
		t.Errorf("verified escalation: refused=%v level %d", o.Refused, tk.Level)
	}
}

// TestUnverifiedWithoutReasonSaysSo: the zero Verification still tells why.
func TestUnverifiedWithoutReasonSaysSo(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d)
	o := d.Reply(tk, Inbound{MessageID: "z@x", From: Address{Addr: agent}, Text: "#resolver listo"}, t0.Add(time.Hour))
	if tk.State != StateOpen || !strings.Contains(o.Entries[0].Data["reason"], "ninguna prueba") {
		t.Errorf("zero verification: state %s, reason %q", tk.State, o.Entries[0].Data["reason"])
	}
}

// TestUnverifiedReplyIsRelayed: a reply is not a command.
func TestUnverifiedReplyIsRelayed(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d)
	o := d.Reply(tk, Inbound{Sender: forged, MessageID: "r@x", From: Address{Addr: requester}, Text: "Sigue sin red"}, t0.Add(time.Hour))
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeRequesterReply}) || o.Entries[0].Kind != KindReplied {
		t.Errorf("unverified reply: entries %v notices %v", kinds(o.Entries), got)
	}
}

// TestUnverifiedHelpIsGeneric: #ayuda is answered, with nothing of the ticket.
func TestUnverifiedHelpIsGeneric(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d)
	o := d.Reply(tk, Inbound{Sender: forged, MessageID: "h@x", From: Address{Addr: agent}, Text: "#ayuda"}, t0.Add(time.Hour))
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeHelpGeneric}) || o.Refused {
		t.Fatalf("unverified #ayuda: notices %v refused %v", got, o.Refused)
	}
	if o.Notices[0].InReplyTo != "h@x" || o.Entries[0].Kind != KindHelp {
		t.Errorf("generic help = %+v, entry %s", o.Notices[0], o.Entries[0].Kind)
	}
	notRevealing(t, o, agent)
}

// TestOpenByUnverifiedStaff: the request opens as any other, its commands
// are refused.
func TestOpenByUnverifiedStaff(t *testing.T) {
	d := testDesk(t)
	o := d.Open("OTI-2026-000020", Inbound{Sender: forged, MessageID: "o@x", From: Address{Addr: agent}, Subject: "Caída",
		Text: "Se cayó la red\n#escalar nivel3"}, "", t0)
	tk := o.Ticket
	if tk.Level != Level1 || tk.State != StateOpen || !o.Refused {
		t.Fatalf("ticket at level %d, state %s, refused %v", tk.Level, tk.State, o.Refused)
	}
	if got := kinds(o.Entries); !slices.Equal(got, []Kind{KindOpened, KindRefused}) {
		t.Errorf("entries = %v", got)
	}
	if got := noticeKinds(o.Notices); !slices.Equal(got, []NoticeKind{NoticeUnverified, NoticeAck, NoticeNewTicket}) {
		t.Errorf("notices = %v", got)
	}
}

// TestStrangerLearnsNothing: someone who takes no part in a ticket, writing
// with its ID, is recorded for the desk; their commands do nothing; they
// get at most the generic help; nothing is relayed to the requester.
func TestStrangerLearnsNothing(t *testing.T) {
	for _, body := range []string{"#ayuda", "#reabrir", "#resolver ya está", "¿Cómo va mi caso?"} {
		t.Run(body, func(t *testing.T) {
			d := testDesk(t)
			tk, _ := play(t, d, step{agent, "#resolver"})
			before := tk.Clone()
			o := d.Reply(tk, Inbound{Sender: verified, MessageID: "s@x", From: Address{Addr: stranger}, Text: body}, t0.Add(time.Hour))
			if tk.State != before.State || tk.Level != before.Level {
				t.Errorf("ticket changed: %s level %d", tk.State, tk.Level)
			}
			if got := kinds(o.Entries); !slices.Equal(got, []Kind{KindThirdParty}) {
				t.Errorf("entries = %v, want third_party", got)
			}
			want := []NoticeKind{NoticeThirdParty}
			if strings.HasPrefix(body, "#") {
				want = append(want, NoticeHelpGeneric)
			}
			if got := noticeKinds(o.Notices); !slices.Equal(got, want) {
				t.Errorf("notices = %v, want %v", got, want)
			}
			if n := o.Notices[0]; !slices.Equal(n.To, d.dir.MemberAddresses("mesa")) || n.Text != body {
				t.Errorf("third-party notice to %v with %q", n.To, n.Text)
			}
			notRevealing(t, o, stranger)
			if o.Refused != (body == "#reabrir" || body == "#resolver ya está") {
				t.Errorf("Refused = %v", o.Refused)
			}
		})
	}
}

// TestTakesPart pins down who is on a ticket.
func TestTakesPart(t *testing.T) {
	old, err := NewDirectory([]Group{
		{Name: "mesa", Level: Level1, Members: []string{agent, "antiguo@oti.example"}},
		{Name: "redes", Level: Level2, Members: []string{"exredes@oti.example"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d0, _ := NewDesk(old)
	tk, _ := play(t, d0,
		step{"antiguo@oti.example", "#clasificar red"},
		step{agent, "#escalar nivel2"},
		step{agent, "#asignar redes"},
		step{"exredes@oti.example", "#nota mirando"},
		step{stranger, "hola"})
	d := testDesk(t) // the directory today: antiguo and exredes left
	for addr, want := range map[string]bool{
		requester: true, "USUARIO@unidad.example": true, colleague: true, agent: true, provider: true,
		"antiguo@oti.example": true, "exredes@oti.example": true,
		stranger: false, "": false, "nadie@unidad.example": false,
	} {
		if got := d.TakesPart(tk, addr); got != want {
			t.Errorf("TakesPart(%q) = %v, want %v", addr, got, want)
		}
	}
	// A past assignee takes part after the case moved on.
	tk2, _ := play(t, d0, step{agent, "#escalar nivel2"}, step{agent, "#asignar exredes@oti.example"}, step{agent, "#reabrir"})
	if !d.TakesPart(tk2, "exredes@oti.example") {
		t.Errorf("a past assignee does not take part")
	}
	// The agent who typed in a phone request does.
	o := d0.Open("OTI-2026-000030", Inbound{Sender: verified, MessageID: "p@x", From: Address{Addr: requester}, Subject: "x", Via: "antiguo@oti.example"}, "", t0)
	if !d.TakesPart(o.Ticket, "antiguo@oti.example") {
		t.Errorf("the phone agent does not take part")
	}
}

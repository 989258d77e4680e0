package service

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// forgedMail is a mail whose From the intake could not prove, sent from
// the envelope sender returnPath.
func forgedMail(msgID, from, returnPath, subject, text string) Mail {
	m := mail(msgID, from, subject, text)
	m.Sender = ticket.Verification{Reason: "sin DKIM", ReasonEN: "no DKIM"}
	m.ReturnPath = returnPath
	return m
}

// TestForgedMailCannotSilenceTheRealSender: ten forged mails "from" the
// requester use up only their own allowance; her real request is still
// acknowledged, and so is unverified mail of hers from her own origin.
func TestForgedMailCannotSilenceTheRealSender(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		e.now = t0.Add(time.Duration(i) * time.Minute)
		res := e.ingest(forgedMail(fmt.Sprintf("<forged-%d@evil.example>", i), requester, "bounce@evil.example", fmt.Sprintf("Falso %d", i), "texto"))
		if !slices.Contains(e.owed(res.TicketID), "ack→"+requester) {
			t.Fatalf("forged mail %d not acknowledged: the forger's own bucket should still have room", i)
		}
	}
	e.now = t0.Add(11 * time.Minute)
	res := e.ingest(forgedMail("<forged-10@evil.example>", requester, "bounce@evil.example", "Falso 10", "texto"))
	if slices.Contains(e.owed(res.TicketID), "ack→"+requester) {
		t.Errorf("the eleventh forged mail from one origin was acknowledged: the loop guard is gone")
	}
	res = e.ingest(mail("<real@example.org>", requester, "No imprime", "texto"))
	if !slices.Contains(e.owed(res.TicketID), "ack→"+requester) {
		t.Errorf("the real, verified request was not acknowledged after ten forged ones")
	}
	res = e.ingest(forgedMail("<real-unsigned@example.org>", requester, requester, "Tampoco escanea", "texto"))
	if !slices.Contains(e.owed(res.TicketID), "ack→"+requester) {
		t.Errorf("her unverified mail from her own envelope sender was not acknowledged")
	}
}

// TestUnverifiedHardCap: forged mail from ever new origins still meets a
// cap, so no loop is possible.
func TestUnverifiedHardCap(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AutoReplyLimit = 2 })
	acks := 0
	for i := range 10 {
		res := e.ingest(forgedMail(fmt.Sprintf("<f-%d@evil.example>", i), requester, fmt.Sprintf("b%d@evil.example", i), fmt.Sprintf("Falso %d", i), "texto"))
		if slices.Contains(e.owed(res.TicketID), "ack→"+requester) {
			acks++
		}
	}
	if acks != 6 {
		t.Errorf("%d acknowledgements to unverified mail from 10 origins, want the cap of 3×2", acks)
	}
	if res := e.ingest(mail("<real@example.org>", requester, "Real", "texto")); !slices.Contains(e.owed(res.TicketID), "ack→"+requester) {
		t.Errorf("the verified sender was silenced by the unverified cap")
	}
}

// TestAutoRespondersDoNotLoop is the reported defect: an auto-responder at
// the holder and one at the requester, neither sending Auto-Submitted, each
// answering every mail it gets with a fixed text. ticketd must stop
// relaying between them within the budget and tell the desk once.
func TestAutoRespondersDoNotLoop(t *testing.T) {
	e := newEnv(t)
	id := e.open("<req@example.org>")
	if res := e.ingest(mail("<assign@oti.example>", agent2, "Re: "+id.Tag(), "#asignar "+agent1)); res.Refused {
		t.Fatalf("assigning: %+v", res)
	}
	sent := len(e.pending())
	answers := map[string]string{requester: "Gracias por su mensaje. Lo leeré a mi regreso.", agent1: "Estoy fuera de la oficina hasta el lunes."}
	relays, paused := 0, 0
	for round := range 50 {
		e.now = e.now.Add(30 * time.Second)
		ps := e.pending()
		fresh := ps[sent:]
		sent = len(ps)
		mails := 0
		for _, p := range fresh {
			switch p.Notice.Kind {
			case ticket.NoticeReply, ticket.NoticeRequesterReply:
				relays++
			case ticket.NoticeRelayPaused:
				if p.Notice.To[0].Addr == agent2 { // one per desk member; agent2 has no responder
					paused++
				}
			}
			to := p.Notice.To[0].Addr
			text, ok := answers[to]
			if !ok || p.Notice.Kind.ForStaff() && p.Notice.Kind != ticket.NoticeRequesterReply {
				continue // the responders answer what is relayed to them
			}
			mails++
			e.ingest(mail(fmt.Sprintf("<auto-%d-%d@%s>", round, mails, strings.SplitN(to, "@", 2)[1]), to, "RE: "+id.Tag(), text))
		}
		if round == 0 && mails == 0 {
			// Start the exchange: the holder's responder answers the
			// assignment.
			e.ingest(mail("<auto-start@oti.example>", agent1, "RE: "+id.Tag(), answers[agent1]))
		} else if mails == 0 {
			break
		}
	}
	if relays > ticket.DefaultRelayLimit {
		t.Errorf("%d relays between the auto-responders, more than the budget of %d", relays, ticket.DefaultRelayLimit)
	}
	if relays == 0 || paused != 1 {
		t.Errorf("relays %d, relay_paused notices %d; want some relays and exactly one notice", relays, paused)
	}
	tk := e.ticket(id)
	if len(tk.Relays) > ticket.DefaultRelayLimit {
		t.Errorf("the ticket keeps %d relay marks", len(tk.Relays))
	}
	if got := e.lastEntry(id); got.Kind != ticket.KindReplied && got.Kind != ticket.KindRelayPaused {
		t.Errorf("last entry %s", got.Kind)
	}
	e.verify()
}

// TestStaffReceiptsAreNotCapped is the reported defect: an agent who sent
// twelve command mails within an hour got ten receipts. Receipts to a
// verified staff member are not silenced by the loop guard; from an
// unverified mail "from" the same address they still are.
func TestStaffReceiptsAreNotCapped(t *testing.T) {
	e := newEnv(t)
	ids := make([]ticket.ID, 12)
	for i := range ids {
		ids[i] = e.open(fmt.Sprintf("<req-%d@example.org>", i))
	}
	for i, id := range ids {
		e.now = t0.Add(time.Duration(i) * 4 * time.Minute)
		e.ingest(mail(fmt.Sprintf("<cmd-%d@oti.example>", i), agent1, "RE: "+id.Tag(), "#clasificar impresoras\n#nota revisado"))
		if i%3 == 0 {
			e.ingest(mail(fmt.Sprintf("<help-%d@oti.example>", i), agent1, "RE: "+id.Tag(), "#ayuda"))
		}
	}
	receipts, helps := 0, 0
	for _, p := range e.pending() {
		switch {
		case p.Notice.To[0].Addr != agent1:
		case p.Notice.Kind == ticket.NoticeReceipt:
			receipts++
		case p.Notice.Kind == ticket.NoticeHelp:
			helps++
		}
	}
	if receipts != 12 || helps != 4 {
		t.Errorf("the agent got %d receipts and %d help mails for 12 command mails and 4 #ayuda in an hour, want 12 and 4", receipts, helps)
	}

	// Unverified mail from a staff address is not staff for this purpose.
	got := 0
	for i := range 12 {
		m := forgedMail(fmt.Sprintf("<forged-cmd-%d@evil.example>", i), agent1, "x@evil.example", "RE: "+ids[i].Tag(), "#cerrar forzar ya")
		if res := e.ingest(m); slices.Contains(e.owed(res.TicketID), "unverified→"+agent1) {
			got++
		}
	}
	if got != 10 {
		t.Errorf("%d answers to 12 unverified command mails from a staff address, want the limit of 10", got)
	}
}

// TestStaffEchoLoopIsBounded: a staff member's auto-responder that sends
// no Auto-Submitted and echoes each receipt unquoted sends ticketd the same
// command lines again and again. Its receipts stop at the loop guard.
func TestStaffEchoLoopIsBounded(t *testing.T) {
	e := newEnv(t)
	id := e.open("<req@example.org>")
	receipts := 0
	for i := range 30 {
		e.now = t0.Add(time.Duration(i) * time.Minute)
		res := e.ingest(mail(fmt.Sprintf("<echo-%d@oti.example>", i), agent1, "RE: "+id.Tag(),
			"Estoy fuera de la oficina.\n\n  #clasificar impresoras alta\n      Aplicada."))
		for _, p := range e.pending() {
			if p.Notice.Kind == ticket.NoticeReceipt && p.Notice.InReplyTo == fmt.Sprintf("<echo-%d@oti.example>", i) {
				receipts++
			}
		}
		_ = res
	}
	if receipts != 10 {
		t.Errorf("%d receipts to 30 echoes of the same commands within the hour, want the loop guard's 10", receipts)
	}
}

// TestBlindNoticesHaveOpaqueMessageIDs: the answers that must show nothing
// of a ticket (to an unverified sender, to a third party) do not name it in
// their Message-ID either, since a mail program shows that header to
// whoever asks for the source.
func TestBlindNoticesHaveOpaqueMessageIDs(t *testing.T) {
	e := newEnv(t)
	id := e.open("<req@example.org>")
	e.ingest(forgedMail("<forged@evil.example>", agent2, "x@evil.example", "Re: "+id.Tag(), "#cerrar forzar duplicado"))
	e.ingest(mail("<stranger@elsewhere.example>", "extrano@elsewhere.example", "Re: "+id.Tag(), "#ayuda"))
	blind := 0
	for _, p := range e.pending() {
		reveals := p.Notice.Kind.RevealsTicket()
		if !reveals {
			blind++
		}
		if named := strings.Contains(p.MessageID, string(id)); named != reveals {
			t.Errorf("%s notice Message-ID %q: names the ticket %v, want %v", p.Notice.Kind, p.MessageID, named, reveals)
		}
	}
	if blind != 2 {
		t.Errorf("%d notices that reveal nothing, want 2 (unverified, help_generic)", blind)
	}
}

package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"github.com/ticketd/ticketd/internal/devmail"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/mailbox/sender"
	"github.com/ticketd/ticketd/ticket"
)

// mailText returns the decoded subject and every text part of a raw mail.
func mailText(t *testing.T, raw []byte) string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read delivered mail: %v", err)
	}
	subject, _ := e.Header.Text("Subject")
	var b strings.Builder
	b.WriteString(subject + "\n")
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if ct, _, _ := part.Header.ContentType(); strings.HasPrefix(ct, "text/") {
			body, err := io.ReadAll(part.Body)
			b.Write(body)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk delivered mail: %v", err)
	}
	return b.String()
}

// deliveredTo returns the mails delivered to addr since delivery from.
func deliveredTo(sys *devmail.System, addr string, from int) [][]byte {
	ds, _, _ := sys.Deliveries(from)
	var out [][]byte
	for _, d := range ds {
		for _, to := range d.To {
			if strings.EqualFold(to, addr) {
				out = append(out, d.Raw)
			}
		}
	}
	return out
}

// openTicket has the requester open a ticket and waits for it.
func openTicket(t *testing.T, r *rig, subject string) ticket.ID {
	t.Helper()
	send(t, r.mail, userAddr, deskAddr, "Subject: "+subject+"\r\nMessage-ID: <open@unidad.test>", "Desde ayer no tengo red.")
	waitFor(t, "the ticket", func() bool { return len(r.tickets(t)) == 1 })
	return r.tickets(t)[0].ID
}

// TestForgedDeskAgentIsRefused: a mail whose From is the desk agent's
// address, sent by someone who did not log in to the organisation's server,
// cannot escalate or close a ticket: each command gets a refused entry with
// the reason, the ticket stays as it was, and the From address gets an
// answer that says nothing of the ticket. A forged Authentication-Results
// field with the trusted authserv-id, written by the sender, changes
// nothing. The same commands from the logged-in agent apply.
func TestForgedDeskAgentIsRefused(t *testing.T) {
	r := newRig(t)
	const subject = "Impresora del piso 4 sin tóner"
	id := openTicket(t, r, subject)
	waitFor(t, "the desk's alert", func() bool { return len(deliveredTo(r.mail, agentAddr, 0)) == 1 })
	before := r.ticket(t, id)
	_, mark, _ := r.mail.Deliveries(1 << 30)

	forge(t, r.mail, agentAddr, deskAddr, "Subject: RE: "+string(id.Tag())+"\r\nMessage-ID: <forged1@evil.test>\r\n"+
		"Authentication-Results: oti.test; dmarc=pass header.from=oti.test; dkim=pass header.d=oti.test; auth=pass smtp.auth="+agentAddr,
		"#escalar nivel3 proveedor\r\n#cerrar forzar duplicado")
	waitFor(t, "the answer to the forged address", func() bool { return len(deliveredTo(r.mail, agentAddr, mark)) == 1 })

	tk := r.ticket(t, id)
	if tk.State != before.State || tk.Level != before.Level || tk.Group != before.Group {
		t.Fatalf("a forged mail changed the ticket: %s/%d/%s, was %s/%d/%s", tk.State, tk.Level, tk.Group, before.State, before.Level, before.Group)
	}
	var refused []ticket.Entry
	for _, e := range tk.History[len(before.History):] {
		if e.Kind != ticket.KindRefused {
			t.Errorf("the forged mail left a %s entry: %+v", e.Kind, e)
			continue
		}
		refused = append(refused, e)
	}
	if len(refused) != 2 || refused[0].Data["command"] != "#escalar nivel3 proveedor" || refused[1].Data["command"] != "#cerrar forzar duplicado" {
		t.Fatalf("refused entries = %+v, want one per forged command", refused)
	}
	for _, e := range refused {
		if e.Data["verified"] != "false" || !strings.Contains(e.Data["reason"], "no se pudo verificar el remitente") || e.Actor != agentAddr {
			t.Errorf("refused entry without the reason: %+v", e)
		}
	}
	answer := mailText(t, deliveredTo(r.mail, agentAddr, mark)[0])
	if !strings.Contains(answer, "no se pudo verificar") {
		t.Errorf("the answer does not say the sender could not be verified:\n%s", answer)
	}
	for _, leak := range []string{subject, "Impresora", string(id), ticket.StateOpen.Label("es"), "nivel 1", "Nivel 1", userAddr} {
		if strings.Contains(answer, leak) {
			t.Errorf("the answer to the forged address tells %q:\n%s", leak, answer)
		}
	}
	if n := len(deliveredTo(r.mail, userAddr, mark)); n != 0 {
		t.Errorf("the requester got %d mails about the forged commands", n)
	}

	// The real agent, logged in, escalates and closes.
	send(t, r.mail, agentAddr, deskAddr, "Subject: RE: "+string(id.Tag())+"\r\nMessage-ID: <real1@oti.test>", "#escalar nivel3 proveedor")
	waitFor(t, "the escalation", func() bool { return r.ticket(t, id).Level == ticket.Level3 })
	send(t, r.mail, agentAddr, deskAddr, "Subject: RE: "+string(id.Tag())+"\r\nMessage-ID: <real2@oti.test>", "#cerrar forzar duplicado")
	waitFor(t, "the closure", func() bool { return r.ticket(t, id).State == ticket.StateClosed })
	if e := r.ticket(t, id).History; e[len(e)-1].Actor != agentAddr {
		t.Errorf("closed by %q", e[len(e)-1].Actor)
	}
}

// TestExchangeInternalMarker: Exchange's X-MS-Exchange-Organization-AuthAs
// header makes an unauthenticated mail's sender trusted only when the policy
// accepts internal (on a server other than Exchange, as here, anyone can
// write it: that is why it is not accepted by default behind other servers).
func TestExchangeInternalMarker(t *testing.T) {
	for _, tt := range []struct {
		name    string
		accept  []string
		applied bool
	}{
		{"internal not accepted", nil, false},
		{"internal accepted", []string{"internal"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &rig{senders: checker(t, tt.accept...)}
			sys, err := devmail.Start(devmail.Options{IMAPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", Domain: "oti.test",
				Users: []string{deskAddr, agentAddr, userAddr, provAddr}, Password: password})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sys.Close() })
			r.mail, r.dir = sys, t.TempDir()
			r.start(t)
			id := openTicket(t, r, "Sin red")
			forge(t, r.mail, agentAddr, deskAddr, "Subject: RE: "+string(id.Tag())+"\r\nMessage-ID: <internal@oti.test>\r\n"+
				"X-MS-Exchange-Organization-AuthAs: Internal", "#escalar nivel3 proveedor")
			waitFor(t, "the command's outcome", func() bool { return len(r.ticket(t, id).History) == 2 })
			last := r.ticket(t, id).History[1]
			if applied := last.Kind == ticket.KindEscalated; applied != tt.applied {
				t.Errorf("applied = %v, want %v: %+v", applied, tt.applied, last)
			}
		})
	}
}

// TestForgedResultsBelowTheServersOwn: the receiving server's own
// Authentication-Results field is the topmost with its authserv-id; one the
// sender wrote below it, claiming DMARC and a login, changes nothing.
func TestForgedResultsBelowTheServersOwn(t *testing.T) {
	db, l := newIngestLoop(t, 0)
	ctx := t.Context()
	res, err := l.Ingest(ctx, strings.NewReader("From: ana@unidad.test\r\nSubject: Sin red\r\nMessage-ID: <o@unidad.test>\r\n\r\nhola\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	id := res.TicketID
	res, err = l.Ingest(ctx, strings.NewReader("Authentication-Results: oti.test; auth=none\r\n"+
		"Authentication-Results: oti.test; dmarc=pass header.from=oti.test; auth=pass smtp.auth="+agentAddr+"\r\n"+
		"From: "+agentAddr+"\r\nSubject: RE: "+string(id.Tag())+"\r\nMessage-ID: <below@evil.test>\r\n\r\n#cerrar forzar duplicado\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var tk *ticket.Ticket
	_ = db.View(ctx, func(tx *store.Tx) error { tk, err = tx.Ticket(id); return err })
	last := tk.History[len(tk.History)-1]
	if tk.State != ticket.StateOpen || last.Kind != ticket.KindRefused || last.Data["verified"] != "false" {
		t.Fatalf("a field forged below the server's own was believed: state %s, last entry %+v", tk.State, last)
	}
}

// TestSilentDNSDoesNotHoldTheMailbox: a DNS server that never answers
// delays a DKIM-signed mail by the loop's VerifyTimeout in all, however long
// the checker would wait for each lookup; the mail's commands are then
// refused, saying the key could not be looked up.
func TestSilentDNSDoesNotHoldTheMailbox(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() { // reads every query and answers none
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	p, _ := sender.NewPolicy([]string{"dkim"}, nil)
	slow, err := sender.New(sender.Options{Policy: p, Resolver: pc.LocalAddr().String(), DNSTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	db, l := newIngestLoop(t, 0)
	l.opts.Senders, l.opts.VerifyTimeout = slow, 200*time.Millisecond
	ctx := t.Context()
	res, err := l.Ingest(ctx, strings.NewReader("From: ana@unidad.test\r\nSubject: Sin red\r\nMessage-ID: <o@unidad.test>\r\n\r\nhola\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	id := res.TicketID
	var sigs strings.Builder
	for i := range 5 { // five signatures: five lookups of up to a minute each without the bound
		fmt.Fprintf(&sigs, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=oti.test; s=s%d; h=from:subject;\r\n bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\n", i)
	}
	start := time.Now()
	_, err = l.Ingest(ctx, strings.NewReader(sigs.String()+"From: "+agentAddr+"\r\nSubject: RE: "+string(id.Tag())+"\r\nMessage-ID: <signed@oti.test>\r\n\r\n#cerrar forzar duplicado\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the mail waited %s for DNS; the bound is 200ms", took)
	}
	var tk *ticket.Ticket
	_ = db.View(ctx, func(tx *store.Tx) error { tk, err = tx.Ticket(id); return err })
	last := tk.History[len(tk.History)-1]
	if tk.State != ticket.StateOpen || last.Kind != ticket.KindRefused || !strings.Contains(last.Data["reason"], "DNS") {
		t.Fatalf("state %s, last entry %+v: want refused, the DKIM key not looked up in time", tk.State, last)
	}
}

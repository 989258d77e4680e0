package service

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

const (
	requester = "ana.perez@example.org"
	// written is requester as the tests' mails write it: the ticket keeps
	// and mails the local part as written.
	written = "Ana.Perez@example.org"
	agent1  = "agente1@oti.example"
	agent2  = "agente2@oti.example"
	redes1  = "redes1@oti.example"
	support = "soporte@oti.example"
	sender  = "ticketd@oti.example"
)

var t0 = time.Date(2026, time.March, 2, 9, 30, 0, 0, time.UTC)

// env is a service over a real store and a real directory, with a clock
// the test moves.
type env struct {
	t   *testing.T
	db  *store.DB
	svc *Service
	now time.Time
}

func newEnv(t *testing.T, configure ...func(*Options)) *env {
	t.Helper()
	dir, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Members: []string{agent1, agent2}},
		{Name: "redes", Level: ticket.Level2, Members: []string{redes1}},
		{Name: "proveedor", Level: ticket.Level3, Kind: ticket.GroupProvider, Members: []string{"soporte@proveedor.example"}},
	})
	if err != nil {
		t.Fatalf("NewDirectory: %v", err)
	}
	desk, err := ticket.NewDesk(dir)
	if err != nil {
		t.Fatalf("NewDesk: %v", err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "ticketd.db"), store.Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, now: t0}
	opts := Options{
		Store:         bind(db),
		MessageIDHost: "oti.example",
		Desk:          desk,
		Self:          []string{"Soporte@OTI.example", sender},
		Now:           func() time.Time { return e.now },
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	for _, c := range configure {
		c(&opts)
	}
	if e.svc, err = New(opts); err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// bind returns db as the service's Store.
func bind(db *store.DB) Store { return store.Bind(db, func(tx *store.Tx) Tx { return tx }) }

// testWriter sends the service's log to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func mail(msgID, from, subject, text string) Mail {
	return Mail{Inbound: ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: msgID, From: ticket.Address{Addr: from}, Subject: subject, Text: text}}
}

func (e *env) ingest(m Mail) Result {
	e.t.Helper()
	res, err := e.svc.Ingest(e.t.Context(), m)
	if err != nil {
		e.t.Fatalf("Ingest(%s) = %v", m.MessageID, err)
	}
	return res
}

// open ingests a new request from the requester and returns its ticket.
func (e *env) open(msgID string) ticket.ID {
	e.t.Helper()
	res := e.ingest(mail(msgID, requester, "No imprime la impresora", "Desde esta mañana no imprime."))
	if res.Outcome != Opened {
		e.t.Fatalf("Ingest(%s).Outcome = %q, want %q", msgID, res.Outcome, Opened)
	}
	return res.TicketID
}

func (e *env) ticket(id ticket.ID) *ticket.Ticket {
	e.t.Helper()
	var tk *ticket.Ticket
	if err := e.db.View(e.t.Context(), func(tx *store.Tx) (err error) { tk, err = tx.Ticket(id); return err }); err != nil {
		e.t.Fatalf("Ticket(%s) = %v", id, err)
	}
	return tk
}

func (e *env) lastEntry(id ticket.ID) ticket.Entry {
	e.t.Helper()
	h := e.ticket(id).History
	return h[len(h)-1]
}

func (e *env) count() int {
	e.t.Helper()
	var n int
	if err := e.db.View(e.t.Context(), func(tx *store.Tx) error { n = tx.CountTickets(); return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// pending returns the outbox as the notify worker renders it, checking on
// the way that ticketd never owes a notice to itself.
func (e *env) pending() []ticket.Pending {
	e.t.Helper()
	var ps []ticket.Pending
	if err := e.db.View(e.t.Context(), func(tx *store.Tx) error {
		items, err := tx.Pending()
		for _, it := range items {
			tk, err := tx.Ticket(it.Owed.TicketID)
			if err != nil {
				return err
			}
			p, err := it.Pending(tk)
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	for _, p := range ps {
		if a := ticket.NormalizeAddr(p.Notice.To[0].Addr); e.svc.self[a] {
			e.t.Errorf("notice %d (%s) is addressed to ticketd itself (%s)", p.Seq, p.Notice.Kind, a)
		}
	}
	return ps
}

// owed lists "kind→recipient" for the notices owed about id.
func (e *env) owed(id ticket.ID) []string {
	e.t.Helper()
	var out []string
	for _, p := range e.pending() {
		if p.Notice.Ticket.ID == id {
			out = append(out, string(p.Notice.Kind)+"→"+p.Notice.To[0].Addr)
		}
	}
	return out
}

func (e *env) verify() {
	e.t.Helper()
	err := e.db.View(e.t.Context(), func(tx *store.Tx) error {
		_, err := tx.VerifyAll(func(id ticket.ID, err error) { e.t.Errorf("VerifyAll: %s: %v", id, err) })
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestNew(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	desk, err := ticket.NewDesk(mustDirectory(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{}, {Store: bind(db)}, {Desk: desk}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded without DB and Desk", o)
		}
	}
	s, err := New(Options{Store: bind(db), Desk: desk})
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.Prefix != ticket.DefaultPrefix || s.opts.AutoReplyLimit != 10 || s.opts.AutoReplyWindow != time.Hour || s.opts.Now == nil || s.log == nil {
		t.Errorf("New filled in defaults %+v", s.opts)
	}
}

func mustDirectory(t *testing.T) *ticket.Directory {
	t.Helper()
	d, err := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{agent1}}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewMailOpensTicket(t *testing.T) {
	e := newEnv(t)
	m := mail("<m1@example.org>", "Ana.Perez@Example.org", "No imprime la impresora", "Desde esta mañana no imprime.")
	m.From.Name = "Ana Pérez"
	m.RawSHA256 = "ab12"
	res := e.ingest(m)
	want := ticket.ID("OTI-2026-000001")
	if res.Outcome != Opened || res.TicketID != want || res.Notices != 3 || res.Refused {
		t.Fatalf("Ingest(new mail) = %+v, want opened %s owing 3 notices", res, want)
	}
	tk := e.ticket(want)
	if tk.Requester.Addr != written || tk.Subject != "No imprime la impresora" || tk.State != ticket.StateOpen || tk.Level != 1 || tk.Group != "mesa" {
		t.Errorf("opened ticket = %+v", tk)
	}
	if len(tk.History) != 1 || tk.History[0].Kind != ticket.KindOpened || tk.History[0].Data["via"] != "mail" || tk.History[0].Data["raw_sha256"] != "ab12" {
		t.Errorf("history = %+v, want one opened entry via mail", tk.History)
	}
	if got, want := e.owed(want), []string{"ack→" + written, "new_ticket→" + agent1, "new_ticket→" + agent2}; !slices.Equal(got, want) {
		t.Errorf("owed %v, want %v", got, want)
	}
	if ack := e.pending()[0]; ack.Notice.InReplyTo != "<m1@example.org>" {
		t.Errorf("the ack answers %q, want <m1@example.org>", ack.Notice.InReplyTo)
	}

	// The same mail again (a re-fetch after a crash) changes nothing.
	before := e.pending()
	dup := e.ingest(m)
	if dup.Outcome != Duplicate || dup.TicketID != want || dup.Notices != 0 {
		t.Errorf("Ingest(same Message-ID) = %+v, want duplicate of %s", dup, want)
	}
	if e.count() != 1 || len(e.pending()) != len(before) || len(e.ticket(want).History) != 1 {
		t.Errorf("a duplicate changed something: %d tickets, %d notices, %d entries", e.count(), len(e.pending()), len(e.ticket(want).History))
	}
	e.verify()
}

func TestIngestNeedsMessageID(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Ingest(t.Context(), mail("", requester, "Hola", "texto")); err == nil {
		t.Error("Ingest(mail without Message-ID) succeeded")
	}
	if e.count() != 0 {
		t.Errorf("%d tickets after a refused mail, want 0", e.count())
	}
}

func TestThreading(t *testing.T) {
	tests := []struct {
		name string
		// mail builds the reply given the ticket and an ack ticketd sent.
		mail      func(id ticket.ID, sentID string) Mail
		outcome   string
		newTicket bool
	}{
		{"tag after reply prefixes", func(id ticket.ID, _ string) Mail {
			return mail("<r@example.org>", requester, "RE: RV: Fwd: "+id.Tag()+" No imprime la impresora", "Sigue sin imprimir.")
		}, Threaded, false},
		{"tag in lower case", func(id ticket.ID, _ string) Mail {
			return mail("<r@example.org>", requester, "Re: "+strings.ToLower(id.Tag()), "Sigue sin imprimir.")
		}, Threaded, false},
		{"edited subject, In-Reply-To a received mail", func(_ ticket.ID, _ string) Mail {
			m := mail("<r@example.org>", requester, "otra cosa", "Sigue sin imprimir.")
			m.InReplyTo = []string{"<m1@example.org>"}
			return m
		}, Threaded, false},
		{"edited subject, References to a received mail", func(_ ticket.ID, _ string) Mail {
			m := mail("<r@example.org>", requester, "", "Sigue sin imprimir.")
			m.References = []string{"<unknown@elsewhere>", "<m1@example.org>", "<unknown2@elsewhere>"}
			return m
		}, Threaded, false},
		{"edited subject, In-Reply-To a notification ticketd sent", func(_ ticket.ID, sentID string) Mail {
			m := mail("<r@example.org>", requester, "RE: su caso", "Sigue sin imprimir.")
			m.InReplyTo = []string{sentID}
			return m
		}, Threaded, false},
		{"edited subject, References to a notification ticketd sent", func(_ ticket.ID, sentID string) Mail {
			m := mail("<r@example.org>", requester, "RE: su caso", "Sigue sin imprimir.")
			m.References = []string{"<m1-unrelated@x>", sentID}
			return m
		}, Threaded, false},
		{"reference to a Message-ID in ticketd's form, not indexed", func(id ticket.ID, _ string) Mail {
			m := mail("<r@example.org>", requester, "RE: su caso", "Sigue sin imprimir.")
			m.References = []string{"<" + string(id) + ".n999.beef@otra-instalacion.example>"}
			return m
		}, Threaded, false},
		{"ID in brackets that does not exist", func(_ ticket.ID, _ string) Mail {
			return mail("<r@example.org>", requester, "RE: [OTI-2026-000999] otra cosa", "Nuevo problema.")
		}, Opened, true},
		{"Message-ID in ticketd's form of a ticket that does not exist", func(_ ticket.ID, _ string) Mail {
			m := mail("<r@example.org>", requester, "RE: otra cosa", "Nuevo problema.")
			m.InReplyTo = []string{"<OTI-2026-000999.n1.beef@oti.example>"}
			return m
		}, Opened, true},
		{"no tag, no references", func(_ ticket.ID, _ string) Mail {
			return mail("<r@example.org>", requester, "No imprime la impresora", "Otro mensaje.")
		}, Opened, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.open("<m1@example.org>")
			sentID := e.pending()[0].MessageID
			e.now = e.now.Add(time.Hour)
			res := e.ingest(tt.mail(id, sentID))
			if res.Outcome != tt.outcome {
				t.Fatalf("Ingest = %+v, want outcome %q", res, tt.outcome)
			}
			if tt.newTicket {
				if res.TicketID == id || e.count() != 2 {
					t.Errorf("Ingest = %+v with %d tickets, want a second ticket", res, e.count())
				}
				if tk := e.ticket(res.TicketID); tk.RelatedTo != "" || strings.Contains(tk.Subject, "[") {
					t.Errorf("new ticket %s: related to %q, subject %q", tk.ID, tk.RelatedTo, tk.Subject)
				}
				return
			}
			if res.TicketID != id || e.count() != 1 {
				t.Errorf("Ingest = %+v with %d tickets, want threaded on %s", res, e.count(), id)
			}
			if last := e.lastEntry(id); last.Kind != ticket.KindReplied || last.MessageID != "<r@example.org>" {
				t.Errorf("last entry %+v, want the reply", last)
			}
			// The requester's words go to whoever holds the case: the desk.
			want := []string{"ack→" + requester, "new_ticket→" + agent1, "new_ticket→" + agent2,
				"requester_reply→" + agent1, "requester_reply→" + agent2}
			if got := e.owed(id); !slices.Equal(got, want) || res.Notices != 2 {
				t.Errorf("owed %v (result says %d new), want %v", got, res.Notices, want)
			}
			// The reply is now part of the thread: a reply to it threads too.
			m := mail("<r2@example.org>", requester, "sin asunto", "Y otra cosa.")
			m.InReplyTo = []string{"<r@example.org>"}
			if res := e.ingest(m); res.Outcome != Threaded || res.TicketID != id {
				t.Errorf("Ingest(reply to the reply) = %+v, want threaded on %s", res, id)
			}
			e.verify()
		})
	}
}

func TestCommands(t *testing.T) {
	e := newEnv(t)
	id := e.open("<m1@example.org>")
	res := e.ingest(mail("<c1@oti.example>", agent1, "RE: "+id.Tag(), "#clasificar redes alta\n#escalar nivel2 redes\nEs la red del piso."))
	if res.Outcome != Threaded || res.Refused || len(res.Results) != 2 {
		t.Fatalf("Ingest(commands) = %+v, want two applied", res)
	}
	for _, r := range res.Results {
		if r.Status != ticket.ResultApplied {
			t.Errorf("command %q: %s (%s), want applied", r.Command.Raw, r.Status, r.Reason)
		}
	}
	tk := e.ticket(id)
	if tk.Level != ticket.Level2 || tk.Group != "redes" || tk.Category != "redes" || tk.Priority != ticket.PriorityHigh {
		t.Errorf("after the commands: level %d group %s category %s priority %s", tk.Level, tk.Group, tk.Category, tk.Priority)
	}
	owed := e.owed(id)
	for _, want := range []string{"assigned→" + redes1, "level_changed→" + requester, "receipt→" + agent1} {
		if !slices.Contains(owed, want) {
			t.Errorf("owed %v, missing %s", owed, want)
		}
	}

	// The requester may not close: refused, recorded, answered.
	res = e.ingest(mail("<c2@example.org>", requester, "RE: "+id.Tag(), "#cerrar ya está"))
	if !res.Refused || len(res.Results) != 1 || res.Results[0].Status != ticket.ResultRefused {
		t.Errorf("Ingest(requester closes) = %+v, want refused", res)
	}
	if last := e.lastEntry(id); last.Kind != ticket.KindRefused {
		t.Errorf("last entry %s, want refused", last.Kind)
	}
	if e.ticket(id).State != ticket.StateOpen {
		t.Error("a refused #cerrar closed the ticket")
	}
	e.verify()
}

// closeTicket has the desk close id without resolving it.
func (e *env) closeTicket(id ticket.ID) {
	e.t.Helper()
	res := e.ingest(mail("<close-"+string(id)+"@oti.example>", agent1, "RE: "+id.Tag(), "#cerrar forzar duplicado de otro caso"))
	if res.Refused || e.ticket(id).State != ticket.StateClosed {
		e.t.Fatalf("closing %s: %+v", id, res)
	}
}

func TestMailAboutClosedTicket(t *testing.T) {
	t.Run("from the requester opens a related ticket", func(t *testing.T) {
		e := newEnv(t)
		old := e.open("<m1@example.org>")
		e.closeTicket(old)
		res := e.ingest(mail("<again@example.org>", requester, "RE: "+old.Tag()+" No imprime la impresora", "Volvió a fallar."))
		if res.Outcome != Opened || res.TicketID == old {
			t.Fatalf("Ingest = %+v, want a new ticket", res)
		}
		tk := e.ticket(res.TicketID)
		if tk.RelatedTo != old || tk.History[0].Data["related_to"] != string(old) || strings.Contains(tk.Subject, string(old)) {
			t.Errorf("new ticket: related to %q (entry data %v), subject %q; want related to %s", tk.RelatedTo, tk.History[0].Data, tk.Subject, old)
		}
		if got := e.owed(res.TicketID); !slices.Contains(got, "ack→"+requester) {
			t.Errorf("owed %v, want an ack to the requester", got)
		}
		if n := len(e.ticket(old).History); n != 2 {
			t.Errorf("the closed ticket has %d entries, want 2 (untouched)", n)
		}
	})
	t.Run("from a reference, from the requester", func(t *testing.T) {
		e := newEnv(t)
		old := e.open("<m1@example.org>")
		e.closeTicket(old)
		m := mail("<again@example.org>", requester, "RE: gracias", "Volvió a fallar.")
		m.InReplyTo = []string{"<m1@example.org>"}
		if res := e.ingest(m); res.Outcome != Opened || e.ticket(res.TicketID).RelatedTo != old {
			t.Errorf("Ingest = %+v, want a new ticket related to %s", res, old)
		}
	})
	t.Run("from staff is recorded on it", func(t *testing.T) {
		e := newEnv(t)
		old := e.open("<m1@example.org>")
		e.closeTicket(old)
		before := len(e.pending())
		res := e.ingest(mail("<staff@oti.example>", agent2, "RE: "+old.Tag(), "Dejo constancia: se cambió el equipo."))
		if res.Outcome != Threaded || res.TicketID != old || res.Notices != 0 {
			t.Fatalf("Ingest = %+v, want threaded on %s owing nothing", res, old)
		}
		if last := e.lastEntry(old); last.Kind != ticket.KindReplied || last.Actor != agent2 || last.State != ticket.StateClosed {
			t.Errorf("last entry %+v, want agente2's reply on the closed ticket", last)
		}
		if e.count() != 1 || len(e.pending()) != before {
			t.Errorf("%d tickets, %d notices; want 1 and %d", e.count(), len(e.pending()), before)
		}
	})
	t.Run("an auto-reply is recorded on it", func(t *testing.T) {
		e := newEnv(t)
		old := e.open("<m1@example.org>")
		e.closeTicket(old)
		m := mail("<ooo@example.org>", requester, "Fuera de la oficina: "+old.Tag(), "Vuelvo el lunes.")
		m.Auto = "auto-submitted: auto-replied"
		if res := e.ingest(m); res.Outcome != Threaded || res.TicketID != old || res.Notices != 0 {
			t.Errorf("Ingest = %+v, want threaded on %s owing nothing", res, old)
		}
		if last := e.lastEntry(old); last.Kind != ticket.KindAutoReply {
			t.Errorf("last entry %s, want auto_reply", last.Kind)
		}
	})
}

func TestAutoReplies(t *testing.T) {
	t.Run("about no ticket", func(t *testing.T) {
		e := newEnv(t)
		m := mail("<ooo@example.org>", "Jefe@Example.org", "Fuera de la oficina", "Vuelvo el lunes.")
		m.Auto = "auto-submitted: auto-replied"
		m.RawSHA256 = "cd34"
		res := e.ingest(m)
		if res.Outcome != Unthreaded || res.TicketID != "" || res.Notices != 0 {
			t.Fatalf("Ingest = %+v, want unthreaded", res)
		}
		if e.count() != 0 || len(e.pending()) != 0 {
			t.Errorf("%d tickets, %d notices after an auto-reply; want none", e.count(), len(e.pending()))
		}
		var list []record.Unthreaded
		if err := e.db.View(t.Context(), func(tx *store.Tx) (err error) { list, err = tx.UnthreadedList(); return err }); err != nil {
			t.Fatal(err)
		}
		want := record.Unthreaded{Kind: record.AsideAutomatic, MessageID: "<ooo@example.org>", From: "jefe@example.org", Subject: "Fuera de la oficina", Reason: m.Auto, At: t0, RawSHA256: "cd34"}
		if len(list) != 1 || list[0] != want {
			t.Errorf("UnthreadedList() = %+v, want [%+v]", list, want)
		}
		if res := e.ingest(m); res.Outcome != Duplicate {
			t.Errorf("Ingest(same auto-reply) = %+v, want duplicate", res)
		}
	})
	t.Run("on a ticket", func(t *testing.T) {
		e := newEnv(t)
		id := e.open("<m1@example.org>")
		before := e.owed(id)
		m := mail("<ooo@example.org>", requester, "Respuesta automática: "+id.Tag(), "#cerrar\nVuelvo el lunes.")
		m.Auto = "x-autoreply"
		res := e.ingest(m)
		if res.Outcome != Threaded || res.TicketID != id || res.Notices != 0 || len(res.Results) != 0 {
			t.Fatalf("Ingest = %+v, want threaded on %s with nothing owed and no command read", res, id)
		}
		last := e.lastEntry(id)
		if last.Kind != ticket.KindAutoReply || last.Data["reason"] != "x-autoreply" || last.MessageID != "<ooo@example.org>" {
			t.Errorf("last entry %+v, want an auto_reply entry", last)
		}
		if got := e.owed(id); !slices.Equal(got, before) {
			t.Errorf("owed %v after an auto-reply, want unchanged %v", got, before)
		}
		if e.ticket(id).State != ticket.StateOpen {
			t.Error("a command in an auto-reply was applied")
		}
	})
}

func TestMailFromSelfIsNeverAnswered(t *testing.T) {
	e := newEnv(t)
	// A notification of ours that came back, or a loop through a list.
	res := e.ingest(mail("<loop1@oti.example>", "SOPORTE@oti.example", "Nuevo caso", "texto"))
	if res.Outcome != Unthreaded || e.count() != 0 || len(e.pending()) != 0 {
		t.Errorf("Ingest(from self, no ticket) = %+v with %d tickets, %d notices; want unthreaded, nothing", res, e.count(), len(e.pending()))
	}
	id := e.open("<m1@example.org>")
	before := len(e.pending())
	res = e.ingest(mail("<loop2@oti.example>", sender, "RE: "+id.Tag(), "#ayuda"))
	if res.Outcome != Threaded || res.Notices != 0 || len(e.pending()) != before {
		t.Errorf("Ingest(from self, on a ticket) = %+v; want threaded, nothing owed", res)
	}
	if last := e.lastEntry(id); last.Kind != ticket.KindAutoReply || last.Data["reason"] != "sent by ticketd itself" {
		t.Errorf("last entry %+v, want auto_reply sent by ticketd itself", last)
	}
	// A phone request typed in for one of our own addresses is not acked.
	res, err := e.svc.OpenByPhone(t.Context(), ticket.Address{Addr: support}, agent1, "Prueba", "prueba")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.owed(res.TicketID); slices.Contains(got, "ack→"+support) || res.Notices != 2 {
		t.Errorf("owed %v (%d), want the desk alerts only", got, res.Notices)
	}
	e.pending() // checks that nothing is addressed to ticketd
}

func TestBounce(t *testing.T) {
	tests := []struct {
		name   string
		bounce func(id ticket.ID, ackID string) Mail
		// wantRcpt is the failed recipient recorded; empty wantReason means
		// the bounce must end up unthreaded.
		wantRcpt, wantReason string
	}{
		{"about a sent notification", func(_ ticket.ID, ackID string) Mail {
			m := mail("<dsn1@mx.example.org>", "MAILER-DAEMON@mx.example.org", "Undelivered Mail Returned to Sender", "")
			m.Auto = "delivery status notification"
			m.Bounce = &Bounce{OriginalMessageID: ackID, Recipients: []string{"Ana.Perez@example.org"}, Status: "5.1.1", Diagnostic: "user unknown"}
			return m
		}, requester, "5.1.1 user unknown"},
		{"original in ticketd's form, not indexed", func(id ticket.ID, _ string) Mail {
			m := mail("<dsn1@mx.example.org>", "postmaster@example.org", "failure notice", "")
			m.Bounce = &Bounce{OriginalMessageID: string(id) + ".n77.cafe@oti.example", Recipients: []string{requester}}
			return m
		}, requester, "the mail bounced"},
		{"original unknown, tag in the subject", func(id ticket.ID, _ string) Mail {
			m := mail("<dsn1@mx.example.org>", "postmaster@example.org", "Undeliverable: "+id.Tag()+" No imprime", "")
			m.Bounce = &Bounce{Status: "5.2.2", Diagnostic: "mailbox full"}
			return m
		}, "", "5.2.2 mailbox full"},
		{"about nothing known", func(_ ticket.ID, _ string) Mail {
			m := mail("<dsn1@mx.example.org>", "postmaster@example.org", "Undeliverable", "")
			m.Bounce = &Bounce{OriginalMessageID: "<someone-else@example.org>", Status: "5.1.1"}
			return m
		}, "", ""},
		{"about a ticket that does not exist", func(_ ticket.ID, _ string) Mail {
			m := mail("<dsn1@mx.example.org>", "postmaster@example.org", "Undeliverable", "")
			m.Bounce = &Bounce{OriginalMessageID: "OTI-2026-000999.n1.cafe@oti.example"}
			return m
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.open("<m1@example.org>")
			ackID := e.pending()[0].MessageID
			before := len(e.pending())
			e.now = e.now.Add(time.Minute)
			m := tt.bounce(id, ackID)
			res := e.ingest(m)
			if len(e.pending()) != before || res.Notices != 0 {
				t.Errorf("a bounce owes %d notices, want none", len(e.pending())-before)
			}
			if tt.wantReason == "" {
				if res.Outcome != Unthreaded || len(e.ticket(id).History) != 1 || e.count() != 1 {
					t.Errorf("Ingest = %+v, want unthreaded and nothing changed", res)
				}
				return
			}
			if res.Outcome != Bounced || res.TicketID != id {
				t.Fatalf("Ingest = %+v, want bounced on %s", res, id)
			}
			last := e.lastEntry(id)
			if last.Kind != ticket.KindDeliveryFailed || last.Data["recipient"] != tt.wantRcpt || last.Text != tt.wantReason ||
				last.MessageID != m.MessageID || !last.At.Equal(e.now) {
				t.Errorf("last entry %+v, want delivery_failed for %q: %q", last, tt.wantRcpt, tt.wantReason)
			}
			if res := e.ingest(m); res.Outcome != Duplicate || len(e.ticket(id).History) != 2 {
				t.Errorf("Ingest(same bounce) = %+v, want duplicate", res)
			}
			e.verify()
		})
	}
}

func TestAutoReplyLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AutoReplyLimit, o.AutoReplyWindow = 3, time.Hour })
	var acked []bool
	for i, after := range []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 62 * time.Minute} {
		e.now = t0.Add(after)
		res := e.ingest(mail("<loop-"+string(rune('a'+i))+"@example.org>", requester, "Problema "+string(rune('a'+i)), "texto"))
		if res.Outcome != Opened {
			t.Fatalf("mail %d: %+v, want a new ticket", i+1, res)
		}
		owed := e.owed(res.TicketID)
		acked = append(acked, slices.Contains(owed, "ack→"+requester))
		if !slices.Contains(owed, "new_ticket→"+agent1) {
			t.Errorf("mail %d: owed %v, the desk must still be alerted", i+1, owed)
		}
	}
	// Three acks within the hour, none for the fourth; the fifth comes after
	// the first two left the window.
	if want := []bool{true, true, true, false, true}; !slices.Equal(acked, want) {
		t.Errorf("acked %v, want %v", acked, want)
	}
	// The limit is per sender.
	res := e.ingest(mail("<other@example.org>", "otro@example.org", "Otro", "texto"))
	if !slices.Contains(e.owed(res.TicketID), "ack→otro@example.org") {
		t.Error("another sender was not acked")
	}
}

func TestOpenByPhone(t *testing.T) {
	e := newEnv(t)
	res, err := e.svc.OpenByPhone(t.Context(), ticket.Address{Name: "Ana Pérez", Addr: "Ana.Perez@example.org"}, agent1, "No enciende el equipo", "Llamó a las 9.")
	if err != nil {
		t.Fatalf("OpenByPhone = %v", err)
	}
	if res.Outcome != Opened || res.TicketID != "OTI-2026-000001" {
		t.Fatalf("OpenByPhone = %+v, want opened", res)
	}
	tk := e.ticket(res.TicketID)
	first := tk.History[0]
	if tk.Requester.Addr != written || tk.Subject != "No enciende el equipo" || first.Actor != agent1 || first.Data["via"] != "phone" {
		t.Errorf("phone ticket: requester %s, subject %q, opened by %s via %s", tk.Requester.Addr, tk.Subject, first.Actor, first.Data["via"])
	}
	if got := e.owed(res.TicketID); !slices.Contains(got, "ack→"+written) || res.Notices != 3 {
		t.Errorf("owed %v (%d), want an ack to the requester and the desk alerts", got, res.Notices)
	}
	// A reply to the ack threads onto the phone ticket.
	m := mail("<r@example.org>", requester, "RE: su caso", "Gracias.")
	m.InReplyTo = []string{e.pending()[0].MessageID}
	if r := e.ingest(m); r.Outcome != Threaded || r.TicketID != res.TicketID {
		t.Errorf("reply to the phone ack = %+v, want threaded", r)
	}

	if _, err := e.svc.OpenByPhone(t.Context(), ticket.Address{Addr: "extensión 4321"}, agent1, "x", "y"); err == nil {
		t.Error("OpenByPhone(requester without a mail address) succeeded")
	}
	if e.count() != 1 {
		t.Errorf("%d tickets, want 1", e.count())
	}
}

// TestIngestTxIsOneTransaction checks that the caller's writes commit with
// the mail's, and that a failure after IngestTx leaves nothing behind.
func TestIngestTxIsOneTransaction(t *testing.T) {
	e := newEnv(t)
	boom := errors.New("checkpoint failed")
	err := e.db.Update(t.Context(), func(tx *store.Tx) error {
		if _, err := e.svc.IngestTx(tx, mail("<m1@example.org>", requester, "Hola", "texto")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want %v", err, boom)
	}
	if e.count() != 0 || len(e.pending()) != 0 {
		t.Fatalf("a rolled-back mail left %d tickets and %d notices", e.count(), len(e.pending()))
	}
	// The same mail again is processed afresh, with the first ID.
	err = e.db.Update(t.Context(), func(tx *store.Tx) error {
		res, err := e.svc.IngestTx(tx, mail("<m1@example.org>", requester, "Hola", "texto"))
		if err != nil {
			return err
		}
		if res.Outcome != Opened || res.TicketID != "OTI-2026-000001" {
			t.Errorf("IngestTx = %+v, want OTI-2026-000001 opened", res)
		}
		return tx.SetCheckpoint("INBOX", record.Checkpoint{UIDValidity: 1, UID: 5})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.db.View(t.Context(), func(tx *store.Tx) error {
		cp, err := tx.Checkpoint("INBOX")
		if cp.UID != 5 {
			t.Errorf("checkpoint %+v, want UID 5", cp)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.svc.Ingest(canceled, mail("<m2@example.org>", requester, "Hola", "texto")); err == nil {
		t.Error("Ingest with a canceled context succeeded")
	}
	if _, err := e.svc.OpenByPhone(canceled, ticket.Address{Addr: requester}, agent1, "x", "y"); err == nil {
		t.Error("OpenByPhone with a canceled context succeeded")
	}
}

// TestTick: a tick goes through the same path as a mail. Today's desk has
// no timers, so a tick writes nothing; a timer (put in the desk's place
// here) that records an entry and owes a notice has both committed with
// the ticket, the notice queued in the outbox like a mail's (never to
// ticketd itself), and the history still verifies.
func TestTick(t *testing.T) {
	e := newEnv(t)
	id := e.open("<tick.1@example.org>")
	before, owed := e.ticket(id), e.owed(id)

	res, err := e.svc.Tick(t.Context(), id, t0.Add(48*time.Hour))
	if err != nil || res.Outcome != Ticked || res.TicketID != id || res.Notices != 0 {
		t.Fatalf("Tick = %+v, %v", res, err)
	}
	after := e.ticket(id)
	if after.Head() != before.Head() || len(after.History) != len(before.History) || !after.UpdatedAt.Equal(before.UpdatedAt) ||
		!slices.Equal(e.owed(id), owed) {
		t.Errorf("a tick with no timers changed the ticket or the outbox: %+v, owed %v", after, e.owed(id))
	}

	due := t0.Add(72 * time.Hour)
	e.svc.tick = func(tk *ticket.Ticket, now time.Time) ticket.Outcome {
		if !now.Equal(due) {
			t.Errorf("the timer got now = %v, want %v", now, due)
		}
		entry := tk.Append(ticket.Entry{At: now, Actor: "ticketd", Kind: "sla_warning", Text: "nivel 1: 75 % del plazo"})
		return ticket.Outcome{Ticket: tk, Entries: []ticket.Entry{entry}, Notices: []ticket.Notice{{
			Kind: ticket.NoticeAssigned, Ticket: tk, Text: entry.Text,
			To: []ticket.Address{{Addr: agent1}, {Addr: support}},
		}}}
	}
	res, err = e.svc.Tick(t.Context(), id, due)
	if err != nil || res.Notices != 1 {
		t.Fatalf("Tick with a timer = %+v, %v; want one notice", res, err)
	}
	if last := e.lastEntry(id); last.Kind != "sla_warning" || !last.At.Equal(due) || last.Seq != len(before.History)+1 {
		t.Errorf("last entry = %+v, want the timer's", last)
	}
	if got, want := e.owed(id), append(owed, "assigned→"+agent1); !slices.Equal(got, want) {
		t.Errorf("owed = %v, want %v (the support address dropped, as for a mail)", got, want)
	}
	ps := e.pending()
	if p := ps[len(ps)-1]; p.MessageID == "" || p.Notice.Ticket.Head() != e.ticket(id).Head() {
		t.Errorf("the queued notice = %+v: want a Message-ID and the ticket as committed", p)
	}
	e.verify()

	if _, err := e.svc.Tick(t.Context(), "OTI-2026-999999", due); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("Tick of a missing ticket = %v, want record.ErrNotFound", err)
	}
}

// TestNoticeMessageIDs: the service makes each notification's Message-ID:
// unique, carrying the ticket ID (so replies thread without the subject) and
// the configured host.
func TestNoticeMessageIDs(t *testing.T) {
	e := newEnv(t)
	id := e.open("<m1@example.org>")
	e.ingest(mail("<m2@example.org>", agent1, "RE: "+id.Tag(), "#escalar nivel2 redes"))
	seen := map[string]bool{}
	for _, p := range e.pending() {
		if seen[p.MessageID] {
			t.Errorf("Message-ID %q given twice", p.MessageID)
		}
		seen[p.MessageID] = true
		if got, ok := ticket.IDInMessageID(ticket.DefaultPrefix, p.MessageID); !ok || got != id || !strings.HasSuffix(p.MessageID, "@oti.example") {
			t.Errorf("Message-ID %q does not carry ticket %s and host oti.example", p.MessageID, id)
		}
	}
	if len(seen) < 4 {
		t.Errorf("%d notices owed, want the ack, the alerts, the assignment and more", len(seen))
	}
}

// Command v2gen wrote schema2.db, the fixture the store's migration test
// opens: a data file made by schema version 2 (ticketd before the
// state/level index carried each ticket's list row and the index of last
// changes existed).
//
// It compiles only against the code of that schema, so it lives under
// testdata (which the go tool ignores). To write the file again, check out
// the commit that added this program and run, from the repository root:
//
//	go run ./internal/store/testdata/v2gen internal/store/testdata/schema2.db
//
// The file holds: tickets open at levels 1, 2 and 3, resolved and closed,
// with their histories (classification, escalation, assignment, notes,
// resolution, reopening, closure, a delivery failure); pending outbox items,
// some with failed attempts and an error; a quarantined mail; an unthreaded
// (automatic) mail; a mailbox checkpoint; and auto-reply counters.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ticketd/ticketd/internal/record"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: v2gen FILE")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "v2gen:", err)
		os.Exit(1)
	}
}

const (
	requester = "ana.perez@example.org"
	other     = "luis.gomez@example.org"
	agent     = "agente1@oti.example"
	redes     = "redes1@oti.example"
	provider  = "soporte@proveedor.example"
)

func run(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	dir, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Members: []string{agent, "agente2@oti.example"}},
		{Name: "redes", Level: ticket.Level2, Members: []string{redes}},
		{Name: "proveedor", Level: ticket.Level3, Kind: ticket.GroupProvider, Members: []string{provider}},
	})
	if err != nil {
		return err
	}
	desk, err := ticket.NewDesk(dir)
	if err != nil {
		return err
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Date(2026, time.March, 2, 9, 30, 0, 0, time.UTC)
	svc, err := service.New(service.Options{Store: store.Bind(db, func(tx *store.Tx) service.Tx { return tx }), Desk: desk, MessageIDHost: "oti.example", Self: []string{"soporte@oti.example"},
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx := context.Background()
	n := 0
	send := func(from, subject, text string, refs ...string) (service.Result, error) {
		n++
		now = now.Add(7 * time.Minute)
		m := service.Mail{Inbound: ticket.Inbound{MessageID: fmt.Sprintf("m%d@example.org", n),
			From: ticket.Address{Name: "Someone", Addr: from}, Subject: subject, Text: text,
			RawSHA256: fmt.Sprintf("%064x", n)}, References: refs}
		return svc.Ingest(ctx, m)
	}
	open := func(subject string) (ticket.ID, error) {
		res, err := send(requester, subject, "Desde esta mañana no funciona.\nGracias.")
		return res.TicketID, err
	}
	steps := []struct {
		subject string
		cmds    []string // each sent as one mail from its sender
	}{
		{"Open at level 1", nil},
		{"Classified, level 1", []string{agent + "|#clasificar impresoras alta"}},
		{"At level 2", []string{agent + "|#clasificar redes media\n#escalar nivel2 redes\nRevisen el switch.", redes + "|#nota revisado el cable"}},
		{"At level 3", []string{agent + "|#escalar nivel3 proveedor", provider + "|Estamos en ello."}},
		{"Resolved", []string{agent + "|#escalar nivel2", redes + "|#resolver cambiado el cable"}},
		{"Reopened", []string{agent + "|#resolver reiniciado", requester + "|#reabrir sigue sin funcionar"}},
		{"Closed", []string{agent + "|#resolver listo", agent + "|#cerrar confirmado por teléfono"}},
		{"Closed by force", []string{agent + "|#cerrar forzar duplicado"}},
	}
	var ids []ticket.ID
	for _, s := range steps {
		id, err := open(s.subject)
		if err != nil {
			return fmt.Errorf("open %q: %w", s.subject, err)
		}
		ids = append(ids, id)
		for _, c := range s.cmds {
			var from, text string
			from, text = splitCmd(c)
			if _, err := send(from, "Re: ["+string(id)+"] "+s.subject, text); err != nil {
				return fmt.Errorf("%s on %s: %w", text, id, err)
			}
		}
	}
	// A reply from the requester without commands: relayed to the holder.
	if _, err := send(requester, "RE: ["+string(ids[2])+"] At level 2", "Adjunto la foto del equipo."); err != nil {
		return err
	}
	// Help, and a third person writing on a ticket.
	if _, err := send(other, "Re: ["+string(ids[1])+"] Classified", "#ayuda"); err != nil {
		return err
	}
	// A bounce: delivery_failed on a ticket's history.
	var ackID string
	if err := db.View(ctx, func(tx *store.Tx) error {
		ps, err := tx.Pending()
		if len(ps) > 0 {
			ackID = ps[0].MessageID
		}
		return err
	}); err != nil {
		return err
	}
	n++
	if _, err := svc.Ingest(ctx, service.Mail{Inbound: ticket.Inbound{MessageID: "bounce1@mx.example.org",
		From: ticket.Address{Addr: "MAILER-DAEMON@mx.example.org"}, Subject: "Undelivered Mail Returned to Sender",
		Auto: "bounce", RawSHA256: fmt.Sprintf("%064x", n)},
		Bounce: &service.Bounce{OriginalMessageID: ackID, Recipients: []string{requester}, Status: "5.1.1", Diagnostic: "user unknown"}}); err != nil {
		return err
	}
	// An automatic mail about no ticket: recorded aside.
	n++
	if _, err := svc.Ingest(ctx, service.Mail{Inbound: ticket.Inbound{MessageID: "ooo1@example.org",
		From: ticket.Address{Addr: other}, Subject: "Fuera de la oficina", Auto: "Auto-Submitted: auto-replied",
		RawSHA256: fmt.Sprintf("%064x", n)}}); err != nil {
		return err
	}
	// Auto-reply counters: a sender who hit the cap.
	for i := 0; i < 11; i++ {
		if _, err := send("loop@example.net", fmt.Sprintf("Loop %d", i), "auto"); err != nil {
			return err
		}
	}
	out := store.Outbox{DB: db}
	// Deliver the first notices, leave the rest pending; some failed twice.
	due, err := out.Due(ctx, now, 1000)
	if err != nil {
		return err
	}
	for i, p := range due {
		switch {
		case i < len(due)/2:
			if err := out.Sent(ctx, p.Seq, now); err != nil {
				return err
			}
		case i%3 == 0:
			for a := 1; a <= 2; a++ {
				if err := out.Retry(ctx, p.Seq, now.Add(time.Duration(a)*time.Minute),
					fmt.Sprintf("451 4.3.0 try again later (attempt %d)", a)); err != nil {
					return err
				}
			}
		}
	}
	// A permanent failure: delivery_failed appended by the outbox.
	if len(due) > 1 {
		if err := out.Failed(ctx, due[len(due)-1].Seq, func(t *ticket.Ticket) {
			t.DeliveryFailed(requester, "550 5.1.1 mailbox unavailable", "", now)
		}); err != nil {
			return err
		}
	}
	return db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.Quarantine(record.Quarantined{MessageID: "broken1@example.org", Reason: "parse: malformed MIME header line",
			ReceivedAt: now, RawSHA256: fmt.Sprintf("%064x", 999), RawSize: 1234, Mailbox: "INBOX", UID: 41, Retries: 1}); err != nil {
			return err
		}
		return tx.SetCheckpoint("INBOX", record.Checkpoint{UIDValidity: 1700000000, UID: 42})
	})
}

// splitCmd splits "sender|text".
func splitCmd(s string) (from, text string) {
	for i := range s {
		if s[i] == '|' {
			return s[:i], s[i+1:]
		}
	}
	return "", s
}

package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/store/storetest"
	"github.com/ticketd/ticketd/ticket"
)

const openingText = "Desde esta mañana la impresora no responde."

// rawTicket returns ticket id's record as stored.
func rawTicket(t *testing.T, db *DB, id ticket.ID) string {
	t.Helper()
	var raw string
	mustView(t, db, func(tx *Tx) error {
		raw = string(tx.tx.Bucket(bucketTickets).Get([]byte(id)))
		return nil
	})
	return raw
}

// wantBody fails the test unless ticket id reads back with body.
func wantBody(t *testing.T, db *DB, id ticket.ID, body string) {
	t.Helper()
	mustView(t, db, func(tx *Tx) error {
		if tk, err := tx.Ticket(id); err != nil || tk.Body != body {
			t.Errorf("Ticket = %+v, %v; want body %q", tk, err, body)
		}
		return nil
	})
}

// TestBodyKeptOnce: a ticket's body, the text of its opening entry, is
// stored once, in that entry (schema 4), and read back with the ticket
// after a reply and across a reopening of the store.
func TestBodyKeptOnce(t *testing.T) {
	desk := storetest.Desk(t)
	db, path := newDB(t)
	id, _ := storetest.OpenTicket(t, bk(db), desk, "<m1@example.org>", storetest.T0)
	storetest.Reply(t, bk(db), desk, id, storetest.Requester, "<m2@example.org>", "Sigue sin imprimir.", storetest.T0.Add(1))
	if raw := rawTicket(t, db, id); strings.Contains(raw, openingText) || !strings.Contains(raw, `"body_opened":true`) {
		t.Errorf("stored record %s: want it without the body, marked body_opened", raw)
	}
	db.Close()
	db = openAt(t, path)
	mustView(t, db, func(tx *Tx) error {
		tk, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		if tk.Body != openingText || len(tk.History) != 2 || tk.History[0].Text != openingText {
			t.Errorf("Ticket = body %q, %d entries", tk.Body, len(tk.History))
		}
		return nil
	})
	if n := storetest.VerifyClean(t, bk(db)); n != 1 {
		t.Errorf("VerifyAll checked %d tickets, want 1", n)
	}
}

// TestBodyNotInHistoryKept: a body that is not the opening entry's text
// stays in the record.
func TestBodyNotInHistoryKept(t *testing.T) {
	desk := storetest.Desk(t)
	db, _ := newDB(t)
	id, _ := storetest.OpenTicket(t, bk(db), desk, "<m1@example.org>", storetest.T0)
	mustUpdate(t, db, func(tx *Tx) error {
		tk, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		tk.Body = "Otro texto"
		return tx.PutTicket(tk)
	})
	if raw := rawTicket(t, db, id); !strings.Contains(raw, `"body":"Otro texto"`) || strings.Contains(raw, "body_opened") {
		t.Errorf("stored record %s: want the body in it", raw)
	}
	wantBody(t, db, id, "Otro texto")
}

// TestBodyOfSchema3Record: a record written before schema 4, body
// included, reads as before.
func TestBodyOfSchema3Record(t *testing.T) {
	desk := storetest.Desk(t)
	db, _ := newDB(t)
	id, _ := storetest.OpenTicket(t, bk(db), desk, "<m1@example.org>", storetest.T0)
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.tx.Bucket(bucketTickets)
		var rec map[string]any
		if err := json.Unmarshal(b.Get([]byte(id)), &rec); err != nil {
			return err
		}
		delete(rec, "body_opened")
		rec["body"] = openingText
		return putJSON(b, []byte(id), rec)
	})
	wantBody(t, db, id, openingText)
}

// TestBodyOpenedWithoutOpening: a record that says its body is in the
// opening entry, whose history lacks it, is reported as tampered with.
func TestBodyOpenedWithoutOpening(t *testing.T) {
	desk := storetest.Desk(t)
	db, _ := newDB(t)
	id, _ := storetest.OpenTicket(t, bk(db), desk, "<m1@example.org>", storetest.T0)
	mustUpdate(t, db, func(tx *Tx) error {
		return tx.tx.Bucket(bucketHistory).Delete(historyKey(id, 1))
	})
	mustView(t, db, func(tx *Tx) error {
		if _, err := tx.Ticket(id); !errors.Is(err, ticket.ErrTampered) {
			t.Errorf("Ticket = %v, want ErrTampered", err)
		}
		return nil
	})
}

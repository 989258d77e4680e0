package ticket

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestSince follows a ticket through every move and checks when it began
// its level visit and its state after each: opening starts both,
// escalating starts a level visit, assigning within a level and writing on
// the ticket start nothing, resolving starts a state but no level visit,
// reopening starts both (the level-1 clock starts again, even for a case
// resolved at level 1), closing starts a state.
func TestSince(t *testing.T) {
	d := testDesk(t)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	steps := []struct {
		from, body   string
		level, state int // minutes after t0
	}{
		{agent, "#clasificar red", 0, 0},
		{agent, "#escalar nivel2", 2, 0},
		{agent, "#asignar sitio", 2, 0},
		{onsite, "#nota llamé al usuario", 2, 0},
		{onsite, "#escalar nivel3 infra", 5, 0},
		{engineer, "#resolver cambié el switch", 5, 6},
		{requester, "#reabrir sigue sin red", 7, 7},
		{agent, "#resolver reinicié el equipo", 7, 8},
		{requester, "#reabrir otra vez", 9, 9},
		{requester, "Gracias", 9, 9},
		{agent, "#resolver", 9, 11},
		{agent, "#cerrar", 9, 12},
	}
	o := d.Open("OTI-2026-000001", Inbound{Sender: verified, MessageID: "m0@x", From: Address{Addr: requester}, Subject: "Sin red", Text: "No tengo red"}, "", at(0))
	tk := o.Ticket
	if tk.LevelSince != at(0) || tk.StateSince != at(0) {
		t.Fatalf("opened: since %v / %v, want %v", tk.LevelSince, tk.StateSince, at(0))
	}
	for i, s := range steps {
		o := d.Reply(tk, Inbound{Sender: verified, MessageID: fmt.Sprintf("m%d@x", i+1), From: Address{Addr: s.from}, Text: s.body}, at(i+1))
		if o.Refused {
			t.Fatalf("step %d %q refused: %+v", i+1, s.body, o.Results)
		}
		if tk.LevelSince != at(s.level) || tk.StateSince != at(s.state) {
			t.Errorf("after %q: level since %v, state since %v; want %v, %v", s.body, tk.LevelSince, tk.StateSince, at(s.level), at(s.state))
		}
		if l, st := EnteredAt(tk.History); l != tk.LevelSince || st != tk.StateSince {
			t.Errorf("after %q: EnteredAt = %v, %v; Append kept %v, %v", s.body, l, st, tk.LevelSince, tk.StateSince)
		}
	}
}

// TestSinceOfOldTicket: a ticket stored before LevelSince and StateSince
// existed (its JSON has neither) gets them from its history, and keeps them
// from its next entry on.
func TestSinceOfOldTicket(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d, step{agent, "#escalar nivel2"}, step{specialist, "#resolver"}) // +1m, +2m
	b, err := json.Marshal(tk)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["level_since"]; !ok {
		t.Fatalf("the ticket's JSON has no level_since: %s", b)
	}
	delete(raw, "level_since")
	delete(raw, "state_since")
	b, _ = json.Marshal(raw)
	var old Ticket
	if err := json.Unmarshal(b, &old); err != nil {
		t.Fatal(err)
	}
	if !old.LevelSince.IsZero() || !old.StateSince.IsZero() {
		t.Fatalf("the old-style ticket has since fields: %v %v", old.LevelSince, old.StateSince)
	}
	if l, s := old.Since(); !l.Equal(t0.Add(time.Minute)) || !s.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("Since() of an old ticket = %v, %v; want the escalation and the resolution", l, s)
	}
	d.Reply(&old, Inbound{Sender: verified, MessageID: "late@x", From: Address{Addr: agent}, Text: "#nota revisado"}, t0.Add(time.Hour))
	if !old.LevelSince.Equal(t0.Add(time.Minute)) || !old.StateSince.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after a note, the old ticket keeps %v, %v; want the derived times", old.LevelSince, old.StateSince)
	}
	if l, s := EnteredAt(nil); !l.IsZero() || !s.IsZero() {
		t.Errorf("EnteredAt(nil) = %v, %v", l, s)
	}
}

// TestTickIsANoOpToday: with no timers, a tick changes nothing and owes
// nothing, whatever the state of the ticket.
func TestTickIsANoOpToday(t *testing.T) {
	d := testDesk(t)
	tk, _ := play(t, d, step{agent, "#escalar nivel2"})
	before := tk.Clone()
	o := d.Tick(tk, t0.Add(30*24*time.Hour))
	if !o.Empty() || o.Ticket != tk || len(o.Results) != 0 || o.Refused {
		t.Errorf("Tick = %+v, want an empty outcome on the same ticket", o)
	}
	if tk.Head() != before.Head() || !tk.UpdatedAt.Equal(before.UpdatedAt) || tk.State != before.State || tk.Level != before.Level {
		t.Errorf("Tick changed the ticket: %+v", tk)
	}
}

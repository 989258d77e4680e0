package admin

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/store"
	"github.com/ticketd/ticketd/ticket"
	"github.com/ticketd/ticketd/ticket/sla"
)

// slaLocal is a Local whose desk keeps a 24x7 calendar with a level-1
// target of 1h (reminder at 50%) and closure within 1h, on the clock *now.
func slaLocal(t *testing.T, now *time.Time) *Local {
	t.Helper()
	dir, err := ticket.NewDirectory([]ticket.Group{{Name: "mesa", Level: 1, Members: []string{"agente@oti.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	cal, err := sla.New("24x7", nil, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	desk, err := ticket.NewDesk(dir, ticket.WithServiceLevels(ticket.ServiceLevels{Calendar: cal,
		Targets: ticket.Targets{Level1: time.Hour}, WarnAt: 50, CloseWithin: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := func() time.Time { return *now }
	svc, err := service.New(service.Options{Store: store.Bind(db, func(tx *store.Tx) service.Tx { return tx }), Desk: desk, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &Local{Store: store.Bind(db, func(tx *store.Tx) Tx { return tx }), Service: svc, Directory: dir, Now: clock}
}

func ids(ts []TicketJSON) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t.ID))
	}
	return out
}

// TestTicketsOverdueAndDueWithin lists overdue and soon-due tickets
// through the HTTP API with its token: one past its target whose overdue
// notice was sent (no timer left in the index), one soon due, one far from
// due, one resolved past close_within and one closed.
func TestTicketsOverdueAndDueWithin(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	now := t0
	local := slaLocal(t, &now)
	ctx := t.Context()
	open := func(subject string, at time.Time) ticket.ID {
		t.Helper()
		now = at
		res, err := local.Open(ctx, OpenRequest{Requester: "ana@unidad.example", Subject: subject, Body: "x", Agent: "agente@oti.example"})
		if err != nil {
			t.Fatal(err)
		}
		return res.ID
	}
	reply := func(id ticket.ID, text string, at time.Time) {
		t.Helper()
		now = at
		in := ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: at.Format("150405") + string(id) + "@x",
			From: ticket.Address{Addr: "agente@oti.example"}, Subject: "Re: [" + string(id) + "]", Text: text}
		if _, err := local.Service.Ingest(ctx, service.Mail{Inbound: in}); err != nil {
			t.Fatal(err)
		}
	}
	late := open("vencido", t0)                       // due 09:00
	resolved := open("resuelto", t0)                  // resolved 08:30, close by 09:30
	closed := open("cerrado", t0.Add(10*time.Minute)) // closed at 08:40
	soon := open("pronto", t0.Add(135*time.Minute))   // due 11:15
	far := open("lejos", t0.Add(3*time.Hour))         // due 12:00
	reply(resolved, "#resolver listo", t0.Add(30*time.Minute))
	reply(closed, "#resolver listo", t0.Add(35*time.Minute))
	reply(closed, "#cerrar", t0.Add(40*time.Minute))
	now = t0.Add(3 * time.Hour) // 11:00
	if _, _, err := local.Service.TickDue(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ts, _ := local.Tickets(ctx, ticket.Filter{State: ticket.StateClosed}); len(ts) != 1 || ts[0].ID != closed {
		t.Fatalf("closed tickets = %v", ids(ts))
	}

	addr, _ := serveAPI(t, local)
	c := NewClient(addr, testToken)
	if _, err := NewClient(addr, strings.Repeat("x", MinTokenLen)).Tickets(ctx, ticket.Filter{Overdue: true}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("overdue with a wrong token: %v, want ErrUnauthorized", err)
	}
	cases := []struct {
		f    ticket.Filter
		want []ticket.ID
	}{
		{ticket.Filter{Overdue: true}, []ticket.ID{late, resolved}},
		{ticket.Filter{Overdue: true, State: ticket.StateResolved}, []ticket.ID{resolved}},
		{ticket.Filter{DueWithin: 10 * time.Minute}, nil},
		{ticket.Filter{DueWithin: 2 * time.Hour}, []ticket.ID{soon, far}},
		{ticket.Filter{DueWithin: 30 * time.Minute}, []ticket.ID{soon}},
		{ticket.Filter{DueWithin: 30 * time.Minute, Overdue: true}, []ticket.ID{late, resolved, soon}},
		{ticket.Filter{DueWithin: 2 * time.Hour, Group: "nadie"}, nil},
	}
	for _, c2 := range cases {
		ts, err := c.Tickets(ctx, c2.f)
		var want []string
		for _, id := range c2.want {
			want = append(want, string(id))
		}
		if err != nil || strings.Join(ids(ts), ",") != strings.Join(want, ",") {
			t.Errorf("Tickets(%+v) = %v, %v; want %v", c2.f, ids(ts), err, want)
		}
	}

	// show: the level visits with their targets.
	one, err := c.Ticket(ctx, late)
	if err != nil || len(one.Visits) != 1 {
		t.Fatalf("Ticket(%s) visits = %+v, %v", late, one.Visits, err)
	}
	if v := one.Visits[0]; v.Level != 1 || v.TargetSeconds != 3600 || v.BusinessSeconds != 3*3600 || v.Met || !v.End.IsZero() {
		t.Errorf("visit = %+v, want level 1, 3h of a 1h target, not met, going on", v)
	}
	if one, _ := c.Ticket(ctx, resolved); len(one.Visits) != 1 || !one.Visits[0].Met || one.Visits[0].BusinessSeconds != 1800 || one.Visits[0].End.IsZero() {
		t.Errorf("resolved ticket's visits = %+v", one.Visits)
	}
}

// TestTicketsDueWithoutServiceLevels: without an sla section a due filter
// is refused with a clear error, not answered with an empty list.
func TestTicketsDueWithoutServiceLevels(t *testing.T) {
	local := newLocal(t)
	if _, err := local.Tickets(t.Context(), ticket.Filter{Overdue: true}); !errors.Is(err, ErrNoServiceLevels) {
		t.Errorf("overdue without sla: %v, want ErrNoServiceLevels", err)
	}
}

func TestParseDueFilter(t *testing.T) {
	if f, err := ParseDueFilter(ticket.Filter{Level: 2}, "true", "2h"); err != nil || !f.Overdue || f.DueWithin != 2*time.Hour || f.Level != 2 {
		t.Errorf("ParseDueFilter = %+v, %v", f, err)
	}
	for _, bad := range [][2]string{{"yes please", ""}, {"", "soon"}, {"", "-1h"}, {"", "0s"}} {
		if _, err := ParseDueFilter(ticket.Filter{}, bad[0], bad[1]); err == nil {
			t.Errorf("ParseDueFilter(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

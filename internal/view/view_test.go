package view

import (
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/admin"
	"github.com/ticketd/ticketd/ticket"
)

// TestTicketInLocation: `ticketd show` prints dates in the configured
// zone (ticket.timezone), not in UTC; the register stays in UTC.
func TestTicketInLocation(t *testing.T) {
	bogota, err := time.LoadLocation("America/Bogota")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 9, 14, 30, 0, 0, time.UTC)
	tk := admin.TicketJSON{ID: "OTI-2026-000001", Subject: "Sin red", Requester: "ana@example.org", State: ticket.StateOpen, Level: 1,
		CreatedAt: at, UpdatedAt: at, History: []ticket.Entry{{Seq: 1, At: at, Kind: ticket.KindOpened, Actor: "ana@example.org"}}}
	var b strings.Builder
	Ticket(&b, tk, bogota)
	for _, want := range []string{"opened: 2026-03-09T09:30:00-05:00", "   1  2026-03-09 09:30:00 -05  opened"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, b.String())
		}
	}
	if tk.History[0].At.Location() != time.UTC {
		t.Error("the entry's time was changed")
	}
}

// TestTicketVisits: `ticketd show` prints each level visit with its
// business time, its target and whether it was met (or is still within it).
func TestTicketVisits(t *testing.T) {
	at := time.Date(2026, 3, 9, 14, 0, 0, 0, time.UTC)
	tk := admin.TicketJSON{ID: "OTI-2026-000001", Subject: "Sin red", State: ticket.StateOpen, Level: 2, CreatedAt: at, UpdatedAt: at,
		Visits: []admin.VisitJSON{
			{Level: 1, Group: "mesa", Start: at, End: at.Add(5 * time.Hour), BusinessSeconds: 5 * 3600, TargetSeconds: 4 * 3600},
			{Level: 2, Group: "redes", Start: at.Add(5 * time.Hour), BusinessSeconds: 3600, TargetSeconds: 8 * 3600, Met: true},
			{Level: 3, Group: "proveedor", Start: at.Add(6 * time.Hour), End: at.Add(7 * time.Hour), BusinessSeconds: 3600},
		}}
	var b strings.Builder
	Ticket(&b, tk, time.UTC)
	for _, want := range []string{
		"Level visits:",
		"level 1  mesa",
		"2026-03-09 14:00:00 UTC  2026-03-09 19:00:00 UTC  5h0m0s of 4h0m0s  overdue",
		"level 2  redes",
		"ongoing                  1h0m0s of 8h0m0s  within target so far",
		"1h0m0s  no target",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, b.String())
		}
	}
}

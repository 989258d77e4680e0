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

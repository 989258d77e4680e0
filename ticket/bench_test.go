package ticket

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkApplyCommand measures threading a mail with two commands onto a
// ticket with a short history (parse, permission checks, copy, hash chain).
func BenchmarkApplyCommand(b *testing.B) {
	d := testDesk(b)
	base, _ := play(b, d, step{agent, "#clasificar redes alta"})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tk := base.Clone()
		o := d.Reply(tk, Inbound{Sender: verified, MessageID: fmt.Sprint(i), From: Address{Addr: agent}, Text: "#escalar nivel2 redes\n#nota revisar el switch\nGracias"}, t0.Add(time.Hour))
		if o.Refused {
			b.Fatal("refused")
		}
	}
}

// BenchmarkOpen measures opening a ticket from a request.
func BenchmarkOpen(b *testing.B) {
	d := testDesk(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Open(NewID("OTI", 2026, uint64(i+1)), Inbound{Sender: verified, MessageID: fmt.Sprint(i), From: Address{Addr: requester}, Subject: "No tengo red", Text: "Desde ayer no tengo red"}, "", t0)
	}
}

// BenchmarkParseCommands measures finding the commands in a staff reply:
// accented and unaccented verbs, arguments, a comment and quoted lines.
func BenchmarkParseCommands(b *testing.B) {
	body := "#Clasificar redes alta\r\n#escalar nivel 2 redes\r\n#nota revisar el switch del piso 3\r\n" +
		"Gracias, lo vemos hoy.\r\n\r\n> #cerrar\r\n> mensaje anterior\r\n"
	b.ReportAllocs()
	for b.Loop() {
		if p := ParseCommands(body); len(p.Commands) != 3 {
			b.Fatalf("%d commands, want 3", len(p.Commands))
		}
	}
}

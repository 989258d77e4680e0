package parse

import (
	"bytes"
	"strings"
	"testing"
)

// TestBrokenFrom reads From headers that real mailers break, and checks
// that the sender is recovered as a mail program shows it, with a problem
// (the desk's degraded note) where the header was not sound.
func TestBrokenFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header string
		want         Address
		problem      string // a problem that must be noted; "" for none
	}{
		{"space in the address", `From: "a b" <c d@x.org>`, Address{Name: "a b", Addr: "c d@x.org"}, "malformed From header"},
		{"quoted local part with a stray bracket", `From: "quoted part"@x.org>`, Address{Addr: `"quoted part"@x.org`}, "malformed From header"},
		{"quoted local part", `From: "quoted part"@X.org`, Address{Addr: `"quoted part"@x.org`}, ""},
		{"two From lines, the first unparseable", "From: garbage <<>>\r\nFrom: Ana <ana@x.org>", Address{Name: "Ana", Addr: "ana@x.org"}, "sender taken from From header 2 of 2"},
		{"trailing dot", `From: Ana <ana@x.org.>`, Address{Name: "Ana", Addr: "ana@x.org."}, "malformed From header"},
		{"case of the local part kept", `From: John <John.Smith@Example.ORG>`, Address{Name: "John", Addr: "John.Smith@example.org"}, ""},
	}
	for _, tt := range tests {
		raw := tt.header + "\r\nSubject: s\r\nMessage-ID: <1@x.org>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\n\r\nbody"
		m, err := Read(bytes.NewReader([]byte(raw)), Options{Sink: newSink(t)})
		if err != nil {
			t.Fatal(err)
		}
		if m.From != tt.want {
			t.Errorf("%s: From = %+v, want %+v", tt.name, m.From, tt.want)
		}
		noted := strings.Join(m.Problems, "\n")
		if tt.problem == "" && noted != "" || !strings.Contains(noted, tt.problem) {
			t.Errorf("%s: Problems = %q, want one with %q", tt.name, m.Problems, tt.problem)
		}
	}
}

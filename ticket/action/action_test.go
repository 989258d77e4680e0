package action

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

const (
	agent     = "agente@oti.example"
	redes     = "especialista@oti.example"
	onsite    = "tecnico@oti.example"
	provider  = "soporte@proveedor.example"
	requester = "usuario@unidad.example"
	stranger  = "otro@unidad.example"
	support   = "soporte.oti@oti.example"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

func testDesk(tb testing.TB) *ticket.Desk {
	tb.Helper()
	dir, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Members: []string{agent}},
		{Name: "redes", Level: ticket.Level2, Label: "Redes y comunicaciones", Members: []string{redes}, Default: true},
		{Name: "sitio", Level: ticket.Level2, Kind: ticket.GroupOnSite, Members: []string{onsite}},
		{Name: "proveedor", Level: ticket.Level3, Kind: ticket.GroupProvider, Members: []string{provider}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	d, err := ticket.NewDesk(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// mail is a verified mail from from with body, a minute after the last.
func mail(from, subject, body string, n int) ticket.Inbound {
	return ticket.Inbound{MessageID: "m" + string(rune('a'+n)) + "@unidad.example", From: ticket.Address{Addr: from},
		Subject: subject, Text: body, Sender: ticket.Trusted("test")}
}

// ticketAfter opens a ticket and applies each (from, body) in turn, failing
// on a refusal: the state the actions are offered in.
func ticketAfter(tb testing.TB, d *ticket.Desk, steps ...[2]string) *ticket.Ticket {
	tb.Helper()
	o := d.Open("OTI-2026-000042", mail(requester, "No imprime", "La impresora no imprime.", 0), "", t0)
	tk := o.Ticket
	for i, s := range steps {
		o = d.Reply(tk, mail(s[0], "Re: [OTI-2026-000042] No imprime", s[1], i+1), t0.Add(time.Duration(i+1)*time.Minute))
		if o.Refused {
			tb.Fatalf("step %q by %s refused: %+v", s[1], s[0], o.Results)
		}
		tk = o.Ticket
	}
	return tk
}

func commands(as []Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Command
	}
	return out
}

// TestOfferFollowsTheRules: what each person is offered, by level and
// state, and nothing the desk would refuse.
func TestOfferFollowsTheRules(t *testing.T) {
	d := testDesk(t)
	atL2 := [][2]string{{agent, "#escalar nivel2 redes"}}
	cases := []struct {
		name   string
		steps  [][2]string
		person string
		lang   string
		want   []string
	}{
		{"desk, new ticket", nil, agent, "es", []string{
			"#clasificar ", "#prioridad alta", "#prioridad media", "#prioridad baja",
			"#escalar nivel2 redes", "#escalar nivel2 sitio", "#escalar nivel3 proveedor",
			"#asignar " + agent, "#resolver ", "#cerrar forzar ", "#nota ", "#ayuda"}},
		{"specialist at their level", atL2, redes, "es", []string{
			"#escalar nivel3 proveedor", "#asignar " + redes, "#asignar sitio", "#resolver ", "#nota ", "#ayuda"}},
		{"specialist at their level, in English", atL2, redes, "en", []string{
			"#escalate level3 proveedor", "#assign " + redes, "#assign sitio", "#resolve ", "#note ", "#help"}},
		{"the assignee is not offered to take it", append(atL2, [2]string{redes, "#asignar " + redes}), redes, "es", []string{
			"#escalar nivel3 proveedor", "#asignar sitio", "#resolver ", "#nota ", "#ayuda"}},
		{"specialist on a ticket of another level", nil, redes, "es", []string{"#ayuda"}},
		{"provider at level 3 escalates no further", [][2]string{{agent, "#escalar nivel3"}}, provider, "es", []string{
			"#asignar " + provider, "#resolver ", "#nota ", "#ayuda"}},
		{"desk, resolved", append(atL2, [2]string{redes, "#resolver cambiado el tóner"}), agent, "es", []string{
			"#cerrar", "#reabrir ", "#nota ", "#ayuda"}},
		{"requester, resolved", append(atL2, [2]string{redes, "#resolver listo"}), requester, "es", []string{"#reabrir ", "#ayuda"}},
		{"requester, open", nil, requester, "es", []string{"#ayuda"}},
		{"stranger", nil, stranger, "es", []string{"#ayuda"}},
		{"desk, closed", [][2]string{{agent, "#resolver listo"}, {agent, "#cerrar"}}, agent, "es", []string{"#nota ", "#ayuda"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := ticketAfter(t, d, c.steps...)
			got := Offer(d, tk, c.person, Mail{To: support, Lang: c.lang})
			if !slices.Equal(commands(got), c.want) {
				t.Fatalf("Offer = %q\nwant    %q", commands(got), c.want)
			}
			// Each action, sent as its URL says (with words typed after a
			// command that wants them), is applied, not refused.
			for _, a := range got {
				q := query(t, a.URL)
				body := q.Get("body")
				if body != a.Command {
					t.Errorf("%s: body %q, want %q", a.Label, body, a.Command)
				}
				if strings.HasSuffix(body, " ") {
					body += "texto de prueba"
				}
				tk := ticketAfter(t, d, c.steps...)
				o := d.Reply(tk, mail(c.person, q.Get("subject"), body, 20), t0.Add(time.Hour))
				if o.Refused || len(o.Results) != 1 || o.Results[0].Status != ticket.ResultApplied {
					t.Errorf("%s (%q) by %s: %+v", a.Label, body, c.person, o.Results)
				}
				if ids := ticket.IDsInSubject("OTI", q.Get("subject")); len(ids) != 1 || ids[0] != tk.ID {
					t.Errorf("%s: subject %q does not name %s", a.Label, q.Get("subject"), tk.ID)
				}
			}
		})
	}
}

// TestLabels: labels name groups by their label, in the language asked for.
func TestLabels(t *testing.T) {
	d := testDesk(t)
	tk := ticketAfter(t, d)
	for _, lang := range []string{"es", "en"} {
		got := Offer(d, tk, agent, Mail{To: support, Lang: lang})
		var labels []string
		for _, a := range got {
			labels = append(labels, a.Label)
		}
		want := map[string]string{"es": "Escalar a nivel 2: Redes y comunicaciones", "en": "Escalate to level 2: Redes y comunicaciones"}[lang]
		if !slices.Contains(labels, want) {
			t.Errorf("%s labels %q lack %q", lang, labels, want)
		}
	}
}

// TestBuildWithoutGroups: with no groups known, escalation goes to each
// higher level's default group and nobody is offered to take the case.
func TestBuildWithoutGroups(t *testing.T) {
	tk := &ticket.Ticket{ID: "OTI-2026-000001", Subject: "x", Level: ticket.Level2, State: ticket.StateOpen}
	got := commands(Build([]ticket.Verb{ticket.VerbEscalate, ticket.VerbAssign, ticket.VerbResolve}, tk, nil, redes, Mail{To: support}))
	if want := []string{"#escalar nivel3", "#resolver "}; !slices.Equal(got, want) {
		t.Errorf("Build = %q, want %q", got, want)
	}
	if got := Build(ticket.AllVerbs(), nil, nil, agent, Mail{To: support}); got != nil {
		t.Errorf("Build of a nil ticket = %v", got)
	}
}

// query parses a mailto: URL strictly: only characters RFC 6068 allows
// (unreserved, percent-encoded, and the delimiters we use), no "+" that a
// form decoder would read as a space, and returns its fields decoded.
func query(t testing.TB, u string) url.Values {
	t.Helper()
	rest, ok := strings.CutPrefix(u, "mailto:")
	if !ok {
		t.Fatalf("%q is no mailto: URL", u)
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		unreserved := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
		if !unreserved && strings.IndexByte("%?&=@", c) < 0 {
			t.Fatalf("%q: byte %q at %d must be percent-encoded", u, c, i)
		}
		if c == '%' && (i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2])) {
			t.Fatalf("%q: bad percent-encoding at %d", u, i)
		}
	}
	to, raw, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("%q: %v", u, err)
	}
	addr, err := url.PathUnescape(to)
	if err != nil {
		t.Fatal(err)
	}
	q.Set("to", addr)
	return q
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// TestURLEncoding: tricky subjects and addresses survive the trip.
func TestURLEncoding(t *testing.T) {
	cases := []struct{ name, subject, wantSubject string }{
		{"ampersand and question mark", "¿Impresora & escáner? 100% caídos", "Re: [OTI-2026-000042] ¿Impresora & escáner? 100% caídos"},
		{"hash and equals", "#resolver = no #cerrar", "Re: [OTI-2026-000042] #resolver = no #cerrar"},
		{"plus and spaces", "C++  y   a+b", "Re: [OTI-2026-000042] C++ y a+b"},
		{"newlines stripped", "primera\r\nsegunda\n\tTercera\x00", "Re: [OTI-2026-000042] primera segunda Tercera"},
		{"non-ASCII", "Ñandú 日本語 😀", "Re: [OTI-2026-000042] Ñandú 日本語 😀"},
		{"tag already there", "Re: [OTI-2026-000042] ya", "Re: Re: [OTI-2026-000042] ya"},
		{"invalid UTF-8", "mal \xff byte", "Re: [OTI-2026-000042] mal \uFFFD byte"},
		{"empty", "", "Re: [OTI-2026-000042]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := &ticket.Ticket{ID: "OTI-2026-000042", Subject: c.subject}
			m := Mail{To: "soporte.oti+abc234@oti.example", InReplyTo: "n1.OTI-2026-000042@ticketd.test", References: []string{"<a@x>", "bad id", "b@y"}}
			u := URL(m, tk, "#nota línea 1\nlínea 2 & más?")
			q := query(t, u)
			if got := q.Get("subject"); got != c.wantSubject {
				t.Errorf("subject %q, want %q", got, c.wantSubject)
			}
			if got := q.Get("to"); got != m.To {
				t.Errorf("to %q, want %q", got, m.To)
			}
			if got, want := q.Get("body"), "#nota línea 1\r\nlínea 2 & más?"; got != want {
				t.Errorf("body %q, want %q", got, want)
			}
			if got := q.Get("In-Reply-To"); got != "<n1.OTI-2026-000042@ticketd.test>" {
				t.Errorf("In-Reply-To %q", got)
			}
			if got := q.Get("References"); got != "<a@x> <b@y>" {
				t.Errorf("References %q", got)
			}
			if strings.Contains(u, "+") {
				t.Errorf("%q has a literal +", u)
			}
		})
	}
	// Without a Message-ID there is no In-Reply-To at all.
	u := URL(Mail{To: support}, &ticket.Ticket{ID: "OTI-2026-000042", Subject: "x"}, "#cerrar")
	if want := "mailto:soporte.oti@oti.example?subject=Re%3A%20%5BOTI-2026-000042%5D%20x&body=%23cerrar"; u != want {
		t.Errorf("URL = %q\nwant  %q", u, want)
	}
}

// FuzzURL: whatever the subject and body, the URL decodes back to them
// (the subject on one line).
func FuzzURL(f *testing.F) {
	f.Add("a&b?c#d%e", "#nota x\ny")
	f.Add("ñ\r\n😀", "")
	f.Fuzz(func(t *testing.T, subject, body string) {
		tk := &ticket.Ticket{ID: "OTI-2026-000042", Subject: subject}
		q := query(t, URL(Mail{To: support, InReplyTo: "x@y"}, tk, body))
		if got := q.Get("subject"); strings.ContainsAny(got, "\r\n") || !strings.HasPrefix(got, "Re: ") {
			t.Errorf("subject %q", got)
		}
		want := strings.ToValidUTF8(body, "\uFFFD")
		want = strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(want, "\r\n", "\n"), "\r", "\n"), "\n", "\r\n")
		if got := q.Get("body"); got != want {
			t.Errorf("body %q, want %q", got, want)
		}
	})
}

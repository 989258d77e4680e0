package ticket

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCommands(t *testing.T) {
	cases := []struct {
		body string
		want []Command // Line, Raw and Err are not compared
		errs []bool
	}{
		{"#escalar nivel2 redes", []Command{{Verb: VerbEscalate, Level: 2, Target: "redes"}}, nil},
		{"#Escalar Nivel 2", []Command{{Verb: VerbEscalate, Level: 2}}, nil},
		{"#ESCALAR n3 Infra el switch", []Command{{Verb: VerbEscalate, Level: 3, Target: "infra", Text: "el switch"}}, nil},
		{"#escalár 2", []Command{{Verb: VerbEscalate, Level: 2}}, nil},
		{"#escala\u0301r level2", []Command{{Verb: VerbEscalate, Level: 2}}, nil},
		{"#escalate level 3", []Command{{Verb: VerbEscalate, Level: 3}}, nil},
		{"#escalar l2", []Command{{Verb: VerbEscalate, Level: 2}}, nil},
		{"#escalar: nivel2", []Command{{Verb: VerbEscalate, Level: 2}}, nil},
		{"#escalar", []Command{{Verb: VerbEscalate}}, []bool{true}},
		{"#escalar nivel", []Command{{Verb: VerbEscalate}}, []bool{true}},
		{"#escalar nivel9", []Command{{Verb: VerbEscalate}}, []bool{true}},
		{"#escalar nivel1", []Command{{Verb: VerbEscalate}}, []bool{true}},
		{"#asignar <tecnico@oti.example>", []Command{{Verb: VerbAssign, Target: "tecnico@oti.example"}}, nil},
		{"#assign sitio ya", []Command{{Verb: VerbAssign, Target: "sitio", Text: "ya"}}, nil},
		{"#asignar", []Command{{Verb: VerbAssign}}, []bool{true}},
		{"#clasificar Redes ALTA caída", []Command{{Verb: VerbClassify, Category: "redes", Priority: PriorityHigh, Text: "caída"}}, nil},
		{"#classify hardware", []Command{{Verb: VerbClassify, Category: "hardware"}}, nil},
		{"#clasificar", []Command{{Verb: VerbClassify}}, []bool{true}},
		{"#prioridad baja", []Command{{Verb: VerbPriority, Priority: PriorityLow}}, nil},
		{"#priority High", []Command{{Verb: VerbPriority, Priority: PriorityHigh}}, nil},
		{"#prioridad", []Command{{Verb: VerbPriority}}, []bool{true}},
		{"#prioridad rápida", []Command{{Verb: VerbPriority}}, []bool{true}},
		{"#resolver Se cambió el cable", []Command{{Verb: VerbResolve, Text: "Se cambió el cable"}}, nil},
		{"#cerrar", []Command{{Verb: VerbClose}}, nil},
		{"#cerrar forzar duplicado", []Command{{Verb: VerbClose, Force: true, Text: "duplicado"}}, nil},
		{"#close", []Command{{Verb: VerbClose}}, nil},
		{"#reabrir sigue mal", []Command{{Verb: VerbReopen, Text: "sigue mal"}}, nil},
		{"#reopen", []Command{{Verb: VerbReopen}}, nil},
		{"#nota llamar", []Command{{Verb: VerbNote, Text: "llamar"}}, nil},
		{"#note x", []Command{{Verb: VerbNote, Text: "x"}}, nil},
		{"#ayuda por favor", []Command{{Verb: VerbHelp}}, nil},
		{"#HELP", []Command{{Verb: VerbHelp}}, nil},
		{"  #nota con sangría", []Command{{Verb: VerbNote, Text: "con sangría"}}, nil},
		// Not commands.
		{"#2 de la lista", nil, nil},
		{"#", nil, nil},
		{"# escalar nivel2", nil, nil},
		{"Por favor #escalar nivel2", nil, nil},
		{"> #cerrar", nil, nil},
		{">> #escalar nivel2", nil, nil},
		{"#escalarlo", nil, nil},
		{"#hashtag", nil, nil},
		// Several, in order.
		{"#clasificar redes\r\n\r\n#escalar nivel2\r\n#nota ver", []Command{{Verb: VerbClassify, Category: "redes"}, {Verb: VerbEscalate, Level: 2}, {Verb: VerbNote, Text: "ver"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			p := ParseCommands(tc.body)
			if len(p.Commands) != len(tc.want) {
				t.Fatalf("ParseCommands(%q) = %d commands %+v, want %d", tc.body, len(p.Commands), p.Commands, len(tc.want))
			}
			for i, got := range p.Commands {
				wantErr := i < len(tc.errs) && tc.errs[i]
				if (got.Err != nil) != wantErr {
					t.Errorf("command %d Err = %v, want error=%v", i, got.Err, wantErr)
				}
				if got.Err != nil {
					if !errors.Is(got.Err, ErrSyntax) || !strings.Contains(got.Err.Error(), "sintaxis: #") || !strings.Contains(English(got.Err), "syntax: #") {
						t.Errorf("Err = %v / %q, want ErrSyntax with the syntax in both languages", got.Err, English(got.Err))
					}
					continue
				}
				got.Line, got.Raw = 0, ""
				if got != tc.want[i] {
					t.Errorf("command %d = %+v, want %+v", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestParseCommentAndLines(t *testing.T) {
	p := ParseCommands("Hola\n#nota a\n> citado\nchao\n")
	if p.Comment != "Hola\nchao" || p.Commands[0].Line != 2 || p.Commands[0].Raw != "#nota a" {
		t.Errorf("ParseCommands = %+v", p)
	}
}

func TestVerbNames(t *testing.T) {
	verbs := map[string]Verb{}
	for w, i := range std.byWord {
		verbs[w] = std.cmds[i].verb
	}
	for _, v := range AllVerbs() {
		if !strings.HasPrefix(v.SyntaxEN(), "#"+string(v)) || verbs[string(v)] != v {
			t.Errorf("verb %s: SyntaxEN %q", v, v.SyntaxEN())
		}
		if verbs[v.Spanish()] != v || !strings.HasPrefix(v.Syntax(), "#"+v.Spanish()) {
			t.Errorf("verb %s: Spanish %q Syntax %q", v, v.Spanish(), v.Syntax())
		}
	}
	if Verb("x").Spanish() != "x" || Verb("x").Syntax() != "#x" || Verb("x").SyntaxEN() != "#x" || English(errors.New("x")) != "x" {
		t.Error("unknown verb names")
	}
}

// FuzzParseCommands checks that the parser never panics, that every command
// it finds sits on a line of its own starting with '#', and that quoted
// lines never yield commands.
func FuzzParseCommands(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/commands/*.txt")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("#escalar nivel2 redes\n#nota x")
	f.Fuzz(func(t *testing.T, body string) {
		p := ParseCommands(body)
		lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
		for _, c := range p.Commands {
			if c.Line < 1 || c.Line > len(lines) {
				t.Fatalf("command on line %d of %d", c.Line, len(lines))
			}
			l := strings.TrimSpace(lines[c.Line-1])
			if !strings.HasPrefix(l, "#") {
				t.Fatalf("command from line %q", l)
			}
			if c.Err == nil && c.Verb == VerbEscalate && !c.Level.Valid() {
				t.Fatalf("escalate without a valid level: %+v", c)
			}
		}
		if utf8.ValidString(body) && !utf8.ValidString(p.Comment) {
			t.Fatalf("comment of valid UTF-8 is not valid UTF-8")
		}
		// Applying whatever was found never panics either.
		d := testDesk(t)
		tk, _ := play(t, d)
		d.Reply(tk, Inbound{Sender: verified, MessageID: "f@x", From: Address{Addr: agent}, Text: body}, t0)
		if err := Verify(tk.History, tk.Head(), len(tk.History)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIDs(t *testing.T) {
	if id := NewID("OTI", 2026, 123); id != "OTI-2026-000123" || id.Tag() != "[OTI-2026-000123]" {
		t.Errorf("NewID = %s", id)
	}
	if id := NewID("OTI", 2026, 1234567); id != "OTI-2026-1234567" {
		t.Errorf("NewID past a million = %s", id)
	}
	for _, bad := range []string{"OTI-2026-000000", "OTI-26-000001", "MDA-2026-000001", "OTI-2026-00001", "OTI-2026-000001x", ""} {
		if _, err := ParseID("OTI", bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
	if id, err := ParseID("OTI", " oti-2026-000042 "); err != nil || id != "OTI-2026-000042" {
		t.Errorf("ParseID lower-case = %s, %v", id, err)
	}
	subjects := map[string][]ID{
		"RE: RV: [OTI-2026-000123] No tengo red":            {"OTI-2026-000123"},
		"AW: Fwd: TR: [OTI-2026-000123][OTI-2026-000124] x": {"OTI-2026-000123", "OTI-2026-000124"},
		"Re: [OTI-2026-000123] Re: [OTI-2026-000123]":       {"OTI-2026-000123"},
		"[ OTI-2026-000123 ] con espacios":                  {"OTI-2026-000123"},
		"[MDA-2026-000123] otro sistema":                    nil,
		"[OTI-2026-000123 sin cierre":                       nil,
		"OTI-2026-000123 sin corchetes":                     nil,
		"[[OTI-2026-000007]]":                               {"OTI-2026-000007"},
		"[urgente] [OTI-2026-000008] impresora":             {"OTI-2026-000008"},
	}
	for s, want := range subjects {
		got := IDsInSubject("OTI", s)
		if len(got) != len(want) || (len(want) > 0 && got[0] != want[0]) || (len(want) > 1 && got[1] != want[1]) {
			t.Errorf("IDsInSubject(%q) = %v, want %v", s, got, want)
		}
	}
	if id, ok := IDInMessageID("OTI", "<OTI-2026-000123.n7.ab12@desk.example>"); !ok || id != "OTI-2026-000123" {
		t.Errorf("IDInMessageID = %s %v", id, ok)
	}
	for _, bad := range []string{"<abc@x>", "OTI-2026-000123", "<MDA-2026-000123.n1@x>"} {
		if _, ok := IDInMessageID("OTI", bad); ok {
			t.Errorf("IDInMessageID(%q) found an ID", bad)
		}
	}
	for p, want := range map[string]bool{"OTI": true, "mesa2": true, "": false, "2OTI": false, "O-T": false, "ABCDEFGHIJKLMNOPQ": false} {
		if ValidPrefix(p) != want {
			t.Errorf("ValidPrefix(%q) = %v", p, !want)
		}
	}
}

// FuzzIDsInSubject checks the subject-tag extractor never panics and only
// returns IDs that appear bracketed in the subject.
func FuzzIDsInSubject(f *testing.F) {
	for _, s := range []string{"RE: [OTI-2026-000123] x", "[[[", "]]][OTI-2026-1]", "[OTI-2026-0000001234567890123456789]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, id := range IDsInSubject("OTI", s) {
			if _, err := ParseID("OTI", string(id)); err != nil {
				t.Fatalf("returned invalid ID %q: %v", id, err)
			}
		}
		IDInMessageID("OTI", s)
		cleanSubject(s)
	})
}

func TestStateAndPriority(t *testing.T) {
	for _, s := range []string{"open", "Resolved", " closed "} {
		if _, err := ParseState(s); err != nil {
			t.Errorf("ParseState(%q): %v", s, err)
		}
	}
	if _, err := ParseState("pending"); err == nil {
		t.Error("ParseState(pending) succeeded")
	}
	if p, ok := ParsePriority("MEDIUM"); !ok || p != PriorityMedium {
		t.Errorf("ParsePriority(MEDIUM) = %s", p)
	}
	if a := (Address{Name: "Ana Pérez", Addr: "ana@x"}); !strings.Contains(a.String(), "ana@x") || (Address{Addr: "b@x"}).String() != "b@x" {
		t.Errorf("Address.String = %s", a)
	}
}

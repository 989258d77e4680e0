package ticket

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCommandTable walks the vocabulary: every command is spelled in both
// languages, has its syntax in both (starting with its spelling), a
// permission rule made of known parts, an action, and is offered by help to
// the desk, who may use every command.
func TestCommandTable(t *testing.T) {
	d := testDesk(t)
	deskHelp := d.AllowedVerbs(nil, agent)
	for _, c := range commandTable() {
		t.Run(string(c.verb), func(t *testing.T) {
			if c.es == "" || c.en == "" || c.en != string(c.verb) {
				t.Errorf("spellings es %q en %q: want both, en the canonical verb", c.es, c.en)
			}
			if !strings.HasPrefix(c.syntaxES, "#"+c.es) || !strings.HasPrefix(c.syntaxEN, "#"+c.en) {
				t.Errorf("syntax es %q en %q: want both, each starting with its spelling", c.syntaxES, c.syntaxEN)
			}
			if c.who&^(byLevel|byRequester|byAnyone) != 0 {
				t.Errorf("permission %b has unknown bits", c.who)
			}
			if c.apply == nil {
				t.Error("no action")
			}
			if !slices.Contains(deskHelp, c.verb) {
				t.Errorf("help to the desk %v does not offer it", deskHelp)
			}
			for _, w := range []string{c.es, strings.ToUpper(c.en)} {
				p := ParseCommands("#" + w)
				if len(p.Commands) != 1 || p.Commands[0].Verb != c.verb {
					t.Errorf("ParseCommands(%q) = %+v, want %s", "#"+w, p.Commands, c.verb)
				}
			}
		})
	}
	if got, want := AllVerbs(), std.verbs(); !slices.Equal(got, want) {
		t.Errorf("AllVerbs() = %v, want %v", got, want)
	}
	all := AllVerbs()
	all[0] = "mutated"
	if AllVerbs()[0] == "mutated" {
		t.Error("AllVerbs returns the table itself: a caller can change the vocabulary")
	}
}

// waitingCommand is a command that is not (yet) in the procedure: "waiting
// for the user", open to level members.
func waitingCommand() command {
	return command{verb: "waiting", es: "pendiente", en: "waiting",
		syntaxES: "#pendiente <motivo>", syntaxEN: "#waiting <reason>",
		parse: func(c *Command, args []string) error {
			if len(args) == 0 {
				return badArgs("falta el motivo", "the reason is missing")
			}
			c.Text = strings.Join(args, " ")
			return nil
		},
		who: byLevel,
		apply: func(_ *Desk, o *Outcome, _ Command, e Entry) error {
			e.Kind = "waiting"
			o.append(e)
			return nil
		}}
}

// TestAddCommand proves that adding a command is one table entry: a desk
// whose vocabulary has one more entry parses it, checks who may use it,
// offers it in help and assignments, applies it, and quotes its syntax
// when it is miswritten.
func TestAddCommand(t *testing.T) {
	std := testDesk(t)
	d := *std
	d.voc = newVocabulary(append(commandTable(), waitingCommand()))

	if p := std.voc.parse("#pendiente llamar"); len(p.Commands) != 0 {
		t.Fatalf("the procedure's own vocabulary parses the test command: %+v", p.Commands)
	}
	p := d.voc.parse("#PENDIENTE llamar el lunes")
	if len(p.Commands) != 1 || p.Commands[0].Verb != "waiting" || p.Commands[0].Text != "llamar el lunes" {
		t.Fatalf("parse = %+v", p.Commands)
	}
	if p := d.voc.parse("#waiting"); len(p.Commands) != 1 || p.Commands[0].Err == nil ||
		!strings.Contains(p.Commands[0].Err.Error(), "sintaxis: #pendiente <motivo>") ||
		!strings.Contains(English(p.Commands[0].Err), "syntax: #waiting <reason>") {
		t.Errorf("a miswritten #waiting = %+v, want a syntax error quoting its syntax", p.Commands)
	}

	tk, _ := play(t, &d, step{agent, "#escalar nivel2"})
	if err := d.allowed(tk, specialist, "waiting"); err != nil {
		t.Errorf("a level-2 member may not use it on a level-2 ticket: %v", err)
	}
	for _, who := range []string{requester, engineer, stranger} {
		if err := d.allowed(tk, who, "waiting"); err == nil {
			t.Errorf("%s may use it", who)
		}
	}
	if err := std.allowed(tk, specialist, "waiting"); err == nil {
		t.Error("the procedure's desk allows a command it does not have")
	}
	if got := d.groupVerbs(Group{Name: "redes", Level: Level2}); !slices.Contains(got, "waiting") {
		t.Errorf("an assignment to level 2 offers %v, without it", got)
	}

	o := d.Reply(tk, Inbound{Sender: verified, MessageID: "h@x", From: Address{Addr: specialist}, Text: "#ayuda"}, t0.Add(time.Hour))
	if len(o.Notices) != 1 || o.Notices[0].Kind != NoticeHelp || !slices.Contains(o.Notices[0].Verbs, "waiting") {
		t.Errorf("help = %+v, want it to list the new command", o.Notices)
	}
	o = d.Reply(tk, Inbound{Sender: verified, MessageID: "w@x", From: Address{Addr: specialist}, Text: "#pendiente llamar el lunes"}, t0.Add(2*time.Hour))
	if o.Refused || len(o.Entries) != 1 || o.Entries[0].Kind != "waiting" || o.Entries[0].Text != "llamar el lunes" {
		t.Errorf("applying it: refused=%v entries %+v", o.Refused, o.Entries)
	}
	if len(o.Notices) != 1 || o.Notices[0].Kind != NoticeReceipt || o.Results[0].Status != ResultApplied {
		t.Errorf("applying it: notices %+v results %+v, want an applied receipt", o.Notices, o.Results)
	}
}

// TestStateTable walks the states: each has labels in both languages, the
// derived predicates agree with the table, and exactly one state is final.
func TestStateTable(t *testing.T) {
	finals := 0
	for _, s := range States() {
		if s.ES == "" || s.EN == "" {
			t.Errorf("state %s: labels es %q en %q", s.State, s.ES, s.EN)
		}
		if s.State.Label("es") != s.ES || s.State.Label("en") != s.EN || s.State.Final() != s.Final || s.State.Queued() != s.Queued {
			t.Errorf("state %s: derived %q %q %v %v, table %+v", s.State, s.State.Label("es"), s.State.Label("en"), s.State.Final(), s.State.Queued(), s)
		}
		if s.Final && s.Queued {
			t.Errorf("state %s is final and queued", s.State)
		}
		if got, err := ParseState(strings.ToUpper(string(s.State))); err != nil || got != s.State {
			t.Errorf("ParseState(%q) = %q, %v", s.State, got, err)
		}
		if s.Final {
			finals++
		}
	}
	if finals != 1 {
		t.Errorf("%d final states, want 1 (closed)", finals)
	}
	if l := State("x").Label("en"); l != "x" || State("x").Final() || State("x").Queued() {
		t.Errorf("a state not in the table: label %q", l)
	}
}

// TestAddState proves that adding a state is one table entry: a set with
// one more entry parses it, names it and says whether it is final or
// queued (the store lists any state its index holds: see its TestList).
func TestAddState(t *testing.T) {
	ss := append(stateSet(States()), StateInfo{State: "waiting", ES: "pendiente del usuario", EN: "waiting for the user"})
	got, err := ss.parse("Waiting")
	if err != nil || got != "waiting" {
		t.Fatalf("parse(Waiting) = %q, %v", got, err)
	}
	if info, ok := ss.info("waiting"); !ok || info.ES != "pendiente del usuario" || info.Final || info.Queued {
		t.Errorf("info(waiting) = %+v, %v", info, ok)
	}
	if _, err := ss.parse("nada"); err == nil || !strings.Contains(err.Error(), "open, resolved, closed or waiting") {
		t.Errorf("parse(nada) = %v, want the states listed", err)
	}
	if _, err := stateTable.parse("waiting"); err == nil {
		t.Error("the procedure's own states parse the test state")
	}
}

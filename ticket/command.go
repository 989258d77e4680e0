package ticket

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Verb is a command's canonical (English) name.
type Verb string

// The commands agents, specialists, providers and requesters may write.
const (
	VerbEscalate Verb = "escalate"
	VerbAssign   Verb = "assign"
	VerbClassify Verb = "classify"
	VerbPriority Verb = "priority"
	VerbResolve  Verb = "resolve"
	VerbClose    Verb = "close"
	VerbReopen   Verb = "reopen"
	VerbNote     Verb = "note"
	VerbHelp     Verb = "help"
)

// access says who, besides the members of a level-1 group (the service
// desk, who may use every command), may use a command.
type access uint8

const (
	// byLevel: members of a level-2 or level-3 group, on tickets at their
	// level.
	byLevel access = 1 << iota
	// byRequester: the ticket's requester.
	byRequester
	// byAnyone: anyone at all, on any ticket.
	byAnyone
)

// command is one entry of the procedure's vocabulary: everything the
// parser, the permission check, help mails, receipts and the rules need to
// know about one command. Adding a command is adding one entry to
// [commandTable] (and, when it owes a new notice, that notice's kind and
// templates).
type command struct {
	verb Verb
	// es and en are the spellings users write after '#', matched without
	// regard to case or accents; es is the one Spanish help shows.
	es, en string
	// syntaxES and syntaxEN are the valid syntax, for help and receipts.
	syntaxES, syntaxEN string
	// parse reads the arguments after the verb into c; nil means the rest
	// of the line is free text. An error made by badArgs becomes a syntax
	// error quoting the syntax.
	parse func(c *Command, args []string) error
	// who may use it besides the desk.
	who access
	// onFinal: it may be used on a ticket in a final state (closed).
	onFinal bool
	// raises: it moves a ticket to a higher level, so it is not offered to
	// the groups of the top level.
	raises bool
	// apply does the command to o.Ticket once it is allowed; entry is the
	// history entry prepared for it (actor, time, Message-ID, text).
	apply func(d *Desk, o *Outcome, cmd Command, entry Entry) error
}

// commandTable returns the procedure's commands, in the order help shows
// them. It returns a new slice on every call.
func commandTable() []command {
	return []command{
		{verb: VerbClassify, es: "clasificar", en: "classify",
			syntaxES: "#clasificar <categoría> [alta|media|baja]", syntaxEN: "#classify <category> [high|medium|low]",
			parse: parseClassify, apply: (*Desk).classify},
		{verb: VerbPriority, es: "prioridad", en: "priority",
			syntaxES: "#prioridad alta|media|baja", syntaxEN: "#priority high|medium|low",
			parse: parsePriority, apply: (*Desk).prioritize},
		{verb: VerbEscalate, es: "escalar", en: "escalate",
			syntaxES: "#escalar nivel2|nivel3 [grupo]", syntaxEN: "#escalate level2|level3 [group]",
			parse: parseEscalate, who: byLevel, raises: true, apply: (*Desk).escalate},
		{verb: VerbAssign, es: "asignar", en: "assign",
			syntaxES: "#asignar <grupo|dirección>", syntaxEN: "#assign <group|address>",
			parse: parseAssign, who: byLevel, apply: (*Desk).assign},
		{verb: VerbResolve, es: "resolver", en: "resolve",
			syntaxES: "#resolver [texto]", syntaxEN: "#resolve [text]",
			who: byLevel, apply: (*Desk).resolve},
		{verb: VerbClose, es: "cerrar", en: "close",
			syntaxES: "#cerrar [texto]  (o #cerrar forzar <motivo> para un caso no resuelto)",
			syntaxEN: "#close [text]  (or #close force <reason> for a case never resolved)",
			parse:    parseClose, apply: (*Desk).close},
		{verb: VerbReopen, es: "reabrir", en: "reopen",
			syntaxES: "#reabrir [texto]", syntaxEN: "#reopen [text]",
			who: byRequester, apply: (*Desk).reopen},
		{verb: VerbNote, es: "nota", en: "note",
			syntaxES: "#nota <texto>", syntaxEN: "#note <text>",
			who: byLevel, onFinal: true, apply: (*Desk).note},
		{verb: VerbHelp, es: "ayuda", en: "help",
			syntaxES: "#ayuda", syntaxEN: "#help",
			parse: func(*Command, []string) error { return nil }, // whatever follows #ayuda is ignored
			who:   byAnyone, onFinal: true, apply: (*Desk).help},
	}
}

// vocabulary is a command table indexed for the parser and the rules. It
// is never changed once built.
type vocabulary struct {
	cmds   []command
	byWord map[string]int // folded spelling → index in cmds
	byVerb map[Verb]int
}

// newVocabulary indexes cmds. Two commands with the same verb or spelling
// are a programming error: it panics.
func newVocabulary(cmds []command) *vocabulary {
	v := &vocabulary{cmds: cmds, byWord: map[string]int{}, byVerb: map[Verb]int{}}
	for i, c := range cmds {
		if _, dup := v.byVerb[c.verb]; dup {
			panic(fmt.Sprintf("ticket: command %q twice in the table", c.verb))
		}
		v.byVerb[c.verb] = i
		for _, w := range []string{c.es, c.en} {
			if j, dup := v.byWord[fold(w)]; dup && j != i {
				panic(fmt.Sprintf("ticket: spelling %q of %q is taken by %q", w, c.verb, cmds[j].verb))
			}
			v.byWord[fold(w)] = i
		}
	}
	return v
}

// std is the procedure's vocabulary.
var std = newVocabulary(commandTable())

func (v *vocabulary) lookup(verb Verb) (*command, bool) {
	i, ok := v.byVerb[verb]
	if !ok {
		return nil, false
	}
	return &v.cmds[i], true
}

// verbs lists the vocabulary's verbs in table order, as a new slice.
func (v *vocabulary) verbs() []Verb {
	out := make([]Verb, len(v.cmds))
	for i, c := range v.cmds {
		out[i] = c.verb
	}
	return out
}

// AllVerbs lists every command's verb in the order help shows them. It
// returns a new slice on every call.
func AllVerbs() []Verb { return std.verbs() }

// Spanish returns the Spanish spelling of the verb, as users write it (the
// verb itself when it is no command).
func (v Verb) Spanish() string {
	if c, ok := std.lookup(v); ok {
		return c.es
	}
	return string(v)
}

// Syntax returns the valid syntax of the verb in Spanish, for receipts and
// help.
func (v Verb) Syntax() string {
	if c, ok := std.lookup(v); ok {
		return c.syntaxES
	}
	return "#" + string(v)
}

// SyntaxEN returns the valid syntax of the verb in English.
func (v Verb) SyntaxEN() string {
	if c, ok := std.lookup(v); ok {
		return c.syntaxEN
	}
	return "#" + string(v)
}

// Command is one command found in a mail body.
type Command struct {
	Verb Verb `json:"verb"`
	// Line is the 1-based line of the body it was on; Raw is that line.
	Line int    `json:"line"`
	Raw  string `json:"raw"`
	// Level is the target of escalate.
	Level Level `json:"level,omitempty"`
	// Target is the group of escalate, or the group or address of assign.
	Target   string   `json:"target,omitempty"`
	Category string   `json:"category,omitempty"`
	Priority Priority `json:"priority,omitempty"`
	// Force is set by "#cerrar forzar": close a ticket never resolved.
	Force bool `json:"force,omitempty"`
	// Text is what followed the command and its arguments on its line.
	Text string `json:"text,omitempty"`
	// Err is set when the command is known but its arguments are wrong.
	Err error `json:"-"`
}

// ErrSyntax is matched by errors.Is on Command.Err.
var ErrSyntax = errors.New("ticket: malformed command")

// Parsed is what [ParseCommands] finds in a body.
type Parsed struct {
	Commands []Command
	// Comment is the body without the command lines and without quoted
	// lines, trimmed: the comment recorded with the commands.
	Comment string
}

// ParseCommands finds the commands in the new text of a mail. A command is a
// line that starts (after blanks) with '#' followed by a known verb in any
// case and with or without accents; an unknown "#word" is plain text.
// Lines quoted with '>' are never commands and are left out of the comment.
// A known verb with bad arguments yields a Command with Err set.
func ParseCommands(body string) Parsed { return std.parse(body) }

func (v *vocabulary) parse(body string) Parsed {
	var p Parsed
	var comment []string
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, ">") {
			continue
		}
		if cmd, ok := v.parseLine(trimmed); ok {
			cmd.Line = i + 1
			p.Commands = append(p.Commands, cmd)
			continue
		}
		comment = append(comment, strings.TrimRight(line, " \t\r"))
	}
	p.Comment = strings.TrimSpace(strings.Join(comment, "\n"))
	return p
}

func (v *vocabulary) parseLine(line string) (Command, bool) {
	// The verb follows '#' directly: "# escalar" is a heading, not a command.
	if len(line) < 2 || line[0] != '#' || line[1] == ' ' || line[1] == '\t' {
		return Command{}, false
	}
	fields := strings.Fields(line[1:])
	if len(fields) == 0 {
		return Command{}, false
	}
	word := fields[0]
	i, ok := v.byWord[fold(word)]
	if !ok {
		// "#escalar:" is still the command; "#2" is text.
		i, ok = v.byWord[fold(strings.TrimRight(word, ":.,;"))]
		if !ok {
			return Command{}, false
		}
	}
	spec := &v.cmds[i]
	c := Command{Verb: spec.verb, Raw: line}
	args := fields[1:]
	if spec.parse == nil {
		c.Text = strings.Join(args, " ")
	} else if err := spec.parse(&c, args); err != nil {
		c.Err = spec.syntaxError(err)
	}
	return c, true
}

// syntaxError turns what [badArgs] said about a command's arguments into
// the error its sender reads, quoting the command's syntax; any other error
// is returned as it is.
func (c *command) syntaxError(err error) error {
	var ae *argError
	if !errors.As(err, &ae) {
		return err
	}
	return &userError{
		es:     fmt.Sprintf("orden mal escrita: %s; sintaxis: %s", ae.es, c.syntaxES),
		en:     fmt.Sprintf("malformed command: %s; syntax: %s", ae.en, c.syntaxEN),
		syntax: true,
	}
}

func parseAssign(c *Command, args []string) error {
	if len(args) == 0 {
		return badArgs("falta el grupo o la dirección", "the group or address is missing")
	}
	c.Target, c.Text = strings.Trim(args[0], "<>,;"), strings.Join(args[1:], " ")
	return nil
}

func parseClassify(c *Command, args []string) error {
	if len(args) == 0 {
		return badArgs("falta la categoría", "the category is missing")
	}
	c.Category = strings.ToLower(strings.Trim(args[0], ",;"))
	rest := args[1:]
	if len(rest) > 0 {
		if pr, ok := ParsePriority(strings.Trim(rest[0], ",;")); ok {
			c.Priority, rest = pr, rest[1:]
		}
	}
	c.Text = strings.Join(rest, " ")
	return nil
}

func parsePriority(c *Command, args []string) error {
	if len(args) == 0 {
		return badArgs("falta la prioridad", "the priority is missing")
	}
	pr, ok := ParsePriority(strings.Trim(args[0], ",;"))
	if !ok {
		return badArgs("prioridad desconocida %q", "unknown priority %q", args[0])
	}
	c.Priority, c.Text = pr, strings.Join(args[1:], " ")
	return nil
}

func parseClose(c *Command, args []string) error {
	if len(args) > 0 {
		switch fold(args[0]) {
		case "forzar", "forzado", "force", "forced":
			c.Force, args = true, args[1:]
		}
	}
	c.Text = strings.Join(args, " ")
	return nil
}

// parseEscalate reads "nivel2 [grupo] [texto]", accepting "nivel 2", "n2",
// "2", "level2", "level 2", "l2".
func parseEscalate(c *Command, args []string) error {
	if len(args) == 0 {
		return badArgs("falta el nivel (nivel2 o nivel3)", "the level is missing (level2 or level3)")
	}
	w := fold(args[0])
	var digits string
	switch {
	case w == "nivel" || w == "level" || w == "n":
		if len(args) < 2 {
			return badArgs("falta el número de nivel", "the level number is missing")
		}
		digits, args = args[1], args[2:]
	default:
		for _, p := range []string{"nivel", "level", "n", "l"} {
			if strings.HasPrefix(w, p) && len(w) > len(p) {
				w = w[len(p):]
				break
			}
		}
		digits, args = w, args[1:]
	}
	switch strings.Trim(digits, ",;:") {
	case "2":
		c.Level = Level2
	case "3":
		c.Level = Level3
	case "1":
		return badArgs("no se escala a nivel 1; para devolver un caso resuelto use #reabrir",
			"nothing is escalated to level 1; to send a resolved case back use #reopen")
	default:
		return badArgs("nivel desconocido %q", "unknown level %q", digits)
	}
	if len(args) > 0 {
		c.Target, args = strings.ToLower(strings.Trim(args[0], ",;:")), args[1:]
	}
	c.Text = strings.Join(args, " ")
	return nil
}

// fold lowercases s and strips accents, so "#ESCALÁR" matches "escalar".
// It handles precomposed Latin letters and combining marks (a mail client
// may send "a" followed by U+0301).
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		r = unicode.ToLower(r)
		if base, ok := unaccent[r]; ok {
			r = base
		}
		b.WriteRune(r)
	}
	return b.String()
}

var unaccent = map[rune]rune{
	'á': 'a', 'à': 'a', 'â': 'a', 'ä': 'a', 'ã': 'a',
	'é': 'e', 'è': 'e', 'ê': 'e', 'ë': 'e',
	'í': 'i', 'ì': 'i', 'î': 'i', 'ï': 'i',
	'ó': 'o', 'ò': 'o', 'ô': 'o', 'ö': 'o', 'õ': 'o',
	'ú': 'u', 'ù': 'u', 'û': 'u', 'ü': 'u',
}

package ticket

import (
	"errors"
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

// verbs maps every accepted spelling (folded: lowercase, no accents) to its
// verb; Spanish first, English aliases too.
var verbs = map[string]Verb{
	"escalar": VerbEscalate, "escalate": VerbEscalate,
	"asignar": VerbAssign, "assign": VerbAssign,
	"clasificar": VerbClassify, "classify": VerbClassify,
	"prioridad": VerbPriority, "priority": VerbPriority,
	"resolver": VerbResolve, "resolve": VerbResolve,
	"cerrar": VerbClose, "close": VerbClose,
	"reabrir": VerbReopen, "reopen": VerbReopen,
	"nota": VerbNote, "note": VerbNote,
	"ayuda": VerbHelp, "help": VerbHelp,
}

// Spanish returns the Spanish spelling of the verb, as users write it.
func (v Verb) Spanish() string {
	switch v {
	case VerbEscalate:
		return "escalar"
	case VerbAssign:
		return "asignar"
	case VerbClassify:
		return "clasificar"
	case VerbPriority:
		return "prioridad"
	case VerbResolve:
		return "resolver"
	case VerbClose:
		return "cerrar"
	case VerbReopen:
		return "reabrir"
	case VerbNote:
		return "nota"
	case VerbHelp:
		return "ayuda"
	}
	return string(v)
}

// Syntax returns the valid syntax of the verb in Spanish, for receipts and
// help.
func (v Verb) Syntax() string {
	switch v {
	case VerbEscalate:
		return "#escalar nivel2|nivel3 [grupo]"
	case VerbAssign:
		return "#asignar <grupo|dirección>"
	case VerbClassify:
		return "#clasificar <categoría> [alta|media|baja]"
	case VerbPriority:
		return "#prioridad alta|media|baja"
	case VerbResolve:
		return "#resolver [texto]"
	case VerbClose:
		return "#cerrar [texto]  (o #cerrar forzar <motivo> para un caso no resuelto)"
	case VerbReopen:
		return "#reabrir [texto]"
	case VerbNote:
		return "#nota <texto>"
	case VerbHelp:
		return "#ayuda"
	}
	return "#" + string(v)
}

// SyntaxEN returns the valid syntax of the verb in English.
func (v Verb) SyntaxEN() string {
	switch v {
	case VerbEscalate:
		return "#escalate level2|level3 [group]"
	case VerbAssign:
		return "#assign <group|address>"
	case VerbClassify:
		return "#classify <category> [high|medium|low]"
	case VerbPriority:
		return "#priority high|medium|low"
	case VerbResolve:
		return "#resolve [text]"
	case VerbClose:
		return "#close [text]  (or #close force <reason> for a case never resolved)"
	case VerbReopen:
		return "#reopen [text]"
	case VerbNote:
		return "#note <text>"
	case VerbHelp:
		return "#help"
	}
	return "#" + string(v)
}

// AllVerbs lists the verbs in the order help shows them.
var AllVerbs = []Verb{VerbClassify, VerbPriority, VerbEscalate, VerbAssign, VerbResolve, VerbClose, VerbReopen, VerbNote, VerbHelp}

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
func ParseCommands(body string) Parsed {
	var p Parsed
	var comment []string
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, ">") {
			continue
		}
		if cmd, ok := parseLine(trimmed); ok {
			cmd.Line = i + 1
			p.Commands = append(p.Commands, cmd)
			continue
		}
		comment = append(comment, strings.TrimRight(line, " \t\r"))
	}
	p.Comment = strings.TrimSpace(strings.Join(comment, "\n"))
	return p
}

func parseLine(line string) (Command, bool) {
	// The verb follows '#' directly: "# escalar" is a heading, not a command.
	if len(line) < 2 || line[0] != '#' || line[1] == ' ' || line[1] == '\t' {
		return Command{}, false
	}
	fields := strings.Fields(line[1:])
	if len(fields) == 0 {
		return Command{}, false
	}
	word := fields[0]
	verb, ok := verbs[fold(word)]
	if !ok {
		// "#escalar:" is still the command; "#2" is text.
		verb, ok = verbs[fold(strings.TrimRight(word, ":.,;"))]
		if !ok {
			return Command{}, false
		}
	}
	c := Command{Verb: verb, Raw: line}
	args := fields[1:]
	var err error
	switch verb {
	case VerbEscalate:
		err = c.parseEscalate(args)
	case VerbAssign:
		if len(args) == 0 {
			err = badSyntax(verb, "falta el grupo o la dirección", "the group or address is missing")
		} else {
			c.Target, c.Text = strings.Trim(args[0], "<>,;"), strings.Join(args[1:], " ")
		}
	case VerbClassify:
		if len(args) == 0 {
			err = badSyntax(verb, "falta la categoría", "the category is missing")
			break
		}
		c.Category = strings.ToLower(strings.Trim(args[0], ",;"))
		rest := args[1:]
		if len(rest) > 0 {
			if pr, ok := ParsePriority(strings.Trim(rest[0], ",;")); ok {
				c.Priority, rest = pr, rest[1:]
			}
		}
		c.Text = strings.Join(rest, " ")
	case VerbPriority:
		if len(args) == 0 {
			err = badSyntax(verb, "falta la prioridad", "the priority is missing")
		} else if pr, ok := ParsePriority(strings.Trim(args[0], ",;")); ok {
			c.Priority, c.Text = pr, strings.Join(args[1:], " ")
		} else {
			err = badSyntax(verb, "prioridad desconocida %q", "unknown priority %q", args[0])
		}
	case VerbClose:
		if len(args) > 0 {
			switch fold(args[0]) {
			case "forzar", "forzado", "force", "forced":
				c.Force, args = true, args[1:]
			}
		}
		c.Text = strings.Join(args, " ")
	case VerbHelp:
		// Whatever follows #ayuda is ignored.
	default: // resolve, reopen, note: free text
		c.Text = strings.Join(args, " ")
	}
	c.Err = err
	return c, true
}

// parseEscalate reads "nivel2 [grupo] [texto]", accepting "nivel 2", "n2",
// "2", "level2", "level 2", "l2".
func (c *Command) parseEscalate(args []string) error {
	if len(args) == 0 {
		return badSyntax(VerbEscalate, "falta el nivel (nivel2 o nivel3)", "the level is missing (level2 or level3)")
	}
	w := fold(args[0])
	var digits string
	switch {
	case w == "nivel" || w == "level" || w == "n":
		if len(args) < 2 {
			return badSyntax(VerbEscalate, "falta el número de nivel", "the level number is missing")
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
		return badSyntax(VerbEscalate, "no se escala a nivel 1; para devolver un caso resuelto use #reabrir",
			"nothing is escalated to level 1; to send a resolved case back use #reopen")
	default:
		return badSyntax(VerbEscalate, "nivel desconocido %q", "unknown level %q", digits)
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

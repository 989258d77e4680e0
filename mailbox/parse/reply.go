package parse

import (
	"regexp"
	"strings"
)

var (
	// The start and the end of an attribution line ("On <date>, <who>
	// wrote:"), which Gmail may wrap onto two or three lines.
	attribStart = regexp.MustCompile(`(?i)^\s*(el|on|le|am)\s`)
	attribEnd   = regexp.MustCompile(`(?i)(escribi[oó]|wrote|a [ée]crit|schrieb)\s*:\s*$`)
	// Outlook's separator line.
	originalMessage = regexp.MustCompile(`(?i)^\s*-{2,}\s*(mensaje original|original message)\s*-{2,}\s*$`)
	// Outlook's header block of the quoted message; labels may be bold
	// (*De:*) when the text was converted from HTML.
	headerFrom  = regexp.MustCompile(`(?i)^\s*\*?(de|from)\s*:\*?\s*\S`)
	headerOther = regexp.MustCompile(`(?i)^\s*\*?(enviado|enviado el|sent|fecha|date|para|to|asunto|subject|cc)\s*:`)
	// The separator above a forwarded message (Gmail, and ours).
	forwardSep  = regexp.MustCompile(`(?i)^\s*-{2,}\s*(mensaje reenviado|forwarded message)\s*-{2,}\s*$`)
	underscores = regexp.MustCompile(`^\s*_{5,}\s*$`)
	// Footers of mobile clients, which come right before the quote.
	mobileFooter = regexp.MustCompile(`(?i)^\s*(enviado desde mi|sent from my|enviado desde|sent from|get outlook for|obtener outlook para|descargar outlook para)\s.{0,40}$`)
	// RFC 3676 §4.3 signature separator, often stripped of its space.
	sigSeparator = regexp.MustCompile(`^-- ?$`)
	digit        = regexp.MustCompile(`\d`)
)

// ExtractReply returns the new part of a reply: text without the quoted
// history and what introduces it. It drops lines quoted with ">", and
// everything from the first quote header on: attribution lines of Gmail,
// Apple Mail and Thunderbird in Spanish and English ("El lun, 3 nov 2026 a
// las 10:00, Ana <ana@example.com> escribió:", "On ... wrote:", also
// wrapped onto two lines), Outlook's "-----Mensaje original-----" and its
// "De:/Enviado:/Para:/Asunto:" block (with or without a line of
// underscores), "Enviado desde mi iPhone" footers and a "-- " signature.
// Leading and trailing blank lines are trimmed.
//
// When nothing is left above the first quote header but quoted lines follow
// it (a reply written below the quote, or between quoted lines), the
// unquoted lines after the header are returned instead.
func ExtractReply(text string) string {
	lines := strings.Split(normalizeNewlines(text), "\n")
	cut, n := findQuoteStart(lines)
	out := unquoted(lines[:cut])
	if out == "" && cut < len(lines) && hasQuotedLine(lines[cut+n:]) {
		rest := lines[cut+n:]
		c, _ := findQuoteStart(rest)
		out = unquoted(rest[:c])
	}
	return out
}

// findQuoteStart returns the index of the first line of the first quote
// header and the number of lines it spans, or len(lines), 0.
func findQuoteStart(lines []string) (int, int) {
	for i := 0; i < len(lines); i++ {
		if forwardSep.MatchString(lines[i]) {
			// A forwarded message is content, not history: skip its
			// header block, which looks like Outlook's.
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
				j++
			}
			if j < len(lines) {
				if n := outlookBlock(lines, j); n > 0 {
					i = j + n - 1
				}
			}
			continue
		}
		if n := quoteHeader(lines, i); n > 0 {
			return i, n
		}
	}
	return len(lines), 0
}

// quoteHeader returns how many lines starting at lines[i] form a quote
// header, or 0.
func quoteHeader(lines []string, i int) int {
	l := lines[i]
	switch {
	case sigSeparator.MatchString(l), originalMessage.MatchString(l), mobileFooter.MatchString(l):
		return 1
	case attribStart.MatchString(l):
		joined := l
		for n := 1; n <= 3 && i+n <= len(lines); n++ {
			if n > 1 {
				next := strings.TrimSpace(lines[i+n-1])
				if next == "" || strings.HasPrefix(next, ">") {
					break
				}
				joined += " " + next
			}
			if attribEnd.MatchString(joined) && digit.MatchString(joined) {
				return n
			}
		}
	case underscores.MatchString(l):
		// A line of underscores, blank lines, then Outlook's block.
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j < len(lines) && outlookBlock(lines, j) > 0 {
			return j - i + outlookBlock(lines, j)
		}
	case headerFrom.MatchString(l):
		return outlookBlock(lines, i)
	}
	return 0
}

// outlookBlock returns the length of an Outlook header block starting with
// a From line at lines[i]: at least two of Sent, To, Subject... must follow
// within the next lines. It returns 0 for anything else.
func outlookBlock(lines []string, i int) int {
	if !headerFrom.MatchString(lines[i]) {
		return 0
	}
	fields, end := 0, i+1
	for j := i + 1; j < len(lines) && j <= i+8; j++ {
		if headerOther.MatchString(lines[j]) {
			fields++
			end = j + 1
		}
	}
	if fields < 2 {
		return 0
	}
	return end - i
}

func isQuoted(l string) bool {
	return strings.HasPrefix(strings.TrimLeft(l, " \t"), ">")
}

func hasQuotedLine(lines []string) bool {
	for _, l := range lines {
		if isQuoted(l) {
			return true
		}
	}
	return false
}

// unquoted joins the lines not quoted with ">", without leading and
// trailing blank lines.
func unquoted(lines []string) string {
	kept := make([]string, 0, len(lines))
	for _, l := range lines {
		if !isQuoted(l) {
			kept = append(kept, l)
		}
	}
	for len(kept) > 0 && strings.TrimSpace(kept[0]) == "" {
		kept = kept[1:]
	}
	for len(kept) > 0 && strings.TrimSpace(kept[len(kept)-1]) == "" {
		kept = kept[:len(kept)-1]
	}
	return strings.Join(kept, "\n")
}

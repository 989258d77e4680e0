package parse

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// toUTF8 returns b as a string: unchanged when it is valid UTF-8, decoded as
// windows-1252 otherwise. Undeclared 8-bit text in our mail is nearly always
// Latin-1 or its Windows superset.
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(s)
}

// fixString is toUTF8 for strings.
func fixString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return toUTF8([]byte(s))
}

// normalizeNewlines turns CRLF and lone CR into LF.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// cleanLine replaces invalid UTF-8 with U+FFFD and control characters
// (including newlines) with spaces, and trims the result: for one-line values such as subjects and names.
func cleanLine(s string) string {
	// Encoded words may decode to invalid UTF-8.
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// truncateRunes returns s cut to at most n runes, and whether it was cut.
func truncateRunes(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j], true
		}
		i++
	}
	return s, false
}

// blankRuns are runs of blank lines, cut to one.
var blankRuns = regexp.MustCompile(`\n{3,}`)

// maxFilename is the longest file name kept, in bytes, as most file
// systems allow.
const maxFilename = 255

// sanitizeFilename makes a file name from a mail safe to show and to use as
// a download name: the last path element only (so "../" and "..\" are gone),
// no control or bidirectional-override characters, at most 255 bytes.
func sanitizeFilename(name string) string {
	name = fixString(name)
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if strings.Trim(name, ".") == "" {
		return ""
	}
	if len(name) > maxFilename {
		// Keep the extension, which tells what the file is.
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		base := name[:len(name)-len(ext)]
		cut := maxFilename - len(ext)
		for cut > 0 && !utf8.RuneStart(base[cut]) {
			cut--
		}
		name = base[:cut] + ext
	}
	return name
}

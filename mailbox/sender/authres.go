package sender

import (
	"errors"
	"fmt"
	"strings"
)

// Result is one resinfo of an Authentication-Results header field (RFC 8601
// §2.2): a method, its result, and its properties.
type Result struct {
	// Method is the authentication method in lower case: "dkim", "spf",
	// "dmarc", "auth", or any other (unknown methods are kept, not
	// rejected, RFC 8601 §2.7).
	Method string
	// Version is the method version after "/", "" when none is given.
	Version string
	// Value is the result in lower case: "pass", "fail", "none", …
	Value string
	// Reason is the text of reason=, "" when absent.
	Reason string
	// Props are the properties by lower-case name ("header.d",
	// "smtp.mailfrom", and Microsoft's bare "action"); a repeated property
	// keeps its first value. Never nil.
	Props map[string]string
}

// errVersion is the error of a header field whose version is not 1.
var errVersion = errors.New("sender: unsupported Authentication-Results version")

// ParseAuthResults parses the value of one Authentication-Results header
// field (RFC 8601 §2.2). It returns the authserv-id, "" when the field has
// none (Microsoft 365 writes its results so, starting with "spf=…"), and
// the results in order. Comments are skipped wherever CFWS may appear, also
// when they hold ";" or "="; values may be quoted strings. A result with no
// "=" (Microsoft also writes a bare domain between results) is skipped. On
// a syntax error it returns what it parsed before it and an error saying
// where; a version other than 1 is an error with no results, as RFC 8601
// §2.2 asks such a field to be ignored. It does no I/O.
func ParseAuthResults(v string) (id string, results []Result, err error) {
	p := &arParser{s: v}
	p.cfws()
	start := p.i
	id = p.value()
	if strings.Contains(id, "=") && p.i > start && v[start] != '"' {
		// No authserv-id: the field starts with a result.
		id, p.i = "", start
	} else {
		p.cfws()
		if ver := p.digits(); ver != "" {
			if ver != "1" {
				return id, nil, errVersion
			}
			p.cfws()
		}
		if p.eof() {
			return id, nil, nil
		}
		if !p.accept(';') {
			return id, nil, p.errorf("want ';' after the authserv-id")
		}
	}
	for {
		p.cfws()
		if p.eof() {
			return id, results, nil
		}
		if p.accept(';') { // an empty resinfo, as in "…header.from=x;;"
			continue
		}
		r, ok, err := p.resinfo()
		if err != nil {
			return id, results, err
		}
		if ok {
			results = append(results, r)
		}
	}
}

// arParser is a cursor over one header field value.
type arParser struct {
	s string
	i int
}

func (p *arParser) eof() bool { return p.i >= len(p.s) }

func (p *arParser) errorf(format string, args ...any) error {
	return fmt.Errorf("sender: Authentication-Results at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

// accept consumes c if it is next.
func (p *arParser) accept(c byte) bool {
	if !p.eof() && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// cfws skips folding white space and comments (RFC 5322 §3.2.2), nested
// and with quoted pairs. An unclosed comment runs to the end.
func (p *arParser) cfws() {
	for !p.eof() {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			depth := 0
			for ; !p.eof(); p.i++ {
				switch p.s[p.i] {
				case '\\':
					p.i++
				case '(':
					depth++
				case ')':
					depth--
				}
				if depth == 0 {
					p.i++
					break
				}
			}
			p.i = min(p.i, len(p.s)) // a quoted pair cut by the end
		default:
			return
		}
	}
}

// isDelim reports whether c ends a token.
func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '(', ')', ';', '"':
		return true
	}
	return false
}

// token reads a run of bytes up to a delimiter or one of stop.
func (p *arParser) token(stop string) string {
	start := p.i
	for !p.eof() && !isDelim(p.s[p.i]) && strings.IndexByte(stop, p.s[p.i]) < 0 {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a quoted string (unquoted) or a token, which may hold "=" and
// "@" (RFC 8601 pvalue).
func (p *arParser) value() string {
	if !p.accept('"') {
		return p.token("")
	}
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String()
		case '\\':
			if !p.eof() {
				b.WriteByte(p.s[p.i])
				p.i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// digits reads a run of ASCII digits.
func (p *arParser) digits() string {
	start := p.i
	for !p.eof() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if !p.eof() && !isDelim(p.s[p.i]) { // not a number after all
		p.i = start
		return ""
	}
	return p.s[start:p.i]
}

// skip moves past the current resinfo, up to the next ';' outside quotes
// and comments.
func (p *arParser) skip() {
	for !p.eof() && p.s[p.i] != ';' {
		if c := p.s[p.i]; c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			p.cfws()
			continue
		}
		if p.s[p.i] == '"' {
			p.value()
			continue
		}
		p.i++
	}
}

// resinfo reads "method[/version] = result *(property = value)" up to the
// next ';' or the end. ok is false for an element that is not a result
// (a bare word), which is skipped.
func (p *arParser) resinfo() (r Result, ok bool, err error) {
	method := strings.ToLower(p.token("=/"))
	if method == "" {
		return r, false, p.errorf("want a method name")
	}
	p.cfws()
	if p.accept('/') {
		p.cfws()
		r.Version = p.token("=")
		p.cfws()
	}
	if !p.accept('=') {
		p.skip() // a bare word such as "none" or Microsoft's "hotmail.com"
		return r, false, nil
	}
	p.cfws()
	r.Method = method
	r.Value = strings.ToLower(p.token(""))
	if r.Value == "" {
		return r, false, p.errorf("method %s has no result", method)
	}
	r.Props = map[string]string{}
	for {
		p.cfws()
		if p.eof() || p.s[p.i] == ';' {
			return r, true, nil
		}
		key := strings.ToLower(p.token("="))
		p.cfws()
		if key == "" || !p.accept('=') {
			if key == "" {
				p.i++ // a stray delimiter such as ')'
			}
			continue // a bare word inside a result: not a property
		}
		p.cfws()
		val := p.value()
		if key == "reason" {
			if r.Reason == "" {
				r.Reason = val
			}
			continue
		}
		if _, dup := r.Props[key]; !dup {
			r.Props[key] = val
		}
	}
}

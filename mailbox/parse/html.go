package parse

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText converts an HTML body to readable plain text: the text a
// browser renders, with paragraphs as blank lines, line breaks, list items
// ("- " or "1. "), table cells side by side, blockquotes quoted with "> ",
// and links as "text <url>". Scripts, styles, the head, comments
// (Outlook's conditional ones too) and elements styled display:none are
// dropped.
//
// The input goes through the HTML5 parser of golang.org/x/net/html, which
// reads any markup as a browser does (attributes over several lines,
// unclosed tags, stray "<"), and the tree is walked without recursion, so
// that deep nesting costs no stack.
func htmlToText(src string) string {
	doc, err := html.ParseWithOptions(strings.NewReader(src), html.ParseOptionEnableScripting(false))
	if err != nil {
		// The parser only fails when its reader does; a strings.Reader
		// does not.
		return normalizeNewlines(src)
	}
	w := &textWriter{}
	for n := doc; n != nil; {
		if w.enter(n) && n.FirstChild != nil {
			n = n.FirstChild
			continue
		}
		// Leave n and every ancestor that has no next sibling.
		for n != nil {
			w.leave(n)
			if n == doc {
				n = nil
				break
			}
			if n.NextSibling != nil {
				n = n.NextSibling
				break
			}
			n = n.Parent
		}
	}
	return w.String()
}

// blockBreaks tells how many line breaks surround a block element: 2 for a
// paragraph (a blank line), 1 for the others.
var blockBreaks = map[atom.Atom]int{
	atom.P: 2, atom.H1: 2, atom.H2: 2, atom.H3: 2, atom.H4: 2, atom.H5: 2, atom.H6: 2,
	atom.Blockquote: 2, atom.Pre: 2, atom.Table: 2, atom.Ul: 2, atom.Ol: 2, atom.Dl: 2,
	atom.Div: 1, atom.Li: 1, atom.Tr: 1, atom.Dt: 1, atom.Dd: 1, atom.Hr: 1,
	atom.Address: 1, atom.Center: 1, atom.Section: 1, atom.Article: 1, atom.Header: 1,
	atom.Footer: 1, atom.Nav: 1, atom.Main: 1, atom.Aside: 1, atom.Figure: 1,
	atom.Figcaption: 1, atom.Form: 1, atom.Fieldset: 1, atom.Legend: 1, atom.Caption: 1,
	atom.Tbody: 1, atom.Thead: 1, atom.Tfoot: 1, atom.Details: 1, atom.Summary: 1,
}

// hidden are the elements whose content a browser does not show as text.
var hidden = map[atom.Atom]bool{
	atom.Head: true, atom.Script: true, atom.Style: true, atom.Template: true,
	atom.Title: true, atom.Select: true, atom.Object: true, atom.Iframe: true,
	atom.Svg: true, atom.Math: true, atom.Noembed: true, atom.Noframes: true,
}

// textWriter builds the text of an HTML tree: it collapses white space as
// a browser does outside <pre> and places the line breaks blocks ask for.
type textWriter struct {
	b        strings.Builder
	newlines int  // line breaks at the end of b
	breaks   int  // line breaks asked for before the next text
	space    bool // a space is owed before the next text
	pre      int  // depth of <pre> elements
	quote    int  // depth of <blockquote> elements
	lists    []int
	links    []linkStart
}

// linkStart is an open <a>: its target and where its text starts in b.
type linkStart struct {
	href string
	at   int
}

// enter handles the start of n and reports whether its children are walked.
func (w *textWriter) enter(n *html.Node) bool {
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return false
	case html.DocumentNode:
		return true
	case html.ElementNode:
	default:
		return false // comments, doctype
	}
	if hidden[n.DataAtom] || isDisplayNone(n) {
		return false
	}
	if k := blockBreaks[n.DataAtom]; k > 0 {
		w.lineBreak(k)
	}
	switch n.DataAtom {
	case atom.Br:
		w.hardBreak()
	case atom.Pre:
		w.pre++
	case atom.Blockquote:
		w.quote++
	case atom.Ul:
		w.lists = append(w.lists, 0)
	case atom.Ol:
		start := 1
		if v, err := strconv.Atoi(attr(n, "start")); err == nil && v >= 0 && v < 1e6 {
			start = v
		}
		w.lists = append(w.lists, start)
	case atom.Li:
		w.listItem()
	case atom.Td, atom.Th:
		w.space = true
	case atom.A:
		w.links = append(w.links, linkStart{href: strings.TrimSpace(attr(n, "href")), at: w.b.Len()})
	}
	return true
}

// leave handles the end of n, after its children.
func (w *textWriter) leave(n *html.Node) {
	if n.Type != html.ElementNode || hidden[n.DataAtom] || isDisplayNone(n) {
		return
	}
	switch n.DataAtom {
	case atom.Pre:
		w.pre--
	case atom.Blockquote:
		w.quote--
	case atom.Ul, atom.Ol:
		w.lists = w.lists[:len(w.lists)-1]
	case atom.Td, atom.Th:
		w.space = true
	case atom.A:
		l := w.links[len(w.links)-1]
		w.links = w.links[:len(w.links)-1]
		w.link(l)
	}
	if k := blockBreaks[n.DataAtom]; k > 0 {
		w.lineBreak(k)
	}
}

// listItem starts an item of the innermost list with its bullet or number.
func (w *textWriter) listItem() {
	bullet := "- "
	if i := len(w.lists) - 1; i >= 0 && w.lists[i] > 0 {
		bullet = strconv.Itoa(w.lists[i]) + ". "
		w.lists[i]++
	}
	w.word(bullet)
	w.space = false
}

// link writes the target of a link after its text, unless the text says
// it already or the target is not a place a reader can go.
func (w *textWriter) link(l linkStart) {
	href := l.href
	lower := strings.ToLower(href)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "mailto:") {
		return
	}
	text := strings.TrimSpace(w.b.String()[l.at:])
	if text == "" || text == href || "mailto:"+text == href || strings.TrimRight(text, "/") == strings.TrimRight(href, "/") {
		return
	}
	w.space = true
	w.word("<" + href + ">")
}

// text writes the content of a text node.
func (w *textWriter) text(s string) {
	s = strings.ReplaceAll(s, "\u00a0", " ")
	if w.pre > 0 {
		lines := strings.Split(normalizeNewlines(s), "\n")
		for i, line := range lines {
			if i > 0 {
				w.hardBreak()
			}
			if line != "" {
				w.word(line)
			}
		}
		return
	}
	if s != "" && isSpace(s[0]) {
		w.space = true
	}
	for _, f := range strings.Fields(s) {
		w.word(f)
		w.space = true
	}
	if s != "" && !isSpace(s[len(s)-1]) {
		w.space = false
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// word writes s after the line breaks or the space owed.
func (w *textWriter) word(s string) {
	if w.b.Len() > 0 && w.breaks > w.newlines {
		w.b.WriteString(strings.Repeat("\n", w.breaks-w.newlines))
		w.newlines = w.breaks
	}
	w.breaks = 0
	switch {
	case w.b.Len() == 0 || w.newlines > 0:
		if w.quote > 0 {
			w.b.WriteString(strings.Repeat("> ", w.quote))
		}
	case w.space:
		w.b.WriteByte(' ')
	}
	w.b.WriteString(s)
	w.newlines, w.space = 0, false
}

// lineBreak asks for k line breaks before the next text (1: a new line,
// 2: a blank line); breaks asked for together do not add up.
func (w *textWriter) lineBreak(k int) {
	w.breaks = max(w.breaks, k)
	w.space = false
}

// hardBreak writes a line break (<br>, a new line in <pre>).
func (w *textWriter) hardBreak() {
	if w.breaks > w.newlines && w.b.Len() > 0 {
		w.b.WriteString(strings.Repeat("\n", w.breaks-w.newlines))
		w.newlines = w.breaks
	}
	w.breaks = 0
	w.b.WriteByte('\n')
	w.newlines++
	w.space = false
}

// String returns the text, with runs of blank lines cut to one and no
// blank lines around it.
func (w *textWriter) String() string {
	lines := strings.Split(w.b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	s := blankRuns.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.Trim(s, "\n")
}

// attr returns the value of n's attribute key, or "".
func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val
		}
	}
	return ""
}

// isDisplayNone reports whether n is hidden by its own style attribute or
// the hidden attribute, as preheaders of newsletters are.
func isDisplayNone(n *html.Node) bool {
	for _, a := range n.Attr {
		switch a.Key {
		case "hidden":
			return true
		case "style":
			s := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(s, "display:none") {
				return true
			}
		}
	}
	return false
}

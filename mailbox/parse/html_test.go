package parse

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHTMLToTextKeepsVisibleText converts the HTML bodies of
// testdata/html, as Outlook (Word), Gmail, Apple Mail and Thunderbird write
// them, and checks that every word of the matching .want file (the text a
// browser shows, written by hand) comes out in order, and that nothing
// marked NOSHOW (in styles, scripts, comments, the head, hidden elements)
// does.
func TestHTMLToTextKeepsVisibleText(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "html", "*.html"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/html/*.html: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".html")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(file, ".html") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			got := htmlToText(string(src))
			if strings.Contains(got, "NOSHOW") {
				t.Errorf("hidden content leaked:\n%s", got)
			}
			at := 0
			for _, w := range strings.Fields(string(want)) {
				i := strings.Index(got[at:], w)
				if i < 0 {
					t.Fatalf("word %q (after byte %d) missing from:\n%s", w, at, got)
				}
				at += i + len(w)
			}
		})
	}
}

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"anchor across lines", "<p>a <a \nhref=\"x\">K</a> b</p><p>after</p>", "a K b\n\nafter"},
		{"link target after its text", `<p>Ver <a href="https://example.org/kb">la guía</a>.</p>`, "Ver la guía <https://example.org/kb>."},
		{"link whose text is its target", `<a href="https://example.org/">https://example.org</a> <a href="mailto:ana@example.org">ana@example.org</a>`, "https://example.org ana@example.org"},
		{"line breaks and paragraphs", "uno<br>dos<br><br>tres<p>cuatro</p>cinco", "uno\ndos\n\ntres\n\ncuatro\n\ncinco"},
		{"lists", "<ul><li>uno<li>dos</ul><ol start=3><li>tres<li>cuatro</ol>", "- uno\n- dos\n\n3. tres\n4. cuatro"},
		{"table cells", "<table><tr><td>a</td><td>b</td></tr><tr><th>c</th><td>d</td></tr></table>", "a b\nc d"},
		{"quote", "<p>nuevo</p><blockquote>viejo<br>más viejo</blockquote>", "nuevo\n\n> viejo\n> más viejo"},
		{"white space collapsed outside pre", "  a \n\t b  <pre> x\n  y</pre>", "a b\n\n x\n  y"},
		{"entities and nbsp", "a&nbsp;&amp;&nbsp;b &lt;c&gt; &#8364;", "a & b <c> €"},
		{"script style comment", "<style>p{}</style><script>x()</script><!--[if mso]>o<![endif]-->ok", "ok"},
		{"display none", `<span style="display: none !important">pre</span>ok<div hidden>no</div>`, "ok"},
		{"not html at all", "just text < with > signs", "just text < with > signs"},
	}
	for _, tt := range tests {
		if got := htmlToText(tt.in); got != tt.want {
			t.Errorf("%s: htmlToText(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestHTMLReplies reads the HTML replies of testdata/html as mails and
// checks that the new part of each is found without the quoted history.
func TestHTMLReplies(t *testing.T) {
	t.Parallel()
	tests := []struct{ file, first, last, quoted string }{
		{"gmail-reply.html", "Hola,", "Luis", "Buenos días Luis"},
		{"apple-mail.html", "Perfecto,", "(segunda planta).", "¿Le viene bien"},
		{"thunderbird.html", "Adjunto la captura", "Pilar", "¿Qué versión"},
		{"outlook-word.html", "Buenos días:", "marta.ibanez@example.org", "Hemos recibido"},
	}
	for _, tt := range tests {
		src, err := os.ReadFile(filepath.Join("testdata", "html", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		raw := "From: a@example.org\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + string(src)
		m, err := Read(bytes.NewReader([]byte(raw)), Options{Sink: newSink(t)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.NewText, tt.first) || !strings.HasSuffix(m.NewText, tt.last) || strings.Contains(m.NewText, tt.quoted) {
			t.Errorf("%s: NewText = %q, want from %q to %q without %q", tt.file, m.NewText, tt.first, tt.last, tt.quoted)
		}
	}
}

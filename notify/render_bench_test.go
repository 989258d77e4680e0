package notify

import (
	"testing"
)

// BenchmarkRender measures rendering each notice template (subject, text
// and HTML, es) from a notice of the whole procedure.
func BenchmarkRender(b *testing.B) {
	r := newTestRenderer(b, "es")
	byKind := firstOfEachKind(b, walk(b))
	for _, k := range Kinds() {
		p := byKind[k]
		b.Run(string(k), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

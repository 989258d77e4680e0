//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestContent: a Spanish mail in windows-1252, an HTML-only mail and a mail
// with a 15 MiB attachment each open a proper ticket.
func TestContent(t *testing.T) {
	t.Parallel()
	ppl := newPeople(t, "soporte", "mesa1", "mesa2", "redes1", "redes2", "proveedor3", "infra3", "usuario1", "usuario2", "usuario3")
	d := newDaemon(t, ppl, daemonOpts{})

	// windows-1252: 8-bit body and an encoded-word subject in that charset.
	cp1252 := func(s string) []byte {
		var b []byte
		for _, r := range s {
			switch {
			case r < 0x80:
				b = append(b, byte(r))
			case r <= 0xff:
				b = append(b, byte(r)) // Latin-1 range matches windows-1252 for these letters
			case r == '€':
				b = append(b, 0x80)
			case r == '“':
				b = append(b, 0x93)
			case r == '”':
				b = append(b, 0x94)
			default:
				t.Fatalf("rune %q not in the test's windows-1252 table", r)
			}
		}
		return b
	}
	winSubject := "Facturación: el módulo de pagos falla"
	winBody := "Buenos días:\n\nEl módulo de pagos muestra “Error de conexión” al pagar 1.250 €.\nLa señora Muñoz pidió revisión urgente.\n\nAtentamente,\nJosé Peña\n"
	qSubject := func(s string) string {
		var b strings.Builder
		b.WriteString("=?windows-1252?Q?")
		for _, c := range cp1252(s) {
			if c == ' ' {
				b.WriteByte('_')
			} else if c < 0x80 && c != '=' && c != '?' && c != '_' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "=%02X", c)
			}
		}
		b.WriteString("?=")
		return b.String()
	}
	win := &outMail{From: "=?windows-1252?Q?Jos=E9_Pe=F1a?= <" + ppl.addr("usuario1") + ">", To: ppl.addr("soporte"),
		RawSubject: qSubject(winSubject), ContentType: "text/plain; charset=windows-1252", CTE: "8bit", Body: cp1252(winBody)}

	// HTML only, as some webmail and phones send it.
	htmlSubject := "Pantalla azul al iniciar"
	html := &outMail{From: ppl.addr("usuario2"), To: ppl.addr("soporte"), Subject: htmlSubject, ContentType: "text/html; charset=utf-8", CTE: "quoted-printable",
		Body: []byte("<html><head><style>p{color:red}</style></head><body><p>Buenos d=C3=ADas:</p><p>El equipo <b>PC-0231</b> muestra una =\r\n<i>pantalla azul</i> al iniciar.</p><ul><li>Desde el lunes</li><li>C&oacute;digo 0x0000007B</li></ul><script>alert(1)</script></body></html>\r\n")}

	// 15 MiB of random bytes, base64 in a multipart/mixed.
	blob := make([]byte, 15<<20)
	_, _ = rand.Read(blob)
	sum := sha256.Sum256(blob)
	var mixed bytes.Buffer
	mixed.WriteString("--frontera\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAdjunto el volcado de memoria del servidor de nómina.\r\n--frontera\r\n")
	mixed.WriteString("Content-Type: application/octet-stream; name=\"volcado.bin\"\r\nContent-Disposition: attachment; filename=\"volcado.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(blob)
	for len(enc) > 76 {
		mixed.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	mixed.WriteString(enc + "\r\n--frontera--\r\n")
	bigSubject := "Volcado de memoria del servidor de nómina"
	big := &outMail{From: ppl.addr("usuario3"), To: ppl.addr("soporte"), Subject: bigSubject, ContentType: "multipart/mixed; boundary=frontera", CTE: "7bit", Body: mixed.Bytes()}
	t.Logf("15 MiB mail: %d bytes on the wire", len(big.bytes()))

	start := time.Now()
	stk.send(t, win, html, big)
	var ts []ticketJSON
	waitFor(t, 90*time.Second, "three tickets", func() (bool, string) {
		var err error
		ts, err = d.tryTickets()
		if err != nil {
			return false, err.Error()
		}
		return len(ts) == 3, ids(ts)
	})
	t.Logf("three tickets %s after sending", time.Since(start).Round(time.Millisecond))
	by := map[string]ticketJSON{}
	for _, tk := range ts {
		by[tk.Requester] = d.show(tk.ID)
	}

	w := by[ppl.addr("usuario1")]
	if w.Subject != winSubject {
		t.Errorf("windows-1252 subject = %q, want %q", w.Subject, winSubject)
	}
	for _, want := range []string{"“Error de conexión”", "1.250 €", "señora Muñoz", "José Peña"} {
		if !strings.Contains(w.Body, want) {
			t.Errorf("windows-1252 body lacks %q:\n%s", want, w.Body)
		}
	}

	h := by[ppl.addr("usuario2")]
	if h.Subject != htmlSubject {
		t.Errorf("HTML subject = %q", h.Subject)
	}
	for _, want := range []string{"Buenos días", "PC-0231", "pantalla azul", "Código 0x0000007B"} {
		if !strings.Contains(h.Body, want) {
			t.Errorf("HTML-only body lacks %q:\n%s", want, h.Body)
		}
	}
	for _, bad := range []string{"<p>", "<b>", "alert(1)", "color:red"} {
		if strings.Contains(h.Body, bad) {
			t.Errorf("HTML-only body keeps %q:\n%s", bad, h.Body)
		}
	}

	b := by[ppl.addr("usuario3")]
	if b.Subject != bigSubject || !strings.Contains(b.Body, "volcado de memoria") {
		t.Errorf("big mail: subject %q body %q", b.Subject, b.Body)
	}
	if len(b.Attachments) != 1 || b.Attachments[0].Filename != "volcado.bin" || b.Attachments[0].Size != 15<<20 || b.Attachments[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("big mail attachments = %+v, want volcado.bin of %d bytes, sha256 %x", b.Attachments, 15<<20, sum)
	}
	if k := b.kinds(); len(k) != 1 || k[0] != "opened" {
		t.Errorf("big mail history = %v, want only opened (nothing degraded)", k)
	}

	// Everyone is acknowledged, with the subject decoded.
	for who, subj := range map[string]string{"usuario1": winSubject, "usuario2": htmlSubject, "usuario3": bigSubject} {
		tk := by[ppl.addr(who)]
		stk.waitMail(t, ppl.addr(who), mailWait, "the acknowledgement", func(g gotMail) bool { return g.Subject == "["+tk.ID+"] "+subj })
	}
}

package parse

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden (and testdata/winmail.eml)")

// caseOptions are the options of golden cases that need more than the
// defaults.
var caseOptions = map[string]Options{
	"oversized.eml": {MaxSize: 2048, MaxText: 500},
}

func TestGolden(t *testing.T) {
	if *update {
		writeWinmailFixture(t)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.eml")
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".eml"), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			opts := caseOptions[name]
			sink := newSink(t)
			opts.Sink = sink
			m, err := Read(bytes.NewReader(raw), opts)
			if err != nil {
				t.Fatalf("Read(%s) error: %v", name, err)
			}
			checkStored(t, sink, m, raw)

			var got bytes.Buffer
			enc := json.NewEncoder(&got)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(m); err != nil {
				t.Fatal(err)
			}
			goldenFile := strings.TrimSuffix(file, ".eml") + ".golden"
			if *update {
				if err := os.WriteFile(goldenFile, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenFile)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("Read(%s) differs from %s (run go test -update and review the diff):\n%s", name, goldenFile, got.Bytes())
			}
		})
	}
}

// checkStored checks that the raw mail and every attachment are in the
// sink with the announced size and hash.
func checkStored(t *testing.T, s *memSink, m *Mail, raw []byte) {
	t.Helper()
	kept := raw
	if m.RawSize != int64(len(raw)) {
		t.Errorf("RawSize = %d, want %d", m.RawSize, len(raw))
	}
	got := s.get(t, m.RawSHA256)
	if !m.Truncated && !bytes.Equal(got, kept) {
		t.Errorf("raw blob differs from the input")
	}
	if m.Truncated && !bytes.HasPrefix(raw, got) {
		t.Errorf("raw blob of a truncated mail is not a prefix of the input")
	}
	for _, a := range m.Attachments {
		b := s.get(t, a.SHA256)
		if int64(len(b)) != a.Size || sha(b) != a.SHA256 {
			t.Errorf("attachment %q: stored %d bytes with sha %s, announced %d and %s", a.Filename, len(b), sha(b), a.Size, a.SHA256)
		}
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestProperties checks the points of the golden cases that matter most,
// so that a careless -update cannot bless a regression.
func TestProperties(t *testing.T) {
	t.Parallel()
	read := func(t *testing.T, name string) *Mail {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		opts := caseOptions[name]
		opts.Sink = newSink(t)
		m, err := Read(bytes.NewReader(raw), opts)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	has := func(list []string, sub string) bool {
		for _, s := range list {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
	tests := []struct {
		file  string
		check func(*Mail) string
	}{
		{"outlook-html-1252.eml", func(m *Mail) string {
			switch {
			case m.From != Address{Name: "José María Nuñez", Addr: "JoseMaria.Nunez@example.com"}:
				return fmt.Sprintf("From = %+v", m.From)
			case m.Subject != "RE: [OTI-2026-000123] No arranca el portátil":
				return "Subject = " + m.Subject
			case !strings.Contains(m.Text, "código “INACCESSIBLE_BOOT_DEVICE”. ¿Podéis pasar hoy?"):
				return "Text = " + m.Text
			case strings.Contains(m.NewText, "Enviado:") || !strings.Contains(m.NewText, "despacho 214"):
				return "NewText = " + m.NewText
			case strings.Contains(m.Text, "96") || strings.Contains(m.Text, "MsoNormal"):
				return "markup leaked: " + m.Text
			case m.AutoReason != "":
				return "AutoReason = " + m.AutoReason
			}
			return ""
		}},
		{"gmail-reply-es.eml", func(m *Mail) string {
			switch {
			case m.NewText != "Buenos días:\n\nYa he reiniciado la impresora y sigue igual. El piloto naranja parpadea.\n\nGracias,\nAna":
				return "NewText = " + m.NewText
			case strings.Contains(m.Text, "<div"):
				return "HTML chosen over text/plain: " + m.Text
			case len(m.References) != 2 || m.InReplyTo[0] != "oti-2026-000200.2@soporte.example.org":
				return fmt.Sprintf("References = %q, InReplyTo = %q", m.References, m.InReplyTo)
			case m.Subject != "Re: [OTI-2026-000200] La impresora de la 3ª planta no imprime":
				return "Subject = " + m.Subject
			case len(m.Cc) != 2 || m.Cc[0].Addr != "luis@example.org":
				return fmt.Sprintf("Cc = %+v", m.Cc)
			}
			return ""
		}},
		{"iphone-reply.eml", func(m *Mail) string {
			if m.NewText != "Ya funciona, muchísimas gracias." {
				return "NewText = " + m.NewText
			}
			return ""
		}},
		{"ooo-auto-submitted.eml", func(m *Mail) string {
			if m.AutoReason != "auto-submitted: auto-replied" {
				return "AutoReason = " + m.AutoReason
			}
			return ""
		}},
		{"ooo-x-autoreply.eml", func(m *Mail) string {
			if m.AutoReason != "x-autoreply" {
				return "AutoReason = " + m.AutoReason
			}
			return ""
		}},
		{"dsn-bounce.eml", func(m *Mail) string {
			want := Bounce{
				OriginalMessageID: "oti-2026-000500.1@soporte.example.org",
				Recipients:        []string{"nadie@example.com"},
				Status:            "5.1.1",
				Diagnostic:        "550 5.1.1 <nadie@example.com>: Recipient address rejected: User unknown",
				Action:            "failed",
			}
			if m.Bounce == nil || fmt.Sprint(*m.Bounce) != fmt.Sprint(want) {
				return fmt.Sprintf("Bounce = %+v", m.Bounce)
			}
			if !m.ReturnPathEmpty || m.AutoReason == "" {
				return fmt.Sprintf("ReturnPathEmpty = %v, AutoReason = %q", m.ReturnPathEmpty, m.AutoReason)
			}
			return ""
		}},
		{"bounce-nonstandard.eml", func(m *Mail) string {
			if m.Bounce == nil || m.Bounce.Status != "5.2.2" || m.Bounce.OriginalMessageID != "oti-2026-000510.3@soporte.example.org" ||
				len(m.Bounce.Recipients) != 1 || m.Bounce.Recipients[0] != "jperez@example.net" {
				return fmt.Sprintf("Bounce = %+v", m.Bounce)
			}
			return ""
		}},
		{"forwarded.eml", func(m *Mail) string {
			switch {
			case !strings.Contains(m.Text, "---------- Mensaje reenviado ----------\nDe: Licencias <no-reply@vendor.example>"):
				return "Text = " + m.Text
			case !strings.Contains(m.Text, "Asunto: Aviso de caducidad de licencia") || !strings.Contains(m.Text, "caducará el 30"):
				return "Text = " + m.Text
			case len(m.Attachments) != 2 || m.Attachments[0].Filename != "licencia.pdf" || m.Attachments[1].ContentType != "message/rfc822":
				return fmt.Sprintf("Attachments = %+v", m.Attachments)
			}
			return ""
		}},
		{"no-from.eml", func(m *Mail) string {
			// Nobody to answer: the fallback identity, never replied to.
			if m.From != (Address{Addr: UnknownSender}) || m.AutoReason != "no sender address" ||
				m.MessageID != "sha256:"+m.RawSHA256 || !has(m.Problems, "missing From") || !m.Date.IsZero() || m.Text == "" {
				return fmt.Sprintf("From = %+v, AutoReason = %q, MessageID = %q, Problems = %q", m.From, m.AutoReason, m.MessageID, m.Problems)
			}
			return ""
		}},
		{"broken-boundary.eml", func(m *Mail) string {
			if !strings.Contains(m.Text, "El texto sigue siendo legible") || len(m.Problems) == 0 {
				return fmt.Sprintf("Text = %q, Problems = %q", m.Text, m.Problems)
			}
			return ""
		}},
		{"unterminated-multipart.eml", func(m *Mail) string {
			if !strings.Contains(m.Text, "Adjunto la captura") || len(m.Attachments) != 1 || len(m.Problems) == 0 {
				return fmt.Sprintf("Text = %q, Attachments = %+v, Problems = %q", m.Text, m.Attachments, m.Problems)
			}
			return ""
		}},
		{"latin1-headers.eml", func(m *Mail) string {
			switch {
			case m.Subject != "Se ha caído la conexión – urgente":
				return "Subject = " + m.Subject
			case m.From.Name != "José Muñoz":
				return "From.Name = " + m.From.Name
			case !strings.Contains(m.Text, "¿Podéis revisarlo?"):
				return "Text = " + m.Text
			}
			return ""
		}},
		{"filename-traversal.eml", func(m *Mail) string {
			var names []string
			for _, a := range m.Attachments {
				names = append(names, a.Filename)
				if strings.ContainsAny(a.Filename, "/\\\u202e") || strings.Contains(a.Filename, "..") {
					return "unsafe file name " + a.Filename
				}
			}
			want := "logo.png passwd informe añofdp.exe presupuesto 2027 €.pdf"
			if strings.Join(names, " ") != want || !m.Attachments[0].Inline {
				return fmt.Sprintf("Attachments = %+v", m.Attachments)
			}
			return ""
		}},
		{"winmail.eml", func(m *Mail) string {
			var tnef []string
			for _, a := range m.Attachments {
				if a.FromTNEF {
					tnef = append(tnef, a.Filename+" "+a.ContentType)
				}
			}
			want := "Presupuesto de renovación 2027.xlsx application/vnd.openxmlformats-officedocument.spreadsheetml.sheet|NOTAS.TXT application/octet-stream|diagrama de red.png image/png"
			if strings.Join(tnef, "|") != want || m.Attachments[0].Filename != "winmail.dat" || m.Attachments[0].FromTNEF {
				return fmt.Sprintf("Attachments = %+v", m.Attachments)
			}
			return ""
		}},
		{"oversized.eml", func(m *Mail) string {
			if !m.Truncated || m.Subject != "Registro enorme" || !strings.HasPrefix(m.Text, "Línea 000") || m.RawSize != 12424 {
				return fmt.Sprintf("Truncated = %v, RawSize = %d, Text = %q", m.Truncated, m.RawSize, m.Text)
			}
			return ""
		}},
		{"header-no-colon.eml", func(m *Mail) string {
			if m.From.Addr != "jose@example.org" || m.MessageID != "nocolon-1@example.org" || !strings.Contains(m.Text, "El cuerpo del mensaje.") {
				return fmt.Sprintf("From = %+v, MessageID = %q, Text = %q", m.From, m.MessageID, m.Text)
			}
			return ""
		}},
		{"unknown-charset.eml", func(m *Mail) string {
			if !strings.Contains(m.Text, "café") || !strings.Contains(m.Text, "ривет мир") || len(m.Problems) < 2 {
				return fmt.Sprintf("Text = %q, Problems = %q", m.Text, m.Problems)
			}
			return ""
		}},
		{"newsletter.eml", func(m *Mail) string {
			if m.AutoReason != "precedence: bulk" || !strings.Contains(m.Text, "Windows 12 disponible") || strings.Contains(m.Text, "color") {
				return fmt.Sprintf("AutoReason = %q, Text = %q", m.AutoReason, m.Text)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			if msg := tt.check(read(t, tt.file)); msg != "" {
				t.Errorf("Read(%s): %s", tt.file, msg)
			}
		})
	}
}

// crlfLines is an io.Writer that breaks base64 into 76-column lines.
type crlfLines struct {
	w   io.Writer
	col int
}

func (l *crlfLines) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 76-l.col)
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n, p, l.col = n+k, p[k:], l.col+k
		if l.col == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

// TestLargeAttachment streams a mail with a 20 MiB attachment, generated on
// the fly, and checks that it reaches the sink intact (the sink hashes what
// it gets) without being held in memory.
// It does not run in parallel so that the allocation count is its own.
func TestLargeAttachment(t *testing.T) {
	if testing.Short() {
		t.Skip("20 MiB attachment")
	}
	const size = 20 << 20
	h := sha256.New()
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "From: Ana <ana@example.com>\r\nTo: soporte@example.org\r\n"+
			"Subject: Volcado de memoria\r\nDate: Mon, 3 Nov 2026 10:00:00 +0100\r\n"+
			"Message-ID: <big@example.com>\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"+
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOs adjunto el volcado.\r\n"+
			"--b\r\nContent-Type: application/octet-stream\r\n"+
			"Content-Disposition: attachment; filename=\"MEMORY.DMP\"\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.NewEncoder(base64.StdEncoding, &crlfLines{w: pw})
		src := io.LimitReader(rand.NewChaCha8([32]byte{1}), size)
		if _, err := io.Copy(enc, io.TeeReader(src, h)); err != nil {
			pw.CloseWithError(err)
			return
		}
		enc.Close()
		io.WriteString(pw, "\r\n--b--\r\n")
		pw.Close()
	}()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Read(pr, Options{Sink: hashSink{}, MaxSize: 40 << 20})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("Attachments = %+v, want one", m.Attachments)
	}
	a := m.Attachments[0]
	want := hex.EncodeToString(h.Sum(nil))
	if a.Size != size || a.SHA256 != want || a.Filename != "MEMORY.DMP" {
		t.Fatalf("attachment = %+v, want size %d sha %s", a, size, want)
	}
	if m.Text != "Os adjunto el volcado." || m.Truncated || len(m.Problems) != 0 {
		t.Fatalf("Text = %q, Truncated = %v, Problems = %q", m.Text, m.Truncated, m.Problems)
	}
	// Buffering the attachment would allocate at least its 20 MiB.
	t.Logf("Read allocated %d KiB", (after.TotalAlloc-before.TotalAlloc)>>10)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("Read allocated %d MiB for a %d MiB attachment", alloc>>20, size>>20)
	}
}

// failingReader returns some bytes, then an error.
type failingReader struct{ r io.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	if _, err := Read(strings.NewReader("From: a@b\r\n\r\nx"), Options{}); err == nil {
		t.Error("Read without a Sink succeeded")
	}
	for _, max := range []int64{0, 5} {
		_, err := Read(&failingReader{strings.NewReader("From: a@b\r\n\r\nbody")}, Options{Sink: newSink(t), MaxSize: max})
		if err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Errorf("Read(failing reader, MaxSize %d) error = %v, want connection reset", max, err)
		}
	}
	full := errors.New("disk full")
	if _, err := Read(strings.NewReader("From: a@b\r\n\r\nbody"), Options{Sink: failSink{full}}); !errors.Is(err, full) {
		t.Errorf("Read with a failing sink: error = %v, want %v", err, full)
	}
}

func TestReadMessy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
		want      string // in Text
	}{
		{"empty", "", ""},
		{"garbage", "\x00\xff\xfe garbage\x01 without header", "garbage"},
		{"body only", "\r\n\r\nonly a body", "only a body"},
		{"space first", " folded first line\r\nFrom: a@b\r\n\r\nbody", "body"},
		{"no blank line", "From: a@b\r\nSubject: x", ""},
		{"base64 invalid", "Content-Transfer-Encoding: base64\r\n\r\n!!!!", ""},
		{"empty boundary", "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\nhello\r\n", "hello"},
		{"deep nesting", strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 200) + "x", ""},
		{"digest", "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in digest\r\n\r\ndigest body\r\n--d--\r\n", "digest body"},
	}
	store := newSink(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Read(strings.NewReader(tt.raw), Options{Sink: store})
			if err != nil {
				t.Fatalf("Read(%q) error: %v", tt.raw, err)
			}
			if !strings.Contains(m.Text, tt.want) {
				t.Errorf("Read(%q).Text = %q, want it to contain %q", tt.raw, m.Text, tt.want)
			}
		})
	}
}

// tnefSpec describes an attachment of a TNEF stream built by buildTNEF.
type tnefSpec struct {
	title, long, mime string
	data              []byte
	dataInProps       bool // PR_ATTACH_DATA_BIN instead of attAttachData
}

// buildTNEF writes a TNEF stream (MS-OXTNEF) with the given attachments.
func buildTNEF(files []tnefSpec) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	b.Write(le.AppendUint32(nil, tnefSignature))
	b.Write(le.AppendUint16(nil, 0x0001))
	attr := func(level byte, id uint32, data []byte) {
		b.WriteByte(level)
		b.Write(le.AppendUint32(nil, id))
		b.Write(le.AppendUint32(nil, uint32(len(data))))
		b.Write(data)
		var sum uint16
		for _, c := range data {
			sum += uint16(c)
		}
		b.Write(le.AppendUint16(nil, sum))
	}
	pad := func(p []byte) []byte { return append(p, make([]byte, padded(int64(len(p)))-int64(len(p)))...) }
	variable := func(p []byte, tag uint32, v []byte) []byte {
		p = le.AppendUint32(p, tag)
		p = le.AppendUint32(p, 1)
		p = le.AppendUint32(p, uint32(len(v)))
		return pad(append(p, v...))
	}
	attr(1, 0x00089006, []byte{0, 0, 1, 0})                   // attTnefVersion
	attr(1, 0x00069007, []byte{0xe4, 0x04, 0, 0, 0, 0, 0, 0}) // attOemCodepage 1252
	attr(1, 0x00078008, []byte("IPM.Microsoft Mail.Note\x00"))
	for _, f := range files {
		attr(2, attAttachRendData, make([]byte, 14))
		attr(2, attAttachTitle, append([]byte(f.title), 0))
		if !f.dataInProps {
			attr(2, attAttachData, f.data)
		}
		n := 2 // PR_ATTACH_SIZE and a named property
		var props []byte
		props = le.AppendUint32(props, 0x0e200003) // PR_ATTACH_SIZE, PT_LONG
		props = le.AppendUint32(props, uint32(len(f.data)))
		props = le.AppendUint32(props, 0x80050003) // named, PT_LONG
		props = append(props, make([]byte, 16)...)
		props = le.AppendUint32(props, 0) // MNID_ID
		props = le.AppendUint32(props, 0x8514)
		props = le.AppendUint32(props, 1)
		if f.long != "" {
			n++
			u := utf16.Encode([]rune(f.long + "\x00"))
			v := make([]byte, 0, 2*len(u))
			for _, c := range u {
				v = le.AppendUint16(v, c)
			}
			props = variable(props, prAttachLongFilename<<16|ptUnicode, v)
		}
		if f.mime != "" {
			n++
			props = variable(props, prAttachMimeTag<<16|ptString8, []byte(f.mime+"\x00"))
		}
		if f.dataInProps {
			n++
			props = variable(props, prAttachDataBin<<16|ptBinary, f.data)
		}
		attr(2, attAttachment, append(le.AppendUint32(nil, uint32(n)), props...))
	}
	return b.Bytes()
}

// winmailFiles are the attachments of testdata/winmail.eml.
var winmailFiles = []tnefSpec{
	{title: "PRESUP~1.XLS", long: "Presupuesto de renovación 2027.xlsx", mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", data: []byte("PK\x03\x04 not really a spreadsheet")},
	{title: "NOTAS.TXT", data: []byte("Notas de la reuni\xf3n\r\n")},
	{title: "DIAGRA~1.PNG", long: "..\\diagrama de red.png", mime: "image/png", data: []byte("\x89PNG\r\n\x1a\n"), dataInProps: true},
}

// writeWinmailFixture writes testdata/winmail.eml, an Outlook mail whose
// attachments are in a winmail.dat built by buildTNEF.
func writeWinmailFixture(t *testing.T) {
	t.Helper()
	var b strings.Builder
	b.WriteString("From: \"Pilar Ortega\" <pilar.ortega@example.com>\r\nTo: soporte@example.org\r\n" +
		"Subject: Presupuesto renovación equipos\r\nDate: Thu, 6 Nov 2026 09:00:00 +0100\r\n" +
		"Message-ID: <tnef-1@example.com>\r\nMIME-Version: 1.0\r\nX-MS-TNEF-Correlator: <tnef-1@example.com>\r\n" +
		"Content-Type: multipart/mixed; boundary=\"tnef\"\r\n\r\n" +
		"--tnef\r\nContent-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Os env=EDo el presupuesto.\r\n\r\n" +
		"--tnef\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n" +
		"Content-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(buildTNEF(winmailFiles))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--tnef--\r\n")
	if err := os.WriteFile(filepath.Join("testdata", "winmail.eml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkRead(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "gmail-reply-es.eml"))
	if err != nil {
		b.Fatal(err)
	}
	store := newSink(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Read(bytes.NewReader(raw), Options{Sink: store}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIdentityAndCut: where a mail becomes a [Mail], it gets the identity
// the rest of ticketd works with and one note when it was cut, wherever.
func TestIdentityAndCut(t *testing.T) {
	t.Parallel()
	raw := "Return-Path: <robot@example.com>\r\nSubject: sin from\r\n\r\n" + strings.Repeat("x", 3000)
	tests := []struct {
		name      string
		in        string
		opts      Options
		size      int64 // RawSize wanted
		truncated bool
	}{
		{"whole", raw, Options{}, int64(len(raw)), false},
		{"over MaxSize", raw, Options{MaxSize: 1024}, int64(len(raw)), true},
		{"cut by the source", raw[:1024], Options{MaxSize: 1024, Size: int64(len(raw))}, int64(len(raw)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Sink = newSink(t)
			m, err := Read(strings.NewReader(tt.in), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var notes int
			for _, p := range m.Problems {
				if strings.Contains(p, "larger than the limit") {
					notes++
				}
			}
			want := 0
			if tt.truncated {
				want = 1
			}
			if m.Truncated != tt.truncated || m.RawSize != tt.size || notes != want {
				t.Errorf("Truncated = %v, RawSize = %d, size notes %d; want %v, %d, %d (Problems %q)", m.Truncated, m.RawSize, notes, tt.truncated, tt.size, want, m.Problems)
			}
			if m.From.Addr != "robot@example.com" || m.MessageID != "sha256:"+m.RawSHA256 || m.AutoReason != "" {
				t.Errorf("From = %+v, MessageID = %q, AutoReason = %q; want the Return-Path, sha256:<raw> and no reason", m.From, m.MessageID, m.AutoReason)
			}
		})
	}
}

// nestedForwards wraps a mail carrying file in levels of forwarded
// message/rfc822 parts.
func nestedForwards(levels int, file []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: Ana <ana@example.com>\r\nSubject: nivel 0\r\nMessage-ID: <n0@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n" +
		"--b0\r\nContent-Type: text/plain\r\n\r\nel fichero\r\n" +
		"--b0\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"datos.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.NewEncoder(base64.StdEncoding, &crlfLines{w: &b})
	enc.Write(file)
	enc.Close()
	b.WriteString("\r\n--b0--\r\n")
	for i := 1; i <= levels; i++ {
		inner := b.Bytes()
		var o bytes.Buffer
		fmt.Fprintf(&o, "From: Ana <ana@example.com>\r\nSubject: nivel %d\r\nMessage-ID: <n%d@example.com>\r\n"+
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"+
			"--b%d\r\nContent-Type: text/plain\r\n\r\nreenvío %d\r\n"+
			"--b%d\r\nContent-Type: message/rfc822\r\n\r\n", i, i, i, i, i, i)
		o.Write(inner)
		fmt.Fprintf(&o, "\r\n--b%d--\r\n", i)
		b = o
	}
	return b.Bytes()
}

// TestNestedForwardsStoredOnce: forwarded messages inside forwarded
// messages are not stored again at each level (19 levels around 2 MiB once
// took 33 MiB), and the outermost is a slice of the raw mail, not a copy
// (it once was): what reaches the sink is about the raw mail plus the
// decoded file, whatever the nesting.
func TestNestedForwardsStoredOnce(t *testing.T) {
	t.Parallel()
	file := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{2}).Read(file)
	for _, levels := range []int{1, 3, 19} {
		t.Run(fmt.Sprint(levels), func(t *testing.T) {
			raw := nestedForwards(levels, file)
			sink := newSink(t)
			m, err := Read(bytes.NewReader(raw), Options{Sink: sink, MaxSize: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			// The raw mail and the decoded file when it is unpacked.
			limit := int64(len(raw)) + int64(len(file)) + 64<<10
			t.Logf("%d levels: %d bytes to the sink for a %d-byte mail", levels, sink.stored(), len(raw))
			if got := sink.stored(); got > limit {
				t.Errorf("%d levels: %d bytes reached the sink for a %d-byte mail around a %d-byte file, want at most %d",
					levels, got, len(raw), len(file), limit)
			}
			sink.checkBlobs(t, m)
			if m.Truncated || !strings.Contains(m.Text, "reenvío 1") {
				t.Errorf("Truncated = %v, Text = %q", m.Truncated, m.Text)
			}
		})
	}
}

// TestLimits: each limit on hostile input still yields a mail, with its
// raw copy whole and a note naming the limit.
func TestLimits(t *testing.T) {
	t.Parallel()
	const head = "From: Ana <ana@example.com>\r\nMessage-ID: <l@example.com>\r\n"
	tag := "[OTI-2026-000123]"
	huge := "Subject: Re: " + tag + " " + strings.Repeat("asunto ", 900<<10/7) + "\r\n"
	tailTag := "Subject: " + strings.Repeat("largo ", 2000) + tag + " fin\r\n"
	manyFields := strings.Repeat("X-Relleno: x\r\n", 3000) + "Subject: tras el relleno\r\n"
	deep := "Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
	for i := range 30 {
		deep += fmt.Sprintf("--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	deep += "--b30\r\n\r\nhola\r\n"
	var parts strings.Builder
	parts.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for range 20 {
		parts.WriteString("--p\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n")
	}
	parts.WriteString("--p--\r\n")
	tests := []struct {
		name  string
		raw   string
		lim   Limits
		note  string // in Problems
		check func(m *Mail) string
	}{
		{"huge subject", head + huge + "\r\nhola\r\n", Limits{}, "subject of", func(m *Mail) string {
			if n := utf8.RuneCountInString(m.Subject); n > 1000 || !strings.HasPrefix(m.Subject, "Re: "+tag) {
				return fmt.Sprintf("subject of %d runes starting %.40q", n, m.Subject)
			}
			return ""
		}},
		{"tag beyond the cut", head + tailTag + "\r\nhola\r\n", Limits{}, "cut to 1000", func(m *Mail) string {
			if n := utf8.RuneCountInString(m.Subject); n > 1000 || !strings.HasSuffix(m.Subject, " … "+tag) {
				return fmt.Sprintf("subject of %d runes ending %q", n, m.Subject[max(0, len(m.Subject)-40):])
			}
			return ""
		}},
		{"many fields", head + manyFields + "\r\nhola\r\n", Limits{}, "fields dropped", func(m *Mail) string {
			if m.From.Addr != "ana@example.com" || m.Subject != "" || m.Text != "hola" {
				return fmt.Sprintf("From %q Subject %q Text %q", m.From.Addr, m.Subject, m.Text)
			}
			return ""
		}},
		{"header bytes", head + "Subject: x\r\n" + strings.Repeat("X-Relleno: "+strings.Repeat("y", 900)+"\r\n", 400) + "\r\nhola\r\n",
			Limits{}, "over the limits of 262144 bytes", func(m *Mail) string {
				if m.From.Addr != "ana@example.com" || m.Subject != "x" || m.Text != "hola" {
					return fmt.Sprintf("From %q Subject %q Text %q", m.From.Addr, m.Subject, m.Text)
				}
				return ""
			}},
		{"depth", head + deep, Limits{Depth: 5}, "nested more than 5 levels", nil},
		{"parts", head + parts.String(), Limits{Parts: 10}, "more than 10 MIME parts", func(m *Mail) string {
			if len(m.Attachments) != 9 {
				return fmt.Sprintf("%d attachments, want the 9 parts within the limit", len(m.Attachments))
			}
			return ""
		}},
		{"forwards", string(nestedForwards(4, []byte("datos"))), Limits{Forwards: 2}, "nested more than 2 levels deep: kept unopened", func(m *Mail) string {
			if len(m.Attachments) != 1 || !strings.Contains(m.Text, "reenvío 3") || strings.Contains(m.Text, "reenvío 1") {
				return fmt.Sprintf("attachments %+v, text %q: want only the outermost forwarded message, unpacked 2 levels", m.Attachments, m.Text)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := newSink(t)
			m, err := Read(strings.NewReader(tt.raw), Options{Sink: sink, Limits: tt.lim})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sink.get(t, m.RawSHA256), []byte(tt.raw)) || m.Truncated {
				t.Errorf("raw copy not kept whole")
			}
			found := false
			for _, p := range m.Problems {
				found = found || strings.Contains(p, tt.note)
			}
			if !found {
				t.Errorf("Problems = %q, want one with %q", m.Problems, tt.note)
			}
			if tt.check != nil {
				if msg := tt.check(m); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func TestDeliveredTo(t *testing.T) {
	t.Parallel()
	raw := "Delivered-To: soporte+abc@example.org\r\nX-Original-To: soporte.oti+abc@example.org\r\nDelivered-To: other@example.org\r\n" +
		"From: a@example.org\r\nTo: soporte.oti@example.org\r\nSubject: x\r\n\r\nbody"
	m, err := Read(strings.NewReader(raw), Options{Sink: newSink(t)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range m.DeliveredTo {
		got = append(got, a.Addr)
	}
	if want := []string{"soporte+abc@example.org", "other@example.org", "soporte.oti+abc@example.org"}; !slices.Equal(got, want) {
		t.Errorf("DeliveredTo = %q, want %q", got, want)
	}
}

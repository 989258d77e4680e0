package notify

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
	"github.com/ticketd/ticketd/ticket/sla"
)

var update = flag.Bool("update", false, "rewrite notify/testdata/*.golden")

// The secret text of an internal note: it must reach staff and never the
// requester.
const secretNote = "SECRETO-INTERNO garantía vigente"

var support = ticket.Address{Name: "Mesa de servicios OTI", Addr: "soporte.oti@entidad.gov.co"}

var (
	requester = ticket.Address{Name: "José Pérez Muñoz", Addr: "jose.perez@entidad.gov.co"}
	agent1    = "agente1@entidad.gov.co"
	agent2    = "agente2@entidad.gov.co"
	tech      = "tecnico.redes@entidad.gov.co"
	provider  = "soporte@proveedor.example.com"
	outsider  = ticket.Address{Name: "Curioso", Addr: "curioso@otra.example"}
)

// blobs is the file store of the walk: two files, one small, one large.
var blobs = map[string][]byte{
	strings.Repeat("a", 64): []byte("contenido de la foto"),
	strings.Repeat("b", 64): bytes.Repeat([]byte("x"), 4096),
}

func openBlob(sum string) (io.ReadCloser, error) {
	b, ok := blobs[sum]
	if !ok {
		return nil, errors.New("no such blob")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// testDirectory is the desk's groups in the walk and in the renderer.
func testDirectory(t testing.TB) *ticket.Directory {
	t.Helper()
	dir, err := ticket.NewDirectory([]ticket.Group{
		{Name: "mesa", Level: ticket.Level1, Members: []string{agent1, agent2}},
		{Name: "redes", Level: ticket.Level2, Kind: ticket.GroupOnSite, Members: []string{tech}},
		{Name: "proveedor", Level: ticket.Level3, Kind: ticket.GroupProvider, Members: []string{provider}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTestRenderer(t testing.TB, lang string) *Renderer {
	t.Helper()
	r, err := NewRenderer(RendererOptions{
		From: support, Lang: lang, Attachments: openBlob, MaxAttachTotal: 1024, Hostname: "ticketd.test",
		People: testDirectory(t),
	})
	if err != nil {
		t.Fatalf("NewRenderer(%q): %v", lang, err)
	}
	return r
}

// walk takes a ticket through the whole procedure with ticket.Desk and a
// fixed clock, and returns every notice owed, one recipient each, as the
// store would queue them: with a sequence number, a Message-ID and the
// ticket as it stood right after the change.
func walk(t testing.TB) []ticket.Pending {
	t.Helper()
	dir := testDirectory(t)
	always, err := sla.New(sla.AlwaysOpen, nil, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	desk, err := ticket.NewDesk(dir, ticket.WithServiceLevels(ticket.ServiceLevels{
		Calendar: always, Targets: ticket.Targets{Level1: time.Hour, Level2: 2 * time.Hour, Level3: 4 * time.Hour},
		WarnAt: 50, CloseWithin: time.Hour,
	}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 9, 14, 30, 0, 0, time.UTC)
	var out []ticket.Pending
	seq := uint64(0)
	collect := func(o ticket.Outcome) {
		snap := o.Ticket.Clone()
		start := len(out)
		for _, n := range o.Notices {
			for _, to := range n.To {
				seq++
				n := n
				n.Ticket = snap
				n.To = []ticket.Address{to}
				id := fmt.Sprintf("%s.n%d@ticketd.test", snap.ID, seq)
				out = append(out, ticket.Pending{Seq: seq, MessageID: id, Notice: n, CreatedAt: now})
			}
		}
		// The store records sent Message-IDs in the thread.
		for _, p := range out[start:] {
			o.Ticket.AddThread(p.MessageID)
		}
		now = now.Add(17 * time.Minute)
	}
	in := func(from ticket.Address, msgID, text string) ticket.Inbound {
		return ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: msgID, From: from, Subject: "Re: algo", Text: text}
	}
	staff := func(addr string) ticket.Address { return ticket.Address{Addr: addr} }

	o := desk.Open("OTI-2026-000042", ticket.Inbound{
		Sender:    ticket.Trusted("test"),
		MessageID: "CAF=original.1@mail.entidad.gov.co", From: requester,
		Subject: "No funciona la impresora del 3.º piso <urgente> & tóner",
		Text:    "Buenos días:\n\nLa impresora del tercer piso no imprime desde ayer.\nMuestra el error «Atasco de papel» <script>alert(1)</script>.\n\nGracias.",
		Attachments: []ticket.Attachment{
			{Filename: "foto impresora.jpg", ContentType: "image/jpeg", Size: int64(len(blobs[strings.Repeat("a", 64)])), SHA256: strings.Repeat("a", 64)},
			{Filename: "registro.log", ContentType: "text/plain", Size: 4096, SHA256: strings.Repeat("b", 64)},
		},
	}, "", now)
	t1 := o.Ticket
	collect(o) // ack, new_ticket ×2
	collect(desk.Reply(t1, in(staff(agent1), "m2@entidad.gov.co", "#clasificar impresoras alta\n#nota "+secretNote), now))
	collect(desk.Reply(t1, in(staff(agent1), "m3@entidad.gov.co", "#escalar nivel2 redes\nPor favor revisar en sitio."), now))
	collect(desk.Reply(t1, in(requester, "m4@entidad.gov.co", "Sigue sin funcionar, ¿pueden venir hoy?"), now))
	collect(desk.Reply(t1, in(staff(tech), "m5@entidad.gov.co", "Paso a revisarla a las 3 p. m."), now))
	collect(desk.Reply(t1, in(staff(tech), "m6@entidad.gov.co", "#resolver Se cambió el rodillo de arrastre."), now))
	collect(desk.Reply(t1, in(requester, "m7@entidad.gov.co", "#cerrar"), now)) // refused: receipt
	collect(desk.Reply(t1, in(requester, "m8@entidad.gov.co", "#reabrir Vuelve a atascarse."), now))
	collect(desk.Reply(t1, in(staff(agent2), "m9@entidad.gov.co", "#resolver Se reinició la cola de impresión."), now))
	collect(desk.Reply(t1, in(staff(agent1), "m10@entidad.gov.co", "#reabrir El usuario llamó: sigue fallando."), now))
	collect(desk.Reply(t1, in(staff(agent1), "m11@entidad.gov.co", "#resolver Se reemplazó la impresora."), now))
	collect(desk.Reply(t1, in(staff(agent1), "m12@entidad.gov.co", "#cerrar Confirmado con el usuario."), now))
	collect(desk.Reply(t1, in(requester, "m13@entidad.gov.co", "#ayuda"), now))

	// A second ticket meets the guards: a stranger, a forged desk agent, and
	// an auto-responder answering with the same text.
	o = desk.Open("OTI-2026-000043", ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: "m20@entidad.gov.co", From: requester,
		Subject: "Sin acceso a la VPN", Text: "No me conecta la VPN desde casa."}, "", now)
	t2 := o.Ticket
	collect(o)
	collect(desk.Reply(t2, in(outsider, "m21@otra.example", "#ayuda"), now))
	forged := in(staff(agent1), "m22@otra.example", "#cerrar forzar duplicado")
	forged.Sender = ticket.Verification{Reason: "sin firma DKIM válida", ReasonEN: "no valid DKIM signature"}
	collect(desk.Reply(t2, forged, now))
	for i := range 3 {
		collect(desk.Reply(t2, in(requester, fmt.Sprintf("m%d@entidad.gov.co", 23+i), "Estoy fuera de la oficina hasta el lunes."), now))
	}
	// Level 2 sends it on to level 3: the desk hears of it.
	collect(desk.Reply(t2, in(staff(agent1), "m30@entidad.gov.co", "#escalar nivel2 redes"), now))
	collect(desk.Reply(t2, in(staff(tech), "m31@entidad.gov.co", "#escalar nivel3 proveedor\nLo atiende el proveedor, está en garantía."), now))

	// A third ticket runs out of time at level 2 (target 2h, reminder at
	// 50%), and once resolved waits for its closure longer than 1h.
	o = desk.Open("OTI-2026-000044", ticket.Inbound{Sender: ticket.Trusted("test"), MessageID: "m40@entidad.gov.co", From: requester,
		Subject: "El correo tarda en llegar", Text: "Los correos me llegan con una hora de retraso."}, "", now)
	t3 := o.Ticket
	collect(o)
	collect(desk.Reply(t3, in(staff(agent1), "m41@entidad.gov.co", "#escalar nivel2 redes"), now))
	now = now.Add(70 * time.Minute)
	collect(desk.Tick(t3, now)) // sla_warning to redes
	now = now.Add(time.Hour)
	collect(desk.Tick(t3, now)) // sla_breached to redes and the desk
	collect(desk.Reply(t3, in(staff(tech), "m42@entidad.gov.co", "#resolver Se amplió el buzón."), now))
	now = now.Add(2 * time.Hour)
	collect(desk.Tick(t3, now)) // close_reminder to the desk
	return out
}

// firstOfEachKind picks one notice per kind from the walk.
func firstOfEachKind(t testing.TB, ps []ticket.Pending) map[ticket.NoticeKind]ticket.Pending {
	t.Helper()
	m := map[ticket.NoticeKind]ticket.Pending{}
	for _, p := range ps {
		if _, ok := m[p.Notice.Kind]; !ok {
			m[p.Notice.Kind] = p
		}
	}
	for _, k := range Kinds() {
		if _, ok := m[k]; !ok {
			t.Fatalf("the walk produced no %s notice", k)
		}
	}
	return m
}

func TestGolden(t *testing.T) {
	ps := walk(t)
	byKind := firstOfEachKind(t, ps)
	cases := map[string]ticket.Pending{}
	for k, p := range byKind {
		cases[string(k)] = p
	}
	for _, p := range ps { // a receipt with a refused command, too
		if p.Notice.Kind == ticket.NoticeReceipt && p.Notice.Results[0].Status == ticket.ResultRefused {
			cases["receipt_refused"] = p
			break
		}
	}
	if len(cases) != len(Kinds())+1 {
		t.Fatalf("the walk gave %d cases, want %d", len(cases), len(Kinds())+1)
	}
	for _, lang := range []string{"es", "en"} {
		r := newTestRenderer(t, lang)
		for k, p := range cases {
			t.Run(lang+"/"+k, func(t *testing.T) {
				out, err := r.Render(p)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", lang+"_"+k+".golden"), out)
			})
		}
	}
}

// checkGolden compares out with the golden file at path, or rewrites it
// with -update.
func checkGolden(t *testing.T, path string, out Rendered) {
	t.Helper()
	got := fmt.Sprintf("Subject: %s\n\n----- text/plain -----\n%s\n----- text/html -----\n%s", out.Subject, out.Text, out.HTML)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./notify -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendering (run go test ./notify -update and review the diff):\n%s", path, got)
	}
}

// TestInternalNotesOnlyToStaff renders every notice of the walk in both
// languages: the text of the internal note shows in the mails to staff
// that carry notes, never in a mail of a requester kind.
func TestInternalNotesOnlyToStaff(t *testing.T) {
	ps := walk(t)
	for _, lang := range []string{"es", "en"} {
		r := newTestRenderer(t, lang)
		for _, p := range ps {
			out, err := r.Render(p)
			if err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(out.Text, "SECRETO-INTERNO") || strings.Contains(out.HTML, "SECRETO-INTERNO")
			own := false // a receipt echoes the sender's own command lines
			for _, res := range p.Notice.Results {
				own = own || strings.Contains(res.Command.Raw, "SECRETO-INTERNO")
			}
			if !p.Notice.Kind.ForStaff() && has && !own {
				t.Errorf("%s %s to %s shows the internal note:\n%s", lang, p.Notice.Kind, p.Notice.To[0].Addr, out.Text)
			}
			if p.Notice.Ticket.ID != "OTI-2026-000042" {
				continue // the second ticket has no note
			}
			if p.Notice.Kind == ticket.NoticeAssigned && !has {
				t.Errorf("%s assigned mail lacks the internal note in its history", lang)
			}
			if p.Notice.Kind == ticket.NoticeAssigned && !strings.Contains(out.Text, "Por favor revisar en sitio.") {
				t.Errorf("%s assigned mail lacks the escalation comment", lang)
			}
		}
	}
}

// TestHTMLEscaping checks that everything that came from a mail is escaped
// in the HTML part, and left alone in the text part.
func TestHTMLEscaping(t *testing.T) {
	byKind := firstOfEachKind(t, walk(t))
	r := newTestRenderer(t, "es")
	for _, k := range []ticket.NoticeKind{ticket.NoticeNewTicket, ticket.NoticeAssigned, ticket.NoticeAck} {
		out, err := r.Render(byKind[k])
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.HTML, "<script>") || strings.Contains(out.HTML, "<urgente>") {
			t.Errorf("%s: HTML part holds unescaped mail text:\n%s", k, out.HTML)
		}
		if !strings.Contains(out.HTML, "&lt;urgente&gt; &amp; tóner") {
			t.Errorf("%s: HTML part lacks the escaped subject", k)
		}
		if k != ticket.NoticeAck && !strings.Contains(out.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: HTML part lacks the escaped request", k)
		}
		if !strings.Contains(out.Subject, "<urgente> & tóner") {
			t.Errorf("%s: subject %q was escaped; only HTML should be", k, out.Subject)
		}
	}
}

// TestRequesterNameInjection: a display name or subject with markup and
// line breaks stays on one line and escaped.
func TestSubjectAndNameInjection(t *testing.T) {
	r := newTestRenderer(t, "es")
	tk := &ticket.Ticket{ID: "OTI-2026-000007", Subject: "hola\r\nBcc: victima@example.com", Level: 1, Group: "mesa", State: ticket.StateOpen,
		Requester: ticket.Address{Name: "<b>Ana</b>\r\nX-Evil: 1", Addr: "ana@example.org"}}
	p := ticket.Pending{Seq: 1, MessageID: "x\r\nBcc: y@example.com", Notice: ticket.Notice{Kind: ticket.NoticeAck, Ticket: tk,
		To: []ticket.Address{tk.Requester}, InReplyTo: "bad id with spaces"}}
	raw, err := r.Bytes(p)
	if err != nil {
		t.Fatal(err)
	}
	m := parseMail(t, raw)
	if got := m.Header.Get("Bcc"); got != "" {
		t.Errorf("header injection: Bcc %q", got)
	}
	if got := m.Header.Get("X-Evil"); got != "" {
		t.Errorf("header injection: X-Evil %q", got)
	}
	if want := "[OTI-2026-000007] hola Bcc: victima@example.com"; m.Subject != want {
		t.Errorf("subject = %q, want %q", m.Subject, want)
	}
	if got, want := m.Header.Get("Message-Id"), "<OTI-2026-000007.n1@ticketd.test>"; got != want {
		t.Errorf("Message-ID for an invalid one = %q, want %q", got, want)
	}
	if strings.Contains(m.HTML, "<b>Ana</b>") {
		t.Errorf("HTML holds the unescaped name")
	}
}

func TestAttachments(t *testing.T) {
	byKind := firstOfEachKind(t, walk(t))
	r := newTestRenderer(t, "es") // MaxAttachTotal 1024: the photo fits, the log does not
	raw, err := r.Bytes(byKind[ticket.NoticeAssigned])
	if err != nil {
		t.Fatal(err)
	}
	m := parseMail(t, raw)
	if got := string(m.Files["foto impresora.jpg"]); got != "contenido de la foto" {
		t.Errorf("attached photo = %q, want its content", got)
	}
	if _, ok := m.Files["registro.log"]; ok {
		t.Errorf("registro.log (4 KiB) was attached over a 1 KiB limit")
	}
	if !strings.Contains(m.Text, "registro.log (4,0 KiB, SHA-256 "+strings.Repeat("b", 64)+")") {
		t.Errorf("the file over the limit is not listed with size and SHA-256:\n%s", m.Text)
	}
	// A requester's mail never carries files.
	raw, err = r.Bytes(byKind[ticket.NoticeAck])
	if err != nil {
		t.Fatal(err)
	}
	if m := parseMail(t, raw); len(m.Files) != 0 {
		t.Errorf("ack carries %d files", len(m.Files))
	}
	// A blob that cannot be read is listed, not fatal.
	r2, err := NewRenderer(RendererOptions{From: support, Attachments: func(string) (io.ReadCloser, error) { return nil, errors.New("gone") }})
	if err != nil {
		t.Fatal(err)
	}
	raw, err = r2.Bytes(byKind[ticket.NoticeAssigned])
	if err != nil {
		t.Fatalf("unreadable blob: %v", err)
	}
	m = parseMail(t, raw)
	if len(m.Files) != 0 || !strings.Contains(m.Text, "foto impresora.jpg (20 B, SHA-256") {
		t.Errorf("unreadable blob: files %d, text:\n%s", len(m.Files), m.Text)
	}
}

func TestTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "es"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "es", "ack.subject.tmpl"), []byte("{{.Tag}} Recibido: {{.Subject}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(RendererOptions{From: support, TemplateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	byKind := firstOfEachKind(t, walk(t))
	out, err := r.Render(byKind[ticket.NoticeAck])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Subject, "[OTI-2026-000042] Recibido: ") {
		t.Errorf("overridden subject = %q", out.Subject)
	}
	if !strings.Contains(out.Text, "abrimos el caso OTI-2026-000042") {
		t.Errorf("the embedded text template was not kept")
	}
	// A broken override is reported by NewRenderer, with its file name.
	if err := os.WriteFile(filepath.Join(dir, "closed.txt.tmpl"), []byte("{{.NoSuchField}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = NewRenderer(RendererOptions{From: support, TemplateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "closed.txt.tmpl") {
		t.Errorf("NewRenderer with a broken template = %v, want an error naming closed.txt.tmpl", err)
	}
}

// TestExplainOverride: the explanations of the commands, made once per
// renderer, come from the "explain" template of each kind's own set: a
// kind's template that redefines it changes that kind's list of commands,
// in text and HTML (escaped), and no other kind's.
func TestExplainOverride(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"new_ticket.txt.tmpl":  `{{define "explain"}}<{{.}}>{{end}}{{template "verbs" .}}`,
		"new_ticket.html.tmpl": `{{define "explain"}}<{{.}}>{{end}}{{template "verbs" .}}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewRenderer(RendererOptions{From: support, TemplateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	byKind := firstOfEachKind(t, walk(t))
	out, err := r.Render(byKind[ticket.NoticeNewTicket])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Text, "      <escalate>\n") || strings.Contains(out.Text, "Pasa el caso") {
		t.Errorf("text with its own explain:\n%s", out.Text)
	}
	if !strings.Contains(out.HTML, "<td>&lt;escalate></td>") || strings.Contains(out.HTML, "Pasa el caso") {
		t.Errorf("HTML with its own explain:\n%s", out.HTML)
	}
	out, err = r.Render(byKind[ticket.NoticeReopened])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Text, "Pasa el caso al nivel 2 o 3") || !strings.Contains(out.HTML, "Pasa el caso al nivel 2 o 3") {
		t.Errorf("another kind lost the embedded explanations:\n%s\n%s", out.Text, out.HTML)
	}
}

func TestNewRendererErrors(t *testing.T) {
	for name, opts := range map[string]RendererOptions{
		"no from":       {},
		"bad from":      {From: ticket.Address{Addr: "not an address"}},
		"unknown lang":  {From: support, Lang: "fr"},
		"no such templ": {From: support, TemplateDir: "/nonexistent"}, // missing dir: embedded ones are used
	} {
		_, err := NewRenderer(opts)
		if name == "no such templ" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: NewRenderer succeeded", name)
		}
	}
}

// TestEveryKindHasTemplates walks ticket's table of notice kinds: each has
// its subject, text and HTML templates in both languages, and no template
// is left for a kind the table does not have.
func TestEveryKindHasTemplates(t *testing.T) {
	kinds := map[string]bool{}
	for _, k := range ticket.NoticeKinds() {
		kinds[string(k)] = true
	}
	if !slices.Equal(Kinds(), ticket.NoticeKinds()) {
		t.Errorf("Kinds() = %v, want the table's %v", Kinds(), ticket.NoticeKinds())
	}
	for _, lang := range []string{"es", "en"} {
		for k := range kinds {
			for _, part := range []string{"subject", "txt", "html"} {
				if _, err := fs.Stat(embedded, "templates/"+lang+"/"+k+"."+part+".tmpl"); err != nil {
					t.Errorf("%s/%s: no %s template: %v", lang, k, part, err)
				}
			}
		}
		files, err := fs.ReadDir(embedded, "templates/"+lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			kind, _, _ := strings.Cut(f.Name(), ".")
			if !strings.HasPrefix(kind, "_") && !kinds[kind] {
				t.Errorf("%s/%s: a template for a kind ticket does not have", lang, f.Name())
			}
		}
	}
}

// TestOutsidersLearnNothing renders, in both languages and as complete
// mails with their headers, every notice of the walk to a stranger who
// wrote with the ticket's ID and to the forged desk agent: neither shows the
// ticket's subject, ID, level, group, state or requester.
func TestOutsidersLearnNothing(t *testing.T) {
	ps := walk(t)
	for _, lang := range []string{"es", "en"} {
		r := newTestRenderer(t, lang)
		seen := 0
		for _, p := range ps {
			n := p.Notice
			if n.Ticket.ID != "OTI-2026-000043" || n.InReplyTo != "m21@otra.example" && n.InReplyTo != "m22@otra.example" {
				continue
			}
			seen++
			if n.Kind.RevealsTicket() {
				t.Errorf("%s: the answer to %s is a %s notice", lang, n.InReplyTo, n.Kind)
			}
			raw, err := r.Bytes(p)
			if err != nil {
				t.Fatal(err)
			}
			m := parseMail(t, raw)
			whole := m.Subject + "\n" + m.Text + "\n" + m.HTML
			for _, secret := range []string{"Sin acceso a la VPN", "OTI-2026-000043", "VPN", requester.Addr, "José", "mesa",
				"abierto", "Nivel:", "Level:", "Estado:", "State:", "Nivel ", "Level "} {
				if strings.Contains(whole, secret) {
					t.Errorf("%s %s to %s shows %q:\n%s", lang, n.Kind, n.To[0].Addr, secret, whole)
				}
			}
			for _, h := range []string{"X-Ticketd-Ticket", "References"} {
				if got := m.Header.Get(h); strings.Contains(got, "OTI-2026-000043") {
					t.Errorf("%s %s: %s %q names the ticket", lang, n.Kind, h, got)
				}
			}
			if got := m.Header.Get("In-Reply-To"); got != "<"+n.InReplyTo+">" {
				t.Errorf("%s %s: In-Reply-To %q, want the refused mail", lang, n.Kind, got)
			}
		}
		if seen != 2 {
			t.Errorf("%s: %d answers to the outsiders, want 2 (help_generic, unverified)", lang, seen)
		}
	}
}

// TestAttachmentStreamedEachWrite: an attached file is read from the store
// each time the mail is written (a retry writes it again), and a file whose
// size changed after the check fails the write instead of sending a cut
// file.
func TestAttachmentStreamedEachWrite(t *testing.T) {
	p := firstOfEachKind(t, walk(t))[ticket.NoticeAssigned]
	r := newTestRenderer(t, "es")
	m, err := r.Message(p)
	if err != nil {
		t.Fatal(err)
	}
	var first, second bytes.Buffer
	if _, err := m.WriteTo(&first); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteTo(&second); err != nil {
		t.Fatal(err)
	}
	for i, raw := range [][]byte{first.Bytes(), second.Bytes()} {
		if got := string(parseMail(t, raw).Files["foto impresora.jpg"]); got != "contenido de la foto" {
			t.Errorf("write %d: attached photo = %q, want its content", i+1, got)
		}
	}
	photo := strings.Repeat("a", 64)
	size := int64(len(blobs[photo]))
	shrunk := false
	r2, err := NewRenderer(RendererOptions{From: support, MaxAttachTotal: 1024, Attachments: func(sum string) (io.ReadCloser, error) {
		if sum == photo && shrunk {
			return io.NopCloser(strings.NewReader("cut")), nil
		}
		return openBlob(sum)
	}})
	if err != nil {
		t.Fatal(err)
	}
	m, err = r2.Message(p)
	if err != nil {
		t.Fatal(err)
	}
	shrunk = true
	if _, err := m.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("3 bytes, %d recorded", size)) {
		t.Errorf("write of a file cut after the check: err = %v, want its size named", err)
	}
}

// TestTidyText: trailing blanks go, runs of blank lines become one, CRLF
// becomes LF (a lone CR stays), and the text ends in one line break.
func TestTidyText(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "\n",
		"\n\n \t\n":                        "\n",
		"  Hola:  \r\n\r\n\r\n\tuno\t \n":  "Hola:\n\n\tuno\n",
		"a\n\n\n\nb \r\r\nc\r\n\r\n":       "a\n\nb \r\nc\n",
		"x\n \n\t\ny\n\n":                  "x\n\ny\n",
		"\u00a0línea\u00a0\n\n":            "línea\n",
		"uno\ndos\n\n\ntres\n\n\n\ncuatro": "uno\ndos\n\ntres\n\ncuatro\n",
	} {
		if got := tidyText([]byte(in)); got != want {
			t.Errorf("tidyText(%q) = %q, want %q", in, got, want)
		}
	}
}

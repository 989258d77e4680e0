package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/ticketd/ticketd/ticket"
	"github.com/ticketd/ticketd/ticket/action"
	"github.com/wneessen/go-mail"
)

//go:embed templates/*/*.tmpl
var embedded embed.FS

// maxReferences bounds the References header: the first Message-ID of the
// thread and the last ones (RFC 5322 §3.6.4 allows trimming the middle).
const maxReferences = 20

// RendererOptions configures a [Renderer].
type RendererOptions struct {
	// From is the From of every mail and its envelope sender. Required.
	From ticket.Address
	// SupportAddress is the Reply-To of every mail (with the recipient's
	// reply token when ReplyTo gives one). Empty means From's address.
	SupportAddress string
	// Lang selects the embedded templates: "es" (the zero value) or "en".
	Lang string
	// TemplateDir, when set, holds templates that replace the embedded ones
	// of the same file name: a file TemplateDir/<lang>/<name> or
	// TemplateDir/<name> replaces templates/<lang>/<name>.
	TemplateDir string
	// Attachments opens a stored file by its SHA-256, to re-attach the
	// request's files to assignment mails. Nil means files are only listed.
	Attachments func(sha256 string) (io.ReadCloser, error)
	// MaxAttachTotal bounds the total size of the files attached to one mail;
	// files beyond it are listed with name, size and SHA-256. Zero (or
	// less) attaches nothing.
	MaxAttachTotal int64
	// Hostname is the right-hand side of Message-IDs the renderer makes up
	// for notices that carry none. Empty means the domain of From.
	Hostname string
	// Location is the time zone dates are shown in. Nil means UTC.
	Location *time.Location
	// ReplyTo, when set, returns the Reply-To address of a notice about
	// ticket id to its one recipient rcpt, committed at issued: a reply
	// address of that person's (package notify/replytoken). It must be
	// deterministic, so that a retry sends the very same message. Used
	// only for notices that reveal their ticket; nil, or "", means
	// SupportAddress.
	ReplyTo func(id ticket.ID, rcpt string, issued time.Time) string
	// People names staff and groups in the mails: a member by their
	// display name, a group by its label. Nil names them by address and
	// name.
	People People
	// StatusURL, when set, returns the address of ticket id's status page
	// (package internal/web), which the acknowledgement gives its
	// requester. It must be deterministic, so that a retried
	// acknowledgement carries the same link. Nil, or "", means no link.
	StatusURL func(id ticket.ID) string
}

// People gives the names mails show for staff and groups;
// *ticket.Directory is one.
type People interface {
	// DisplayName returns the display name of the staff member at addr,
	// "" when none is known.
	DisplayName(addr string) string
	// GroupLabel returns the readable label of the group called name, ""
	// when it has none.
	GroupLabel(name string) string
	// Groups returns every group, for the targets of the one-tap actions
	// of assignment and new-ticket mails (package ticket/action). A
	// [Renderer] reads them once, in [NewRenderer].
	Groups() []ticket.Group
}

// Renderer turns notices into mail. It parses its templates once, in
// [NewRenderer], and is then immutable and safe for concurrent use.
type Renderer struct {
	from     ticket.Address
	support  string
	people   People
	lang     string
	hostname string
	loc      *time.Location
	blobs    func(string) (io.ReadCloser, error)
	maxTotal int64
	replyTo  func(ticket.ID, string, time.Time) string
	status   func(ticket.ID) string
	kinds    map[ticket.NoticeKind]*kindTemplates
	groups   []ticket.Group // people.Groups(), read once
}

type kindTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
	// explainText and explainHTML are the outputs of the "explain"
	// template of text and html for each command (by its canonical name),
	// made once: the template is a chain of comparisons, each a reflective
	// call, and a notice to the desk lists every command in both parts.
	explainText map[string]string
	explainHTML map[string]htmltemplate.HTML
}

// explain fills kt's explanations of every command from its "explain"
// templates; a set without one explains nothing.
func (kt *kindTemplates) explain() error {
	kt.explainText = make(map[string]string)
	kt.explainHTML = make(map[string]htmltemplate.HTML)
	var b strings.Builder
	for _, v := range ticket.AllVerbs() {
		if t := kt.text.Lookup("explain"); t != nil {
			b.Reset()
			if err := t.Execute(&b, string(v)); err != nil {
				return fmt.Errorf("notify: render %s: explain %s: %w", kt.text.Name(), v, err)
			}
			kt.explainText[string(v)] = b.String()
		}
		if t := kt.html.Lookup("explain"); t != nil {
			b.Reset()
			if err := t.Execute(&b, string(v)); err != nil {
				return fmt.Errorf("notify: render %s: explain %s: %w", kt.html.Name(), v, err)
			}
			// Safe: html/template escaped it, in the text context the
			// embedded "verbs" template shows it in.
			kt.explainHTML[string(v)] = htmltemplate.HTML(b.String())
		}
	}
	return nil
}

// Kinds lists every notice kind a [Renderer] has templates for, in the
// order of the procedure: every kind of [ticket.NoticeKinds].
func Kinds() []ticket.NoticeKind { return ticket.NoticeKinds() }

// NewRenderer parses the templates for opts.Lang, with the overrides of
// opts.TemplateDir, and renders a sample of every kind so that a template
// that does not parse or refers to an unknown field is reported now, with
// its file name, rather than when a notice is due. It reads TemplateDir but
// does no other I/O.
func NewRenderer(opts RendererOptions) (*Renderer, error) {
	if _, err := netmail.ParseAddress(opts.From.Addr); err != nil {
		return nil, fmt.Errorf("notify: from address %q: %w", opts.From.Addr, err)
	}
	lang := opts.Lang
	if lang == "" {
		lang = "es"
	}
	if lang != "es" && lang != "en" {
		return nil, fmt.Errorf("notify: language %q: want es or en", opts.Lang)
	}
	r := &Renderer{
		from:     opts.From,
		support:  opts.SupportAddress,
		people:   opts.People,
		lang:     lang,
		hostname: opts.Hostname,
		loc:      opts.Location,
		blobs:    opts.Attachments,
		maxTotal: opts.MaxAttachTotal,
		replyTo:  opts.ReplyTo,
		status:   opts.StatusURL,
		kinds:    make(map[ticket.NoticeKind]*kindTemplates),
	}
	if r.people != nil {
		r.groups = r.people.Groups()
	}
	if r.hostname == "" {
		_, r.hostname, _ = strings.Cut(opts.From.Addr, "@")
	}
	if r.loc == nil {
		r.loc = time.UTC
	}
	if r.support == "" {
		r.support = opts.From.Addr
	} else if _, err := netmail.ParseAddress(r.support); err != nil {
		return nil, fmt.Errorf("notify: support address %q: %w", r.support, err)
	}
	read := func(name string) (string, []byte, error) {
		if opts.TemplateDir != "" {
			for _, p := range []string{filepath.Join(opts.TemplateDir, lang, name), filepath.Join(opts.TemplateDir, name)} {
				b, err := os.ReadFile(p)
				if err == nil {
					return p, b, nil
				}
				if !errors.Is(err, fs.ErrNotExist) {
					return p, nil, fmt.Errorf("notify: template %s: %w", p, err)
				}
			}
		}
		p := "templates/" + lang + "/" + name
		b, err := embedded.ReadFile(p)
		if err != nil {
			return p, nil, fmt.Errorf("notify: template %s: %w", p, err)
		}
		return p, b, nil
	}
	commonTextPath, commonText, err := read("_common.txt.tmpl")
	if err != nil {
		return nil, err
	}
	commonHTMLPath, commonHTML, err := read("_common.html.tmpl")
	if err != nil {
		return nil, err
	}
	for _, k := range Kinds() {
		kt := &kindTemplates{}
		p, b, err := read(string(k) + ".subject.tmpl")
		if err != nil {
			return nil, err
		}
		if kt.subject, err = texttemplate.New(p).Option("missingkey=zero").Funcs(textFuncs()).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("notify: parse %s: %w", p, err)
		}
		p, b, err = read(string(k) + ".txt.tmpl")
		if err != nil {
			return nil, err
		}
		t := texttemplate.New(p).Option("missingkey=zero").Funcs(textFuncs())
		if _, err := t.New(commonTextPath).Parse(string(commonText)); err != nil {
			return nil, fmt.Errorf("notify: parse %s: %w", commonTextPath, err)
		}
		if kt.text, err = t.Parse(string(b)); err != nil {
			return nil, fmt.Errorf("notify: parse %s: %w", p, err)
		}
		p, b, err = read(string(k) + ".html.tmpl")
		if err != nil {
			return nil, err
		}
		h := htmltemplate.New(p).Option("missingkey=zero").Funcs(htmlFuncs())
		if _, err := h.New(commonHTMLPath).Parse(string(commonHTML)); err != nil {
			return nil, fmt.Errorf("notify: parse %s: %w", commonHTMLPath, err)
		}
		if kt.html, err = h.Parse(string(b)); err != nil {
			return nil, fmt.Errorf("notify: parse %s: %w", p, err)
		}
		if err := kt.explain(); err != nil {
			return nil, err
		}
		r.kinds[k] = kt
	}
	for _, k := range Kinds() {
		if _, err := r.Render(samplePending(k)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Rendered is what the templates of one notice produced.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
	// Attach lists the files re-attached to the mail; Listed the files only
	// named in it (over the size limit, or no store to read them from).
	Attach []ticket.Attachment
	Listed []ticket.Attachment
}

// Render executes the templates of p's kind. It reads no file: the split
// between attached and listed files assumes every stored file is readable.
// It is safe for concurrent use.
func (r *Renderer) Render(p ticket.Pending) (Rendered, error) {
	attach, listed := r.planAttachments(p.Notice)
	return r.render(p, attach, listed)
}

func (r *Renderer) render(p ticket.Pending, attach, listed []ticket.Attachment) (Rendered, error) {
	n := p.Notice
	kt, ok := r.kinds[n.Kind]
	if !ok {
		return Rendered{}, fmt.Errorf("notify: no template for notice kind %q", n.Kind)
	}
	if n.Ticket == nil {
		return Rendered{}, fmt.Errorf("notify: notice %d (%s) has no ticket", p.Seq, n.Kind)
	}
	v := r.view(n, attach, listed)
	v.Actions = r.actions(p)
	for i := range v.Verbs {
		v.Verbs[i].Explain = kt.explainText[v.Verbs[i].Verb]
		v.Verbs[i].ExplainHTML = kt.explainHTML[v.Verbs[i].Verb]
	}
	out := Rendered{Attach: attach, Listed: listed}
	// The templates write into a buffer that has grown to the size of
	// earlier mails; each part is then copied out once.
	b := buffers.Get().(*bytes.Buffer)
	defer buffers.Put(b)
	b.Reset()
	if err := kt.subject.Execute(b, v); err != nil {
		return Rendered{}, fmt.Errorf("notify: render %s: %w", kt.subject.Name(), err)
	}
	out.Subject = oneLine(b.String())
	b.Reset()
	if err := kt.text.Execute(b, v); err != nil {
		return Rendered{}, fmt.Errorf("notify: render %s: %w", kt.text.Name(), err)
	}
	out.Text = tidyText(b.Bytes())
	b.Reset()
	if err := kt.html.Execute(b, v); err != nil {
		return Rendered{}, fmt.Errorf("notify: render %s: %w", kt.html.Name(), err)
	}
	out.HTML = b.String()
	return out, nil
}

// buffers holds the buffers [Renderer.render] executes templates into.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// planAttachments decides which files of the ticket go with an assignment
// mail: in order, as long as the running total stays within the limit.
// Ticket.Attachments holds the files of the original request first, then
// those of later mails.
func (r *Renderer) planAttachments(n ticket.Notice) (attach, listed []ticket.Attachment) {
	if n.Kind != ticket.NoticeAssigned || n.Ticket == nil {
		return nil, nil
	}
	var total int64
	for _, a := range n.Ticket.Attachments {
		if r.blobs != nil && r.maxTotal > 0 && a.Size >= 0 && total+a.Size <= r.maxTotal {
			total += a.Size
			attach = append(attach, a)
			continue
		}
		listed = append(listed, a)
	}
	return attach, listed
}

// Message renders p as a complete message, ready for [Sender.Send]: headers,
// a text part, an HTML alternative and, for assignments, the request's files
// read through RendererOptions.Attachments. A file that cannot be read is
// listed instead of attached. Errors are permanent: the same notice would
// fail the same way again.
func (r *Renderer) Message(p ticket.Pending) (*mail.Msg, error) {
	n := p.Notice
	if len(n.To) == 0 {
		return nil, fmt.Errorf("notify: notice %d (%s) has no recipient", p.Seq, n.Kind)
	}
	plan, listed := r.planAttachments(n)
	var attach []ticket.Attachment
	for _, a := range plan {
		if err := r.checkBlob(a); err != nil {
			listed = append(listed, a)
			continue
		}
		attach = append(attach, a)
	}
	out, err := r.render(p, attach, listed)
	if err != nil {
		return nil, err
	}

	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	m.SetAddrHeaderFromMailAddress(mail.HeaderFrom, &netmail.Address{Name: r.from.Name, Address: r.from.Addr})
	m.SetAddrHeaderFromMailAddress(mail.HeaderReplyTo, &netmail.Address{Name: r.from.Name, Address: r.replyAddress(p)})
	to := make([]*netmail.Address, 0, len(n.To))
	for _, a := range n.To {
		if _, err := netmail.ParseAddress(a.Addr); err != nil {
			return nil, fmt.Errorf("notify: notice %d: recipient %q: %w", p.Seq, a.Addr, err)
		}
		to = append(to, &netmail.Address{Name: a.Name, Address: a.Addr})
	}
	m.SetAddrHeaderFromMailAddress(mail.HeaderTo, to...)
	m.Subject(out.Subject)
	date := p.CreatedAt
	if date.IsZero() {
		date = time.Now()
	}
	// The Date is when the notice was committed, so that a retry sends the
	// very same message.
	m.SetDateWithValue(date.In(r.loc))

	msgID := r.messageID(p)
	m.SetMessageIDWithValue(msgID) // adds the angle brackets
	// RFC 5322 §3.6.4: In-Reply-To names the parent, References the thread.
	thread := n.Ticket.Thread
	if !n.Kind.RevealsTicket() {
		thread = nil // nothing of the ticket, not even the Message-IDs of its thread
	}
	refs := references(thread, n.InReplyTo, msgID)
	parent := bareID(n.InReplyTo)
	if !validID(parent) {
		parent = ""
		if len(refs) > 0 {
			parent = refs[len(refs)-1]
		}
	}
	if parent != "" {
		m.SetGenHeader(mail.HeaderInReplyTo, "<"+parent+">")
	}
	if len(refs) > 0 {
		// One value: SetGenHeader joins several with ", ", which is not the
		// References syntax (a list separated by folding white space).
		m.SetGenHeader(mail.HeaderReferences, "<"+strings.Join(refs, "> <")+">")
	}
	// RFC 3834 §5: auto-replied answers a mail, auto-generated is any other
	// automatic message. Both tell well-behaved responders not to answer.
	if n.InReplyTo != "" {
		m.SetGenHeader(HeaderAutoSubmitted, "auto-replied")
	} else {
		m.SetGenHeader(HeaderAutoSubmitted, "auto-generated")
	}
	m.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	if n.Kind.RevealsTicket() {
		m.SetGenHeader(HeaderTicket, string(n.Ticket.ID))
	}
	m.SetGenHeader(mail.HeaderContentLang, r.lang)

	m.SetBodyString(mail.TypeTextPlain, out.Text)
	m.AddAlternativeString(mail.TypeTextHTML, out.HTML)
	for i, a := range attach {
		name := a.Filename
		if name == "" {
			name = fmt.Sprintf("adjunto-%d", i+1)
		}
		var fopts []mail.FileOption
		if a.ContentType != "" {
			fopts = append(fopts, mail.WithFileContentType(mail.ContentType(a.ContentType)))
		}
		// Streamed from the blob store when the mail is written, not held
		// in memory (a file may be smtp.max_attach_total bytes).
		m.AttachReadSeeker(name, &blobReader{open: r.blobs, a: a}, fopts...)
	}
	return m, nil
}

// messageID is the Message-ID (without brackets) p is sent with: its own,
// or one made of the ticket, the notice's sequence and the hostname.
func (r *Renderer) messageID(p ticket.Pending) string {
	if id := bareID(p.MessageID); validID(id) {
		return id
	}
	return fmt.Sprintf("%s.n%d@%s", p.Notice.Ticket.ID, p.Seq, r.hostname)
}

// actions returns the one-tap actions of an assignment or new-ticket
// mail: the commands its recipient may answer with, each a mailto: link
// that answers this very mail, to the recipient's Reply-To address, with
// the command prefilled. Help is left out: the mail lists the commands.
func (r *Renderer) actions(p ticket.Pending) []actionView {
	n := p.Notice
	if (n.Kind != ticket.NoticeAssigned && n.Kind != ticket.NoticeNewTicket) || len(n.To) != 1 {
		return nil
	}
	m := action.Mail{To: r.replyAddress(p), InReplyTo: r.messageID(p), Lang: r.lang}
	all := action.Build(noticeVerbs(n), n.Ticket, r.groups, n.To[0].Addr, m)
	out := make([]actionView, 0, len(all))
	for _, a := range all {
		if a.Verb != ticket.VerbHelp {
			out = append(out, actionView{Label: a.Label, Command: strings.TrimSpace(a.Command), URL: a.URL})
		}
	}
	return out
}

// replyAddress is the Reply-To address of p: its recipient's reply address
// when there is one, else the support address.
func (r *Renderer) replyAddress(p ticket.Pending) string {
	n := p.Notice
	if r.replyTo == nil || !n.Kind.RevealsTicket() || len(n.To) != 1 {
		return r.support
	}
	if a := r.replyTo(n.Ticket.ID, n.To[0].Addr, p.CreatedAt); a != "" {
		return a
	}
	return r.support
}

// Bytes renders p as the bytes of a complete message, as [Renderer.Message]
// would send them.
func (r *Renderer) Bytes(p ticket.Pending) ([]byte, error) {
	m, err := r.Message(p)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("notify: write message: %w", err)
	}
	return b.Bytes(), nil
}

// The headers the renderer sets beyond those go-mail names.
const (
	// HeaderAutoSubmitted is RFC 3834's mark of automatic mail.
	HeaderAutoSubmitted mail.Header = "Auto-Submitted"
	// HeaderTicket carries the ticket ID, for filters and for tracing.
	HeaderTicket mail.Header = "X-Ticketd-Ticket"
)

// checkBlob reads a stored file through, refusing one that cannot be read
// or whose size is not the recorded one; nothing of it is kept.
func (r *Renderer) checkBlob(a ticket.Attachment) error {
	rc, err := r.blobs(a.SHA256)
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(rc, a.Size+1))
	if err != nil {
		return err
	}
	if n != a.Size {
		return fmt.Errorf("blob %s: %d bytes, %d recorded", a.SHA256, n, a.Size)
	}
	return nil
}

// blobReader streams a stored file into a mail as go-mail writes it: it
// opens the file at the first Read, closes it at its end (or on a read
// error), and starts over after a Seek to the start, which go-mail does
// after each write of the message. A file that no longer has its recorded
// size fails the write.
type blobReader struct {
	open func(string) (io.ReadCloser, error)
	a    ticket.Attachment
	rc   io.ReadCloser
	n    int64
}

// Read implements io.Reader.
func (b *blobReader) Read(p []byte) (int, error) {
	if b.rc == nil {
		rc, err := b.open(b.a.SHA256)
		if err != nil {
			return 0, err
		}
		b.rc, b.n = rc, 0
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err == io.EOF && b.n != b.a.Size {
		err = fmt.Errorf("blob %s: %d bytes, %d recorded: %w", b.a.SHA256, b.n, b.a.Size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		b.close()
	}
	return n, err
}

// Seek implements io.Seeker for the only seek go-mail makes: back to the
// start.
func (b *blobReader) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, fmt.Errorf("blob %s: seek %d from %d: only to the start", b.a.SHA256, offset, whence)
	}
	b.close()
	return 0, nil
}

func (b *blobReader) close() {
	if b.rc != nil {
		b.rc.Close()
		b.rc = nil
	}
}

// references returns the Message-IDs (without brackets) for the References
// header: the ticket's thread, plus the mail answered if the thread lacks
// it, without the message's own ID, trimmed to the first and the last ones.
func references(thread []string, inReplyTo, self string) []string {
	var out []string
	seen := map[string]bool{self: true}
	add := func(id string) {
		id = bareID(id)
		if validID(id) && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range thread {
		add(id)
	}
	add(inReplyTo)
	if len(out) > maxReferences {
		out = append(out[:1], out[len(out)-maxReferences+1:]...)
	}
	return out
}

func bareID(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}

// validID accepts a Message-ID (without brackets) that can go into a header
// as is: printable ASCII without spaces or brackets, with an "@".
func validID(id string) bool {
	if id == "" || !strings.Contains(id, "@") {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c > '~' || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// oneLine collapses white space, so that a subject never spans lines.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// tidyText trims trailing blanks on each line and collapses runs of blank
// lines left by template actions.
func tidyText(s []byte) string {
	var b strings.Builder
	b.Grow(len(s))
	blank := 0
	for len(s) > 0 {
		l, rest, _ := bytes.Cut(s, []byte("\n"))
		s = rest
		l = bytes.TrimRight(bytes.TrimSuffix(l, []byte("\r")), " \t")
		if len(l) == 0 {
			if blank++; blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		b.Write(l)
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String()) + "\n"
}

package parse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

const (
	defaultMaxSize = 25 << 20
	defaultMaxText = 1 << 20

	maxProblems = 50
)

// errNoSink is returned by [Read] without a [Sink].
var errNoSink = errors.New("parse: Options.Sink is nil")

// Read reads one raw mail from r until io.EOF, hands its first
// Options.MaxSize bytes and each attachment to Options.Sink, and parses it.
//
// Malformed mail never makes Read fail: it degrades to best effort and notes
// each problem in [Mail.Problems]. Read returns an error only when reading r,
// the Sink or the temporary copy fails. It is safe for concurrent use.
func Read(r io.Reader, opts Options) (*Mail, error) {
	if opts.Sink == nil {
		return nil, errNoSink
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = defaultMaxSize
	}
	if opts.MaxText <= 0 {
		opts.MaxText = defaultMaxText
	}
	m := new(Mail)

	// Keep the bytes first: the Sink gets the raw mail whatever the parser
	// makes of it, and the parser can start again from the top.
	raw, err := newSpool(r, opts.MaxSize, opts.TempDir)
	if err != nil {
		return nil, fmt.Errorf("read raw mail: %w", err)
	}
	defer raw.Close()
	extra, err := io.Copy(io.Discard, r)
	if err != nil {
		return nil, fmt.Errorf("read raw mail beyond %d bytes: %w", opts.MaxSize, err)
	}
	if m.RawSHA256, _, err = opts.Sink.Put(raw.reader()); err != nil {
		return nil, fmt.Errorf("store raw mail: %w", err)
	}
	// The one place that decides whether the mail was cut, wherever it was.
	m.RawSize = max(raw.size+extra, opts.Size)
	if m.Truncated = m.RawSize > raw.size; m.Truncated {
		m.problem("mail of %d bytes is larger than the limit of %d bytes: only its first %d bytes were kept", m.RawSize, opts.MaxSize, raw.size)
	}

	p := &parser{
		m:        m,
		raw:      raw,
		sink:     opts.Sink,
		tempDir:  opts.TempDir,
		maxSize:  opts.MaxSize,
		maxText:  opts.MaxText,
		lim:      opts.Limits.withDefaults(),
		textLeft: 4 * int64(opts.MaxText), // bytes: 4 per rune at most
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	m.identify()
	return m, nil
}

// identify gives a mail without a Message-ID or a sender the identity the
// rest of ticketd works with.
func (m *Mail) identify() {
	if m.MessageID == "" {
		// RFC 5322 §3.6.4 makes Message-ID optional: the content identifies
		// the mail, so the same mail delivered twice is still one.
		m.MessageID = "sha256:" + m.RawSHA256
	}
	if m.From.Addr == "" {
		m.From.Addr = m.ReturnPath
	}
	if m.From.Addr == "" {
		// Nobody to answer: recorded, never replied to.
		m.From.Addr = UnknownSender
		if m.AutoReason == "" {
			m.AutoReason = NoSenderReason
		}
	}
}

// problem adds a note to m.Problems, up to a limit.
func (m *Mail) problem(format string, args ...any) {
	switch {
	case len(m.Problems) < maxProblems:
		// Errors may quote raw input: keep the notes valid UTF-8.
		m.Problems = append(m.Problems, fixString(fmt.Sprintf(format, args...)))
	case len(m.Problems) == maxProblems:
		m.Problems = append(m.Problems, "more problems not listed")
	}
}

// parser holds the state of one [Read].
type parser struct {
	m        *Mail
	raw      *spool // the kept bytes of the raw mail
	rawRead  int64  // bytes of raw the walk has read
	rawDone  int64  // end in raw of the last part kept as a slice of it
	sink     Sink
	tempDir  string
	maxSize  int64
	maxText  int
	lim      Limits
	forwards int   // levels of forwarded messages around the entity walked
	textLeft int64 // bytes of body text still accepted
	parts    int   // entities walked
	broken   bool  // a multipart could not be read to its end
	orphans  string
	hdrs     headerDecoder  // raw 8-bit header fields
	rawNames map[int]string // attachment index: its raw 8-bit file name

	hdr         gomail.Header // top-level header; empty when unparseable
	bounce      *Bounce       // non-nil inside a multipart/report
	bounceMsgID string        // Message-ID of the returned message in a report
}

// run parses the raw mail.
func (p *parser) run() error {
	e, err := message.ReadWithOptions(p.limitHeader(p.rawReader(), "1"), p.readOptions())
	if e == nil {
		// The header block is malformed: try again without the lines that
		// are not header fields (an mbox "From " line, a line without a
		// colon), keeping them as text.
		p.m.problem("malformed header: %v", err)
		var rerr error
		if e, rerr = p.retryHeader(p.limitHeader(p.rawReader(), "1")); e == nil {
			if rerr != nil {
				p.m.problem("header unreadable even without malformed lines: %v", rerr)
			}
			return p.rawFallback()
		}
		err = rerr
	}
	if err != nil {
		p.m.problem("%s", describe(err))
	}
	h := gomail.Header{Header: e.Header}
	p.report(h)
	if _, params, _ := h.ContentType(); params != nil {
		p.hdrs.hint = lookupCharset(params["charset"])
	}

	text, err := p.walk(e, "1", 0, "")
	if err != nil {
		return err
	}
	// After the walk, which finds the charset of the text: the best hint
	// for raw 8-bit header fields.
	p.headers(h)
	p.fixNames()
	if p.orphans != "" {
		text = join(p.orphans, text)
	}
	if strings.TrimSpace(text) == "" && p.broken {
		body, err := p.rawBody()
		if err != nil {
			return err
		}
		if body != "" {
			p.m.problem("no readable text part: showing the raw body")
			text = body
		}
	}
	p.setText(text)
	p.finish()
	return nil
}

// describe words an entity error of go-message for the problem list.
func describe(err error) string {
	switch {
	case message.IsUnknownCharset(err):
		return fmt.Sprintf("%v (decoded as windows-1252 where not UTF-8)", err)
	case message.IsUnknownEncoding(err):
		return fmt.Sprintf("%v (content kept undecoded)", err)
	}
	return err.Error()
}

// setText stores the body text, cut to MaxText runes.
func (p *parser) setText(text string) {
	text = strings.Trim(normalizeNewlines(text), "\n")
	text, cut := truncateRunes(text, p.maxText)
	if cut {
		p.m.problem("text cut to %d characters", p.maxText)
	}
	p.m.Text = text
	p.m.NewText = ExtractReply(text)
}

// retryHeader parses the raw mail in f again after dropping header lines
// that are not fields.
func (p *parser) retryHeader(f io.Reader) (*message.Entity, error) {
	br := bufio.NewReader(io.LimitReader(f, int64(p.lim.HeaderBytes)+headerSlack))
	var hdr bytes.Buffer
	var orphans []string
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line over 4 KiB: keep reading it whole.
			rest, rerr := br.ReadBytes('\n')
			line, err = append(append([]byte(nil), line...), rest...), rerr
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			break
		}
		switch {
		case (trimmed[0] == ' ' || trimmed[0] == '\t') && !first:
			hdr.Write(line)
		case isFieldLine(trimmed):
			hdr.Write(line)
			first = false
		default:
			if !(first && bytes.HasPrefix(trimmed, []byte("From "))) {
				orphans = append(orphans, toUTF8(trimmed))
			}
		}
		if err != nil {
			break
		}
	}
	hdr.WriteString("\r\n")
	p.orphans = strings.Join(orphans, "\n")
	// What the limited reader still buffers, then the rest of the file.
	rest := io.MultiReader(br, f)
	return message.ReadWithOptions(io.MultiReader(&hdr, rest), p.readOptions())
}

// headerSlack is what a header block cut by [parser.limitHeader] may still
// carry beyond Limits.HeaderBytes: the blank line that ends it.
const headerSlack = 1 << 10

// readOptions are go-message's options for a header block already cut to
// the limits.
func (p *parser) readOptions() *message.ReadOptions {
	return &message.ReadOptions{MaxHeaderBytes: int64(p.lim.HeaderBytes) + headerSlack}
}

// isFieldLine reports whether line starts like a header field: a name of
// printable ASCII followed by a colon (RFC 5322 §2.2).
func isFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	for _, c := range bytes.TrimRight(line[:i], " \t") {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// rawFallback makes a mail whose header could not be parsed at all: the
// text is the raw bytes, decoded on a best-effort basis.
func (p *parser) rawFallback() error {
	b, err := io.ReadAll(io.LimitReader(p.raw.reader(), p.textLeft))
	if err != nil {
		return fmt.Errorf("read raw mail: %w", err)
	}
	p.m.problem("missing From header")
	p.setText(toUTF8(b))
	p.finish()
	return nil
}

// rawBody returns the raw body (after the first blank line), decoded on a
// best-effort basis, for a multipart whose parts could not be found.
func (p *parser) rawBody() (string, error) {
	br := bufio.NewReader(p.raw.reader())
	for partial := false; ; {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			partial = true
			continue
		}
		if (!partial && len(bytes.TrimRight(line, "\r\n")) == 0) || err != nil {
			break
		}
		partial = false
	}
	b, err := io.ReadAll(io.LimitReader(br, 4*int64(p.maxText)))
	if err != nil {
		return "", fmt.Errorf("read raw mail: %w", err)
	}
	return toUTF8(b), nil
}

// join appends text b to a, separated by a blank line.
func join(a, b string) string {
	a = strings.TrimRight(a, "\r\n")
	b = strings.Trim(b, "\r\n")
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n\n" + b
}

// walk extracts the text of entity e (at MIME path path, e.g. "1.2") and
// stores its attachments. parent is the media type of the enclosing
// multipart. Only store and input errors are returned.
func (p *parser) walk(e *message.Entity, path string, depth int, parent string) (string, error) {
	p.parts++
	if p.parts > p.lim.Parts {
		if p.parts == p.lim.Parts+1 {
			p.m.problem("more than %d MIME parts: the rest is ignored", p.lim.Parts)
		}
		return "", nil
	}
	h := e.Header
	mediaType, params, err := h.ContentType()
	if err != nil && h.Get("Content-Type") != "" {
		// mime.ParseMediaType may still have found the type itself.
		if mt, _, err2 := mime.ParseMediaType(h.Get("Content-Type")); mt != "" && (err2 == nil || err2 == mime.ErrInvalidMediaParameter) {
			mediaType = mt
		} else {
			mediaType = ""
		}
		p.m.problem("part %s: bad Content-Type %q: %v", path, cleanLine(fixString(h.Get("Content-Type"))), err)
	}
	if mediaType == "" {
		// RFC 2045 §5.2 default, RFC 2046 §5.1.5 for digests.
		mediaType = "text/plain"
		if parent == "multipart/digest" {
			mediaType = "message/rfc822"
		}
	}
	mediaType = strings.ToLower(mediaType)

	if mr := e.MultipartReader(); mr != nil {
		if depth >= p.lim.Depth {
			p.m.problem("part %s: nested more than %d levels deep, ignored", path, p.lim.Depth)
			return "", nil
		}
		return p.multipart(mr, mediaType, params, path, depth)
	}

	disp, dparams, derr := h.ContentDisposition()
	if derr != nil && h.Get("Content-Disposition") != "" {
		if d, _, err2 := mime.ParseMediaType(h.Get("Content-Disposition")); d != "" && (err2 == nil || err2 == mime.ErrInvalidMediaParameter) {
			disp = d
		} else {
			disp = ""
		}
		p.m.problem("part %s: bad Content-Disposition: %v", path, derr)
	}
	disp = strings.ToLower(disp)
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	inline := disp == "inline" || (disp == "" && h.Get("Content-Id") != "")
	isAttachment := disp == "attachment" || filename != ""

	switch {
	case (mediaType == "text/plain" || mediaType == "text/html") && !isAttachment:
		return p.text(e, mediaType, path)
	case mediaType == "message/rfc822" || mediaType == "message/global":
		return p.forwarded(e, filename, inline, path, depth)
	case mediaType == "message/delivery-status" || mediaType == "message/global-delivery-status":
		p.deliveryStatus(e.Body)
		return "", nil
	case mediaType == "text/rfc822-headers" || mediaType == "text/global-headers":
		p.returnedHeaders(e.Body)
		return "", nil
	case mediaType == "application/ms-tnef" || mediaType == "application/vnd.ms-tnef" ||
		strings.EqualFold(strings.TrimSpace(filename), "winmail.dat"):
		return "", p.tnef(e, mediaType, filename, inline, path)
	}
	_, err = p.attach(e.Body, mediaType, filename, inline, path)
	return "", err
}

// multipart walks the parts of a multipart entity.
func (p *parser) multipart(mr message.MultipartReader, mediaType string, params map[string]string, path string, depth int) (string, error) {
	defer mr.Close()
	var texts []partText
	for i := 1; ; i++ {
		child, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		cpath := fmt.Sprintf("%s.%d", path, i)
		if err != nil {
			if child == nil {
				p.broken = true
				if i == 1 {
					p.m.problem("part %s: no part found for boundary %q: %v", path, params["boundary"], err)
				} else {
					p.m.problem("part %s: %v", path, err)
				}
				break
			}
			p.m.problem("part %s: %s", cpath, describe(err))
		}
		ctype, _, _ := child.Header.ContentType()
		t, err := p.walk(child, cpath, depth+1, mediaType)
		if err != nil {
			return "", err
		}
		texts = append(texts, partText{text: t, plain: !strings.EqualFold(ctype, "text/html")})
	}
	if mediaType == "multipart/alternative" {
		return chooseAlternative(texts), nil
	}
	var out string
	for _, t := range texts {
		out = join(out, t.text)
	}
	return out, nil
}

type partText struct {
	text  string
	plain bool // not converted from a text/html part
}

// chooseAlternative picks the text of a multipart/alternative: the last
// non-empty plain text (RFC 2046 §5.1.4: parts come in increasing order of
// preference, but we prefer text/plain), else the last non-empty one.
func chooseAlternative(texts []partText) string {
	best, bestPlain := "", false
	for _, t := range texts {
		if strings.TrimSpace(t.text) == "" {
			continue
		}
		if t.plain || !bestPlain {
			best, bestPlain = t.text, t.plain
		}
	}
	return best
}

// text reads a text/plain or text/html body part.
func (p *parser) text(e *message.Entity, mediaType, path string) (string, error) {
	if p.textLeft <= 0 {
		return "", nil
	}
	limit := p.textLeft
	if mediaType == "text/html" {
		limit *= 4 // markup is discarded
	}
	b, err := io.ReadAll(io.LimitReader(e.Body, limit))
	if err != nil {
		p.m.problem("part %s: %v (kept what was decoded)", path, err)
	}
	if n, _ := io.Copy(io.Discard, e.Body); n > 0 {
		p.m.problem("part %s: text over %d bytes cut", path, limit)
	}
	_, params, _ := e.Header.ContentType()
	declared := lookupCharset(params["charset"])
	if p.hdrs.hint == nil {
		p.hdrs.hint = declared
	}
	var s string
	if declared == nil && params["charset"] == "" && !utf8.Valid(b) {
		// No charset declared: a long text tells the detector its own.
		s, _ = decodeStrict(detectCharset(b), b)
	}
	if s == "" {
		s = toUTF8(b)
	}
	if mediaType == "text/html" {
		s = htmlToText(s)
	} else {
		s = normalizeNewlines(s)
	}
	p.textLeft -= int64(len(s))
	return s, nil
}

// forwarded handles a message/rfc822 part: it returns the message's text
// under a short header (inside a report, it only takes the bounced
// message's Message-ID). The outermost forwarded message is kept whole as an
// attachment (a slice of the raw mail when its bytes are verbatim there);
// the ones inside it are unpacked up to Limits.Forwards levels but not
// stored again, as their bytes are in it already.
func (p *parser) forwarded(e *message.Entity, filename string, inline bool, path string, depth int) (string, error) {
	src := &readErrReader{r: e.Body}
	body := io.Reader(src)
	if p.forwards == 0 {
		sp, sum, err := p.spoolHashed(src)
		if err != nil {
			return "", storeError{err}
		}
		defer sp.Close()
		ref, err := p.keep(sp, sum, verbatim(e.Header.Get("Content-Transfer-Encoding")))
		if err != nil {
			return "", storeError{err}
		}
		body = sp.reader()
		defer func() { p.addAttachment(ref, "message/rfc822", filename, inline, false) }()
	}
	defer func() {
		if src.err != nil {
			p.m.problem("part %s: %v (kept what was decoded)", path, src.err)
		}
	}()
	if p.forwards >= p.lim.Forwards {
		p.m.problem("part %s: forwarded message nested more than %d levels deep: kept unopened inside the forwarded message", path, p.lim.Forwards)
		_, err := io.Copy(io.Discard, body)
		return "", err
	}

	var text string
	inner, err := message.ReadWithOptions(p.limitHeader(body, path), p.readOptions())
	switch {
	case inner == nil:
		p.m.problem("part %s: forwarded message unreadable: %v", path, err)
	case p.inReport():
		if id := msgID(inner.Header.Get("Message-Id")); id != "" && p.bounceMsgID == "" {
			p.bounceMsgID = id
		}
	default:
		if err != nil {
			p.m.problem("part %s: %s", path, describe(err))
		}
		var body string
		if depth+1 >= p.lim.Depth {
			p.m.problem("part %s: nested more than %d levels deep, ignored", path, p.lim.Depth)
		} else {
			p.forwards++
			body, err = p.walk(inner, path, depth+1, "")
			p.forwards--
			if err != nil {
				return "", err
			}
		}
		text = join(p.forwardHeader(inner.Header), body)
	}
	if filename == "" {
		if s := p.decodeText(inner, "Subject"); s != "" {
			filename = s + ".eml"
		}
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return "", fmt.Errorf("read forwarded message: %w", err)
	}
	return text, nil
}

// decodeText returns the decoded header field key of e, or "".
func (p *parser) decodeText(e *message.Entity, key string) string {
	if e == nil {
		return ""
	}
	s, _ := decodeWords(p.hdrs.decode(e.Header.Get(key)))
	return cleanLine(s)
}

// forwardHeader introduces the text of a forwarded message.
func (p *parser) forwardHeader(h message.Header) string {
	var b strings.Builder
	b.WriteString("---------- Mensaje reenviado ----------\n")
	for _, f := range []struct{ key, label string }{
		{"From", "De"}, {"Date", "Fecha"}, {"Subject", "Asunto"},
	} {
		v, _ := decodeWords(p.hdrs.decode(h.Get(f.key)))
		if v = cleanLine(v); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", f.label, v)
		}
	}
	return b.String()
}

// decodeWords decodes RFC 2047 encoded words in a header value after
// reading raw 8-bit bytes as UTF-8 or windows-1252 (a value decoded with
// [headerDecoder] first is valid UTF-8 already).
func decodeWords(v string) (string, error) {
	v = repairPadding(fixString(v))
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	s, err := dec.DecodeHeader(v)
	if err != nil {
		return v, err
	}
	return strings.ToValidUTF8(s, "\uFFFD"), nil
}

// readErrReader reads r up to its first error other than io.EOF, which it
// remembers and reports as io.EOF: what was decoded before a decoding error
// is kept, and the error is noted rather than failing the mail.
type readErrReader struct {
	r   io.Reader
	err error
}

func (r *readErrReader) Read(b []byte) (int, error) {
	if r.err != nil {
		return 0, io.EOF
	}
	n, err := r.r.Read(b)
	if err != nil && err != io.EOF {
		r.err = err
		err = io.EOF
	}
	return n, err
}

// stored is what the Sink returned for some content.
type stored struct {
	SHA256 string
	Size   int64
}

// put hands r to the Sink.
func (p *parser) put(r io.Reader) (stored, error) {
	sha, n, err := p.sink.Put(r)
	return stored{SHA256: sha, Size: n}, err
}

// attach hands body to the Sink as an attachment. A decoding error keeps
// what was decoded and notes a problem; an error of the Sink is returned.
func (p *parser) attach(body io.Reader, mediaType, filename string, inline bool, path string) (stored, error) {
	src := &readErrReader{r: body}
	ref, err := p.put(src)
	if err != nil {
		return stored{}, storeError{err}
	}
	if src.err != nil {
		p.m.problem("part %s: attachment %q: %v (kept the %d bytes decoded)", path, sanitizeFilename(filename), src.err, ref.Size)
	}
	p.addAttachment(ref, mediaType, filename, inline, false)
	return ref, nil
}

func (p *parser) addAttachment(ref stored, mediaType, filename string, inline, tnef bool) {
	if !utf8.ValidString(filename) {
		// Decoded with the header fields, once the mail's charset is known.
		if p.rawNames == nil {
			p.rawNames = make(map[int]string)
		}
		p.rawNames[len(p.m.Attachments)] = filename
		p.hdrs.add(filename)
	}
	p.m.Attachments = append(p.m.Attachments, Attachment{
		Filename:    sanitizeFilename(filename),
		ContentType: mediaType,
		Size:        ref.Size,
		SHA256:      ref.SHA256,
		Inline:      inline,
		FromTNEF:    tnef,
	})
}

// tnef keeps an Outlook winmail.dat as an attachment and adds the files it
// carries.
func (p *parser) tnef(e *message.Entity, mediaType, filename string, inline bool, path string) error {
	src := &readErrReader{r: e.Body}
	sp, err := newSpool(src, p.maxSize, p.tempDir)
	if err != nil {
		return storeError{err}
	}
	defer sp.Close()
	if _, err := p.attach(io.MultiReader(sp.reader(), errReader{src.err}), mediaType, filename, inline, path); err != nil {
		return err
	}
	files, err := decodeTNEF(bufio.NewReader(sp.reader()), p.put)
	for _, tf := range files {
		ctype := strings.ToLower(strings.TrimSpace(tf.MIMETag))
		if _, _, perr := mime.ParseMediaType(ctype); perr != nil || !strings.Contains(ctype, "/") {
			ctype = "application/octet-stream"
		}
		p.addAttachment(tf.Ref, ctype, tf.Name(), false, true)
	}
	var se storeError
	if errors.As(err, &se) {
		return se
	}
	if err != nil {
		p.m.problem("part %s: winmail.dat: %v (kept %d files)", path, err, len(files))
	}
	return nil
}

// errReader returns err, or io.EOF when err is nil: it replays, after
// spooled bytes, the decoding error that ended them.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

// inReport reports whether the mail is a multipart/report.
func (p *parser) inReport() bool { return p.bounce != nil }

// returnedHeaders takes the Message-ID of a bounced message from a
// text/rfc822-headers part (RFC 6522 §4).
func (p *parser) returnedHeaders(r io.Reader) {
	h, _ := textproto.ReadHeader(bufio.NewReader(io.LimitReader(r, int64(p.lim.HeaderBytes))))
	if id := msgID(h.Get("Message-Id")); id != "" && p.bounceMsgID == "" {
		p.bounceMsgID = id
	}
}

// msgID returns the first message id in v, without angle brackets.
func msgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// msgIDs parses a list of message ids (RFC 5322 §3.6.4) with go-message,
// falling back to whatever sits between angle brackets, or to
// space-separated words, for the ids real mailers get wrong.
func msgIDs(v string) []string {
	v = fixString(v)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	h := gomail.HeaderFromMap(map[string][]string{"References": {v}})
	if ids, err := h.MsgIDList("References"); err == nil && len(ids) > 0 {
		return ids
	}
	var ids []string
	if strings.Contains(v, "<") {
		for _, part := range strings.Split(v, "<")[1:] {
			id, _, ok := strings.Cut(part, ">")
			if id = strings.TrimSpace(id); ok && id != "" && !strings.ContainsAny(id, " \t") {
				ids = append(ids, id)
			}
		}
		return ids
	}
	return append(ids, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
}

// parseAddressList parses an address list header value, degrading to the
// addresses that can be salvaged.
func parseAddressList(v string) ([]Address, error) {
	v = fixString(v)
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	list, err := gomail.ParseAddressList(v)
	if err == nil {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, Address{Name: cleanLine(a.Name), Addr: addrSpec(a.Address)})
		}
		return out, nil
	}
	var out []Address
	for _, piece := range strings.Split(v, ",") {
		if a, ok := salvageAddress(piece); ok {
			out = append(out, a)
		}
	}
	return out, err
}

// salvageAddress finds an address in a malformed mailbox such as
// "Ana García ana@example.com" or "Ana <ana@example.com".
func salvageAddress(s string) (Address, bool) {
	if a, err := gomail.ParseAddress(s); err == nil {
		return Address{Name: cleanLine(a.Name), Addr: addrSpec(a.Address)}, true
	}
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		// What sits between the angle brackets is the address, as a mail
		// program shows it, even when it cannot be mailed ("c d@x").
		addr, _, _ := strings.Cut(s[i+1:], ">")
		addr = strings.TrimSpace(addr)
		if strings.Contains(addr, "@") && !strings.ContainsAny(addr, "<>") {
			name, _ := decodeWords(strings.Trim(strings.TrimSpace(s[:i]), `"`))
			return Address{Name: cleanLine(name), Addr: normalizeAddr(addr)}, true
		}
	}
	if sm := quotedLocal.FindStringSubmatch(s); sm != nil {
		// A quoted local part ("quoted part"@x) with stray characters.
		return Address{Addr: normalizeAddr(`"` + sm[1] + `"@` + sm[2])}, true
	}
	var name []string
	var addr string
	for _, w := range strings.Fields(s) {
		if addr == "" && strings.Contains(w, "@") {
			addr = strings.Trim(w, "<>()[]\"',;")
		} else {
			name = append(name, w)
		}
	}
	if addr == "" {
		return Address{}, false
	}
	n, _ := decodeWords(strings.Trim(strings.Join(name, " "), `"`))
	return Address{Name: cleanLine(n), Addr: normalizeAddr(addr)}, true
}

// quotedLocal matches an address with a quoted local part.
var quotedLocal = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"@([^\s<>()\[\],;:"]+)`)

// addrSpec writes an address as net/mail parsed it (local part unquoted)
// in the form it is mailed to: the local part quoted again when it is not
// a dot-atom (RFC 5322 §3.4.1), the domain lowercased.
func addrSpec(a string) string {
	a = strings.TrimSpace(a)
	i := strings.LastIndexByte(a, '@')
	if i < 0 || isDotAtom(a[:i]) {
		return normalizeAddr(a)
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return normalizeAddr(`"` + r.Replace(a[:i]) + `"` + a[i:])
}

// isDotAtom reports whether s is a dot-atom (RFC 5322 §3.2.3).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r >= 0x80 {
			continue // RFC 6532: UTF-8 is atext
		}
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)) {
			return false
		}
	}
	return true
}

// normalizeAddr lowercases the domain of an address (RFC 5321 §2.4: the
// local part may be case-sensitive).
func normalizeAddr(a string) string {
	a = strings.TrimSpace(a)
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i+1] + strings.ToLower(a[i+1:])
	}
	return a
}

// subjectTag matches a ticket tag as ticket reads it ("[OTI-2026-000123]").
var subjectTag = regexp.MustCompile(`\[\s*[A-Za-z][A-Za-z0-9]{0,15}-\d{4}-\d{6,20}\s*\]`)

// maxSubjectTags is how many ticket tags a cut subject keeps.
const maxSubjectTags = 3

// cutSubject cuts s to Limits.Subject runes, keeping its first ticket tags
// at the end when the cut would lose them, so that the mail still threads.
func (p *parser) cutSubject(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= p.lim.Subject {
		return s
	}
	p.m.problem("subject of %d characters cut to %d", n, p.lim.Subject)
	tags := subjectTag.FindAllString(s, maxSubjectTags)
	// Each round makes room for the tags the cut loses; a shorter cut may
	// lose one more, so there is at most one round per tag.
	for room := p.lim.Subject; room > 0; {
		kept, _ := truncateRunes(s, room)
		var lost []string
		for _, tag := range tags {
			if !strings.Contains(kept, tag) {
				lost = append(lost, tag)
			}
		}
		tail := ""
		if len(lost) > 0 {
			tail = " … " + strings.Join(lost, " ")
		}
		if room+utf8.RuneCountInString(tail) <= p.lim.Subject {
			return kept + tail
		}
		room = p.lim.Subject - utf8.RuneCountInString(tail)
	}
	kept, _ := truncateRunes(s, p.lim.Subject)
	return kept
}

// fixNames decodes the raw 8-bit file names of attachments.
func (p *parser) fixNames() {
	for i, name := range p.rawNames {
		p.m.Attachments[i].Filename = sanitizeFilename(p.hdrs.decode(name))
	}
}

// report notes a multipart/report of delivery status (RFC 3464), before
// its parts are walked.
func (p *parser) report(h gomail.Header) {
	if ct, params, _ := h.ContentType(); strings.EqualFold(ct, "multipart/report") &&
		(params["report-type"] == "" || strings.EqualFold(params["report-type"], "delivery-status")) {
		p.bounce = new(Bounce)
	}
}

// from sets the author: the first address of the first From field that
// has one (RFC 5322 §3.6 allows one field; a mailer that writes two, the
// first broken, still names its sender in the second).
func (p *parser) from(h gomail.Header) {
	m := p.m
	values := h.Values("From")
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" && len(values) == 1 {
		m.problem("missing From header")
		return
	}
	for i, raw := range values {
		v := p.hdrs.decode(raw)
		list, err := parseAddressList(v)
		switch {
		case len(list) == 0:
			m.problem("unparseable From header %q: %v", cleanLine(v), err)
			continue
		case err != nil:
			m.problem("malformed From header %q: %v", cleanLine(v), err)
		}
		if i > 0 {
			m.problem("sender taken from From header %d of %d", i+1, len(values))
		}
		m.From = list[0]
		return
	}
}

// headers fills the header fields of the mail.
func (p *parser) headers(h gomail.Header) {
	m := p.m
	for _, k := range []string{"Subject", "From", "Sender", "To", "Cc", "Reply-To"} {
		p.hdrs.add(h.Get(k))
	}
	get := func(k string) string { return p.hdrs.decode(h.Get(k)) }

	if v := get("Message-Id"); v != "" {
		m.MessageID = msgID(v)
	} else {
		m.problem("missing Message-ID header")
	}
	m.InReplyTo = msgIDs(get("In-Reply-To"))
	m.References = msgIDs(get("References"))

	p.from(h)
	for _, f := range []struct {
		key string
		dst *[]Address
	}{{"Reply-To", &m.ReplyTo}, {"To", &m.To}, {"Cc", &m.Cc}} {
		list, err := parseAddressList(get(f.key))
		*f.dst = list
		if err != nil {
			m.problem("malformed %s header %q: %v", f.key, cleanLine(get(f.key)), err)
		}
	}

	// Every Delivered-To and X-Original-To field: the receiving servers
	// add one per delivery, above the others (no RFC; Postfix and Dovecot).
	for _, k := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range h.Values(k) {
			list, _ := parseAddressList(v) // what parses; never evidence of anything alone
			m.DeliveredTo = append(m.DeliveredTo, list...)
		}
	}

	if h.Has("Return-Path") {
		rp := strings.TrimSpace(get("Return-Path"))
		rp = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(rp, "<"), ">"))
		m.ReturnPath = normalizeAddr(rp)
		m.ReturnPathEmpty = rp == ""
	}

	subject, err := decodeWords(get("Subject"))
	if err != nil {
		m.problem("subject: %v", err)
	}
	m.Subject = p.cutSubject(cleanLine(subject))

	if v := get("Date"); v == "" {
		m.problem("missing Date header")
	} else if t, err := mail.ParseDate(v); err != nil {
		m.problem("invalid Date header %q: %v", cleanLine(v), err)
	} else {
		m.Date = t
	}
	p.hdr = h
}

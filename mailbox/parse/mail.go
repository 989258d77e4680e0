// Package parse turns one raw Internet message (RFC 5322, MIME RFC 2045-2049)
// into a [Mail]: decoded headers, a plain-text body, the new part of a reply,
// attachments handed to a [Sink] that keeps them, auto-reply and bounce
// (RFC 3464 delivery status notification) detection.
//
// The flow is one way: bytes come in, the raw mail and each attachment go
// out to the Sink once, and a [Mail] comes back. Read never reads back what
// it gave the Sink; what it must read twice it keeps itself, in memory for
// small mails and in an unlinked temporary file for large ones.
//
// Parsing never fails on malformed input: broken boundaries, unknown
// charsets or transfer encodings, raw 8-bit headers, missing fields and
// garbage degrade to best-effort text, and each degradation is noted in
// [Mail.Problems]. Only an I/O failure of the input, of the Sink or of the
// temporary file is an error. Outlook's winmail.dat (MS-OXTNEF) is unpacked.
//
// The package does no network I/O and keeps no state between calls: [Read]
// is safe to call from several goroutines at once (if the Sink is).
package parse

import (
	"io"
	"time"
)

// Sink keeps the bytes of a mail: the raw mail and the decoded content of
// each attachment. [Read] hands each one over once and never reads it back.
type Sink interface {
	// Put stores everything read from r until io.EOF and returns the
	// SHA-256 of what it stored, as 64 lowercase hexadecimal digits, and
	// its size. An error means nothing usable was stored; Read then fails.
	Put(r io.Reader) (sha256 string, size int64, err error)
}

// SliceSink is a [Sink] that can also keep content lying verbatim inside a
// raw mail it was given as a reference to those bytes instead of a copy.
// [Read] uses it, when the Sink implements it, for a forwarded message
// (message/rfc822) sent without a transfer encoding, after checking that
// the bytes are there.
type SliceSink interface {
	Sink
	// PutSlice keeps, as the content whose SHA-256 is sha (64 lowercase
	// hexadecimal digits), the n bytes at offset off of the raw mail
	// rawSHA that Put stored. An error means nothing was kept; Read then
	// hands the content over with Put.
	PutSlice(rawSHA string, off, n int64, sha string) error
}

// Options configures [Read]. The zero value of each field but Sink means
// its default.
type Options struct {
	// MaxSize is the number of bytes of the raw mail kept, stored and
	// parsed; zero means 25 MiB. Input beyond it is read, counted in
	// [Mail.RawSize] and discarded, and [Mail.Truncated] is set.
	MaxSize int64
	// Size is the size of the whole mail as its source announced it (the
	// IMAP RFC822.SIZE), when the source may hand over only its start;
	// zero means unknown. A Size above what r gives marks the mail
	// [Mail.Truncated], as input beyond MaxSize does.
	Size int64
	// Sink keeps the raw mail and each attachment. Required.
	Sink Sink
	// MaxText is the number of runes of [Mail.Text] kept; zero means 1 Mi.
	MaxText int
	// Limits bound what is unpacked of a hostile mail.
	Limits Limits
	// TempDir holds the temporary copy of a raw mail too large to keep in
	// memory while it is parsed; "" means [os.TempDir]. The file is
	// unlinked as soon as it is created.
	TempDir string
}

// Limits bound what [Read] unpacks of a hostile mail. Past each one the
// mail is still read and its raw copy handed to the Sink whole (up to
// Options.MaxSize), and one of [Mail.Problems] says which limit was hit.
// The zero value of each field means its default.
type Limits struct {
	// Subject is the most runes of [Mail.Subject] kept; zero means 1,000.
	// A cut subject keeps its ticket tag ("[OTI-2026-000123]"), so that a
	// reply still threads.
	Subject int
	// HeaderBytes is the most bytes of one header block read, at the top
	// of the mail or of a forwarded message; zero means 256 KiB. One field
	// is cut to a quarter of it; fields beyond it are dropped.
	HeaderBytes int
	// HeaderFields is the most fields of one header block read; zero
	// means 1,000. Fields beyond it are dropped.
	HeaderFields int
	// Depth is the deepest nesting of MIME entities walked; zero means 20.
	Depth int
	// Parts is the most MIME entities walked in one mail; zero means 500.
	Parts int
	// Forwards is the most levels of forwarded messages (message/rfc822
	// inside message/rfc822) unpacked; zero means 5. A message nested
	// deeper stays unopened inside the outermost forwarded message, which
	// is kept as an attachment.
	Forwards int
}

// withDefaults fills the zero fields of l.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Subject, 1000)
	def(&l.HeaderBytes, 256<<10)
	def(&l.HeaderFields, 1000)
	def(&l.Depth, 20)
	def(&l.Parts, 500)
	def(&l.Forwards, 5)
	return l
}

// Address is a mailbox: a display name and an address whose domain is
// lowercased (the local part is kept as is, RFC 5321 §2.4).
type Address struct {
	Name string
	Addr string
}

// Attachment describes one attachment whose content was handed to the
// [Sink].
type Attachment struct {
	// Filename is a sanitized base name (no directories, no control
	// characters) meant for display and downloads; it may be empty.
	Filename    string
	ContentType string // lowercased media type, e.g. "image/png"
	Size        int64  // bytes of decoded content
	SHA256      string // of the decoded content, as the Sink returned it
	Inline      bool   // inline disposition, e.g. an image shown in the body
	FromTNEF    bool   // unpacked from an Outlook winmail.dat
}

// Bounce describes a delivery status notification (RFC 3464), or a
// non-standard bounce recognized on a best-effort basis.
type Bounce struct {
	OriginalMessageID string   // Message-ID of the mail that bounced, without angle brackets
	Recipients        []string // Final-Recipient (or Original-Recipient) addresses that failed or were delayed
	Status            string   // RFC 3463 status code, e.g. "5.1.1"
	Diagnostic        string   // Diagnostic-Code, e.g. "550 5.1.1 user unknown"
	Action            string   // "failed", "delayed", ...
}

// Mail is the result of [Read]. Fields that were missing or could not be
// parsed keep their zero value, and [Mail.Problems] says why.
type Mail struct {
	// MessageID is the Message-ID without angle brackets. A mail without
	// one (RFC 5322 §3.6.4 makes it optional) gets "sha256:" and the hash
	// of its raw bytes, so that the same mail delivered twice is still one.
	MessageID  string
	InReplyTo  []string // message ids without angle brackets
	References []string // message ids without angle brackets
	// From is the first author. When the From header is missing or
	// unparseable its address is the Return-Path, else
	// [UnknownSender] with AutoReason "no sender address": nobody to answer.
	From    Address
	ReplyTo []Address
	To, Cc  []Address
	// DeliveredTo are the addresses of the Delivered-To and X-Original-To
	// fields: where the receiving servers delivered the mail (the support
	// address, or one of its plus-addresses).
	DeliveredTo []Address `json:",omitempty"`
	// ReturnPath is the Return-Path address without angle brackets, empty
	// when the header is absent or is the null path "<>" (RFC 5321 §4.5.5),
	// which sets ReturnPathEmpty.
	ReturnPath      string
	ReturnPathEmpty bool
	Subject         string    // decoded (RFC 2047; raw 8-bit in the mail's declared or detected charset)
	Date            time.Time // zero when missing or invalid
	// Text is the body as plain text: text/plain preferred over HTML in
	// multipart/alternative, HTML converted otherwise, forwarded messages
	// appended under a short header. At most Options.MaxText runes.
	Text string
	// NewText is the new part of a reply: Text without quoted history,
	// quote headers, mobile footers and signature. See [ExtractReply].
	NewText     string
	Attachments []Attachment
	// AutoReason is non-empty when the mail was sent automatically and must
	// never get an automatic answer, e.g. "auto-submitted: auto-replied",
	// "precedence: bulk", "list-id", "empty return-path".
	AutoReason string
	Bounce     *Bounce // non-nil for delivery status notifications
	// Truncated is set when the raw mail exceeded Options.MaxSize or its
	// source handed over only its start (Options.Size): only the bytes kept
	// were stored and parsed, and one of the Problems says so.
	Truncated bool
	RawSHA256 string   // of the kept raw bytes, as the Sink returned it
	RawSize   int64    // bytes of the whole mail, including those not kept
	Problems  []string // English notes on how parsing degraded, each said once
}

// UnknownSender is the From address of a mail that names no sender at all.
const UnknownSender = "desconocido@invalid"

// NoSenderReason is the AutoReason of a mail that names no sender at all
// and no other sign of being automatic.
const NoSenderReason = "no sender address"

// Package parse turns one raw Internet message (RFC 5322, MIME RFC 2045-2049)
// into a [Mail]: decoded headers, a plain-text body, the new part of a reply,
// attachments stored in a content-addressed [blob.Store], auto-reply and
// bounce (RFC 3464 delivery status notification) detection.
//
// Parsing never fails on malformed input: broken boundaries, unknown
// charsets or transfer encodings, raw 8-bit headers, missing fields and
// garbage degrade to best-effort text, and each degradation is noted in
// [Mail.Problems]. Only an I/O failure of the input or of the blob store is
// an error. Outlook's winmail.dat (MS-OXTNEF) is unpacked.
//
// The package does no network I/O and keeps no state between calls: [Read]
// is safe to call from several goroutines at once.
package parse

import (
	"time"

	"github.com/ticketd/ticketd/internal/blob"
)

// Options configures [Read]. The zero value of each field but Blobs means
// its default.
type Options struct {
	// MaxSize is the number of bytes of the raw mail kept, stored and
	// parsed; zero means 25 MiB. Input beyond it is read, counted in
	// [Mail.RawSize] and discarded, and [Mail.Truncated] is set.
	MaxSize int64
	// Blobs stores the raw mail and each attachment. Required.
	Blobs *blob.Store
	// MaxText is the number of runes of [Mail.Text] kept; zero means 1 Mi.
	MaxText int
}

// Address is a mailbox: a display name and an address whose domain is
// lowercased (the local part is kept as is, RFC 5321 §2.4).
type Address struct {
	Name string
	Addr string
}

// Attachment describes one attachment whose content is in the blob store.
type Attachment struct {
	// Filename is a sanitized base name (no directories, no control
	// characters) meant for display and downloads; it may be empty.
	Filename    string
	ContentType string // lowercased media type, e.g. "image/png"
	Size        int64  // bytes of decoded content
	SHA256      string // blob of the decoded content
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
	MessageID  string   // without angle brackets; empty when missing
	InReplyTo  []string // message ids without angle brackets
	References []string // message ids without angle brackets
	From       Address  // zero when missing or unparseable
	ReplyTo    []Address
	To, Cc     []Address
	// ReturnPath is the Return-Path address without angle brackets, empty
	// when the header is absent or is the null path "<>" (RFC 5321 §4.5.5),
	// which sets ReturnPathEmpty.
	ReturnPath      string
	ReturnPathEmpty bool
	Subject         string    // decoded (RFC 2047, raw 8-bit as UTF-8 or windows-1252)
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
	// Truncated is set when the raw mail exceeded Options.MaxSize: only its
	// first MaxSize bytes were stored and parsed.
	Truncated bool
	RawSHA256 string   // blob of the kept raw bytes
	RawSize   int64    // bytes of raw mail read, including discarded ones
	Problems  []string // English notes on how parsing degraded
}

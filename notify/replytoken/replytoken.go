// Package replytoken makes and checks the per-person reply addresses of
// ticketd's notifications: "soporte.oti+<token>@example.gov.co", set as a
// notification's Reply-To, so that a reply to it proves that its author
// read that notification in the recipient's own mailbox (security
// command_auth "reply_token", as GitLab's reply-by-email does).
//
// # The token
//
// A token is 20 bytes in lowercase base32 without padding (RFC 4648 §6),
// 32 characters: the expiry (4 bytes, Unix seconds, big-endian) and the
// first 16 bytes (128 bits) of HMAC-SHA256 (RFC 2104) under a secret key
// over a version label, the ticket ID, the recipient's address (lower
// case) and the expiry. Lower case because servers may fold the case of a
// local part (RFC 5321 §2.4 allows them to); a token is read without
// regard to case. With the separator and a support local part of up to 31
// characters the local part stays within RFC 5321's 64.
//
// The token carries neither the ticket nor the recipient: a check
// recomputes the MAC for the ticket the mail routes to and for its From
// address, so a token is valid only for the person and the ticket it was
// made for, and only until its expiry. Nothing is stored: the key, kept in
// the data directory (security.reply_token_key_file, created with mode
// 0600 at first start by [LoadKey]), is the only state, so tokens need no
// bucket, survive store migrations and backups, and every token ever made
// is revoked at once by deleting the key. A token is deterministic in its
// inputs: the notification's commit time fixes the expiry, so a retried
// notification carries the very same Reply-To.
//
// What a token proves is that the mail's author could read mail sent to
// the address it was made for, on or before the expiry: whoever is given
// a forwarded notification can answer with its token, but only with the
// From address of the person it was made for, which that person's own
// server's authentication (or its absence) then speaks for. It says
// nothing about when a mail was written; replay of one mail is stopped by
// the intake's Message-ID deduplication.
//
// Everything here is pure computation except [LoadKey], which reads (and
// at first start writes) the key file.
package replytoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

// Len is the length of a token in characters.
const Len = 32

// macLen is the bytes of the HMAC a token keeps: 128 bits.
const macLen = 16

// KeySize is the size of the key [LoadKey] makes.
const KeySize = 32

// minKey is the shortest key [New] accepts.
const minKey = 16

// MaxLocalPart is the longest local part of an address (RFC 5321 §4.5.3.1.1).
const MaxLocalPart = 64

// label separates this MAC from any other use of the key, and versions it.
const label = "ticketd reply token v1"

// encoding is lowercase base32 without padding.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Errors of [Tokens.Check] and [Decode]; match them with errors.Is.
var (
	// ErrNone: no recipient address carries a token.
	ErrNone = errors.New("replytoken: no reply token")
	// ErrMalformed: the text is not a token.
	ErrMalformed = errors.New("replytoken: not a reply token")
	// ErrInvalid: the token was not made for this ticket and sender (or
	// was altered, or made under another key).
	ErrInvalid = errors.New("replytoken: reply token not valid for this ticket and sender")
	// ErrExpired: the token was valid, until its expiry.
	ErrExpired = errors.New("replytoken: reply token expired")
)

// Options configures [New].
type Options struct {
	// Key is the secret, at least 16 bytes ([LoadKey] makes 32). Required.
	Key []byte
	// TTL is how long a token is valid after its notification was
	// committed. Required, positive.
	TTL time.Duration
	// Separator joins the support local part and the token; "" means "+".
	Separator string
}

// Tokens makes and checks reply tokens under one key. It is immutable and
// safe for concurrent use.
type Tokens struct {
	key []byte
	ttl time.Duration
	sep string
}

// New checks opts and returns the Tokens. It does no I/O.
func New(opts Options) (*Tokens, error) {
	if len(opts.Key) < minKey {
		return nil, fmt.Errorf("replytoken: key of %d bytes: want at least %d", len(opts.Key), minKey)
	}
	if opts.TTL <= 0 {
		return nil, fmt.Errorf("replytoken: ttl %v: must be positive", opts.TTL)
	}
	if opts.Separator == "" {
		opts.Separator = "+"
	}
	return &Tokens{key: append([]byte(nil), opts.Key...), ttl: opts.TTL, sep: opts.Separator}, nil
}

// mac returns the token's MAC over ticket id, recipient rcpt and expiry.
func (t *Tokens) mac(id ticket.ID, rcpt string, expiry uint32) []byte {
	h := hmac.New(sha256.New, t.key)
	// Each field ends in a NUL, which none can contain, so that no two
	// bindings give the same input.
	for _, f := range []string{label, strings.ToUpper(string(id)), ticket.NormalizeAddr(rcpt)} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	var e [4]byte
	binary.BigEndian.PutUint32(e[:], expiry)
	h.Write(e[:])
	return h.Sum(nil)[:macLen]
}

// Make returns the token for recipient rcpt of a notification about
// ticket id committed at issued: valid until issued plus the TTL.
func (t *Tokens) Make(id ticket.ID, rcpt string, issued time.Time) string {
	exp := issued.Add(t.ttl).Unix()
	if exp > 1<<32-1 {
		exp = 1<<32 - 1
	}
	e := uint32(max(exp, 0))
	b := make([]byte, 4, 4+macLen)
	binary.BigEndian.PutUint32(b, e)
	return encoding.EncodeToString(append(b, t.mac(id, rcpt, e)...))
}

// Address returns support with the token of (id, rcpt, issued) after its
// local part: "soporte.oti+<token>@example.gov.co". A support address
// without "@" is returned as it is.
func (t *Tokens) Address(support string, id ticket.ID, rcpt string, issued time.Time) string {
	local, domain, ok := strings.Cut(support, "@")
	if !ok {
		return support
	}
	return local + t.sep + t.Make(id, rcpt, issued) + "@" + domain
}

// Decode reads a token, without regard to case, into its expiry and MAC.
// It fails with [ErrMalformed] on anything but a token's length and
// alphabet.
func Decode(s string) (expiry time.Time, mac []byte, err error) {
	if len(s) != Len {
		return time.Time{}, nil, fmt.Errorf("%w: %d characters, want %d", ErrMalformed, len(s), Len)
	}
	b, err := encoding.DecodeString(strings.ToLower(s))
	if err != nil || len(b) != 4+macLen {
		return time.Time{}, nil, fmt.Errorf("%w: not base32", ErrMalformed)
	}
	return time.Unix(int64(binary.BigEndian.Uint32(b)), 0).UTC(), b[4:], nil
}

// Verify checks token for a mail from address from about ticket id at
// now: nil when valid, else an error wrapping [ErrMalformed],
// [ErrInvalid] or [ErrExpired].
func (t *Tokens) Verify(token string, id ticket.ID, from string, now time.Time) error {
	expiry, mac, err := Decode(token)
	if err != nil {
		return err
	}
	if !hmac.Equal(mac, t.mac(id, from, uint32(expiry.Unix()))) {
		return ErrInvalid
	}
	if !now.Before(expiry) {
		return fmt.Errorf("%w on %s", ErrExpired, expiry.Format(time.DateOnly))
	}
	return nil
}

// maxCandidates bounds the addresses of one mail whose tokens are checked.
const maxCandidates = 16

// Find returns the tokens carried by addrs: the part of each local part
// after its last separator, when it is a token's length. The address
// itself does not matter (a server may rewrite the support address into
// Delivered-To): the token is the secret.
func (t *Tokens) Find(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		local, _, ok := strings.Cut(strings.TrimSpace(a), "@")
		i := strings.LastIndex(local, t.sep)
		if !ok || i < 0 {
			continue
		}
		if tok := strings.ToLower(local[i+len(t.sep):]); len(tok) == Len && !slices.Contains(out, tok) {
			out = append(out, tok)
			if len(out) == maxCandidates {
				break
			}
		}
	}
	return out
}

// Check reports whether one of addrs (the addresses a mail was delivered
// and addressed to) carries a token valid for the mail's sender from and
// ticket id at now: nil when one does; [ErrNone] when none carries a
// token; else the error of the last token tried.
func (t *Tokens) Check(addrs []string, id ticket.ID, from string, now time.Time) error {
	err := ErrNone
	for _, tok := range t.Find(addrs) {
		if err = t.Verify(tok, id, from, now); err == nil {
			return nil
		}
	}
	return err
}

// LoadKey reads the key file at path; when there is none, it makes a
// random key of [KeySize] bytes and writes it there with mode 0600
// (creating the directory), refusing to overwrite a file that appeared
// meanwhile. A key file shorter than 16 bytes is an error: the tokens made
// under it would be guessable.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) < minKey {
			return nil, fmt.Errorf("reply token key %s: %d bytes, want at least %d (delete it to make a new one; earlier reply addresses stop working)", path, len(b), minKey)
		}
		return b, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read reply token key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make reply token key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("make reply token key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("make reply token key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write reply token key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write reply token key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write reply token key %s: %w", path, err)
	}
	return key, nil
}

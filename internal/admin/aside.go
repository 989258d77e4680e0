package admin

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/ticketd/ticketd/internal/record"
)

// Kinds of [AsideJSON] besides the record.Aside* kinds of mails set aside
// by the service.
const (
	// AsideQuarantined is a mail whose processing failed; it can be re-run
	// (`ticketd quarantine retry ID`).
	AsideQuarantined = "quarantined"
)

// AsideJSON is one mail that did not become a ticket change: quarantined
// (ID set) or set aside by the service (an automatic mail or a bounce
// about no ticket, an unreadable mail, a duplicate). It is the contract of
// `ticketd quarantine list --all --json`; fields are only ever added.
type AsideJSON struct {
	// Kind is "quarantined", "automatic", "bounce", "unreadable" or
	// "duplicate".
	Kind string `json:"kind"`
	// ID is the quarantine record's number (quarantined mails only).
	ID        uint64    `json:"id,omitempty"`
	At        time.Time `json:"at"`
	From      string    `json:"from"`
	Subject   string    `json:"subject"`
	Reason    string    `json:"reason"`
	MessageID string    `json:"message_id"`
	// RawSHA256 names the raw mail in the blob store (`ticketd quarantine
	// raw SHA256`).
	RawSHA256 string `json:"raw_sha256"`
}

// Aside lists every mail that did not become a ticket change, oldest
// first: the quarantine and the mails the service set aside.
func (l *Local) Aside(ctx context.Context) ([]AsideJSON, error) {
	out := []AsideJSON{}
	err := l.Store.View(ctx, func(tx Tx) error {
		qs, err := tx.QuarantineList()
		if err != nil {
			return err
		}
		for _, q := range qs {
			out = append(out, AsideJSON{Kind: AsideQuarantined, ID: q.ID, At: q.ReceivedAt, From: q.From, Subject: q.Subject,
				Reason: q.Reason, MessageID: q.MessageID, RawSHA256: q.RawSHA256})
		}
		us, err := tx.UnthreadedList()
		for _, u := range us {
			// Records written before kinds existed were automatic mails or
			// bounces; the reason says which.
			kind := cmp.Or(u.Kind, record.AsideAutomatic)
			out = append(out, AsideJSON{Kind: kind, At: u.At, From: u.From, Subject: u.Subject,
				Reason: u.Reason, MessageID: u.MessageID, RawSHA256: u.RawSHA256})
		}
		return err
	})
	slices.SortStableFunc(out, func(a, b AsideJSON) int { return a.At.Compare(b.At) })
	return out, err
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// OpenRaw opens the raw mail sha256 of a mail that did not become a
// ticket change (one [Local.Aside] lists); the error wraps [ErrNotFound]
// when no such mail is listed.
func (l *Local) OpenRaw(ctx context.Context, sha256 string) (io.ReadCloser, error) {
	if !sha256Hex.MatchString(sha256) {
		return nil, fmt.Errorf("raw mail %q: not a SHA-256 in lowercase hex", sha256)
	}
	list, err := l.Aside(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(list, func(a AsideJSON) bool { return a.RawSHA256 == sha256 }) {
		return nil, fmt.Errorf("raw mail %s: no mail set aside or quarantined has it: %w", sha256, ErrNotFound)
	}
	if l.Blobs == nil {
		return nil, fmt.Errorf("raw mail %s: no blob store", sha256)
	}
	r, err := l.Blobs.Open(sha256)
	if err != nil {
		return nil, fmt.Errorf("open raw mail %s: %w", sha256, err)
	}
	return r, nil
}

// Aside lists every mail that did not become a ticket change.
func (c *Client) Aside(ctx context.Context) ([]AsideJSON, error) {
	var out []AsideJSON
	err := c.do(ctx, http.MethodGet, "/api/aside", nil, &out)
	return out, err
}

// OpenRaw streams the raw mail sha256 of a mail that did not become a
// ticket change.
func (c *Client) OpenRaw(ctx context.Context, sha256 string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/aside/"+sha256+"/raw", nil)
	if err != nil {
		return nil, fmt.Errorf("raw mail through the daemon: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, fmt.Errorf("raw mail %s through the daemon: %w", sha256, answerError(resp))
	}
	return resp.Body, nil
}

func (s *server) aside(w http.ResponseWriter, r *http.Request) {
	list, err := s.b.Aside(r.Context())
	s.reply(w, list, err)
}

func (s *server) raw(w http.ResponseWriter, r *http.Request) {
	rc, err := s.b.OpenRaw(r.Context(), r.PathValue("sha256"))
	if err != nil {
		s.reply(w, nil, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "message/rfc822")
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("raw mail not sent whole", "err", err)
	}
}

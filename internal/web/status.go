package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"net/http"
	"strings"

	"github.com/ticketd/ticketd/ticket"
)

// statusLabel separates the status links' MAC from any other use of the key.
const statusLabel = "ticketd status link v1\x00"

// statusMAC is 16 bytes (128 bits) of HMAC-SHA256.
const statusMAC = 16

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// StatusToken returns the capability of ticket id's status page under key:
// "<ID>.<26 base32 characters>", the ID and the first 128 bits of
// HMAC-SHA256(key, label, ID). Nothing is stored: the key (web.key in the
// data directory) is the only state, so the link of the acknowledgement
// needs no write when a ticket opens, a retried acknowledgement carries
// the same link, and deleting the key revokes every link at once; one
// ticket's link alone cannot be revoked.
func StatusToken(key []byte, id ticket.ID) string {
	return string(id) + "." + b32.EncodeToString(statusSum(key, id))
}

func statusSum(key []byte, id ticket.ID) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(statusLabel + string(id)))
	return m.Sum(nil)[:statusMAC]
}

// checkStatus returns the ticket token opens, or false.
func (s *Server) checkStatus(token string) (ticket.ID, bool) {
	raw, mac, ok := strings.Cut(token, ".")
	if !ok || s.o.StatusKey == nil {
		return "", false
	}
	id, err := ticket.ParseID(s.o.Prefix, raw)
	if err != nil || string(id) != raw {
		return "", false
	}
	got, err := b32.DecodeString(strings.ToLower(mac))
	if err != nil || subtle.ConstantTimeCompare(got, statusSum(s.o.StatusKey, id)) != 1 {
		return "", false
	}
	return id, true
}

// StatusURL returns the address of ticket id's status page, "" when the
// page is off.
func (s *Server) StatusURL(id ticket.ID) string {
	if s.o.StatusKey == nil {
		return ""
	}
	return StatusLink(s.base.String(), s.o.StatusKey, id)
}

// StatusLink returns the address of ticket id's status page on a console
// at baseURL (web.base_url) with the status key key: what the
// acknowledgement mail gives the requester, the same every time for the
// same ticket and key. It does no I/O.
func StatusLink(baseURL string, key []byte, id ticket.ID) string {
	return strings.TrimSuffix(baseURL, "/") + "/s/" + StatusToken(key, id)
}

// publicKinds are the entries a requester's status page shows: what she
// was told by mail. Everything else (notes, classification, assignment,
// refusals, service-level reminders, third parties) is the desk's.
var publicKinds = map[ticket.Kind]bool{ticket.KindOpened: true, ticket.KindReplied: true, ticket.KindEscalated: true,
	ticket.KindResolved: true, ticket.KindClosed: true, ticket.KindReopened: true}

type publicEntry struct {
	At, Who, What, Text string
}

// status is the requester's page: state and level in plain words, and
// the public part of the history. Any token that does not check is the
// same 404, whether the ticket exists or not.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	id, ok := s.checkStatus(r.PathValue("token"))
	var t *ticket.Ticket
	if ok {
		err := s.o.Store.View(r.Context(), func(tx Tx) error {
			var err error
			t, err = tx.Ticket(id)
			return err
		})
		ok = err == nil
	}
	if !ok {
		s.log.Warn("status link refused", "remote", r.RemoteAddr)
		s.render(w, r, http.StatusNotFound, "message", nil, map[string]any{"Title": s.w["status"], "Text": s.w["status_unknown"]})
		return
	}
	var hist []publicEntry
	for _, e := range t.History {
		if !publicKinds[e.Kind] {
			continue
		}
		who := s.w["who_support"]
		if ticket.SameAddr(e.Actor, t.Requester.Addr) {
			who = s.w["who_you"]
		}
		p := publicEntry{At: s.when(e.At), Who: who, What: s.w["pub_"+string(e.Kind)]}
		switch e.Kind {
		case ticket.KindReplied, ticket.KindResolved, ticket.KindClosed:
			p.Text = e.Text
		case ticket.KindEscalated:
			p.What = s.levelWords(e.Level)
		}
		hist = append(hist, p)
	}
	s.render(w, r, http.StatusOK, "status", nil, map[string]any{"T": t, "State": s.stateWords(t.State),
		"Level": s.levelWords(t.Level), "History": hist})
}

package notify

import (
	"bytes"
	"context"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/ticketd/ticketd/notify/replytoken"
	"github.com/ticketd/ticketd/ticket"
)

// recordingSender keeps the bytes of every message it is given before the
// real sender sends it.
type recordingSender struct {
	next MessageSender
	mu   sync.Mutex
	got  [][]byte
}

func (r *recordingSender) Send(ctx context.Context, m *mail.Msg) error {
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return err
	}
	r.mu.Lock()
	r.got = append(r.got, b.Bytes())
	r.mu.Unlock()
	return r.next.Send(ctx, m)
}

// TestReplyToPerRecipient: with reply tokens, each recipient's Reply-To is
// the support address with a token of that recipient's, valid for the
// ticket; a notice that reveals nothing of its ticket keeps the plain
// support address; and a retried notice carries the very same Reply-To.
func TestReplyToPerRecipient(t *testing.T) {
	tokens, err := replytoken.New(replytoken.Options{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(RendererOptions{From: support, Hostname: "ticketd.test",
		ReplyTo: func(id ticket.ID, rcpt string, at time.Time) string {
			return tokens.Address(support.Addr, id, rcpt, at)
		}})
	if err != nil {
		t.Fatal(err)
	}
	sk := newSink(t, "")
	fails := 1
	var mu sync.Mutex
	sk.setRcpt(func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if to == "ana@example.org" && fails > 0 {
			fails--
			return refuse(451, "try later")
		}
		return nil
	})
	ps := append(simple("OTI-2026-000010", 1, 1, "ana@example.org"), simple("OTI-2026-000010", 2, 1, "luis@example.org")...)
	generic := simple("OTI-2026-000010", 3, 1, "eve@example.org")[0]
	generic.Notice.Kind = ticket.NoticeHelpGeneric
	ps = append(ps, generic)
	rec := &recordingSender{next: newTestSender(t, sk.port(), nil)}
	clk := &clock{t: t0}
	w := newTestWorker(t, newOutbox(ps...), rec, clk, func(o *WorkerOptions) { o.Renderer = r })
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	replyTo := map[string][]string{} // by recipient, in order of attempts
	for _, b := range rec.got {
		h := parseMail(t, b).Header
		replyTo[h.Get("To")] = append(replyTo[h.Get("To")], h.Get("Reply-To"))
	}
	ana := replyTo["<ana@example.org>"]
	if len(ana) != 2 || ana[0] != ana[1] {
		t.Fatalf("Reply-To of the notice to ana, first attempt and retry: %q; want two, the same", ana)
	}
	for rcpt, want := range map[string]string{"ana@example.org": ana[0], "luis@example.org": replyTo["<luis@example.org>"][0]} {
		a, err := netmail.ParseAddress(want)
		if err != nil {
			t.Fatalf("Reply-To of %s = %q: %v", rcpt, want, err)
		}
		local, domain, _ := strings.Cut(a.Address, "@")
		base, tok, ok := strings.Cut(local, "+")
		if !ok || base+"@"+domain != support.Addr {
			t.Fatalf("Reply-To of %s = %q, want the support address with a token", rcpt, want)
		}
		if err := tokens.Verify(tok, "OTI-2026-000010", rcpt, t0); err != nil {
			t.Errorf("token of %s's Reply-To: %v", rcpt, err)
		}
	}
	if replyTo["<ana@example.org>"][0] == replyTo["<luis@example.org>"][0] {
		t.Error("two recipients got the same Reply-To")
	}
	if got := replyTo["<eve@example.org>"]; len(got) != 1 || !strings.Contains(got[0], "<"+support.Addr+">") {
		t.Errorf("Reply-To of help_generic = %q, want the plain support address", got)
	}
	if len(sk.messages()) != 3 {
		t.Errorf("the server took %d mails, want 3", len(sk.messages()))
	}
}

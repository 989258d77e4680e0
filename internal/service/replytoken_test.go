package service

import (
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/notify/replytoken"
	"github.com/ticketd/ticketd/ticket"
)

// tokenEnv is a service that checks reply tokens made by tokens.
func tokenEnv(t *testing.T) (*env, *replytoken.Tokens) {
	t.Helper()
	tokens, err := replytoken.New(replytoken.Options{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(o *Options) { o.ReplyTokens = tokens }), tokens
}

// TestReplyTokenVerifies: an agent whose mail carries no other evidence
// writes a command to the reply address of a notification made for her
// about this ticket: it applies. The same address does not help another
// sender, another ticket, an altered token, or after the expiry.
func TestReplyTokenVerifies(t *testing.T) {
	e, tokens := tokenEnv(t)
	a := e.open("<req-a@example.org>")
	b := e.open("<req-b@example.org>")
	issued := e.now
	toAgent := tokens.Address(support, a, agent1, issued)
	tampered := []rune(toAgent)
	tampered[len("soporte+")+3] = map[bool]rune{true: 'b', false: 'a'}[tampered[len("soporte+")+3] == 'a']

	cases := []struct {
		name, from, subject, to string
		later                   time.Duration
		applies                 bool
		reason                  string
	}{
		{"another sender", agent2, "Re: " + a.Tag(), toAgent, 0, false, "not that of a notification"},
		{"the token of ticket A on ticket B", agent1, "Re: " + b.Tag(), toAgent, 0, false, "not that of a notification"},
		{"tampered", agent1, "Re: " + a.Tag(), string(tampered), 0, false, "not that of a notification"},
		{"expired", agent1, "Re: " + a.Tag(), toAgent, 7*24*time.Hour + time.Minute, false, "expired"},
		{"no token", agent1, "Re: " + a.Tag(), support, 0, false, "no DKIM"},
		{"her token, her ticket", agent1, "Re: " + a.Tag(), toAgent, time.Hour, true, ""},
	}
	outer := e.t
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = outer }()
			e.now = issued.Add(c.later)
			m := forgedMail(strings.ReplaceAll("<r-"+c.name+"@oti.example>", " ", "-"), c.from, c.from, c.subject, "#prioridad alta")
			m.Recipients = []string{c.to}
			res := e.ingest(m)
			if c.applies {
				if res.Refused || e.ticket(a).Priority != ticket.PriorityHigh {
					t.Fatalf("case %d: %+v; want #prioridad applied", i, res)
				}
				return
			}
			if !res.Refused {
				t.Fatalf("case %d: the command applied: %+v", i, res)
			}
			if got := res.Results[0].ReasonEN; !strings.Contains(got, c.reason) {
				t.Errorf("refused with %q, want it to say %q", got, c.reason)
			}
		})
	}
	if p := e.ticket(b).Priority; p == ticket.PriorityHigh {
		t.Errorf("ticket B's priority changed with ticket A's token")
	}
}

// TestReplyTokenOfAnotherPerson: a mail routed by its subject, sent to the
// reply address made for someone else, proves nothing for its sender.
func TestReplyTokenOfAnotherPerson(t *testing.T) {
	e, tokens := tokenEnv(t)
	id := e.open("<req@example.org>")
	m := forgedMail("<steal@evil.example>", agent1, "bounce@evil.example", "Re: "+id.Tag(), "#escalar nivel2")
	m.Recipients = []string{tokens.Address(support, id, requester, e.now), support}
	if res := e.ingest(m); !res.Refused {
		t.Fatalf("a command to the requester's reply address, from an agent, applied: %+v", res)
	}
	if e.ticket(id).Level != ticket.Level1 {
		t.Errorf("the ticket moved to level %d", e.ticket(id).Level)
	}
}

// TestReplyTokenOff: without ReplyTokens a valid token counts for nothing.
func TestReplyTokenOff(t *testing.T) {
	e := newEnv(t)
	_, tokens := tokenEnv(t)
	id := e.open("<req@example.org>")
	m := forgedMail("<r@oti.example>", agent1, agent1, "Re: "+id.Tag(), "#prioridad alta")
	m.Recipients = []string{tokens.Address(support, id, agent1, e.now)}
	if res := e.ingest(m); !res.Refused {
		t.Fatalf("with reply tokens off, a token verified the sender: %+v", res)
	}
}

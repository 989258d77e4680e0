package alert

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/oauth"
	"github.com/ticketd/ticketd/mailbox"
)

func TestAlerterMailboxDown(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	a := &alerter{after: 15 * time.Minute, started: t0, mailbox: "INBOX de imap.x"}
	ctx := t.Context()
	steps := []struct {
		at   time.Duration
		st   mailbox.Status
		want string // subject fragment, "" for no alert
	}{
		{10 * time.Minute, mailbox.Status{}, ""},
		{16 * time.Minute, mailbox.Status{LastError: "dial: connection refused"}, "no se puede leer"},
		{30 * time.Minute, mailbox.Status{}, ""}, // once per outage, not per check
		{31 * time.Minute, mailbox.Status{LastPoll: t0.Add(31 * time.Minute)}, "se lee de nuevo"},
		{32 * time.Minute, mailbox.Status{LastPoll: t0.Add(31 * time.Minute)}, ""},
		{50 * time.Minute, mailbox.Status{LastPoll: t0.Add(31 * time.Minute)}, "no se puede leer"},
	}
	for _, s := range steps {
		got := a.check(ctx, t0.Add(s.at), s.st, nil)
		switch {
		case s.want == "" && len(got) != 0:
			t.Errorf("at +%v: alerts %+v, want none", s.at, got)
		case s.want != "" && (len(got) != 1 || !strings.Contains(got[0].subject, s.want)):
			t.Errorf("at +%v: alerts %+v, want one about %q", s.at, got, s.want)
		}
	}
	if got := a.check(ctx, t0.Add(50*time.Minute), mailbox.Status{}, nil); len(got) != 0 {
		t.Errorf("repeated: %+v", got)
	}
}

func jwt(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(fmt.Sprintf(`{"sub":"x","exp":%d}`, exp.Unix()))) + ".sig"
}

func TestAlerterTokenExpiry(t *testing.T) {
	now := time.Now()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(jwt(now.Add(20*time.Minute))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := oauth.New("imap", oauth.Config{TokenFile: file})
	if _, err := tok.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := tok.Expiry().Unix(); got != now.Add(20*time.Minute).Unix() {
		t.Fatalf("Expiry = %v", tok.Expiry())
	}
	a := &alerter{after: time.Hour, started: now}
	st := mailbox.Status{LastPoll: now}
	got := a.check(t.Context(), now, st, []*oauth.Token{tok, nil})
	if len(got) != 1 || !strings.Contains(got[0].subject, "token OAuth de imap") {
		t.Fatalf("alerts = %+v, want one about the imap token", got)
	}
	if got := a.check(t.Context(), now.Add(time.Minute), st, []*oauth.Token{tok}); len(got) != 0 {
		t.Errorf("warned twice about the same token: %+v", got)
	}
	// Another program renews the file: no warning. The token in hand is
	// old: it was read before the renewal.
	a2 := &alerter{after: time.Hour, started: now}
	tok2 := oauth.New("smtp", oauth.Config{TokenFile: file})
	if err := os.WriteFile(file, []byte(jwt(now.Add(10*time.Minute))), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tok2.Token(t.Context()); err != nil || tok2.Expiry().Unix() != now.Add(10*time.Minute).Unix() {
		t.Fatalf("Token = %v, expiry %v", err, tok2.Expiry())
	}
	if err := os.WriteFile(file, []byte(jwt(now.Add(2*time.Hour))), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := a2.check(t.Context(), now, st, []*oauth.Token{tok2}); len(got) != 0 {
		t.Errorf("warned although the file holds a fresh token: %+v", got)
	}
}

// TestAlerterSelfRenewingToken: a client-credentials token (Microsoft 365's
// app-only access) is renewed by ticketd itself before it expires, so its
// nearing expiry is no reason to alert, however often the lifetime ends.
func TestAlerterSelfRenewingToken(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok%d","token_type":"Bearer","expires_in":1200}`, calls) // 20 min, under the warning
	}))
	defer srv.Close()
	tok := oauth.New("imap", oauth.Config{ClientID: "app", ClientSecret: "s", TokenURL: srv.URL})
	if _, err := tok.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a := &alerter{after: time.Hour, started: now}
	st := mailbox.Status{LastPoll: now}
	if got := a.check(t.Context(), now, st, []*oauth.Token{tok}); len(got) != 0 {
		t.Errorf("alerts %+v about a token ticketd renews itself", got)
	}
}

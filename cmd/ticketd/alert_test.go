package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/config"
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
	tok := newOAuthToken("imap", config.OAuthConfig{TokenFile: file})
	if _, err := tok.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := tok.Expiry().Unix(); got != now.Add(20*time.Minute).Unix() {
		t.Fatalf("Expiry = %v", tok.Expiry())
	}
	a := &alerter{after: time.Hour, started: now}
	st := mailbox.Status{LastPoll: now}
	got := a.check(t.Context(), now, st, []*oauthToken{tok, nil})
	if len(got) != 1 || !strings.Contains(got[0].subject, "token OAuth de imap") {
		t.Fatalf("alerts = %+v, want one about the imap token", got)
	}
	if got := a.check(t.Context(), now.Add(time.Minute), st, []*oauthToken{tok}); len(got) != 0 {
		t.Errorf("warned twice about the same token: %+v", got)
	}
	// Another program renews the file: no warning.
	if err := os.WriteFile(file, []byte(jwt(now.Add(2*time.Hour))), 0o600); err != nil {
		t.Fatal(err)
	}
	a2 := &alerter{after: time.Hour, started: now}
	tok2 := newOAuthToken("smtp", config.OAuthConfig{TokenFile: file})
	tok2.expiry = now.Add(10 * time.Minute) // the token in hand is old
	if got := a2.check(t.Context(), now, st, []*oauthToken{tok2}); len(got) != 0 {
		t.Errorf("warned although the file holds a fresh token: %+v", got)
	}
}

func TestOAuthTokenSources(t *testing.T) {
	ctx := context.Background()
	if newOAuthToken("imap", config.OAuthConfig{}) != nil || (*oauthToken)(nil).tokenFunc() != nil {
		t.Error("a token source without configuration")
	}
	cmdTok := newOAuthToken("imap", config.OAuthConfig{TokenCommand: "echo abc"})
	if tok, err := cmdTok.Token(ctx); err != nil || tok != "abc" || !cmdTok.Expiry().IsZero() {
		t.Errorf("token command = %q, %v, expiry %v", tok, err, cmdTok.Expiry())
	}
	for _, bad := range []config.OAuthConfig{{TokenCommand: "echo oops >&2; exit 3"}, {TokenCommand: "true"}, {TokenFile: "/nonexistent/token"}} {
		if _, err := newOAuthToken("imap", bad).Token(ctx); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	for _, s := range []string{"opaque-token", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":"soon"}`)) + ".c"} {
		if !jwtExpiry(s).IsZero() {
			t.Errorf("jwtExpiry(%q) is not zero", s)
		}
	}
}

// TestClientCredentials fetches a token from a token endpoint on loopback,
// caches it while valid, and fetches a new one once it expired.
func TestClientCredentials(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok%d","token_type":"Bearer","expires_in":%d}`, calls, map[bool]int{true: 1, false: 3600}[calls == 1])
	}))
	defer srv.Close()
	tok := newOAuthToken("imap", config.OAuthConfig{ClientID: "app", ClientSecret: "s3cret", TokenURL: srv.URL, Scopes: []string{"https://outlook.office365.com/.default"}})
	first, err := tok.Token(t.Context())
	if err != nil || first != "tok1" {
		t.Fatalf("first token = %q, %v", first, err)
	}
	// tok1 expires within oauth2's 10 s margin: a new one is fetched.
	second, err := tok.Token(t.Context())
	if err != nil || second != "tok2" || time.Until(tok.Expiry()) < 30*time.Minute {
		t.Fatalf("second token = %q, %v (expiry %v)", second, err, tok.Expiry())
	}
	if third, _ := tok.Token(t.Context()); third != "tok2" || calls != 2 {
		t.Errorf("third token = %q after %d calls, want the cached tok2", third, calls)
	}
}

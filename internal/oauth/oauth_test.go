package oauth

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestOAuthTokenSources(t *testing.T) {
	ctx := context.Background()
	if New("imap", Config{}) != nil || (*Token)(nil).Func() != nil {
		t.Error("a token source without configuration")
	}
	cmdTok := New("imap", Config{TokenCommand: "echo abc"})
	if tok, err := cmdTok.Token(ctx); err != nil || tok != "abc" || !cmdTok.Expiry().IsZero() {
		t.Errorf("token command = %q, %v, expiry %v", tok, err, cmdTok.Expiry())
	}
	for _, bad := range []Config{{TokenCommand: "echo oops >&2; exit 3"}, {TokenCommand: "true"}, {TokenFile: "/nonexistent/token"}} {
		if _, err := New("imap", bad).Token(ctx); err == nil {
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
	tok := New("imap", Config{ClientID: "app", ClientSecret: "s3cret", TokenURL: srv.URL, Scopes: []string{"https://outlook.office365.com/.default"}})
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

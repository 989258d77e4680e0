// Package oauth provides the OAuth 2.0 access tokens (RFC 6749) with which
// ticketd logs in to IMAP and SMTP servers that want XOAUTH2 or OAUTHBEARER
// (Microsoft 365, Google): read from a file another program renews, printed
// by a command, or obtained with the client-credentials grant (RFC 6749
// §4.4). It remembers when the last token handed out expires, so that
// operators can be warned before it runs out; it does not speak any mail
// protocol itself.
package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Config says where a token comes from: TokenFile, else TokenCommand, else
// the client-credentials grant (ClientID, ClientSecret, TokenURL, Scopes).
// The zero Config means no OAuth.
type Config struct {
	// TokenFile is re-read on every connection.
	TokenFile string
	// TokenCommand is run with /bin/sh -c on every connection; it prints
	// the token.
	TokenCommand string
	ClientID     string
	ClientSecret string
	TokenURL     string
	Scopes       []string
}

// Token is an OAuth 2.0 access-token source from the configuration. It
// remembers the expiry of the last token it handed out, so that operators
// can be warned before a token kept by another program runs out. Safe for
// concurrent use.
type Token struct {
	name  string // "imap" or "smtp", for messages
	fetch func(ctx context.Context) (token string, expiry time.Time, err error)
	// renews is true for the client-credentials grant: ticketd asks the
	// token endpoint for a new token itself when the one in hand expires.
	renews bool

	mu     sync.Mutex
	expiry time.Time // zero when unknown
}

// New returns the token source configured in o, or nil when none
// is. A token file is re-read and a token command re-run on every
// connection (their expiry is read from the token when it is a JWT); the
// client-credentials flow caches the token and renews it before it expires.
func New(name string, o Config) *Token {
	t := &Token{name: name}
	switch {
	case o.TokenFile != "":
		t.fetch = func(context.Context) (string, time.Time, error) {
			b, err := os.ReadFile(o.TokenFile)
			if err != nil {
				return "", time.Time{}, fmt.Errorf("read oauth token file: %w", err)
			}
			tok := strings.TrimSpace(string(b))
			if tok == "" {
				return "", time.Time{}, fmt.Errorf("oauth token file %s is empty", o.TokenFile)
			}
			return tok, jwtExpiry(tok), nil
		}
	case o.TokenCommand != "":
		t.fetch = func(ctx context.Context) (string, time.Time, error) {
			out, err := exec.CommandContext(ctx, "/bin/sh", "-c", o.TokenCommand).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return "", time.Time{}, fmt.Errorf("oauth token command failed (%v): %s", err, strings.TrimSpace(string(ee.Stderr)))
				}
				return "", time.Time{}, fmt.Errorf("run oauth token command: %w", err)
			}
			tok := strings.TrimSpace(string(out))
			if tok == "" {
				return "", time.Time{}, errors.New("oauth token command printed nothing")
			}
			return tok, jwtExpiry(tok), nil
		}
	case o.ClientID != "":
		t.renews = true
		cc := &clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL, Scopes: o.Scopes}
		var mu sync.Mutex
		var cached *oauth2.Token
		t.fetch = func(ctx context.Context) (string, time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			if cached.Valid() { // renewed 10 s before it expires (oauth2's expiryDelta)
				return cached.AccessToken, cached.Expiry, nil
			}
			tok, err := cc.Token(ctx)
			if err != nil {
				return "", time.Time{}, fmt.Errorf("get oauth token from %s: %w", o.TokenURL, err)
			}
			cached = tok
			return tok.AccessToken, tok.Expiry, nil
		}
	default:
		return nil
	}
	return t
}

// Token returns a current access token; it is what mailbox and notify call
// on every connection.
func (t *Token) Token(ctx context.Context) (string, error) {
	tok, exp, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	t.expiry = exp
	t.mu.Unlock()
	return tok, nil
}

// Expiry returns when the last token handed out expires (zero if unknown).
func (t *Token) Expiry() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expiry
}

// RenewsItself reports whether ticketd obtains a new token by itself when
// the one in hand expires (the client-credentials grant), so that an
// expiry near is no reason to warn anyone: a failed renewal shows as a
// failed connection. A token file or command is renewed by another
// program, which may stop doing so.
func (t *Token) RenewsItself() bool { return t.renews }

// Name returns what the token is for ("imap", "smtp"), as given to [New].
func (t *Token) Name() string { return t.name }

// Func adapts t to the Token option of mailbox and notify: nil when t is
// nil (no OAuth configured).
func (t *Token) Func() func(ctx context.Context) (string, error) {
	if t == nil {
		return nil
	}
	return t.Token
}

// jwtExpiry reads the "exp" claim of a token that is a JWT (Microsoft's
// access tokens are), without verifying it: it only serves to warn before
// the token expires. Zero when the token is not a JWT or has no exp.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	sec, err := claims.Exp.Int64()
	if err != nil || sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

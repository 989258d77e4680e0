package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/ticketd/ticketd/internal/config"
)

// tokenSource returns the OAuth 2.0 access-token source configured in o, or
// nil when none is configured. A token file is re-read and a token command
// re-run on every connection; the client-credentials flow caches the token
// until it expires.
func tokenSource(o config.OAuthConfig) func(ctx context.Context) (string, error) {
	switch {
	case o.TokenFile != "":
		return func(context.Context) (string, error) {
			b, err := os.ReadFile(o.TokenFile)
			if err != nil {
				return "", fmt.Errorf("read oauth token file: %w", err)
			}
			tok := strings.TrimSpace(string(b))
			if tok == "" {
				return "", fmt.Errorf("oauth token file %s is empty", o.TokenFile)
			}
			return tok, nil
		}
	case o.TokenCommand != "":
		return func(ctx context.Context) (string, error) {
			out, err := exec.CommandContext(ctx, "/bin/sh", "-c", o.TokenCommand).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return "", fmt.Errorf("oauth token command failed (%v): %s", err, strings.TrimSpace(string(ee.Stderr)))
				}
				return "", fmt.Errorf("run oauth token command: %w", err)
			}
			tok := strings.TrimSpace(string(out))
			if tok == "" {
				return "", errors.New("oauth token command printed nothing")
			}
			return tok, nil
		}
	case o.ClientID != "":
		cc := &clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret.Reveal(), TokenURL: o.TokenURL, Scopes: o.Scopes}
		// One source for the process, so the token is cached across connections.
		ts := cc.TokenSource(context.Background())
		return func(context.Context) (string, error) {
			tok, err := ts.Token()
			if err != nil {
				return "", fmt.Errorf("get oauth token from %s: %w", o.TokenURL, err)
			}
			return tok.AccessToken, nil
		}
	}
	return nil
}

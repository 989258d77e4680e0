package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/config"
	"github.com/ticketd/ticketd/internal/web"
	"github.com/ticketd/ticketd/ticket"
)

// withConsole turns the daemon's web console on at webAddr (host:port),
// reached at http://webAddr: the demo is on loopback.
func withConsole(cfg config.Config, webAddr string) (config.Config, error) {
	cfg.Web.Listen, cfg.Web.BaseURL = webAddr, "http://"+webAddr
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("the demo's configuration:\n%w", err)
	}
	return cfg, nil
}

// Staff are the people of the demo who may sign in to the console: the
// members of a group.
func Staff() []Person {
	var out []Person
	for _, p := range People {
		if p.Group != "" {
			out = append(out, p)
		}
	}
	return out
}

// WaitConsole waits until the console at baseURL answers its sign-in page.
func WaitConsole(ctx context.Context, baseURL string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/login", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /login: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("the web console at %s did not answer within %s: %v", baseURL, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SignInLink asks the console at baseURL for a login link for p, as its
// sign-in form does, and returns the link from the mail that brings it to
// p's INBOX (read over IMAP at imapAddr). The link works once, within 15
// minutes.
func SignInLink(ctx context.Context, baseURL, imapAddr string, p Person, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	before, err := ReadInbox(ctx, imapAddr, p.Addr, Password)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/login", strings.NewReader(url.Values{"email": {p.Addr}}.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ask a login link for %s: %w", p.Addr, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ask a login link for %s: %s", p.Addr, resp.Status)
	}
	linkRe := regexp.MustCompile(regexp.QuoteMeta(baseURL) + `/login/[A-Za-z0-9_-]+`)
	for {
		ms, err := ReadInbox(ctx, imapAddr, p.Addr, Password)
		if err != nil {
			return "", err
		}
		for _, m := range ms[min(len(before), len(ms)):] {
			if l := linkRe.FindString(m.Text); l != "" {
				return l, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no login link for %s in its INBOX within %s", p.Addr, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// printConsole tells how to sign in to the console as each staff member,
// with a ready link for each (asked for and read by IMAP like anyone's),
// and the requester's status page of the scripted case id.
func printConsole(ctx context.Context, w io.Writer, cfg config.Config, imapAddr string, id ticket.ID, timeout time.Duration) error {
	base := cfg.Web.BaseURL
	fmt.Fprintf(w, `
  The web console (read-only: every change is still made by mail) is at %s/
  Sign in as a staff member: open %s/login and give that person's address; the
  link arrives in that person's INBOX (IMAP at %s, login = the address, password %q),
  valid for 15 minutes, once. Ready links, one per person (this is a demo on loopback):
`, base, base, imapAddr, Password)
	for _, p := range Staff() {
		link, err := SignInLink(ctx, base, imapAddr, p, timeout)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "    %-38s %s\n", p.Name+" ("+p.Group+")", link)
	}
	key, err := os.ReadFile(filepath.Join(cfg.DataDir, "web.key"))
	if err != nil {
		return fmt.Errorf("the status links' key: %w", err)
	}
	fmt.Fprintf(w, "  %s's status page of %s (what a requester sees, no internal notes):\n    %s/s/%s\n",
		Requester.Name, id, base, web.StatusToken(key, id))
	return nil
}

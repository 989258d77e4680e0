package mailbox

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	base := Options{Host: "imap.example.org", Username: "u", Password: "p"}
	token := func(context.Context) (string, error) { return "t", nil }
	for _, tc := range []struct {
		name    string
		edit    func(o *Options)
		wantErr string // "" means valid
	}{
		{"defaults", func(o *Options) {}, ""},
		{"missing host", func(o *Options) { o.Host = "" }, "host is required"},
		{"insecure to remote host", func(o *Options) { o.TLS = TLSNone }, "only to loopback"},
		{"insecure to remote IP", func(o *Options) { o.TLS, o.Host = TLSNone, "192.0.2.1" }, "only to loopback"},
		{"insecure to remote allowed", func(o *Options) { o.TLS, o.AllowInsecure = TLSNone, true }, ""},
		{"insecure to 127.0.0.1", func(o *Options) { o.TLS, o.Host = TLSNone, "127.0.0.1" }, ""},
		{"insecure to 127.1.2.3", func(o *Options) { o.TLS, o.Host = TLSNone, "127.1.2.3" }, ""},
		{"insecure to ::1", func(o *Options) { o.TLS, o.Host = TLSNone, "::1" }, ""},
		{"insecure to localhost", func(o *Options) { o.TLS, o.Host = TLSNone, "localhost" }, ""},
		{"insecure to localhost.evil.com", func(o *Options) { o.TLS, o.Host = TLSNone, "localhost.evil.com" }, "only to loopback"},
		{"unknown tls mode", func(o *Options) { o.TLS = "ssl" }, `tls mode "ssl"`},
		{"unknown auth", func(o *Options) { o.Auth = "cram-md5" }, `auth "cram-md5"`},
		{"xoauth2 without token", func(o *Options) { o.Auth = AuthXOAUTH2 }, "needs a token source"},
		{"xoauth2 with token", func(o *Options) { o.Auth, o.Password, o.Token = AuthXOAUTH2, "", token }, ""},
		{"missing password", func(o *Options) { o.Password = "" }, "password is required"},
		{"processed is the inbox", func(o *Options) { o.ProcessedMailbox = "inbox" }, "must differ"},
		{"negative poll", func(o *Options) { o.PollInterval = -time.Second }, "must not be negative"},
		{"backoff inverted", func(o *Options) { o.BackoffMin, o.BackoffMax = time.Minute, time.Second }, "below backoff min"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			_, err := New(o)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("New = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("New = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	p, err := New(Options{Host: "imap.example.org", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	o := p.opts
	if o.TLS != TLSImplicit || o.Port != 993 || o.Auth != AuthPlain || o.Mailbox != "INBOX" ||
		o.PollInterval != time.Minute || o.IdleRestart != 25*time.Minute || o.MaxSize != 36<<20 ||
		o.BackoffMin != time.Second || o.BackoffMax != 5*time.Minute {
		t.Errorf("defaults = %+v", o)
	}
	if cfg := o.tlsConfig(); cfg.ServerName != "imap.example.org" || cfg.InsecureSkipVerify {
		t.Errorf("tls config ServerName %q InsecureSkipVerify %v, want host and verification", cfg.ServerName, cfg.InsecureSkipVerify)
	}
	if p, _ := New(Options{Host: "h", TLS: TLSStartTLS, Username: "u", Password: "p"}); p.opts.Port != 143 {
		t.Errorf("starttls port %d, want 143", p.opts.Port)
	}
}

func TestXOAuth2InitialResponse(t *testing.T) {
	t.Parallel()
	c := newXOAuth2Client("desk@example.org", "ya29.token")
	mech, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if want := "user=desk@example.org\x01auth=Bearer ya29.token\x01\x01"; mech != "XOAUTH2" || string(ir) != want {
		t.Errorf("Start() = %q, %q, want XOAUTH2, %q", mech, ir, want)
	}
	// A rejected token: the server sends a JSON error, the client answers
	// with an empty response and keeps the reason for the error message.
	resp, err := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`))
	if err != nil || resp == nil || len(resp) != 0 {
		t.Errorf("Next(error) = %q, %v, want empty response, nil", resp, err)
	}
	if !strings.Contains(c.failure, "401") {
		t.Errorf("failure %q, want the status", c.failure)
	}
}

func TestCheckReportsClearErrors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	for _, tc := range []struct {
		name    string
		edit    func(o *Options)
		wantIs  error
		wantMsg string
	}{
		{"ok", func(o *Options) {}, nil, ""},
		{"processed mailbox created", func(o *Options) { o.ProcessedMailbox = "Done" }, nil, ""},
		{"wrong password", func(o *Options) { o.Password = "wrong" }, ErrAuth, "authentication failed"},
		{"unknown mailbox", func(o *Options) { o.Mailbox = "Helpdesk" }, ErrNoMailbox, `"Helpdesk"`},
		{"connection refused", func(o *Options) { o.Port = closedPort }, ErrConnect, "refused"},
		{"tls to a clear-text server", func(o *Options) { o.TLS = TLSImplicit }, ErrTLS, "TLS"},
		{"starttls not offered", func(o *Options) { o.TLS = TLSStartTLS }, ErrTLS, "TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts, _ := testOptions(t, s)
			opts.CommandTimeout = 5 * time.Second
			tc.edit(&opts)
			p := newPoller(t, opts)
			err := p.Check(t.Context())
			t.Logf("Check() = %v", err)
			switch {
			case tc.wantIs == nil && err != nil:
				t.Errorf("Check() = %v, want nil", err)
			case tc.wantIs != nil && !errors.Is(err, tc.wantIs):
				t.Errorf("Check() = %v, want errors.Is %v", err, tc.wantIs)
			case tc.wantIs != nil && !strings.Contains(err.Error(), tc.wantMsg):
				t.Errorf("Check() = %v, want it to mention %q", err, tc.wantMsg)
			}
			if opts.ProcessedMailbox != "" {
				s.flags(t, opts.ProcessedMailbox) // fails the test if missing
			}
		})
	}
}

func TestOptionsLogValueHidesSecrets(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	logger := slog.New(slog.NewTextHandler(&b, nil))
	logger.Info("config", "imap", Options{Host: "imap.example.org", Username: "u", Password: "hunter2"})
	if strings.Contains(b.String(), "hunter2") || !strings.Contains(b.String(), "imap.example.org") {
		t.Errorf("logged %q: want the host and no password", b.String())
	}
}

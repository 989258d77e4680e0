package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSecurityDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, _, err := loadMap(t, dir, base(dir))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s := cfg.Security
	if !slices.Equal(s.CommandAuth, []string{"dmarc", "dkim", "internal"}) || len(s.AuthservID) != 0 ||
		s.DNSResolver != "" || s.DNSTimeout != 5*time.Second {
		t.Errorf("Security = %+v, want the defaults", s)
	}
}

func TestSecurityValid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := base(dir)
	set(m, "security.command_auth", []any{" DKIM", "Auth", "reply_token"})
	set(m, "security.authserv_id", []any{"mx.google.com", "microsoft365"})
	set(m, "security.dns_resolver", "127.0.0.1:5353")
	set(m, "security.dns_timeout", "2s")
	cfg, _, err := loadMap(t, dir, m)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !slices.Equal(cfg.Security.CommandAuth, []string{"dkim", "auth", "reply_token"}) {
		t.Errorf("command_auth = %q", cfg.Security.CommandAuth)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("Warnings = %q, want none", cfg.Warnings)
	}
}

func TestSecurityInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key string
		value     any
		errKey    string
		want      string
	}{
		{"none with others", "security.command_auth", []any{"dkim", "none"}, "security.command_auth[1]", "none must stand alone"},
		{"none first with others", "security.command_auth", []any{"none", "dkim"}, "security.command_auth[0]", "none must stand alone"},
		{"unknown evidence", "security.command_auth", []any{"dkim", "pgp"}, "security.command_auth[1]", `"pgp": must be dmarc, dkim`},
		{"twice", "security.command_auth", []any{"dkim", "dkim"}, "security.command_auth[1]", "listed twice"},
		{"empty list", "security.command_auth", []any{}, "security.command_auth", "at least one"},
		{"authserv-id with a space", "security.authserv_id", []any{"mx.google.com; dmarc=pass"}, "security.authserv_id[0]", "one word"},
		{"resolver without port", "security.dns_resolver", "127.0.0.1", "security.dns_resolver", "host:port"},
		{"resolver bad port", "security.dns_resolver", "127.0.0.1:dns", "security.dns_resolver", "bad port"},
		{"zero timeout", "security.dns_timeout", "0s", "security.dns_timeout", "must be positive"},
		{"timeout too long", "security.dns_timeout", "2h", "security.dns_timeout", "at most 1m0s"},
		{"reply token ttl zero", "security.reply_token_ttl", "0s", "security.reply_token_ttl", "must be between 1h0m0s"},
		{"reply token ttl two years", "security.reply_token_ttl", "17520h", "security.reply_token_ttl", "must be between"},
		{"reply token separator a letter", "security.reply_token_separator", "x", "security.reply_token_separator", "must be one of"},
		{"reply token separator two characters", "security.reply_token_separator", "++", "security.reply_token_separator", "must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := base(dir)
			set(m, tt.key, tt.value)
			_, path, err := loadMap(t, dir, m)
			wantKeyError(t, err, tt.errKey, path)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestSecurityNoneWarns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := base(dir)
	set(m, "security.command_auth", []any{"none"})
	cfg, _, err := loadMap(t, dir, m)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "every sender is trusted") {
		t.Errorf("Warnings = %q, want the none warning", cfg.Warnings)
	}
}

func TestSecurityEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TICKETD_SECURITY_COMMAND_AUTH", "auth, dkim")
	t.Setenv("TICKETD_SECURITY_AUTHSERV_ID", "mail.example.org")
	t.Setenv("TICKETD_SECURITY_DNS_TIMEOUT", "nope")
	_, path, err := loadMap(t, dir, base(dir))
	wantKeyError(t, err, "security.dns_timeout", path)
	var fe *FieldError
	for _, e := range fieldErrors(err) {
		if e.Key == "security.dns_timeout" {
			fe = e
		}
	}
	if fe == nil || fe.Env != "TICKETD_SECURITY_DNS_TIMEOUT" {
		t.Errorf("error %v does not name the variable", err)
	}
	t.Setenv("TICKETD_SECURITY_DNS_TIMEOUT", "3s")
	cfg, _, err := loadMap(t, dir, base(dir))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !slices.Equal(cfg.Security.CommandAuth, []string{"auth", "dkim"}) ||
		!slices.Equal(cfg.Security.AuthservID, []string{"mail.example.org"}) || cfg.Security.DNSTimeout != 3*time.Second {
		t.Errorf("Security = %+v, want the environment's", cfg.Security)
	}
}

// FuzzConfigLoad feeds YAML to Load: it never panics, and every problem it
// reports is a [*FieldError] naming the file.
func FuzzConfigLoad(f *testing.F) {
	if b, err := os.ReadFile(examplePath); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"", "imap: {host: x}\n", "security:\n  command_auth: [none, dkim]\n  dns_timeout: 5\n",
		"groups:\n  Redes: {level: 9, members: [\"not an address\"]}\n", "imap:\n  port: [1, 2]\n",
		"a: &x [*x]\n", "smtp: !!binary aGVsbG8=\n", "\t- x\n", "data_dir: {a: b}\n",
		"security: {authserv_id: [\"\"], dns_resolver: \":\"}\n", "admin: {alert_after: -1h}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil {
			return
		}
		for _, e := range flatten(err) {
			var fe *FieldError
			if !errors.As(e, &fe) {
				t.Fatalf("Load: %T %q is not a *FieldError", e, e)
			}
			if fe.File != path || fe.Err == nil || fe.Err.Error() == "" {
				t.Fatalf("Load: unclear error %q", e)
			}
		}
	})
}

func TestReplyTokenDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, _, err := loadMap(t, dir, base(dir))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s := cfg.Security
	if s.ReplyTokenKeyFile != filepath.Join(cfg.DataDir, "reply.key") || s.ReplyTokenTTL != 30*24*time.Hour || s.ReplyTokenSeparator != "+" {
		t.Errorf("reply token settings = %q, %v, %q; want <data_dir>/reply.key, 720h, +", s.ReplyTokenKeyFile, s.ReplyTokenTTL, s.ReplyTokenSeparator)
	}
}

func TestReplyTokenAddressTooLong(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := base(dir)
	set(m, "security.command_auth", []any{"dkim", "reply_token"})
	set(m, "smtp.support_address", strings.Repeat("a", 32)+"@example.org")
	_, _, err := loadMap(t, dir, m)
	if err == nil || !strings.Contains(err.Error(), "security.command_auth: reply_token") || !strings.Contains(err.Error(), "at most 31") {
		t.Errorf("Load with a 32-character local part = %v, want an error on security.command_auth", err)
	}

	set(m, "smtp.support_address", strings.Repeat("a", 31)+"@example.org")
	if _, _, err := loadMap(t, dir, m); err != nil {
		t.Errorf("Load with a 31-character local part: %v", err)
	}
}

package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, path, err := loadMap(t, dir, base(dir))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.File != path {
		t.Errorf("File = %q, want %q", cfg.File, path)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("Warnings = %q, want none", cfg.Warnings)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", cfg.DataDir, "./data"},
		{"ticket.id_prefix", cfg.Ticket.IDPrefix, "OTI"},
		{"ticket.lang", cfg.Ticket.Lang, "es"},
		{"ticket.auto_reply_limit", cfg.Ticket.AutoReplyLimit, 10},
		{"ticket.relay_limit_per_hour", cfg.Ticket.RelayLimitPerHour, 20},
		{"ticket.auto_reply_window", cfg.Ticket.AutoReplyWindow, time.Hour},
		{"imap.port", cfg.IMAP.Port, 993},
		{"imap.tls", cfg.IMAP.TLS, "implicit"},
		{"imap.auth", cfg.IMAP.Auth, "plain"},
		{"imap.password", cfg.IMAP.Password.Reveal(), imapSecret},
		{"imap.mailbox", cfg.IMAP.Mailbox, "INBOX"},
		{"imap.processed_mailbox", cfg.IMAP.ProcessedMailbox, ""},
		{"imap.poll_interval", cfg.IMAP.PollInterval, time.Minute},
		{"imap.idle_restart", cfg.IMAP.IdleRestart, 25 * time.Minute},
		{"imap.max_message_size", cfg.IMAP.MaxMessageSize, int64(36 << 20)},
		{"limits.subject_chars", cfg.Limits.SubjectChars, 1000},
		{"limits.forward_depth", cfg.Limits.ForwardDepth, 5},
		{"smtp.port", cfg.SMTP.Port, 587},
		{"smtp.tls", cfg.SMTP.TLS, "starttls"},
		{"smtp.auth", cfg.SMTP.Auth, ""},
		{"smtp.support_address", cfg.SMTP.SupportAddress, "desk@example.org"},
		{"smtp.max_attach_total", cfg.SMTP.MaxAttachTotal, int64(10 << 20)},
		{"smtp.connections", cfg.SMTP.Connections, 3},
		{"groups.redes.level", cfg.Groups["redes"].Level, 2},
		{"groups.redes.members[1]", cfg.Groups["redes"].Members[1], "Carla Ríos <c@example.org>"},
		{"admin.listen", cfg.Admin.Listen, "127.0.0.1:8025"},
		{"admin.alert_after", cfg.Admin.AlertAfter, 15 * time.Minute},
		{"admin.token_file", cfg.Admin.TokenFile, ""},
		{"admin.pprof", cfg.Admin.Pprof, true},
		{"AdminTokenFile()", cfg.AdminTokenFile(), filepath.Join(cfg.DataDir, "admin.token")},
		{"log.format", cfg.Log.Format, "text"},
		{"log.level", cfg.Log.Level, "info"},
		{"outbox.retry_min", cfg.Outbox.RetryMin, 5 * time.Second},
		{"outbox.retry_max", cfg.Outbox.RetryMax, 30 * time.Minute},
		{"outbox.give_up_after", cfg.Outbox.GiveUpAfter, 72 * time.Hour},
		{"outbox.stuck_after", cfg.Outbox.StuckAfter, 15 * time.Minute},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadDefaultPorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		imapTLS, smtpTLS   string
		imapPort, smtpPort int
	}{
		{"implicit", "implicit", 993, 465},
		{"starttls", "starttls", 143, 587},
		{"none", "none", 143, 25},
		{"STARTTLS", " Implicit ", 143, 465}, // spelling is normalized
	}
	for _, tt := range tests {
		t.Run(tt.imapTLS+"/"+tt.smtpTLS, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := base(dir)
			set(m, "imap.host", "127.0.0.1") // tls none is fine on loopback
			set(m, "smtp.host", "localhost")
			set(m, "imap.tls", tt.imapTLS)
			set(m, "smtp.tls", tt.smtpTLS)
			cfg, _, err := loadMap(t, dir, m)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.IMAP.Port != tt.imapPort || cfg.SMTP.Port != tt.smtpPort {
				t.Errorf("ports = %d, %d, want %d, %d", cfg.IMAP.Port, cfg.SMTP.Port, tt.imapPort, tt.smtpPort)
			}
		})
	}
}

func TestLoadExplicitValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := base(dir)
	set(m, "imap.port", 1993)
	set(m, "imap.tls", "none")
	set(m, "imap.allow_insecure", true) // non-loopback host
	set(m, "imap.poll_interval", "30s")
	set(m, "smtp.support_address", "replies@example.org")
	set(m, "groups.Sitio", map[string]any{"level": 2, "kind": "onsite", "default": true, "members": "d@example.org"})
	set(m, "admin.listen", "unix:/run/ticketd/admin.sock")
	set(m, "admin.alert_to", []any{"ops@example.org", "Guardia <guardia@example.org>"})
	set(m, "admin.token_file", "/etc/ticketd/admin.token")
	cfg, _, err := loadMap(t, dir, m)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.AdminTokenFile() != "/etc/ticketd/admin.token" {
		t.Errorf("AdminTokenFile() = %q", cfg.AdminTokenFile())
	}
	if cfg.IMAP.Port != 1993 || !cfg.IMAP.AllowInsecure || cfg.IMAP.PollInterval != 30*time.Second {
		t.Errorf("imap = %+v", cfg.IMAP)
	}
	if cfg.SMTP.SupportAddress != "replies@example.org" {
		t.Errorf("smtp.support_address = %q", cfg.SMTP.SupportAddress)
	}
	// viper lowercases map keys; a lone member is taken as a list of one.
	g, ok := cfg.Groups["sitio"]
	if !ok || !g.Default || g.Kind != "onsite" || !slices.Equal(g.Members, []string{"d@example.org"}) {
		t.Errorf("groups = %+v, want a default group sitio with one member", cfg.Groups)
	}
	if len(cfg.Admin.AlertTo) != 2 {
		t.Errorf("admin.alert_to = %q", cfg.Admin.AlertTo)
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	m := base(dir)
	set(m, "imap.password_file", remove)
	set(m, "imap.port", 993)
	path := writeConfig(t, dir, m)

	t.Setenv("TICKETD_IMAP_PASSWORD", "env-secret-9f2")
	t.Setenv("TICKETD_IMAP_PORT", "1993")
	t.Setenv("TICKETD_SMTP_HOST", "relay.example.net")
	t.Setenv("TICKETD_IMAP_POLL_INTERVAL", "45s")
	t.Setenv("TICKETD_IMAP_ALLOW_INSECURE", "true")
	t.Setenv("TICKETD_ADMIN_ALERT_TO", "ops@example.org, Guardia <guardia@example.org>")
	t.Setenv("TICKETD_LOG_LEVEL", "debug")
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := cfg.IMAP.Password.Reveal(); got != "env-secret-9f2" {
		t.Errorf("imap.password = %q, want the value of TICKETD_IMAP_PASSWORD", got)
	}
	if cfg.IMAP.Port != 1993 {
		t.Errorf("imap.port = %d, want 1993 from the environment over 993 in the file", cfg.IMAP.Port)
	}
	if cfg.SMTP.Host != "relay.example.net" {
		t.Errorf("smtp.host = %q, want relay.example.net", cfg.SMTP.Host)
	}
	if cfg.IMAP.PollInterval != 45*time.Second || !cfg.IMAP.AllowInsecure || cfg.Log.Level != "debug" {
		t.Errorf("poll_interval %v, allow_insecure %v, log.level %q", cfg.IMAP.PollInterval, cfg.IMAP.AllowInsecure, cfg.Log.Level)
	}
	if want := []string{"ops@example.org", "Guardia <guardia@example.org>"}; !slices.Equal(cfg.Admin.AlertTo, want) {
		t.Errorf("admin.alert_to = %q, want %q", cfg.Admin.AlertTo, want)
	}
}

func TestLoadEnvNestedOAuth(t *testing.T) {
	dir := t.TempDir()
	m := base(dir)
	set(m, "imap.password_file", remove)
	path := writeConfig(t, dir, m)
	token := writeFile(t, dir, "token", "ya29.token\n", 0o600)

	t.Setenv("TICKETD_IMAP_AUTH", "xoauth2")
	t.Setenv("TICKETD_IMAP_OAUTH_TOKEN_FILE", token)
	t.Setenv("TICKETD_SMTP_AUTH", "xoauth2")
	t.Setenv("TICKETD_SMTP_USERNAME", "desk@example.org")
	t.Setenv("TICKETD_SMTP_OAUTH_CLIENT_ID", "app-123")
	t.Setenv("TICKETD_SMTP_OAUTH_CLIENT_SECRET", "cs-env-77")
	t.Setenv("TICKETD_SMTP_OAUTH_TOKEN_URL", "https://login.example.com/token")
	t.Setenv("TICKETD_SMTP_OAUTH_SCOPES", "https://outlook.office365.com/.default")
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.IMAP.Auth != AuthXOAUTH2 || cfg.IMAP.OAuth.TokenFile != token {
		t.Errorf("imap = auth %q, token_file %q, want xoauth2 and %q", cfg.IMAP.Auth, cfg.IMAP.OAuth.TokenFile, token)
	}
	o := cfg.SMTP.OAuth
	if o.ClientID != "app-123" || o.ClientSecret.Reveal() != "cs-env-77" || o.TokenURL != "https://login.example.com/token" ||
		!slices.Equal(o.Scopes, []string{"https://outlook.office365.com/.default"}) {
		t.Errorf("smtp.oauth = %+v (secret %q)", o, o.ClientSecret.Reveal())
	}
}

func TestLoadEnvWrongType(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, base(dir))
	t.Setenv("TICKETD_IMAP_PORT", "nine-nine-three")
	_, err := Load(path)
	wantKeyError(t, err, "imap.port", path)
	if !strings.Contains(err.Error(), "$TICKETD_IMAP_PORT") {
		t.Errorf("error %q does not say the value came from TICKETD_IMAP_PORT", err)
	}
}

func TestLoadWithoutFile(t *testing.T) {
	t.Setenv("TICKETD_IMAP_HOST", "imap.example.org")
	t.Setenv("TICKETD_SMTP_HOST", "smtp.example.org")
	cfg, err := Load("")
	if cfg.IMAP.Host != "imap.example.org" || cfg.SMTP.Host != "smtp.example.org" {
		t.Errorf("hosts = %q, %q, want the environment's", cfg.IMAP.Host, cfg.SMTP.Host)
	}
	// Groups can only come from a file, so this cannot be valid.
	wantKeyError(t, err, "groups", "")
	wantKeyError(t, err, "smtp.from", "")
	if !strings.Contains(err.Error(), "(no config file)") {
		t.Errorf("error %q does not say no file was read", err)
	}
	for _, key := range errorKeys(err) {
		if key == "imap.host" || key == "smtp.host" {
			t.Errorf("error for %s, which the environment set:\n%v", key, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load(%q) = %v, want an error naming the file", path, err)
	}
}

func TestLoadSyntaxError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "config.yaml", "imap:\n  host: [unclosed\n", 0o600)
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load = %v, want a parse error naming the file", err)
	}
}

func TestPasswordFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string // "" with noFile: the file does not exist
		noFile  bool
		want    string
		wantErr bool
	}{
		{name: "trailing newline", content: "s3cret\n", want: "s3cret"},
		{name: "crlf", content: "s3cret\r\n", want: "s3cret"},
		{name: "no newline", content: "s3cret", want: "s3cret"},
		{name: "inner spaces kept", content: " s3 cret \n", want: " s3 cret "},
		{name: "empty", content: "\n", wantErr: true},
		{name: "missing", noFile: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := base(dir)
			pw := filepath.Join(dir, "smtp.pw")
			if !tt.noFile {
				writeFile(t, dir, "smtp.pw", tt.content, 0o600)
			}
			set(m, "smtp.auth", "login")
			set(m, "smtp.username", "desk@example.org")
			set(m, "smtp.password_file", pw)
			cfg, path, err := loadMap(t, dir, m)
			if tt.wantErr {
				wantKeyError(t, err, "smtp.password_file", path)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := cfg.SMTP.Password.Reveal(); got != tt.want {
				t.Errorf("smtp.password = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPasswordAndFileBothSet(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, base(dir))
	t.Setenv("TICKETD_IMAP_PASSWORD", "other")
	_, err := Load(path)
	wantKeyError(t, err, "imap.password_file", path)
}

func TestPermissionWarning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		literal  bool        // the config holds imap.password itself
		mode     os.FileMode // of the config file
		pwMode   os.FileMode // of the password file
		wantWarn string      // substring of a warning; "" wants none
	}{
		{"literal, private", true, 0o600, 0o600, ""},
		{"literal, group-readable", true, 0o640, 0o600, "imap.password"},
		{"literal, world-readable", true, 0o644, 0o600, "imap.password"},
		{"no secret, world-readable", false, 0o644, 0o600, ""},
		{"password file world-readable", false, 0o600, 0o644, "imap.password_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := base(dir)
			if tt.literal {
				set(m, "imap.password_file", remove)
				set(m, "imap.password", "literal-pw-55")
			}
			path := writeConfig(t, dir, m)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, "imap.pw"), tt.pwMode); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if tt.wantWarn == "" {
				if len(cfg.Warnings) != 0 {
					t.Errorf("Warnings = %q, want none", cfg.Warnings)
				}
				return
			}
			if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], tt.wantWarn) {
				t.Fatalf("Warnings = %q, want one about %s", cfg.Warnings, tt.wantWarn)
			}
			if strings.Contains(cfg.Warnings[0], "literal-pw-55") || strings.Contains(cfg.Warnings[0], imapSecret) {
				t.Errorf("warning %q holds the password", cfg.Warnings[0])
			}
		})
	}
}

func TestKeyName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                         "",
		"imap.port":                "imap.port",
		"groups[redes].members[1]": "groups.redes.members[1]",
		"groups[redes]":            "groups.redes",
		"admin.alert_to[0]":        "admin.alert_to[0]",
	}
	for in, want := range tests {
		if got := keyName(in); got != want {
			t.Errorf("keyName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	if got := EnvName("imap.oauth.token_file"); got != "TICKETD_IMAP_OAUTH_TOKEN_FILE" {
		t.Errorf("EnvName = %q", got)
	}
}

func TestUnknownEnvWarning(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, base(dir))
	t.Setenv("TICKETD_IMAP_PASWORD", "typo-secret-1")
	t.Setenv("TICKETD_CONFIG", path) // read by the command, not a key
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "TICKETD_IMAP_PASWORD") {
		t.Fatalf("Warnings = %q, want one about TICKETD_IMAP_PASWORD", cfg.Warnings)
	}
	if strings.Contains(cfg.Warnings[0], "typo-secret-1") {
		t.Errorf("warning %q shows the variable's value", cfg.Warnings[0])
	}
}

func TestLoadAnyExtensionIsYAML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, base(dir))
	conf := filepath.Join(dir, "ticketd.conf")
	if err := os.Rename(path, conf); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(conf); err != nil {
		t.Fatalf("Load(%s): %v", conf, err)
	}
}

package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSecretFormats(t *testing.T) {
	t.Parallel()
	s := Secret("hunter2")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%10s", "%T"} {
		got := fmt.Sprintf(verb, s)
		if strings.Contains(got, "hunter2") || strings.Contains(got, fmt.Sprintf("%x", "hunter2")) {
			t.Errorf("Sprintf(%q, secret) = %q: shows the value", verb, got)
		}
	}
	if got := fmt.Sprint(s); got != "REDACTED" {
		t.Errorf("Sprint = %q, want REDACTED", got)
	}
	if b, err := json.Marshal(s); err != nil || string(b) != `"REDACTED"` {
		t.Errorf("json.Marshal = %s, %v", b, err)
	}
	if v := s.LogValue(); v.String() != "REDACTED" {
		t.Errorf("LogValue = %v", v)
	}
	if s.Reveal() != "hunter2" || s.IsZero() || !Secret("").IsZero() {
		t.Errorf("Reveal/IsZero wrong")
	}
}

// fillSecrets sets every empty [Secret] in v (a pointer to a struct) to a
// distinct value and returns all secret values, so that a Secret field
// added later is covered too.
func fillSecrets(v reflect.Value) []string {
	var out []string
	secretType := reflect.TypeFor[Secret]()
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch {
		case v.Type() == secretType:
			if v.String() == "" {
				v.SetString("sekret-" + path)
			}
			out = append(out, v.String())
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				if !v.Type().Field(i).IsExported() {
					continue
				}
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	}
	walk(v.Elem(), "cfg")
	return out
}

func TestConfigRedacted(t *testing.T) {
	dir := t.TempDir()
	m := base(dir)
	set(m, "smtp.auth", "plain")
	set(m, "smtp.username", "desk@example.org")
	cfgPath := writeConfig(t, dir, m)
	t.Setenv("TICKETD_SMTP_PASSWORD", "smtp-env-pw-31")
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	secrets := fillSecrets(reflect.ValueOf(&cfg))
	if len(secrets) < 4 {
		t.Fatalf("found %d secrets, want at least 4", len(secrets))
	}
	for _, want := range []string{imapSecret, "smtp-env-pw-31"} {
		found := false
		for _, s := range secrets {
			found = found || s == want
		}
		if !found {
			t.Fatalf("loaded secret %q not among %d secrets", want, len(secrets))
		}
	}

	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		outputs[verb] = fmt.Sprintf(verb, cfg)
		outputs["pointer "+verb] = fmt.Sprintf(verb, &cfg)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(b)
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config loaded", "cfg", cfg, "imap", cfg.IMAP, "pw", cfg.IMAP.Password)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config loaded", "cfg", cfg, "smtp", cfg.SMTP, "pw", cfg.SMTP.Password)
	outputs["slog text"] = text.String()
	outputs["slog json"] = js.String()

	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) {
				t.Errorf("%s output shows secret %q:\n%s", name, s, out)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s output lacks REDACTED:\n%s", name, out)
		}
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	const secret = "Sup3r-Secret-Value"
	tests := []struct {
		name string
		yaml string // $DIR is the temp dir
		env  map[string]string
	}{
		{
			name: "password and password_file both set",
			yaml: "imap: {host: h, username: u, password: " + secret + ", password_file: $DIR/imap.pw}\n",
		},
		{
			name: "password given as a list",
			yaml: "imap: {host: h, username: u, password: [" + secret + "]}\n",
		},
		{
			name: "password given as a map",
			yaml: "imap: {host: h, username: u, password: {" + secret + ": " + secret + "}}\n",
		},
		{
			name: "client_secret with plain auth",
			yaml: "imap: {host: h, username: u, password_file: $DIR/imap.pw, oauth: {client_secret: " + secret + "}}\n",
		},
		{
			name: "client secret and file both set",
			yaml: "imap: {host: h, username: u, auth: xoauth2, oauth: {client_id: a, token_url: 'https://x/t', client_secret: " + secret + ", client_secret_file: $DIR/imap.pw}}\n",
		},
		{
			name: "secret in the environment, other keys invalid",
			yaml: "imap: {host: h, username: u, tls: bogus}\n",
			env:  map[string]string{"TICKETD_IMAP_PASSWORD": secret, "TICKETD_SMTP_PASSWORD": secret},
		},
		{
			name: "yaml syntax error on the password line",
			yaml: "imap:\n  host: h\n  password: \"" + secret + "\n  x: [\n",
		},
		{
			name: "yaml syntax error after an unquoted password",
			yaml: "imap:\n  password: " + secret + ": : \n\t bad\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "imap.pw", secret+"\n", 0o600)
			path := writeFile(t, dir, "config.yaml", strings.ReplaceAll(tt.yaml, "$DIR", dir), 0o600)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Load(path)
			if err == nil {
				t.Fatal("Load: no error, want some")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret:\n%v", err)
			}
			for _, w := range cfg.Warnings {
				if strings.Contains(w, secret) {
					t.Errorf("warning shows the secret: %s", w)
				}
			}
		})
	}
}

func TestPasswordFileRelativeToWorkingDir(t *testing.T) {
	// Documented: relative paths are relative to the working directory.
	dir := t.TempDir()
	t.Chdir(dir)
	m := base(dir)
	set(m, "imap.password_file", "imap.pw")
	path := writeConfig(t, dir, m)
	if _, err := os.Stat(filepath.Join(dir, "imap.pw")); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.IMAP.Password.Reveal() != imapSecret {
		t.Errorf("imap.password not read from the relative file")
	}
}

// TestLoadWithoutSecrets: the commands that only read tickets load the
// configuration without reading the secret files, which their operator
// may not be allowed to read (here: the file is gone); Load still needs
// them.
func TestLoadWithoutSecrets(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, base(dir))
	if err := os.Remove(filepath.Join(dir, "imap.pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("Load without the password file: no error")
	}
	cfg, err := LoadWithoutSecrets(path)
	if err != nil {
		t.Fatalf("LoadWithoutSecrets: %v", err)
	}
	if cfg.IMAP.Password != "" || cfg.IMAP.PasswordFile == "" || cfg.Groups["mesa"].Level != 1 {
		t.Errorf("LoadWithoutSecrets = password %q, file %q, groups %v", cfg.IMAP.Password.Reveal(), cfg.IMAP.PasswordFile, cfg.Groups)
	}
}

package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// examplePath is the documented example at the repository root.
const examplePath = "../../config.example.yaml"

// loadExample loads config.example.yaml with the password files it names
// provided through the environment.
func loadExample(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TICKETD_IMAP_PASSWORD_FILE", writeFile(t, dir, "imap.pw", "imap-example-pw\n", 0o600))
	t.Setenv("TICKETD_SMTP_PASSWORD_FILE", writeFile(t, dir, "smtp.pw", "smtp-example-pw\n", 0o600))
	cfg, err := Load(examplePath)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	return cfg
}

// TestExampleLoads keeps config.example.yaml valid: it loads it with the
// password files it names provided through the environment.
func TestExampleLoads(t *testing.T) {
	cfg := loadExample(t)
	if len(cfg.Warnings) != 0 {
		t.Errorf("Warnings = %q, want none", cfg.Warnings)
	}
	if cfg.IMAP.Password.Reveal() != "imap-example-pw" || cfg.SMTP.Password.Reveal() != "smtp-example-pw" {
		t.Errorf("passwords not read from the files given in the environment")
	}
	if cfg.SMTP.From != "Mesa de servicios OTI <soporte.oti@example.gov.co>" {
		t.Errorf("smtp.from = %q", cfg.SMTP.From)
	}

	// The OTI desk: one group of each kind the procedure names.
	want := map[string]struct {
		level int
		kind  string
	}{
		"mesa":            {1, KindDesk},
		"redes":           {2, KindSpecialist},
		"sitio":           {2, KindOnSite},
		"infraestructura": {3, KindSpecialist},
	}
	for name, w := range want {
		g, ok := cfg.Groups[name]
		if !ok || g.Level != w.level || g.Kind != w.kind {
			t.Errorf("group %s = %+v, want level %d kind %s", name, g, w.level, w.kind)
		}
	}
	providers := map[int]int{}
	for _, g := range cfg.Groups {
		if g.Kind == KindProvider {
			providers[g.Level]++
		}
	}
	if providers[2] == 0 || providers[3] == 0 {
		t.Errorf("provider groups by level = %v, want one at level 2 and one at level 3", providers)
	}
}

// exampleKey is one key found in config.example.yaml.
type exampleKey struct {
	path      string // "imap.oauth.token_file", "groups.mesa.level"
	generic   string // the same with the group name as "*"
	commented bool
	value     *yaml.Node
}

// exampleKeys parses config.example.yaml and lists its keys.
func exampleKeys(t *testing.T) []exampleKey {
	t.Helper()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []exampleKey
	var walk func(n *yaml.Node, path, generic []string)
	walk = func(n *yaml.Node, path, generic []string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := append(slices.Clone(path), k.Value)
			g := append(slices.Clone(generic), k.Value)
			if len(path) == 1 && path[0] == "groups" {
				g[1] = "*"
			}
			out = append(out, exampleKey{
				path:      strings.Join(p, "."),
				generic:   strings.Join(g, "."),
				commented: k.HeadComment != "" || k.LineComment != "" || v.LineComment != "",
				value:     v,
			})
			walk(v, p, g)
		}
	}
	walk(doc.Content[0], nil, nil)
	return out
}

// TestExampleDocumentsEveryKey checks that every key of [Config] appears in
// config.example.yaml with a comment, and that no secret is written there.
func TestExampleDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	keys := exampleKeys(t)
	present := map[string]bool{}    // generic path -> appears
	documented := map[string]bool{} // generic path -> some occurrence commented
	for _, k := range keys {
		present[k.generic] = true
		documented[k.generic] = documented[k.generic] || k.commented
		// Each group and every key outside the groups carries its own comment;
		// group settings are explained once, at the first group.
		if !strings.HasPrefix(k.generic, "groups.*.") && !k.commented {
			t.Errorf("%s: %s has no comment", examplePath, k.path)
		}
	}
	for _, key := range structKeys() {
		switch {
		case !present[key]:
			t.Errorf("%s: key %s of Config is missing", examplePath, key)
		case !documented[key]:
			t.Errorf("%s: key %s has no comment", examplePath, key)
		}
	}
	for _, k := range keys {
		for _, s := range secretKeys {
			if k.path == s && k.value.Value != "" {
				t.Errorf("%s: %s holds a literal secret; use %s_file or $%s", examplePath, s, s, EnvName(s))
			}
		}
	}
}

// TestExampleKeysExist makes sure the document test above is not vacuous:
// the example's keys are those the struct declares (Load rejects others).
func TestExampleKeysExist(t *testing.T) {
	t.Parallel()
	all := structKeys()
	for _, k := range exampleKeys(t) {
		if k.value.Kind == yaml.MappingNode {
			continue // a section
		}
		if !slices.Contains(all, k.generic) {
			t.Errorf("%s: %s is not a key of Config", filepath.Base(examplePath), k.path)
		}
	}
}

// TestExampleConsoleOff: the example, installed as the packages' config,
// starts no console; turning it on without a base_url, or with a
// placeholder one, does not validate: login and status links would lead
// nowhere.
func TestExampleConsoleOff(t *testing.T) {
	cfg := loadExample(t)
	var err error
	if cfg.Web.Enabled() || cfg.Web.BaseURL != "" {
		t.Errorf("the example turns the console on: web = %+v", cfg.Web)
	}
	t.Setenv("TICKETD_WEB_LISTEN", "127.0.0.1:8026")
	_, err = Load(examplePath)
	wantKeyError(t, err, "web.base_url", "")
	t.Setenv("TICKETD_WEB_BASE_URL", "https://soporte.example.gov.co")
	_, err = Load(examplePath)
	wantKeyError(t, err, "web.base_url", "")
	if err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Errorf("Load with a placeholder base_url = %v, want it named a placeholder", err)
	}
	t.Setenv("TICKETD_WEB_BASE_URL", "https://soporte.oti.gov.co")
	if cfg, err = Load(examplePath); err != nil || !cfg.Web.Enabled() {
		t.Errorf("Load with the console on and a real base_url: %v, web = %+v", err, cfg.Web)
	}
}

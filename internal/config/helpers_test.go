package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// imapSecret is the IMAP password every base config reads from its file.
const imapSecret = "pw-imap-Zq81!x"

// remove, as a value given to set, deletes the key.
type removeKey struct{}

var remove removeKey

// base returns a small valid configuration whose password file lives in
// dir (written by writeConfig).
func base(dir string) map[string]any {
	return map[string]any{
		"imap": map[string]any{
			"host":          "imap.example.org",
			"username":      "desk@example.org",
			"password_file": filepath.Join(dir, "imap.pw"),
		},
		"smtp": map[string]any{
			"host": "smtp.example.org",
			"from": "Mesa de servicios <desk@example.org>",
		},
		"groups": map[string]any{
			"mesa":  map[string]any{"level": 1, "kind": "desk", "members": []any{"a@example.org"}},
			"redes": map[string]any{"level": 2, "members": []any{"b@example.org", "Carla Ríos <c@example.org>"}},
		},
	}
}

// set sets the dotted key in m to v, creating sections as needed; v ==
// remove deletes it.
func set(m map[string]any, key string, v any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	if v == remove {
		delete(m, parts[len(parts)-1])
		return
	}
	m[parts[len(parts)-1]] = v
}

// writeFile writes content to dir/name with mode and returns the path.
func writeFile(t testing.TB, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask may have masked bits
		t.Fatal(err)
	}
	return path
}

// writeConfig writes the IMAP password file and m as config.yaml into dir,
// both mode 0600, and returns the config's path.
func writeConfig(t testing.TB, dir string, m map[string]any) string {
	t.Helper()
	writeFile(t, dir, "imap.pw", imapSecret+"\n", 0o600)
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "config.yaml", string(b), 0o600)
}

// loadMap writes m and loads it.
func loadMap(t testing.TB, dir string, m map[string]any) (Config, string, error) {
	t.Helper()
	path := writeConfig(t, dir, m)
	cfg, err := Load(path)
	return cfg, path, err
}

// fieldErrors lists the [*FieldError]s joined in err.
func fieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
		}
	}
	walk(err)
	return out
}

// errorKeys lists the keys named by the errors joined in err.
func errorKeys(err error) []string {
	var keys []string
	for _, fe := range fieldErrors(err) {
		keys = append(keys, fe.Key)
	}
	return keys
}

// wantKeyError fails unless err has a [*FieldError] for key whose text
// names key and file.
func wantKeyError(t testing.TB, err error, key, file string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load: no error, want one for %s", key)
	}
	for _, fe := range fieldErrors(err) {
		if fe.Key != key {
			continue
		}
		msg := fe.Error()
		if !strings.Contains(msg, key) || (file != "" && !strings.Contains(msg, file)) {
			t.Errorf("error %q does not name key %s and file %s", msg, key, file)
		}
		if file != "" && !strings.Contains(err.Error(), file+": "+key) {
			t.Errorf("joined error %q lacks %q", err, file+": "+key)
		}
		return
	}
	t.Fatalf("Load: error keys %q, want %s; error:\n%v", errorKeys(err), key, err)
}

// structKeys lists every key of [Config], with "*" for the name of a group:
// "imap.oauth.token_file", "groups.*.level".
func structKeys() []string {
	var out []string
	for _, k := range leafKeys() {
		out = append(out, k.key)
	}
	g := reflect.TypeFor[GroupConfig]()
	for i := range g.NumField() {
		out = append(out, "groups.*."+g.Field(i).Tag.Get("mapstructure"))
	}
	slices.Sort(out)
	return out
}

package config

import (
	"errors"
	"strings"
	"testing"
)

// TestDidYouMean: a mistyped key is reported with the key meant.
func TestDidYouMean(t *testing.T) {
	for _, c := range []struct{ key, yaml, want string }{
		{"smpt", "smpt: {host: x}\n", "did you mean smtp?"},
		{"imap.pasword_file", "imap: {pasword_file: /x}\n", "did you mean imap.password_file?"},
		{"groups.mesa.membres", "groups: {mesa: {level: 1, membres: [a@example.org]}}\n", "did you mean groups.mesa.members?"},
		{"log.levle", "log: {levle: debug}\n", "did you mean log.level?"},
		{"zzzzzz", "zzzzzz: 1\n", ""},
	} {
		dir := t.TempDir()
		path := writeFile(t, dir, "c.yaml", c.yaml, 0o600)
		_, err := Load(path)
		var found *FieldError
		for _, fe := range fieldErrors(err) {
			if fe.Key == c.key {
				found = fe
			}
		}
		switch {
		case found == nil:
			t.Errorf("%q: no error for %s in %v", c.yaml, c.key, err)
		case !errors.Is(found, errUnknownKey):
			t.Errorf("%s: %v is not an unknown key", c.key, found)
		case c.want == "" && strings.Contains(found.Error(), "did you mean"):
			t.Errorf("%s: %v suggests something", c.key, found)
		case !strings.Contains(found.Error(), c.want):
			t.Errorf("%s: %v, want %q", c.key, found, c.want)
		}
	}
}

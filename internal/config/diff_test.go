package config

import (
	"slices"
	"strings"
	"testing"
)

func TestChanged(t *testing.T) {
	old := Default()
	old.Groups = map[string]GroupConfig{"mesa": {Level: 1, Members: []string{"a@x.test"}}, "redes": {Level: 2}}
	old.IMAP.Password = "old-secret"
	if got := Changed(old, old); len(got) != 0 {
		t.Errorf("Changed(same) = %v", got)
	}
	new := old
	new.Groups = map[string]GroupConfig{"mesa": {Level: 1, Members: []string{"a@x.test", "b@x.test"}}, "sitio": {Level: 2}}
	new.Log.Level = "debug"
	new.IMAP.Password = "new-secret"
	new.Security.CommandAuth = []string{"dkim"}
	got := Changed(old, new)
	want := []string{"groups.mesa", "groups.redes", "groups.sitio", "imap.password", "log.level", "security.command_auth"}
	if !slices.Equal(got, want) {
		t.Errorf("Changed = %v, want %v", got, want)
	}
	if s := strings.Join(got, " "); strings.Contains(s, "secret") {
		t.Errorf("Changed reveals a secret: %v", got)
	}
}

package admin

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestLoadOrCreateToken: a missing token file is created with mode 0640
// (whatever the umask allows more), holds a long random token, and is
// read back unchanged on the next start.
func TestLoadOrCreateToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "admin.token")
	tok, created, err := LoadOrCreateToken(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateToken = %q, %t, %v", tok, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("token file: %v, %v; want mode 0640", fi, err)
	}
	if len(tok) != 43 || strings.ContainsAny(tok, "+/=\n ") {
		t.Errorf("token %q: want 43 base64url characters", tok)
	}
	again, created, err := LoadOrCreateToken(path)
	if err != nil || created || again != tok {
		t.Errorf("second start: %q, %t, %v; want the same token, not created", again, created, err)
	}
	if read, err := ReadToken(path); err != nil || read != tok {
		t.Errorf("ReadToken = %q, %v", read, err)
	}
	other, _, err := LoadOrCreateToken(filepath.Join(t.TempDir(), "admin.token"))
	if err != nil || other == tok {
		t.Errorf("a second data dir got token %q (%v), the same as the first", other, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the token alone: %v", len(entries), entries)
	}
}

// TestLoadOrCreateTokenRace: two processes starting at once end up with
// one token.
func TestLoadOrCreateTokenRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	toks := make([]string, 8)
	var wg sync.WaitGroup
	for i := range toks {
		wg.Go(func() {
			tok, _, err := LoadOrCreateToken(path)
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	for _, tok := range toks {
		if tok != toks[0] {
			t.Fatalf("tokens differ: %q", toks)
		}
	}
}

// TestReadTokenRefuses: a token file others can read or write, one too
// short, or a directory is refused with an error that names the file and
// the remedy; a missing file says so.
func TestReadTokenRefuses(t *testing.T) {
	dir := t.TempDir()
	good := strings.Repeat("a", MinTokenLen)
	cases := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"world readable", good, 0o644, "chmod 640"},
		{"world writable", good, 0o602, "chmod 640"},
		{"group writable", good, 0o660, "chmod 640"},
		{"short", "secreto", 0o600, "at least 32"},
		{"space inside", good[:20] + " " + good, 0o600, "printable"},
		{"empty", "", 0o600, "at least 32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			for _, read := range []func(string) (string, error){ReadToken, func(p string) (string, error) {
				tok, _, err := LoadOrCreateToken(p)
				return tok, err
			}} {
				tok, err := read(path)
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
					t.Errorf("token %q: %v, want an error naming %s and saying %q", tok, err, path, tc.want)
				}
			}
		})
	}
	if _, err := ReadToken(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadToken(dir) = %v", err)
	}
	if _, err := ReadToken(filepath.Join(dir, "none")); err == nil || !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("ReadToken(missing) = %v", err)
	}
	// Surrounding white space (an editor's newline) is not part of the token.
	path := filepath.Join(dir, "newline")
	if err := os.WriteFile(path, []byte("  "+good+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := ReadToken(path); err != nil || tok != good {
		t.Errorf("ReadToken with a newline = %q, %v", tok, err)
	}
	// The operators' group may read it: they run the commands through the
	// API without the mail passwords.
	path = filepath.Join(dir, "group")
	if err := os.WriteFile(path, []byte(good), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if tok, err := ReadToken(path); err != nil || tok != good {
		t.Errorf("ReadToken of a group-readable file = %q, %v", tok, err)
	}
}

// TestNewServerOptions: the listen address and the token are required,
// the Host check is internal/httpguard's (tested there) with the admin
// client's name on a unix socket, and every answer carries the security
// headers.
func TestNewServerOptions(t *testing.T) {
	for listen, hosts := range map[string]map[string]bool{
		"unix:/run/ticketd/admin.sock": {unixHost: true, "localhost": true, "evil.example": false},
		"127.0.0.1:8025":               {"127.0.0.1:8025": true, "localhost:8025": true, "evil.example:8025": false},
	} {
		h, err := NewServer(ServerOptions{Token: testToken, Listen: listen})
		if err != nil {
			t.Fatalf("NewServer(%q): %v", listen, err)
		}
		for host, ok := range hosts {
			r := httptest.NewRequest("GET", "/healthz", nil)
			r.Host = host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if got := w.Code != http.StatusMisdirectedRequest; got != ok {
				t.Errorf("listen %s: Host %q: %d, want accepted %t", listen, host, w.Code, ok)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Cache-Control") != "no-store" ||
				!strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'none'") || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Errorf("listen %s: Host %q: headers %v", listen, host, w.Header())
			}
		}
	}
	if _, err := NewServer(ServerOptions{Token: testToken, Listen: "8025"}); err == nil {
		t.Error("NewServer accepted a listen address without a port")
	}
	if _, err := NewServer(ServerOptions{Listen: "127.0.0.1:8025"}); err == nil {
		t.Error("NewServer accepted no token")
	}
}

func TestLocalOnly(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8025": true, "localhost:8025": true, "[::1]:8025": true, "127.1.2.3:1": true,
		"unix:/run/ticketd/admin.sock": true, "": true,
		"0.0.0.0:8025": false, "[::]:8025": false, ":8025": false, "192.0.2.7:8025": false, "desk.example:8025": false} {
		if got := LocalOnly(addr); got != want {
			t.Errorf("LocalOnly(%q) = %t, want %t", addr, got, want)
		}
	}
}

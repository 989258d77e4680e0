package replytoken

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/ticket"
)

var (
	issued = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	idA    = ticket.ID("OTI-2026-000001")
	idB    = ticket.ID("OTI-2026-000002")
)

func newTokens(t testing.TB, key string) *Tokens {
	t.Helper()
	tk, err := New(Options{Key: []byte(key), TTL: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTokenFormat(t *testing.T) {
	tk := newTokens(t, "0123456789abcdef0123456789abcdef")
	tok := tk.Make(idA, "Ana@Example.org", issued)
	if len(tok) != Len || strings.ToLower(tok) != tok || strings.Contains(tok, "=") {
		t.Fatalf("Make = %q, want %d lowercase base32 characters", tok, Len)
	}
	if again := tk.Make(idA, "ana@example.org", issued); again != tok {
		t.Errorf("Make is not deterministic (or depends on case): %q then %q", tok, again)
	}
	addr := tk.Address("soporte.oti@example.gov.co", idA, "ana@example.org", issued)
	local, _, _ := strings.Cut(addr, "@")
	if addr != "soporte.oti+"+tok+"@example.gov.co" || len(local) > MaxLocalPart {
		t.Errorf("Address = %q", addr)
	}
	exp, _, err := Decode(tok)
	if err != nil || !exp.Equal(issued.Add(30*24*time.Hour)) {
		t.Errorf("Decode(%q) = %v, %v; want the expiry %v", tok, exp, err, issued.Add(30*24*time.Hour))
	}
}

func TestVerify(t *testing.T) {
	tk := newTokens(t, "0123456789abcdef0123456789abcdef")
	tok := tk.Make(idA, "ana@example.org", issued)
	tampered := []byte(tok)
	tampered[10] = map[bool]byte{true: 'b', false: 'a'}[tampered[10] == 'a']
	for _, c := range []struct {
		name, token string
		id          ticket.ID
		from        string
		now         time.Time
		want        error
	}{
		{"valid", tok, idA, "ana@example.org", issued.Add(time.Hour), nil},
		{"valid in upper case, From in another case", strings.ToUpper(tok), idA, "ANA@example.org", issued, nil},
		{"another sender", tok, idA, "eve@example.org", issued, ErrInvalid},
		{"another ticket", tok, idB, "ana@example.org", issued, ErrInvalid},
		{"expired", tok, idA, "ana@example.org", issued.Add(30*24*time.Hour + time.Second), ErrExpired},
		{"tampered", string(tampered), idA, "ana@example.org", issued, ErrInvalid},
		{"another key", newTokens(t, "fedcba9876543210fedcba9876543210").Make(idA, "ana@example.org", issued), idA, "ana@example.org", issued, ErrInvalid},
		{"too short", tok[:Len-1], idA, "ana@example.org", issued, ErrMalformed},
		{"not base32", tok[:Len-1] + "1", idA, "ana@example.org", issued, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := tk.Verify(c.token, c.id, c.from, c.now)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestExtendedExpiry(t *testing.T) {
	// Moving the expiry forward in the token breaks the MAC.
	tk := newTokens(t, "0123456789abcdef0123456789abcdef")
	old := tk.Make(idA, "ana@example.org", issued.Add(-60*24*time.Hour))
	b, _ := encoding.DecodeString(old)
	b[0]++ // some 194 years later
	forged := encoding.EncodeToString(b)
	if err := tk.Verify(forged, idA, "ana@example.org", issued); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify(token with a later expiry) = %v, want ErrInvalid", err)
	}
}

func TestCheckFindsTokenInAnyRecipient(t *testing.T) {
	tk := newTokens(t, "0123456789abcdef0123456789abcdef")
	good := tk.Address("soporte@example.org", idA, "ana@example.org", issued)
	other := tk.Address("soporte@example.org", idA, "eve@example.org", issued)
	for _, c := range []struct {
		name  string
		addrs []string
		want  error
	}{
		{"none", []string{"soporte@example.org", "jefe@example.org"}, ErrNone},
		{"in To", []string{"soporte@example.org", good}, nil},
		{"upper case (folded by a server)", []string{strings.ToUpper(good)}, nil},
		{"rewritten local part (Delivered-To)", []string{"mesa+" + tk.Make(idA, "ana@example.org", issued) + "@localhost"}, nil},
		{"another person's", []string{other}, ErrInvalid},
		{"another person's, then hers", []string{other, good}, nil},
		{"a plus address that is no token", []string{"soporte+urgente@example.org"}, ErrNone},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := tk.Check(c.addrs, idA, "ana@example.org", issued)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("Check(%q) = %v, want %v", c.addrs, err, c.want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for _, o := range []Options{{Key: []byte("short"), TTL: time.Hour}, {Key: make([]byte, 32)}, {Key: make([]byte, 32), TTL: -time.Hour}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
}

func TestLoadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "reply.key")
	k1, err := LoadKey(path)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("LoadKey (first start) = %d bytes, %v", len(k1), err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	k2, err := LoadKey(path)
	if err != nil || string(k1) != string(k2) {
		t.Errorf("LoadKey (restart) gave another key (%v)", err)
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("LoadKey(short key) = %v, want an error", err)
	}
}

func FuzzReplyToken(f *testing.F) {
	tk := newTokens(f, "0123456789abcdef0123456789abcdef")
	f.Add(tk.Make(idA, "ana@example.org", issued))
	f.Add(strings.Repeat("a", Len))
	f.Add(strings.Repeat("9", Len))
	f.Add("")
	f.Add(strings.Repeat("7", Len+1))
	f.Fuzz(func(t *testing.T, s string) {
		exp, mac, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) = %v, not ErrMalformed", s, err)
			}
			return
		}
		if len(mac) != macLen {
			t.Fatalf("Decode(%q): MAC of %d bytes", s, len(mac))
		}
		// A decoded token encodes back to itself (in lower case): nothing
		// else reads as the same token.
		var b [4]byte
		u := uint32(exp.Unix())
		b[0], b[1], b[2], b[3] = byte(u>>24), byte(u>>16), byte(u>>8), byte(u)
		if got := encoding.EncodeToString(append(b[:], mac...)); got != strings.ToLower(s) {
			t.Fatalf("Decode(%q) encodes back as %q", s, got)
		}
		if err := tk.Verify(s, idA, "ana@example.org", issued); err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
			t.Fatalf("Verify(%q) = %v", s, err)
		}
		tk.Find([]string{"soporte+" + s + "@example.org", s})
	})
}

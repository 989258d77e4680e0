package config

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestWebKeys: the web section reaches the Config with its defaults, and
// every bad value is reported under its key.
func TestWebKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, _, err := loadMap(t, dir, base(dir))
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Web; w.Enabled() || w.SessionIdle != 8*time.Hour || !w.StatusPage || w.StaffSeeAll {
		t.Fatalf("defaults: Web = %+v", w)
	}
	m := base(dir)
	m["web"] = map[string]any{"listen": "127.0.0.1:8026", "base_url": "https://soporte.oti.gov.co", "session_idle": "1h",
		"status_page": false, "trusted_header": "X-Forwarded-Email", "trusted_proxies": []any{"10.0.0.1", "192.168.0.0/16"}, "staff_see_all": true}
	cfg, _, err = loadMap(t, dir, m)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Web
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("192.168.0.0/16")}
	if !w.Enabled() || w.SessionIdle != time.Hour || w.StatusPage || !w.StaffSeeAll || !slices.Equal(w.Proxies(), want) {
		t.Fatalf("Web = %+v, proxies %v", w, w.Proxies())
	}

	for _, tc := range []struct {
		name string
		web  map[string]any
		key  string
	}{
		{"listen without base_url", map[string]any{"listen": "127.0.0.1:8026"}, "web.base_url"},
		{"listen not host:port", map[string]any{"listen": "8026", "base_url": "https://x.example"}, "web.listen"},
		{"base_url not a URL", map[string]any{"base_url": "soporte.example"}, "web.base_url"},
		{"base_url with query", map[string]any{"base_url": "https://x.example/?a=1"}, "web.base_url"},
		{"header without proxies", map[string]any{"trusted_header": "X-Email"}, "web.trusted_proxies"},
		{"bad proxy", map[string]any{"trusted_header": "X-Email", "trusted_proxies": []any{"nginx"}}, "web.trusted_proxies[0]"},
		{"idle zero", map[string]any{"session_idle": "0s"}, "web.session_idle"},
		{"the example's base_url", map[string]any{"listen": "127.0.0.1:8026", "base_url": "https://soporte.example.gov.co"}, "web.base_url"},
		{"an RFC 2606 base_url", map[string]any{"listen": "127.0.0.1:8026", "base_url": "http://desk.example.com:8080/"}, "web.base_url"},
		{"an .example base_url", map[string]any{"listen": "127.0.0.1:8026", "base_url": "https://SOPORTE.EXAMPLE."}, "web.base_url"},
		{"an .invalid base_url", map[string]any{"listen": "127.0.0.1:8026", "base_url": "https://soporte.invalid"}, "web.base_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base(dir)
			m["web"] = tc.web
			_, file, err := loadMap(t, dir, m)
			wantKeyError(t, err, tc.key, file)
		})
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadInvalid(t *testing.T) {
	t.Parallel()
	type kv struct {
		key string
		val any
	}
	tests := []struct {
		name    string
		set     []kv
		wantKey string
	}{
		// Structure and types.
		{"unknown top-level key", []kv{{"datadir", "/x"}}, "datadir"},
		{"unknown nested key", []kv{{"imap.pasword", "x"}}, "imap.pasword"},
		{"unknown oauth key", []kv{{"imap.oauth.token", "x"}}, "imap.oauth.token"},
		{"unknown group key", []kv{{"groups.redes.levle", 2}}, "groups.redes.levle"},
		{"port not a number", []kv{{"imap.port", "nine"}}, "imap.port"},
		{"duration not a duration", []kv{{"imap.poll_interval", "soon"}}, "imap.poll_interval"},
		{"duration without unit", []kv{{"outbox.retry_min", 60}}, "outbox.retry_min"},
		{"bool not a bool", []kv{{"imap.allow_insecure", "maybe"}}, "imap.allow_insecure"},
		{"level not a number", []kv{{"groups.redes.level", "two"}}, "groups.redes.level"},
		{"members a map", []kv{{"groups.redes.members", map[string]any{"a": "b@example.org"}}}, "groups.redes.members[0]"},
		{"section a scalar", []kv{{"log", "debug"}}, "log"},
		{"unknown time zone", []kv{{"ticket.timezone", "America/Bogotá"}}, "ticket.timezone"},
		{"unknown requester notice kind", []kv{{"notify.requester.level_change", false}}, "notify.requester.level_change"},
		{"a staff notice is no requester notice", []kv{{"notify.requester.receipt", false}}, "notify.requester.receipt"},

		// Required settings.
		{"no imap.host", []kv{{"imap.host", remove}}, "imap.host"},
		{"no smtp.host", []kv{{"smtp.host", remove}}, "smtp.host"},
		{"no smtp.from", []kv{{"smtp.from", remove}}, "smtp.from"},
		{"no data_dir", []kv{{"data_dir", ""}}, "data_dir"},
		{"no imap.username", []kv{{"imap.username", remove}}, "imap.username"},
		{"no imap password", []kv{{"imap.password_file", remove}}, "imap.password"},

		// Ticket.
		{"id_prefix starts with digit", []kv{{"ticket.id_prefix", "1OTI"}}, "ticket.id_prefix"},
		{"id_prefix with dash", []kv{{"ticket.id_prefix", "OT-I"}}, "ticket.id_prefix"},
		{"id_prefix too long", []kv{{"ticket.id_prefix", "ABCDEFGHIJKLMNOPQ"}}, "ticket.id_prefix"},
		{"id_prefix empty", []kv{{"ticket.id_prefix", ""}}, "ticket.id_prefix"},
		{"lang", []kv{{"ticket.lang", "fr"}}, "ticket.lang"},
		{"auto_reply_limit", []kv{{"ticket.auto_reply_limit", 0}}, "ticket.auto_reply_limit"},
		{"relay_limit_per_hour", []kv{{"ticket.relay_limit_per_hour", 0}}, "ticket.relay_limit_per_hour"},
		{"auto_reply_window", []kv{{"ticket.auto_reply_window", "-1h"}}, "ticket.auto_reply_window"},

		// IMAP.
		{"imap tls mode", []kv{{"imap.tls", "ssl"}}, "imap.tls"},
		{"imap clear text to remote host", []kv{{"imap.tls", "none"}}, "imap.tls"},
		{"imap port range", []kv{{"imap.port", 70000}}, "imap.port"},
		{"imap auth", []kv{{"imap.auth", "cram-md5"}}, "imap.auth"},
		{"poll_interval zero", []kv{{"imap.poll_interval", "0s"}}, "imap.poll_interval"},
		{"poll_interval negative", []kv{{"imap.poll_interval", "-1m"}}, "imap.poll_interval"},
		{"idle_restart too long", []kv{{"imap.idle_restart", "30m"}}, "imap.idle_restart"},
		{"max_message_size", []kv{{"imap.max_message_size", 0}}, "imap.max_message_size"},
		{"first_start word", []kv{{"imap.first_start", "some"}}, "imap.first_start"},
		{"first_start bad date", []kv{{"imap.first_start", "2026-13-01"}}, "imap.first_start"},
		{"first_start future", []kv{{"imap.first_start", "2999-01-01"}}, "imap.first_start"},
		{"subject limit zero", []kv{{"limits.subject_chars", 0}}, "limits.subject_chars"},
		{"header bytes negative", []kv{{"limits.header_bytes", -1}}, "limits.header_bytes"},
		{"header fields zero", []kv{{"limits.header_fields", 0}}, "limits.header_fields"},
		{"mime depth zero", []kv{{"limits.mime_depth", 0}}, "limits.mime_depth"},
		{"mime parts zero", []kv{{"limits.mime_parts", 0}}, "limits.mime_parts"},
		{"forward depth zero", []kv{{"limits.forward_depth", 0}}, "limits.forward_depth"},
		{"empty mailbox", []kv{{"imap.mailbox", " "}}, "imap.mailbox"},
		{"processed is the inbox", []kv{{"imap.processed_mailbox", "inbox"}}, "imap.processed_mailbox"},
		{"oauth without token source", []kv{{"imap.auth", "xoauth2"}}, "imap.oauth.token_file"},
		{"oauth with two token sources", []kv{{"imap.auth", "oauthbearer"}, {"imap.password_file", remove},
			{"imap.oauth.token_file", "/dev/null"}, {"imap.oauth.token_command", "get-token"}}, "imap.oauth.token_command"},
		{"client credentials without token_url", []kv{{"imap.auth", "xoauth2"}, {"imap.password_file", remove},
			{"imap.oauth.client_id", "app"}, {"imap.oauth.client_secret", "x"}}, "imap.oauth.token_url"},
		{"client credentials over http", []kv{{"imap.auth", "xoauth2"}, {"imap.password_file", remove},
			{"imap.oauth.client_id", "app"}, {"imap.oauth.client_secret", "x"},
			{"imap.oauth.token_url", "http://login.example.com/token"}}, "imap.oauth.token_url"},
		{"client credentials without secret", []kv{{"imap.auth", "xoauth2"}, {"imap.password_file", remove},
			{"imap.oauth.client_id", "app"}, {"imap.oauth.token_url", "https://login.example.com/token"}}, "imap.oauth.client_secret"},
		{"oauth setting with plain auth", []kv{{"imap.oauth.token_command", "get-token"}}, "imap.oauth.token_command"},
		{"missing token file", []kv{{"imap.auth", "xoauth2"}, {"imap.password_file", remove},
			{"imap.oauth.token_file", "/nonexistent/token"}}, "imap.oauth.token_file"},

		// SMTP.
		{"smtp tls mode", []kv{{"smtp.tls", "tls"}}, "smtp.tls"},
		{"smtp clear text to remote host", []kv{{"smtp.tls", "none"}}, "smtp.tls"},
		{"smtp auth", []kv{{"smtp.auth", "cram-md5"}}, "smtp.auth"},
		{"smtp username without auth", []kv{{"smtp.username", "desk@example.org"}}, "smtp.username"},
		{"smtp login without password", []kv{{"smtp.auth", "login"}, {"smtp.username", "u"}}, "smtp.password"},
		{"smtp oauth setting without xoauth2", []kv{{"smtp.oauth.client_id", "app"}}, "smtp.oauth.client_id"},
		{"smtp.from unparsable", []kv{{"smtp.from", "Mesa de servicios"}}, "smtp.from"},
		{"smtp.support_address unparsable", []kv{{"smtp.support_address", "soporte@"}}, "smtp.support_address"},
		{"max_attach_total negative", []kv{{"smtp.max_attach_total", -1}}, "smtp.max_attach_total"},
		{"no smtp connection", []kv{{"smtp.connections", 0}}, "smtp.connections"},
		{"too many smtp connections", []kv{{"smtp.connections", 17}}, "smtp.connections"},

		// Groups.
		{"level out of range", []kv{{"groups.redes.level", 4}}, "groups.redes.level"},
		{"level zero", []kv{{"groups.redes.level", 0}}, "groups.redes.level"},
		{"no level-1 group", []kv{{"groups.mesa", remove}}, "groups"},
		{"no groups at all", []kv{{"groups", remove}}, "groups"},
		{"member unparsable", []kv{{"groups.redes.members", []any{"b@example.org", "carla at example"}}}, "groups.redes.members[1]"},
		{"no members", []kv{{"groups.redes.members", []any{}}}, "groups.redes.members"},
		{"bad kind", []kv{{"groups.redes.kind", "vendor"}}, "groups.redes.kind"},
		{"desk not at level 1", []kv{{"groups.redes.kind", "desk"}}, "groups.redes.kind"},
		{"two defaults for a level", []kv{{"groups.redes.default", true},
			{"groups.sitio", map[string]any{"level": 2, "default": true, "members": []any{"s@example.org"}}}}, "groups.sitio.default"},
		{"group name not one word", []kv{{"groups.mesa tecnica", map[string]any{"level": 2, "members": []any{"s@example.org"}}}}, "groups.mesa tecnica"},

		// The rest.
		{"templates.dir missing", []kv{{"templates.dir", "/nonexistent/templates"}}, "templates.dir"},
		{"admin.listen", []kv{{"admin.listen", "8025"}}, "admin.listen"},
		{"admin.listen unix without path", []kv{{"admin.listen", "unix:"}}, "admin.listen"},
		{"admin.alert_to", []kv{{"admin.alert_to", []any{"ops@example.org", "nobody"}}}, "admin.alert_to[1]"},
		{"admin.alert_after", []kv{{"admin.alert_after", "0s"}}, "admin.alert_after"},
		{"log.format", []kv{{"log.format", "xml"}}, "log.format"},
		{"log.level", []kv{{"log.level", "verbose"}}, "log.level"},
		{"retry_min", []kv{{"outbox.retry_min", "0s"}}, "outbox.retry_min"},
		{"retry_max below retry_min", []kv{{"outbox.retry_max", "1s"}}, "outbox.retry_max"},
		{"stuck_after", []kv{{"outbox.stuck_after", "0s"}}, "outbox.stuck_after"},
		{"give_up_after not after stuck_after", []kv{{"outbox.give_up_after", "10m"}}, "outbox.give_up_after"},
		{"give_up_after negative", []kv{{"outbox.give_up_after", "-1h"}}, "outbox.give_up_after"},
		{"sla without business hours", []kv{{"sla.targets.level1", "4h"}}, "sla.business_hours"},
		{"sla business hours", []kv{{"sla.business_hours", "mon-fri 9-17"}, {"sla.targets.level1", "4h"}}, "sla.business_hours"},
		{"sla holiday", []kv{{"sla.business_hours", "24x7"}, {"sla.targets.level1", "4h"}, {"sla.holidays", []any{"2026-12-08", "navidad"}}}, "sla.holidays[1]"},
		{"sla warn_at", []kv{{"sla.business_hours", "24x7"}, {"sla.targets.level1", "4h"}, {"sla.warn_at", "75"}}, "sla.warn_at"},
		{"sla warn_at 100%", []kv{{"sla.business_hours", "24x7"}, {"sla.targets.level1", "4h"}, {"sla.warn_at", "100%"}}, "sla.warn_at"},
		{"sla target negative", []kv{{"sla.business_hours", "24x7"}, {"sla.targets.level2", "-1h"}}, "sla.targets.level2"},
		{"sla nothing due", []kv{{"sla.business_hours", "24x7"}}, "sla.targets"},
		{"sla unknown priority", []kv{{"sla.business_hours", "24x7"}, {"sla.targets_by_priority.urgente.level1", "1h"}}, "sla.targets_by_priority.urgente"},
		{"sla unknown target key", []kv{{"sla.business_hours", "24x7"}, {"sla.targets.level4", "1h"}}, "sla.targets.level4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := base(dir)
			for _, s := range tt.set {
				set(m, s.key, s.val)
			}
			_, path, err := loadMap(t, dir, m)
			wantKeyError(t, err, tt.wantKey, path)
		})
	}
}

// TestLoadValidEdges pins the settings next to the invalid ones above
// that must load.
func TestLoadValidEdges(t *testing.T) {
	t.Parallel()
	type kv struct {
		key string
		val any
	}
	tests := []struct {
		name string
		set  []kv
	}{
		{"clear text to loopback", []kv{{"imap.tls", "none"}, {"imap.host", "127.0.0.1"}, {"smtp.tls", "none"}, {"smtp.host", "::1"}}},
		{"clear text allowed", []kv{{"imap.tls", "none"}, {"imap.allow_insecure", true}}},
		{"idle_restart at the limit", []kv{{"imap.idle_restart", "29m"}}},
		{"id_prefix of 16 with digits", []kv{{"ticket.id_prefix", "Mesa2026ABCDEFGH"}}},
		{"english", []kv{{"ticket.lang", "en"}}},
		{"json log", []kv{{"log.format", "json"}, {"log.level", "error"}}},
		{"admin disabled", []kv{{"admin.listen", ""}}},
		{"admin on a socket", []kv{{"admin.listen", "unix:/run/ticketd.sock"}}},
		{"no attachments", []kv{{"smtp.max_attach_total", 0}}},
		{"one default per level", []kv{{"groups.mesa.default", true}, {"groups.redes.default", true}}},
		{"templates dir exists", []kv{{"templates.dir", "."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := base(dir)
			for _, s := range tt.set {
				set(m, s.key, s.val)
			}
			if _, _, err := loadMap(t, dir, m); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

// TestLoadReportsEveryProblem checks that problems do not hide each other.
func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := base(dir)
	set(m, "imap.host", remove)
	set(m, "imap.tls", "bogus")
	set(m, "imap.porrt", 1)
	set(m, "imap.poll_interval", "0s")
	set(m, "groups.redes.level", 7)
	set(m, "groups.redes.members", []any{"b@example.org", "broken"})
	set(m, "ticket.lang", "de")
	set(m, "log.level", "loud")
	set(m, "smtp.port", "x")
	_, path, err := loadMap(t, dir, m)
	for _, key := range []string{"imap.host", "imap.tls", "imap.porrt", "imap.poll_interval",
		"groups.redes.level", "groups.redes.members[1]", "ticket.lang", "log.level", "smtp.port"} {
		wantKeyError(t, err, key, path)
	}
	if n := len(fieldErrors(err)); n != 9 {
		t.Errorf("%d errors, want 9:\n%v", n, err)
	}
	if lines := strings.Count(err.Error(), "\n") + 1; lines != 9 {
		t.Errorf("error has %d lines, want one per problem:\n%v", lines, err)
	}
}

// TestValidateZeroPort checks that Validate, used without Load, accepts
// the zero port that means "default of the TLS mode".
func TestValidateZeroPort(t *testing.T) {
	t.Parallel()
	c := Default()
	c.IMAP.Host, c.IMAP.Username, c.IMAP.PasswordFile = "imap.example.org", "u", "/etc/pw"
	c.SMTP.Host, c.SMTP.From = "smtp.example.org", "a@example.org"
	c.Groups = map[string]GroupConfig{"mesa": {Level: 1, Members: []string{"a@example.org"}}}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestFirstStartRule(t *testing.T) {
	loc := time.FixedZone("UTC-5", -5*3600)
	for in, want := range map[string]string{"unseen": "unseen", " ALL ": "all", "new": "new", "2026-03-01": "since"} {
		rule, since, err := IMAPConfig{FirstStart: in}.FirstStartRule(loc)
		if err != nil || rule != want {
			t.Errorf("%q: rule %q, %v; want %q", in, rule, err, want)
		}
		if want == "since" && !since.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, loc)) {
			t.Errorf("%q: since %v, want midnight in the zone", in, since)
		}
	}
}

// TestNotifyAndTimezoneKeys: each key's effect on the loaded Config.
func TestNotifyAndTimezoneKeys(t *testing.T) {
	dir := t.TempDir()
	m := base(dir)
	set(m, "ticket.timezone", "America/Bogota")
	set(m, "notify.requester.level_changed", false)
	set(m, "smtp.max_attach_total", 0)
	set(m, "groups.redes.label", "Redes y comunicaciones")
	cfg, _, err := loadMap(t, dir, m)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := cfg.Ticket.Location()
	if err != nil || loc.String() != "America/Bogota" {
		t.Errorf("Location() = %v, %v", loc, err)
	}
	kinds := cfg.Notify.Requester.Kinds()
	if kinds["level_changed"] || !kinds["ack"] || !kinds["reply"] || len(kinds) != 6 {
		t.Errorf("requester notices = %v, want all on but level_changed", kinds)
	}
	if cfg.SMTP.MaxAttachTotal != 0 {
		t.Errorf("max_attach_total 0 loaded as %d", cfg.SMTP.MaxAttachTotal)
	}
	if cfg.Groups["redes"].Label != "Redes y comunicaciones" {
		t.Errorf("label = %q", cfg.Groups["redes"].Label)
	}
	cfg, _, err = loadMap(t, dir, base(dir))
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ := cfg.Ticket.Location(); loc != time.Local {
		t.Errorf("default zone %v, want the machine's", loc)
	}
	if cfg.SMTP.MaxAttachTotal != 10<<20 {
		t.Errorf("max_attach_total left out = %d, want 10 MiB", cfg.SMTP.MaxAttachTotal)
	}
}

package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxIdleRestart is the longest an IDLE may last: RFC 2177 says servers may
// drop a client idle for 30 minutes, so clients renew IDLE before 29.
const maxIdleRestart = 29 * time.Minute

// groupName is what a group may be called: one lowercase word.
var groupName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// problems collects [*FieldError]s for one file.
type problems struct {
	file string
	errs []error
}

func (p *problems) add(key, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{File: p.file, Key: key, Err: fmt.Errorf(format, args...)})
}

// Validate checks every setting and reports every problem at once, joined
// with [errors.Join], each a [*FieldError] naming c.File and the key. It
// does not read secret files ([Load] does) but checks that templates.dir is
// a directory. A zero port is valid: it means the default of the TLS mode.
// Error texts never contain a secret.
func (c Config) Validate() error {
	p := &problems{file: c.File}

	if strings.TrimSpace(c.DataDir) == "" {
		p.add("data_dir", "must not be empty")
	}

	// ticket
	if !validPrefix(c.Ticket.IDPrefix) {
		p.add("ticket.id_prefix", "%q: must be 1 to 16 ASCII letters or digits starting with a letter", c.Ticket.IDPrefix)
	}
	oneOf(p, "ticket.lang", c.Ticket.Lang, "es", "en")
	if loc, err := c.Ticket.Location(); err != nil {
		p.add("ticket.timezone", "%q: %v (an IANA name such as America/Bogota)", c.Ticket.Timezone, err)
	} else {
		c.SLA.validate(p, loc)
	}
	if c.Ticket.AutoReplyLimit <= 0 {
		p.add("ticket.auto_reply_limit", "%d: must be positive", c.Ticket.AutoReplyLimit)
	}
	if c.Ticket.RelayLimitPerHour <= 0 {
		p.add("ticket.relay_limit_per_hour", "%d: must be positive", c.Ticket.RelayLimitPerHour)
	}
	if c.Ticket.AutoReplyWindow <= 0 {
		p.add("ticket.auto_reply_window", "%v: must be positive", c.Ticket.AutoReplyWindow)
	}

	// imap
	i := c.IMAP
	server(p, "imap", i.Host, i.Port, i.TLS, i.AllowInsecure)
	switch i.Auth {
	case AuthPlain:
		credentials(p, "imap", i.Auth, i.Username, i.Password, i.PasswordFile)
		noOAuth(p, "imap", i.Auth, i.OAuth)
	case AuthXOAUTH2, AuthOAuthBearer:
		if i.Username == "" {
			p.add("imap.username", "required with imap.auth %s", i.Auth)
		}
		oauth(p, "imap", i.Auth, i.OAuth)
	default:
		p.add("imap.auth", "%q: must be plain, xoauth2 or oauthbearer", i.Auth)
	}
	if strings.TrimSpace(i.Mailbox) == "" {
		p.add("imap.mailbox", "must not be empty")
	}
	if i.ProcessedMailbox != "" && strings.EqualFold(i.ProcessedMailbox, i.Mailbox) {
		p.add("imap.processed_mailbox", "%q: must differ from imap.mailbox", i.ProcessedMailbox)
	}
	if i.PollInterval <= 0 {
		p.add("imap.poll_interval", "%v: must be positive", i.PollInterval)
	}
	if i.IdleRestart <= 0 || i.IdleRestart > maxIdleRestart {
		p.add("imap.idle_restart", "%v: must be positive and at most %v (RFC 2177)", i.IdleRestart, maxIdleRestart)
	}
	if i.MaxMessageSize <= 0 {
		p.add("imap.max_message_size", "%d: must be a positive number of bytes", i.MaxMessageSize)
	}
	if _, since, err := i.FirstStartRule(time.Local); err != nil {
		p.add("imap.first_start", "%v", err)
	} else if since.After(time.Now()) {
		p.add("imap.first_start", "%s: a date in the future would skip every mail until then; use new", i.FirstStart)
	}

	// smtp
	s := c.SMTP
	server(p, "smtp", s.Host, s.Port, s.TLS, s.AllowInsecure)
	switch s.Auth {
	case AuthNone:
		switch {
		case s.Username != "":
			p.add("smtp.username", "set, but smtp.auth is empty (no authentication): set smtp.auth to plain, login or xoauth2")
		case s.Password != "" || s.PasswordFile != "":
			p.add("smtp.password", "set, but smtp.auth is empty (no authentication): set smtp.auth to plain or login")
		}
		noOAuth(p, "smtp", "empty", s.OAuth)
	case AuthPlain, AuthLogin:
		credentials(p, "smtp", s.Auth, s.Username, s.Password, s.PasswordFile)
		noOAuth(p, "smtp", s.Auth, s.OAuth)
	case AuthXOAUTH2:
		if s.Username == "" {
			p.add("smtp.username", "required with smtp.auth %s", s.Auth)
		}
		oauth(p, "smtp", s.Auth, s.OAuth)
	default:
		p.add("smtp.auth", "%q: must be empty, plain, login or xoauth2", s.Auth)
	}
	if strings.TrimSpace(s.From) == "" {
		p.add("smtp.from", "required: the From of the mail ticketd sends, e.g. \"Mesa de servicios <soporte@example.org>\"")
	} else {
		address(p, "smtp.from", s.From)
	}
	if s.SupportAddress != "" {
		address(p, "smtp.support_address", s.SupportAddress)
	}
	if s.MaxAttachTotal < 0 {
		p.add("smtp.max_attach_total", "%d: must not be negative", s.MaxAttachTotal)
	}
	if s.Connections < 1 || s.Connections > 16 {
		p.add("smtp.connections", "%d: must be from 1 to 16", s.Connections)
	}

	c.validateGroups(p)
	c.Security.validate(p, c.SMTP.SupportAddress)
	c.Limits.validate(p)

	// templates
	if c.Templates.Dir != "" {
		if fi, err := os.Stat(c.Templates.Dir); err != nil {
			p.add("templates.dir", "%w", err)
		} else if !fi.IsDir() {
			p.add("templates.dir", "%s is not a directory", c.Templates.Dir)
		}
	}

	// admin
	if l := c.Admin.Listen; l != "" {
		if path, ok := strings.CutPrefix(l, "unix:"); ok {
			if path == "" {
				p.add("admin.listen", "%q: unix: needs a socket path", l)
			}
		} else if _, port, err := net.SplitHostPort(l); err != nil {
			p.add("admin.listen", "%q: must be host:port or unix:/path", l)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			p.add("admin.listen", "%q: bad port", l)
		}
	}
	for n, a := range c.Admin.AlertTo {
		address(p, fmt.Sprintf("admin.alert_to[%d]", n), a)
	}
	c.Web.validate(p)
	if c.Admin.AlertAfter <= 0 {
		p.add("admin.alert_after", "%v: must be positive", c.Admin.AlertAfter)
	}

	// log
	oneOf(p, "log.format", c.Log.Format, "text", "json")
	oneOf(p, "log.level", c.Log.Level, "debug", "info", "warn", "error")

	c.Report.validate(p)

	// outbox
	if c.Outbox.RetryMin <= 0 {
		p.add("outbox.retry_min", "%v: must be positive", c.Outbox.RetryMin)
	}
	if c.Outbox.RetryMax < c.Outbox.RetryMin {
		p.add("outbox.retry_max", "%v: must be at least outbox.retry_min (%v)", c.Outbox.RetryMax, c.Outbox.RetryMin)
	}
	if c.Outbox.StuckAfter <= 0 {
		p.add("outbox.stuck_after", "%v: must be positive", c.Outbox.StuckAfter)
	}
	if c.Outbox.GiveUpAfter <= c.Outbox.StuckAfter {
		p.add("outbox.give_up_after", "%v: must be longer than outbox.stuck_after (%v), so that a stuck outbox is reported before notices are given up", c.Outbox.GiveUpAfter, c.Outbox.StuckAfter)
	}

	return errors.Join(p.errs...)
}

// validateGroups checks the groups: names, levels, kinds, members, at most
// one default per level and at least one level-1 group.
func (c Config) validateGroups(p *problems) {
	names := make([]string, 0, len(c.Groups))
	for name := range c.Groups {
		names = append(names, name)
	}
	sort.Strings(names) // stable messages, and "first default" is by name
	defaults := map[int]string{}
	level1 := false
	for _, name := range names {
		g := c.Groups[name]
		key := "groups." + name
		if !groupName.MatchString(name) {
			p.add(key, "group name %q must be one lowercase word: a letter, then letters, digits, - or _", name)
		}
		switch g.Level {
		case 1:
			level1 = true
		case 2, 3:
		default:
			p.add(key+".level", "%d: must be 1, 2 or 3", g.Level)
		}
		switch g.Kind {
		case "", KindOnSite, KindSpecialist, KindProvider:
		case KindDesk:
			if g.Level != 1 {
				p.add(key+".kind", "desk is the level-1 service desk, but the group has level %d", g.Level)
			}
		default:
			p.add(key+".kind", "%q: must be desk, onsite, specialist or provider", g.Kind)
		}
		if len(g.Members) == 0 {
			p.add(key+".members", "a group needs at least one member address")
		}
		for n, m := range g.Members {
			address(p, fmt.Sprintf("%s.members[%d]", key, n), m)
		}
		if g.Default {
			if prev, ok := defaults[g.Level]; ok {
				p.add(key+".default", "level %d already has default group %q", g.Level, prev)
			} else {
				defaults[g.Level] = name
			}
		}
	}
	if !level1 {
		p.add("groups", "no level-1 group (the service desk) is configured")
	}
}

// server checks host, port and TLS mode of imap or smtp.
func server(p *problems, sec, host string, port int, tls string, allowInsecure bool) {
	if strings.TrimSpace(host) == "" {
		p.add(sec+".host", "required")
	}
	if port < 0 || port > 65535 {
		p.add(sec+".port", "%d: must be 0 (default of the TLS mode) to 65535", port)
	}
	switch tls {
	case TLSImplicit, TLSStartTLS:
	case TLSNone:
		if !allowInsecure && host != "" && !loopback(host) {
			p.add(sec+".tls", "none sends everything, credentials included, in clear text to %q, which is not a loopback host: use implicit or starttls, or set %s.allow_insecure: true", host, sec)
		}
	default:
		p.add(sec+".tls", "%q: must be implicit, starttls or none", tls)
	}
}

// credentials checks that a username and a password are given for auth.
func credentials(p *problems, sec, auth, username string, password Secret, passwordFile string) {
	if username == "" {
		p.add(sec+".username", "required with %s.auth %s", sec, auth)
	}
	if password == "" && passwordFile == "" {
		p.add(sec+".password", "required with %s.auth %s: set %s.password_file or $%s", sec, auth, sec, EnvName(sec+".password"))
	}
}

// noOAuth reports OAuth settings made for an auth that does not use them.
func noOAuth(p *problems, sec, auth string, o OAuthConfig) {
	if o.IsZero() {
		return
	}
	p.add(sec+".oauth."+firstOAuthKey(o), "set, but %s.auth is %s: remove it or choose an OAuth mechanism", sec, auth)
}

// firstOAuthKey names the first OAuth setting made in o.
func firstOAuthKey(o OAuthConfig) string {
	switch {
	case o.TokenFile != "":
		return "token_file"
	case o.TokenCommand != "":
		return "token_command"
	case o.ClientID != "":
		return "client_id"
	case o.ClientSecret != "":
		return "client_secret"
	case o.ClientSecretFile != "":
		return "client_secret_file"
	case o.TokenURL != "":
		return "token_url"
	default:
		return "scopes"
	}
}

// oauth checks that exactly one token source is configured, and that the
// client-credentials flow, if chosen, is complete.
func oauth(p *problems, sec, auth string, o OAuthConfig) {
	k := sec + ".oauth."
	var sources []string
	if o.TokenFile != "" {
		sources = append(sources, k+"token_file")
	}
	if o.TokenCommand != "" {
		sources = append(sources, k+"token_command")
	}
	if o.clientCredentials() {
		sources = append(sources, k+"client_id")
	}
	switch len(sources) {
	case 0:
		p.add(k+"token_file", "%s.auth %s needs one token source: %stoken_file, %stoken_command or %sclient_id with %stoken_url", sec, auth, k, k, k, k)
		return
	case 1:
	default:
		p.add(sources[1], "conflicts with %s: give exactly one token source", sources[0])
		return
	}
	if !o.clientCredentials() {
		return
	}
	if o.ClientID == "" {
		p.add(k+"client_id", "required by the client-credentials flow")
	}
	if o.ClientSecret == "" && o.ClientSecretFile == "" {
		p.add(k+"client_secret", "required by the client-credentials flow: set %sclient_secret_file or $%s", k, EnvName(k+"client_secret"))
	}
	if o.TokenURL == "" {
		p.add(k+"token_url", "required by the client-credentials flow")
	} else if u, err := url.Parse(o.TokenURL); err != nil || u.Host == "" ||
		(u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		p.add(k+"token_url", "%q: must be an https URL", o.TokenURL)
	}
}

// address checks that s parses as a mail address (RFC 5322), with or
// without a display name.
func address(p *problems, key, s string) {
	if _, err := mail.ParseAddress(s); err != nil {
		p.add(key, "%q is not a mail address: %v", s, err)
	}
}

// oneOf checks that value is one of allowed.
func oneOf(p *problems, key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		p.add(key, "%q: must be %s", value, orList(allowed))
	}
}

// orList returns "a, b or c".
func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// validPrefix reports whether p can prefix ticket IDs: 1 to 16 ASCII
// letters or digits, starting with a letter.
func validPrefix(p string) bool {
	if p == "" || len(p) > 16 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// loopback reports whether host is localhost or a loopback IP address.
func loopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

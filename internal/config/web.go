package config

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WebConfig is the desk's read-only web console (package internal/web):
// queues, cases, search, indicators, and the requesters' status pages.
type WebConfig struct {
	// Listen is where the console listens, host:port; "" (default)
	// disables it.
	Listen string `mapstructure:"listen"`
	// BaseURL is the address people use to reach the console, such as
	// "https://soporte.example.gov.co" (behind a reverse proxy): the links
	// of login and acknowledgement mails start with it, and https turns on
	// the Secure flag of the session cookie. Required with Listen.
	BaseURL string `mapstructure:"base_url"`
	// SessionIdle is how long a signed-in session lasts without a request.
	// Default 8h.
	SessionIdle time.Duration `mapstructure:"session_idle"`
	// StatusPage turns on the requesters' status page (/s/<token>) and its
	// link in the acknowledgement. Default true.
	StatusPage bool `mapstructure:"status_page"`
	// TrustedHeader is the request header a single-sign-on reverse proxy
	// sets to the signed-in address ("X-Forwarded-Email"); "" (default)
	// means sign-in by mailed link only.
	TrustedHeader string `mapstructure:"trusted_header"`
	// TrustedProxies are the addresses or CIDR ranges TrustedHeader is
	// honoured from; required with TrustedHeader.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// StaffSeeAll lets level-2 and level-3 members see every ticket, not
	// only those at their levels and those they worked on. Default false.
	StaffSeeAll bool `mapstructure:"staff_see_all"`
}

// Enabled reports whether the console is on.
func (w WebConfig) Enabled() bool { return w.Listen != "" }

// Proxies returns TrustedProxies as prefixes (a bare address is a /32 or
// /128); invalid entries are left out ([Config.Validate] reports them).
func (w WebConfig) Proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range w.TrustedProxies {
		if p, err := parseProxy(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func defaultWeb() WebConfig {
	return WebConfig{SessionIdle: 8 * time.Hour, StatusPage: true, TrustedProxies: []string{}}
}

func (w WebConfig) validate(p *problems) {
	if w.SessionIdle <= 0 {
		p.add("web.session_idle", "%v: must be positive", w.SessionIdle)
	}
	if w.Listen != "" {
		host, port, err := net.SplitHostPort(w.Listen)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			p.add("web.listen", "%q: must be host:port", w.Listen)
		} else if strings.ContainsAny(host, "/ ") {
			p.add("web.listen", "%q: bad host", w.Listen)
		}
		if w.BaseURL == "" {
			p.add("web.base_url", "required with web.listen: the address people reach the console at, for the links in mails")
		}
	}
	if w.BaseURL != "" {
		u, err := url.Parse(w.BaseURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			p.add("web.base_url", "%q: must be an http or https URL such as https://soporte.example.gov.co", w.BaseURL)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			p.add("web.base_url", "%q: must have no user, query or fragment", w.BaseURL)
		case w.Listen != "" && placeholderHost(u.Hostname()):
			p.add("web.base_url", "%q: %s is a placeholder name (RFC 2606), so the links in mails would lead nowhere: "+
				"set the address people reach the console at, or web.listen: \"\" to turn the console off", w.BaseURL, u.Hostname())
		}
	}
	if w.TrustedHeader != "" && len(w.TrustedProxies) == 0 {
		p.add("web.trusted_proxies", "required with web.trusted_header: the header is honoured only from these addresses")
	}
	for i, s := range w.TrustedProxies {
		if _, err := parseProxy(s); err != nil {
			p.add("web.trusted_proxies["+strconv.Itoa(i)+"]", "%q: must be an IP address or CIDR range", s)
		}
	}
}

// placeholderHost reports whether host is a name reserved for examples
// (RFC 2606, RFC 6761): example.com, .org or .net, the .example and
// .invalid top-level domains, or a name with an "example" label such as
// the example configuration's soporte.example.gov.co.
func placeholderHost(host string) bool {
	labels := strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	return slices.Contains(labels, "example") || labels[len(labels)-1] == "invalid"
}

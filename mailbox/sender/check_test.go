package sender

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const plainMail = "From: Ana Gómez <ana@example.org>\r\nTo: soporte@desk.example.org\r\n" +
	"Subject: Re: [OTI-2026-000001] impresora\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n\r\n#cerrar forzar duplicado\r\n"

// checker returns a Checker with the given policy.
func checker(t testing.TB, accept, ids []string, resolver string, timeout time.Duration) *Checker {
	t.Helper()
	p, err := NewPolicy(accept, ids)
	if err != nil {
		t.Fatalf("NewPolicy(%q, %q): %v", accept, ids, err)
	}
	c, err := New(Options{Policy: p, Resolver: resolver, DNSTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func check(t testing.TB, c *Checker, raw, from string) Verdict {
	t.Helper()
	return c.Check(t.Context(), Mail{Raw: strings.NewReader(raw), From: from})
}

// wantVerdict fails unless v has the trust and code given.
func wantVerdict(t testing.TB, v Verdict, trusted bool, code string) {
	t.Helper()
	if v.Trusted != trusted || v.Code != code {
		t.Fatalf("Check = trusted %v code %q (%s), want trusted %v code %q; %+v", v.Trusted, v.Code, v.Reason, trusted, code, v)
	}
	if v.Reason == "" || len(v.Reason) > 300 {
		t.Errorf("Reason = %q: want a short sentence", v.Reason)
	}
}

func TestDKIMVerifiedHere(t *testing.T) {
	t.Parallel()
	ed, rs := ed25519Key(t), rsaKey(t)
	addr := dnsServer(t, map[string]string{
		record("example.org"):      ed.record,
		record("mail.example.org"): rs.record,
		record("evil.example"):     ed.record,
	})
	c := checker(t, nil, nil, addr, 2*time.Second)
	tests := []struct {
		name    string
		raw     string
		trusted bool
		code    string
	}{
		{"ed25519 signature of the From domain", sign(t, ed, "example.org", plainMail), true, CodeTrusted},
		{"rsa signature of a subdomain (relaxed alignment)", sign(t, rs, "mail.example.org", plainMail), true, CodeTrusted},
		{"tampered body", strings.Replace(sign(t, ed, "example.org", plainMail), "duplicado", "cualquiera", 1), false, "dkim_fail"},
		{"tampered subject", strings.Replace(sign(t, ed, "example.org", plainMail), "000001", "000002", 1), false, "dkim_fail"},
		{"signature of an unaligned domain", sign(t, ed, "evil.example", plainMail), false, "dkim_unaligned"},
		{"no key in DNS", sign(t, ed, "nokey.example.org", plainMail), false, "dkim_fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := check(t, c, tt.raw, "ana@example.org")
			wantVerdict(t, v, tt.trusted, tt.code)
			if tt.trusted && v.By != DKIM {
				t.Errorf("By = %q, want dkim", v.By)
			}
		})
	}
}

func TestDKIMTimeout(t *testing.T) {
	t.Parallel()
	c := checker(t, nil, nil, silentDNS(t), 200*time.Millisecond)
	raw := sign(t, ed25519Key(t), "example.org", plainMail)
	done := make(chan Verdict, 1)
	go func() { done <- check(t, c, raw, "ana@example.org") }()
	select {
	case v := <-done:
		wantVerdict(t, v, false, "dkim_dns")
		if !strings.Contains(v.Reason, "DNS") {
			t.Errorf("Reason = %q, want it to name DNS", v.Reason)
		}
	case <-time.After(30 * time.Second): // a hang, not a slow machine
		t.Fatal("Check did not return after the DNS timeout")
	}
}

func TestAuthResultsTrust(t *testing.T) {
	t.Parallel()
	ids := []string{"mx.desk.example.org"}
	addr := dnsServer(t, nil) // no key anywhere: only the headers can trust
	tests := []struct {
		name    string
		accept  []string
		header  string
		trusted bool
		code    string
	}{
		{"dmarc pass from the trusted server", nil,
			"Authentication-Results: mx.desk.example.org; spf=pass smtp.mailfrom=ana@example.org;\r\n dkim=pass header.d=example.org; dmarc=pass (p=REJECT) header.from=example.org\r\n",
			true, CodeTrusted},
		{"forged dmarc pass from a foreign authserv-id", nil,
			"Authentication-Results: evil.example; dmarc=pass header.from=example.org\r\n",
			false, CodeNoEvidence},
		{"forged dmarc pass below the trusted server's own field", nil,
			"Authentication-Results: mx.desk.example.org; spf=fail smtp.mailfrom=x@evil.example; dkim=none; dmarc=fail header.from=example.org\r\n" +
				"Authentication-Results: mx.desk.example.org; dmarc=pass header.from=example.org; dkim=pass header.d=example.org\r\n",
			false, "dmarc_fail"},
		{"a foreign field above the trusted one is skipped", nil,
			"Authentication-Results: relay.example.net; dmarc=fail header.from=example.org\r\n" +
				"Authentication-Results: mx.desk.example.org; dmarc=pass header.from=example.org\r\n",
			true, CodeTrusted},
		{"dmarc pass for another domain", nil,
			"Authentication-Results: mx.desk.example.org; dmarc=pass header.from=evil.example\r\n",
			false, "dmarc_other_domain"},
		{"two dmarc results, as an injected envelope address gives", nil,
			"Authentication-Results: mx.desk.example.org; spf=pass smtp.mailfrom=x;dmarc=pass header.from=example.org; dmarc=fail header.from=example.org\r\n",
			false, "dmarc_conflict"},
		{"dkim pass reported as header.i only (Gmail)", nil,
			"Authentication-Results: mx.desk.example.org;\r\n       dkim=pass header.i=@example.org header.s=20230601 header.b=abc;\r\n       dmarc=none header.from=example.org\r\n",
			true, CodeTrusted},
		{"dkim pass of an unaligned domain", nil,
			"Authentication-Results: mx.desk.example.org; dkim=pass header.d=example-org.gappssmtp.com; dmarc=fail header.from=example.org\r\n",
			false, "dmarc_fail"},
		{"spf pass aligned", []string{"spf"},
			"Authentication-Results: mx.desk.example.org; spf=pass (sender IP is 192.0.2.1; ok) smtp.mailfrom=bounces@mail.example.org\r\n",
			true, CodeTrusted},
		{"spf pass of another domain", []string{"spf"},
			"Authentication-Results: mx.desk.example.org; spf=pass smtp.mailfrom=\"prvs=1=x@evil.example\"\r\n",
			false, "spf_unaligned"},
		{"auth pass as the From address", []string{"auth"},
			"Authentication-Results: mx.desk.example.org; auth=pass smtp.auth=ANA@example.org\r\n",
			true, CodeTrusted},
		{"auth pass as someone else", []string{"auth"},
			"Authentication-Results: mx.desk.example.org; auth=pass smtp.auth=eve@example.org\r\n",
			false, "auth_other_identity"},
		{"auth=none: nobody logged in, an absence, not a failure", []string{"auth"},
			"Authentication-Results: mx.desk.example.org; auth=none\r\n",
			false, CodeNoEvidence},
		{"auth=fail", []string{"auth"},
			"Authentication-Results: mx.desk.example.org; auth=fail smtp.auth=ana@example.org\r\n",
			false, "auth_fail"},
		{"no results at all", nil, "", false, CodeNoEvidence},
		{"Exchange's internal marker", nil,
			"X-MS-Exchange-Organization-AuthAs: Internal\r\n", true, CodeTrusted},
		{"Exchange's internal marker, internal not accepted", []string{"dmarc"},
			"X-MS-Exchange-Organization-AuthAs: Internal\r\n", false, CodeNoEvidence},
		{"Exchange's anonymous marker", []string{"internal"},
			"X-MS-Exchange-Organization-AuthAs: Anonymous\r\n", false, CodeNoEvidence},
		{"Microsoft 365 field without authserv-id, not configured", nil,
			"Authentication-Results: spf=pass (sender IP is 192.0.2.1)\r\n smtp.mailfrom=example.org; dkim=none (message not signed)\r\n header.d=none;dmarc=pass action=none header.from=example.org;compauth=pass\r\n reason=100\r\n",
			false, CodeNoEvidence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := checker(t, tt.accept, ids, addr, time.Second)
			v := check(t, c, tt.header+plainMail, "ana@example.org")
			wantVerdict(t, v, tt.trusted, tt.code)
		})
	}
}

func TestMicrosoft365(t *testing.T) {
	t.Parallel()
	c := checker(t, nil, []string{Microsoft365}, dnsServer(t, nil), time.Second)
	real := "Authentication-Results: spf=pass (sender IP is 192.0.2.1)\r\n smtp.mailfrom=example.org; dkim=none (message not signed)\r\n header.d=none;dmarc=pass action=none header.from=example.org;compauth=pass\r\n reason=100\r\n"
	forged := "Authentication-Results: spf=fail (sender IP is 198.51.100.7)\r\n smtp.mailfrom=evil.example; dkim=none (message not signed)\r\n header.d=none;dmarc=fail action=oreject header.from=example.org;compauth=fail\r\n reason=000\r\n" +
		"Authentication-Results: dmarc=pass action=none header.from=example.org\r\n"
	wantVerdict(t, check(t, c, real+plainMail, "ana@example.org"), true, CodeTrusted)
	wantVerdict(t, check(t, c, forged+plainMail, "ana@example.org"), false, "dmarc_fail")
	// A field that names an authserv-id is not Microsoft 365's.
	wantVerdict(t, check(t, c, "Authentication-Results: microsoft365; dmarc=pass header.from=example.org\r\n"+plainMail, "ana@example.org"), false, CodeNoEvidence)
}

func TestNoTrustedServerReason(t *testing.T) {
	t.Parallel()
	c := checker(t, []string{"dmarc"}, nil, "", time.Second)
	v := check(t, c, "Authentication-Results: mx.desk.example.org; dmarc=pass header.from=example.org\r\n"+plainMail, "ana@example.org")
	wantVerdict(t, v, false, CodeNoEvidence)
	if !strings.Contains(v.Reason, "security.authserv_id") {
		t.Errorf("Reason = %q, want it to name security.authserv_id", v.Reason)
	}
}

func TestFromMustBeOneAndTheSame(t *testing.T) {
	t.Parallel()
	c := checker(t, nil, nil, "", time.Second)
	internal := "X-MS-Exchange-Organization-AuthAs: Internal\r\n"
	tests := []struct{ name, raw, from string }{
		{"two From fields", internal + "From: boss@example.org\r\n" + plainMail, "boss@example.org"},
		{"two addresses", internal + strings.Replace(plainMail, "<ana@example.org>", "<ana@example.org>, boss@example.org", 1), "ana@example.org"},
		{"another address than the one checked", internal + plainMail, "boss@example.org"},
		{"no From", internal + "Subject: x\r\n\r\nbody\r\n", "ana@example.org"},
		{"unreadable header", "no colon here\r\n" + plainMail, "ana@example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantVerdict(t, check(t, c, tt.raw, tt.from), false, CodeBadFrom)
		})
	}
	// The same mail with its one From is trusted, so the refusals above
	// come from the From rule.
	wantVerdict(t, check(t, c, internal+plainMail, "Ana@Example.org"), true, CodeTrusted)
}

func TestReplyToken(t *testing.T) {
	t.Parallel()
	c := checker(t, []string{"reply_token"}, nil, "", time.Second)
	v := c.Check(t.Context(), Mail{Raw: strings.NewReader(plainMail), From: "ana@example.org", ReplyToken: true})
	wantVerdict(t, v, true, CodeTrusted)
	wantVerdict(t, check(t, c, plainMail, "ana@example.org"), false, CodeNoEvidence)
}

func TestPolicyNone(t *testing.T) {
	t.Parallel()
	c := checker(t, []string{"none"}, nil, "", time.Second)
	v := check(t, c, plainMail, "ana@example.org")
	wantVerdict(t, v, true, CodeTrusted)
	if v.By != None || v.Warning == "" {
		t.Errorf("Verdict = %+v, want By none with a warning", v)
	}
	p, _ := NewPolicy([]string{"none"}, nil)
	if w := p.Warnings(); len(w) != 1 || !strings.Contains(w[0], "every sender") {
		t.Errorf("Warnings() = %q, want the none warning", w)
	}
	// Without none, the same mail is not trusted.
	wantVerdict(t, check(t, checker(t, nil, nil, "", time.Second), plainMail, "ana@example.org"), false, CodeNoEvidence)
}

func TestNewPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept, ids []string
		wantErr     string
		want        []Evidence
	}{
		{nil, nil, "", DefaultAccept},
		{[]string{" DKIM ", "auth"}, []string{"mx.google.com"}, "", []Evidence{DKIM, Auth}},
		{[]string{"none", "dkim"}, nil, "none must stand alone", nil},
		{[]string{"dkim", "none"}, nil, "none must stand alone", nil},
		{[]string{"dkim", "dkim"}, nil, "listed twice", nil},
		{[]string{"pgp"}, nil, `"pgp" is not a kind of evidence`, nil},
		{nil, []string{""}, "must be one word", nil},
		{nil, []string{"mx.google.com; dmarc=pass"}, "must be one word", nil},
	}
	for _, tt := range tests {
		p, err := NewPolicy(tt.accept, tt.ids)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("NewPolicy(%q, %q) = %v", tt.accept, tt.ids, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("NewPolicy(%q, %q) error = %v, want %q", tt.accept, tt.ids, err, tt.wantErr)
		case tt.wantErr == "" && !slices.Equal(p.Accepted(), tt.want):
			t.Errorf("NewPolicy(%q, %q).Accepted() = %q, want %q", tt.accept, tt.ids, p.Accepted(), tt.want)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New with the zero Policy: no error")
	}
}

func TestAligned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d, from string
		want    bool
	}{
		{"example.org", "example.org", true},
		{"mail.example.org", "example.org", true},
		{"example.org", "ventas.example.org", true},
		{"a.example.org", "b.example.org", true},
		{"Example.ORG", "example.org", true},
		{"evil.example", "example.org", false},
		{"example.org.evil.example", "example.org", false},
		{"otra.gov.co", "example.gov.co", false}, // gov.co is a public suffix
		{"mail.example.gov.co", "example.gov.co", true},
		{"gov.co", "example.gov.co", false},
		{"com", "example.com", false},
	}
	for _, tt := range tests {
		if got := aligned(tt.d, tt.from); got != tt.want {
			t.Errorf("aligned(%q, %q) = %v, want %v", tt.d, tt.from, got, tt.want)
		}
	}
}

package sender

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAuthResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		id       string
		want     []Result
		wantErr  bool
	}{
		{"Gmail", "mx.google.com;\r\n       dkim=pass header.i=@oracle.com header.s=corp-2018-07-02 header.b=lhk5qU4z;\r\n" +
			"       spf=pass (google.com: domain of d@oracle.com designates 156.151.31.86 as permitted sender) smtp.mailfrom=d@oracle.com;\r\n" +
			"       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=oracle.com",
			"mx.google.com", []Result{
				{Method: "dkim", Value: "pass", Props: map[string]string{"header.i": "@oracle.com", "header.s": "corp-2018-07-02", "header.b": "lhk5qU4z"}},
				{Method: "spf", Value: "pass", Props: map[string]string{"smtp.mailfrom": "d@oracle.com"}},
				{Method: "dmarc", Value: "pass", Props: map[string]string{"header.from": "oracle.com"}},
			}, false},
		{"Microsoft 365, no authserv-id, bare words, trailing ';'",
			"spf=pass (sender IP is 165.204.84.17)\r\n smtp.mailfrom=amd.com; lists.freedesktop.org; dkim=none (message not signed)\r\n" +
				" header.d=none;lists.freedesktop.org; dmarc=pass action=none\r\n header.from=amd.com;compauth=pass reason=100;",
			"", []Result{
				{Method: "spf", Value: "pass", Props: map[string]string{"smtp.mailfrom": "amd.com"}},
				{Method: "dkim", Value: "none", Props: map[string]string{"header.d": "none"}},
				{Method: "dmarc", Value: "pass", Props: map[string]string{"action": "none", "header.from": "amd.com"}},
				{Method: "compauth", Value: "pass", Reason: "100", Props: map[string]string{}},
			}, false},
		{"comment holding ';' and '=', nested comment, quoted values, version",
			`mx.example.org 1; spf=PASS (ip is 1.2.3.4; helo=x (nested; y=z)) smtp.mailfrom="prvs=1=a@b.example"; auth=pass smtp.auth="ana;x"`,
			"mx.example.org", []Result{
				{Method: "spf", Value: "pass", Props: map[string]string{"smtp.mailfrom": "prvs=1=a@b.example"}},
				{Method: "auth", Value: "pass", Props: map[string]string{"smtp.auth": "ana;x"}},
			}, false},
		{"none", "mx.example.org; none", "mx.example.org", nil, false},
		{"unknown method with a version", "mx.example.org; x-foo/2=pass x.y=z", "mx.example.org",
			[]Result{{Method: "x-foo", Version: "2", Value: "pass", Props: map[string]string{"x.y": "z"}}}, false},
		{"a repeated property keeps the first value", "mx.example.org; dmarc=pass header.from=a.example header.from=b.example", "mx.example.org",
			[]Result{{Method: "dmarc", Value: "pass", Props: map[string]string{"header.from": "a.example"}}}, false},
		{"unsupported version", "mx.example.org 2; dmarc=pass header.from=a.example", "mx.example.org", nil, true},
		{"no ';' after the id", "mx.example.org dmarc=pass", "mx.example.org", nil, true},
		{"a method without result", "mx.example.org; dkim=pass; spf=", "mx.example.org",
			[]Result{{Method: "dkim", Value: "pass", Props: map[string]string{}}}, true},
		{"empty", "", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, got, err := ParseAuthResults(tt.in)
			if id != tt.id || (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseAuthResults(%q) =\n %q, %+v, %v\nwant\n %q, %+v, error %v", tt.in, id, got, err, tt.id, tt.want, tt.wantErr)
			}
		})
	}
}

// FuzzAuthResults checks that no header field value makes the parser panic
// or loop, and that what it returns is well formed.
func FuzzAuthResults(f *testing.F) {
	for _, s := range []string{
		"mx.google.com; dkim=pass header.i=@example.org; spf=pass (google.com: x) smtp.mailfrom=a@example.org; dmarc=pass (p=NONE) header.from=example.org",
		"spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=example.org; dkim=none (message not signed) header.d=none;dmarc=pass action=none header.from=example.org;compauth=pass reason=100",
		`mx 1; auth=pass smtp.auth="a\"b;c" (unclosed`,
		"x; none", "(((", `"`, ";;;", "a; b/=c", "a; m=r p", "a 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, rs, _ := ParseAuthResults(s)
		if len(id) > len(s) {
			t.Fatalf("authserv-id %q longer than the input", id)
		}
		for _, r := range rs {
			if r.Method == "" || r.Value == "" || r.Props == nil {
				t.Fatalf("ParseAuthResults(%q): malformed result %+v", s, r)
			}
			if r.Method != strings.ToLower(r.Method) || strings.ContainsAny(r.Method, " ;=(") {
				t.Fatalf("ParseAuthResults(%q): method %q", s, r.Method)
			}
		}
	})
}

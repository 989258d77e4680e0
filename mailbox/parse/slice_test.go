package parse

import (
	"encoding/base64"
	"strings"
	"testing"
)

// forwardedMail is a mail forwarding each of msgs as a message/rfc822 part
// with the transfer encoding cte ("" for none), after a text part.
func forwardedMail(text, cte string, msgs ...string) string {
	var b strings.Builder
	b.WriteString("From: Ana <ana@example.com>\r\nSubject: reenvío\r\nMessage-ID: <s@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"s\"\r\n\r\n" +
		"--s\r\nContent-Type: text/plain\r\n\r\n" + text + "\r\n")
	for _, m := range msgs {
		b.WriteString("--s\r\nContent-Type: message/rfc822\r\n")
		if cte != "" {
			b.WriteString("Content-Transfer-Encoding: " + cte + "\r\n")
		}
		b.WriteString("\r\n" + m + "\r\n")
	}
	b.WriteString("--s--\r\n")
	return b.String()
}

// inner is a forwarded message of n body lines.
func inner(subject string, n int) string {
	return "From: Luis <luis@example.com>\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@example.com>\r\n\r\n" +
		strings.Repeat("línea del mensaje reenviado "+subject+"\r\n", n)
}

// forwardedAttachments reads raw with a sink that takes slices and returns
// the forwarded messages' contents and how many were kept as slices.
func forwardedAttachments(t *testing.T, raw string, opts Options) (msgs []string, slices int) {
	t.Helper()
	sink := newSink(t)
	opts.Sink = sink
	m, err := Read(strings.NewReader(raw), opts)
	if err != nil {
		t.Fatal(err)
	}
	sink.checkBlobs(t, m)
	for _, a := range m.Attachments {
		if a.ContentType == "message/rfc822" {
			msgs = append(msgs, string(sink.get(t, a.SHA256)))
		}
	}
	return msgs, len(sink.slices)
}

// TestForwardedKeptAsSlice: a forwarded message sent as it is (no transfer
// encoding, 7bit, 8bit, binary) is kept as a slice of the raw mail, each of
// several, also when the text before it quotes its first lines; one sent in
// base64 (not allowed by RFC 2046 §5.2.1, but seen) is decoded and kept as
// a copy, as is anything given to a Sink that takes no slices.
func TestForwardedKeptAsSlice(t *testing.T) {
	a, b := inner("uno", 200), inner("dos", 300)
	tests := []struct {
		name       string
		raw        string
		want       []string
		wantSlices int
	}{
		{"no encoding", forwardedMail("hola", "", a), []string{a}, 1},
		{"7bit, two", forwardedMail("hola", "7bit", a, b), []string{a, b}, 2},
		{"8bit", forwardedMail("hola", "8bit", b), []string{b}, 1},
		{"binary", forwardedMail("hola", "binary", a), []string{a}, 1},
		{"start quoted before", forwardedMail(strings.Repeat(a[:300]+"\r\n", 3), "", a), []string{a}, 1},
		{"base64", forwardedMail("hola", "base64", base64.StdEncoding.EncodeToString([]byte(a))), []string{a}, 0},
		{"quoted-printable", forwardedMail("hola", "quoted-printable", strings.ReplaceAll(a, "í", "=C3=AD")), []string{a}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, slices := forwardedAttachments(t, tc.raw, Options{})
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || slices != tc.wantSlices {
				t.Errorf("forwarded %d messages (%d as slices), want %d (%d as slices)", len(got), slices, len(tc.want), tc.wantSlices)
			}
		})
	}
	m, err := Read(strings.NewReader(forwardedMail("hola", "", a)), Options{Sink: hashSink{}})
	if err != nil || len(m.Attachments) != 1 || m.Attachments[0].SHA256 != sha([]byte(a)) {
		t.Errorf("with a Sink that takes no slices: %+v, %v", m, err)
	}
}

// TestTruncatedForwardSlice: in a mail cut to MaxSize inside a forwarded
// message, what is kept of it lies within the kept raw mail: no slice
// reaches beyond it.
func TestTruncatedForwardSlice(t *testing.T) {
	a := inner("largo", 2000)
	raw := forwardedMail("hola", "", a)
	for _, cut := range []int64{int64(len(raw)) - 20, int64(len(raw)) / 2, int64(strings.Index(raw, "Luis")) + 2} {
		got, slices := forwardedAttachments(t, raw, Options{MaxSize: cut})
		t.Logf("cut at %d of %d: %d bytes of the forwarded message kept, %d as a slice", cut, len(raw), len(strings.Join(got, "")), slices)
		if len(got) != 1 || !strings.HasPrefix(a, got[0]) {
			t.Errorf("cut at %d: forwarded %d messages, want one that starts the original", cut, len(got))
		}
	}
	// A slice of the whole forwarded message once nothing of it is cut.
	if got, slices := forwardedAttachments(t, raw, Options{MaxSize: int64(len(raw))}); len(got) != 1 || got[0] != a || slices != 1 {
		t.Errorf("not cut: %d messages, %d slices", len(got), slices)
	}
}

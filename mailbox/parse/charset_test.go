package parse

import (
	"bytes"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// encode returns s in enc, as an old mailer would write it raw in a header.
func encode(t *testing.T, enc encoding.Encoding, s string) string {
	t.Helper()
	b, err := enc.NewEncoder().String(s)
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

// TestRaw8BitHeaders reads mails whose Subject, From name and attachment
// name are raw bytes of GBK, GB2312, Shift_JIS or windows-1252, with and
// without a charset declared for the text.
func TestRaw8BitHeaders(t *testing.T) {
	t.Parallel()
	gbk, sjis, latin := simplifiedchinese.GBK, japanese.ShiftJIS, charmap.Windows1252
	tests := []struct {
		name     string
		enc      encoding.Encoding
		charset  string // of the text/plain part; "" for none
		subject  string
		fromName string
		file     string
	}{
		{"gb2312 declared", gbk, "gb2312", "转发: 关于网络故障的通知", "张伟", "故障截图.png"},
		{"gbk declared", gbk, "GBK", "回复: 打印机无法连接", "李娜", "报告.docx"},
		{"gbk undeclared", gbk, "", "转发: 关于网络故障的通知", "张伟", "故障截图.png"},
		{"shift_jis declared", sjis, "shift_jis", "転送: 会議室のプロジェクター", "山田太郎", "資料.pdf"},
		{"shift_jis undeclared", sjis, "", "転送: 会議室のプロジェクターが映りません", "山田太郎", "資料.pdf"},
		{"latin1 undeclared", latin, "", "Información sobre el portátil", "José Peña", "García.pdf"},
		{"latin1 short undeclared", latin, "", "Reunión", "Peña", "año.txt"},
		{"latin1 declared", latin, "iso-8859-1", "Müller Straße größe", "Jürgen Weiß", "Übersicht.xlsx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct := "text/plain"
			if tt.charset != "" {
				ct += "; charset=" + tt.charset
			}
			raw := "From: " + encode(t, tt.enc, tt.fromName) + " <a@example.org>\r\n" +
				"Subject: " + encode(t, tt.enc, tt.subject) + "\r\n" +
				"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: " + ct + "\r\n\r\nhello\r\n" +
				"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + encode(t, tt.enc, tt.file) + "\"\r\n\r\ndata\r\n--b--\r\n"
			m, err := Read(bytes.NewReader([]byte(raw)), Options{Sink: newSink(t)})
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			if m.From.Name != tt.fromName || m.From.Addr != "a@example.org" {
				t.Errorf("From = %+v, want %q <a@example.org>", m.From, tt.fromName)
			}
			if len(m.Attachments) != 1 || m.Attachments[0].Filename != tt.file {
				t.Errorf("Attachments = %+v, want one named %q", m.Attachments, tt.file)
			}
		})
	}
}

// TestUndeclaredBodyCharset reads a text part without a charset whose
// bytes are GBK: the detector reads the text, not windows-1252.
func TestUndeclaredBodyCharset(t *testing.T) {
	t.Parallel()
	body := "您好，办公室三楼的打印机从昨天开始无法打印，显示卡纸错误，但是里面没有纸。请尽快派人检查。谢谢！"
	raw := "From: a@example.org\r\nSubject: x\r\n\r\n" + encode(t, simplifiedchinese.GBK, body) + "\r\n"
	m, err := Read(bytes.NewReader([]byte(raw)), Options{Sink: newSink(t)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != body {
		t.Errorf("Text = %q, want %q", m.Text, body)
	}
}

func TestEncodedWordPadding(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		// "转发" in GB2312 is 0xD7AA 0xB7A2: "16q3og==", here with surplus padding.
		{"=?gb2312?B?16q3og====?=", "转发"},
		{"=?gb2312?B?16q3og?=", "转发"},
		{"=?UTF-8?B?w7Fhbw==?= x", "ñao x"},
		{"=?utf-8?b?w7Fhbw=?=", "ñao"},
	}
	for _, tt := range tests {
		if got, err := decodeWords(tt.in); got != tt.want {
			t.Errorf("decodeWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

package parse

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/saintfish/chardet"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
)

// Raw 8-bit header fields (RFC 6532 allows only UTF-8; older mailers send
// their local charset) are decoded in this order: as UTF-8 when they are
// valid UTF-8; in the charset the mail declares for its text, when the
// bytes are valid in it; in the charset a detector finds in all the 8-bit
// header bytes of the mail together; windows-1252 when nothing fits better.

// lookupCharset returns the encoding of a MIME charset name, or nil for an
// unknown name and for UTF-8 and US-ASCII, which need no decoding.
func lookupCharset(name string) encoding.Encoding {
	name = strings.ToLower(strings.Trim(strings.TrimSpace(name), `"`))
	switch name {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return nil
	case "gb2312", "gbk", "x-gbk", "cp936":
		// Mailers label GBK text (a superset of GB2312) as gb2312; GB18030
		// is the superset of both.
		name = "gb18030"
	}
	enc, err := htmlindex.Get(name)
	if err != nil {
		return nil
	}
	return enc
}

// decodeStrict decodes b with enc and reports whether every byte was valid.
func decodeStrict(enc encoding.Encoding, b []byte) (string, bool) {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil || !utf8.Valid(out) {
		return "", false
	}
	s := string(out)
	return s, !strings.ContainsRune(s, utf8.RuneError) || strings.Contains(string(b), "\uFFFD")
}

// multiByte are the charsets detectCharset weighs when the detector is
// not sure, in the order that wins a tie: Chinese mail is the most common
// sender of raw 8-bit headers, and GB18030, Shift_JIS, EUC-KR and Big5
// share many byte pairs.
var multiByte = []struct {
	name  string
	plain func(r rune) bool // a character text in the charset is made of
}{
	{"gb18030", isGB2312},
	{"shift_jis", isJapanese},
	{"euc-kr", isHangul},
	{"big5", isHan},
}

// detectCharset returns the encoding of the 8-bit text b, which is not
// valid UTF-8: the detector's answer when it is confident, else the East
// Asian multi-byte charset in which b decodes best, else windows-1252.
func detectCharset(b []byte) encoding.Encoding {
	if rs, err := chardet.NewTextDetector().DetectAll(b); err == nil {
		for _, r := range rs {
			// Below 50 the detector is guessing: short texts such as one
			// subject get 10 for every multi-byte charset.
			if r.Confidence < 50 {
				break
			}
			if enc := lookupCharset(r.Charset); enc != nil {
				if _, ok := decodeStrict(enc, b); ok {
					return enc
				}
			}
		}
	}
	if !hasHighByteRun(b) {
		// Single 8-bit bytes between ASCII ones are accented letters of a
		// Latin text; every East Asian character takes a run of them.
		return charmap.Windows1252
	}
	var best encoding.Encoding
	bestScore := 0.8 // the least share of plausible characters accepted
	for _, c := range multiByte {
		enc := lookupCharset(c.name)
		s, ok := decodeStrict(enc, b)
		if !ok {
			continue
		}
		if score := plausible(s, c.plain); score > bestScore {
			best, bestScore = enc, score
		}
	}
	if best == nil {
		return charmap.Windows1252
	}
	return best
}

// hasHighByteRun reports whether b holds two 8-bit bytes in a row.
func hasHighByteRun(b []byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i] >= 0x80 && b[i-1] >= 0x80 {
			return true
		}
	}
	return false
}

// plausible returns the share of the non-ASCII characters of s for which
// ok holds.
func plausible(s string, ok func(rune) bool) float64 {
	var all, good int
	for _, r := range s {
		if r < 0x80 {
			continue
		}
		all++
		if ok(r) || isCJKPunct(r) {
			good++
		}
	}
	if all == 0 {
		return 0
	}
	return float64(good) / float64(all)
}

func isCJKPunct(r rune) bool {
	return (r >= 0x3000 && r <= 0x303f) || (r >= 0xff01 && r <= 0xff5e)
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

// isGB2312 reports whether r is one of the characters of GB2312, the set
// that nearly all Chinese text uses; the rest of GB18030 decodes from
// byte pairs that text in other charsets makes too.
func isGB2312(r rune) bool {
	if !isHan(r) {
		return false
	}
	b, err := gb2312.NewEncoder().Bytes([]byte(string(r)))
	return err == nil && len(b) == 2 && b[0] >= 0xa1 && b[1] >= 0xa1
}

// gb2312 encodes runes to check that they are in GB2312.
var gb2312 = lookupCharset("gb18030")

func isJapanese(r rune) bool {
	return isHan(r) || unicode.Is(unicode.Hiragana, r) || (unicode.Is(unicode.Katakana, r) && !(r >= 0xff61 && r <= 0xff9f))
}

func isHangul(r rune) bool { return r >= 0xac00 && r <= 0xd7a3 }

// headerDecoder decodes the raw 8-bit header fields of one mail.
type headerDecoder struct {
	hint   encoding.Encoding // the charset the mail declares for its text
	sample []byte            // the 8-bit header bytes of the mail
	enc    encoding.Encoding // chosen on first use
}

// add notes a raw header value as part of the sample the detector reads.
func (d *headerDecoder) add(v string) {
	if d.enc == nil && !utf8.ValidString(v) {
		d.sample = append(append(d.sample, v...), ' ')
	}
}

// decode returns v as UTF-8.
func (d *headerDecoder) decode(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	if d.enc == nil {
		d.enc = charmap.Windows1252
		sample := append(d.sample, v...)
		if _, ok := decodeStrictOrNil(d.hint, sample); ok {
			d.enc = d.hint
		} else {
			d.enc = detectCharset(sample)
		}
	}
	if s, ok := decodeStrict(d.enc, []byte(v)); ok {
		return s
	}
	return toUTF8([]byte(v))
}

// decodeStrictOrNil is decodeStrict that fails for a nil encoding.
func decodeStrictOrNil(enc encoding.Encoding, b []byte) (string, bool) {
	if enc == nil {
		return "", false
	}
	return decodeStrict(enc, b)
}

// encodedWordB matches an RFC 2047 encoded word in the B encoding.
var encodedWordB = regexp.MustCompile(`=\?([^?\s]+)\?[bB]\?([^?\s]*)\?=`)

// repairPadding rewrites the base64 of B encoded words to the padding RFC
// 4648 asks for: mailers add surplus "=" (…GyhC==?=) or leave it out, and
// a strict decoder would keep such a word literally.
func repairPadding(v string) string {
	if !strings.Contains(v, "?=") {
		return v
	}
	return encodedWordB.ReplaceAllStringFunc(v, func(w string) string {
		sm := encodedWordB.FindStringSubmatch(w)
		data := strings.TrimRight(sm[2], "=")
		if len(data)%4 == 1 {
			data = data[:len(data)-1] // a stray character: no byte to decode
		}
		if n := len(data) % 4; n > 0 {
			data += strings.Repeat("=", 4-n)
		}
		return "=?" + sm[1] + "?B?" + data + "?="
	})
}

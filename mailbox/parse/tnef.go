package parse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
)

// This file decodes the attachments of a TNEF stream (MS-OXTNEF), the
// winmail.dat that Outlook sends as application/ms-tnef. Only what a help
// desk needs is read: each attachment's title, long file name, MIME tag and
// content. The message body (compressed RTF) is ignored.

// TNEF constants from MS-OXTNEF §2.1.3.
const (
	tnefSignature = 0x223e9f78

	// Attribute identifiers: type in the high 16 bits, id in the low 16.
	attAttachRendData = 0x00069002 // starts a new attachment
	attAttachTitle    = 0x00018010 // short file name (8-bit string)
	attAttachData     = 0x0006800f // content
	attAttachment     = 0x00069005 // MAPI properties of the attachment

	// MAPI property types (MS-OXCDATA §2.11.1).
	ptUnspecified = 0x0000
	ptNull        = 0x0001
	ptShort       = 0x0002
	ptLong        = 0x0003
	ptFloat       = 0x0004
	ptDouble      = 0x0005
	ptCurrency    = 0x0006
	ptAppTime     = 0x0007
	ptError       = 0x000a
	ptBoolean     = 0x000b
	ptObject      = 0x000d
	ptI8          = 0x0014
	ptString8     = 0x001e
	ptUnicode     = 0x001f
	ptSysTime     = 0x0040
	ptCLSID       = 0x0048
	ptBinary      = 0x0102
	mvFlag        = 0x1000

	// MAPI property ids (MS-OXPROPS).
	prAttachDataBin      = 0x3701 // PT_BINARY, or PT_OBJECT for embedded messages
	prAttachLongFilename = 0x3707
	prAttachMimeTag      = 0x370e

	// Limits that keep a hostile stream from costing much.
	tnefMaxFiles   = 1000
	tnefMaxString  = 64 << 10
	tnefMaxProps   = 100_000
	tnefMaxValues  = 100_000
	tnefObjectIID  = 16
	tnefHeaderSize = 9 // level (1), attribute (4), length (4)
)

// errTNEFTruncated reports a stream that ends inside an attribute.
var errTNEFTruncated = errors.New("tnef: truncated stream")

// storeError marks an error of the Sink, as opposed to malformed
// input: it aborts [Read] instead of becoming a problem note.
type storeError struct{ err error }

func (e storeError) Error() string { return e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// tnefFile is one attachment found in a TNEF stream.
type tnefFile struct {
	Title    string // attAttachTitle, often an 8.3 name
	LongName string // PR_ATTACH_LONG_FILENAME
	MIMETag  string // PR_ATTACH_MIME_TAG
	Ref      stored
	HasData  bool
}

// Name returns the best file name known for f.
func (f *tnefFile) Name() string {
	if f.LongName != "" {
		return f.LongName
	}
	return f.Title
}

// decodeTNEF reads a TNEF stream and hands each attachment's content to put,
// which must read its argument to the end and store it. It returns the
// attachments that have content, in order, even when it also returns an
// error; an error of put is returned as a storeError.
func decodeTNEF(r io.Reader, put func(io.Reader) (stored, error)) ([]tnefFile, error) {
	var hdr [6]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("tnef: read signature: %w", errTNEFTruncated)
	}
	if binary.LittleEndian.Uint32(hdr[:4]) != tnefSignature {
		return nil, errors.New("tnef: bad signature")
	}
	d := tnefDecoder{put: put}
	err := d.attributes(r)
	d.flush()
	return d.files, err
}

type tnefDecoder struct {
	put   func(io.Reader) (stored, error)
	files []tnefFile
	cur   *tnefFile
}

// flush ends the current attachment.
func (d *tnefDecoder) flush() {
	if d.cur != nil && d.cur.HasData {
		d.files = append(d.files, *d.cur)
	}
	d.cur = nil
}

// current returns the attachment being decoded, starting one if a stream
// sends attachment attributes before attAttachRendData.
func (d *tnefDecoder) current() *tnefFile {
	if d.cur == nil {
		d.cur = new(tnefFile)
	}
	return d.cur
}

// attributes decodes attributes until the end of r.
func (d *tnefDecoder) attributes(r io.Reader) error {
	for {
		var hdr [tnefHeaderSize]byte
		n, err := io.ReadFull(r, hdr[:])
		if n == 0 && err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tnef: attribute header: %w", errTNEFTruncated)
		}
		id := binary.LittleEndian.Uint32(hdr[1:5])
		size := int64(binary.LittleEndian.Uint32(hdr[5:9]))
		lr := &io.LimitedReader{R: r, N: size}
		if err := d.attribute(id, lr); err != nil {
			return fmt.Errorf("tnef: attribute %#08x: %w", id, err)
		}
		// Skip what the handler left, then the checksum, which is not
		// checked: a bad sum still leaves usable data.
		if _, err := io.Copy(io.Discard, lr); err != nil {
			return err
		}
		if lr.N > 0 {
			return fmt.Errorf("tnef: attribute %#08x: %w", id, errTNEFTruncated)
		}
		var sum [2]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return fmt.Errorf("tnef: checksum: %w", errTNEFTruncated)
		}
	}
}

func (d *tnefDecoder) attribute(id uint32, lr *io.LimitedReader) error {
	switch id {
	case attAttachRendData:
		d.flush()
		if len(d.files) >= tnefMaxFiles {
			return errors.New("too many attachments")
		}
		d.cur = new(tnefFile)
	case attAttachTitle:
		s, err := readString8(lr, lr.N)
		if err != nil {
			return err
		}
		d.current().Title = s
	case attAttachData:
		return d.storeData(lr, lr.N)
	case attAttachment:
		return d.props(lr)
	}
	return nil
}

// storeData stores the next size bytes of r as the current attachment's
// content, unless it already has some.
func (d *tnefDecoder) storeData(r io.Reader, size int64) error {
	cur := d.current()
	if cur.HasData {
		return nil // the caller skips the duplicate
	}
	ref, err := d.put(io.LimitReader(r, size))
	if err != nil {
		return storeError{err}
	}
	cur.Ref, cur.HasData = ref, true
	if ref.Size < size {
		return errTNEFTruncated
	}
	return nil
}

// props decodes a MAPI property list (MS-OXTNEF §2.1.3.4).
func (d *tnefDecoder) props(r *io.LimitedReader) error {
	count, err := readUint32(r)
	if err != nil {
		return err
	}
	if count > tnefMaxProps {
		return fmt.Errorf("%d properties", count)
	}
	for range count {
		tag, err := readUint32(r)
		if err != nil {
			return err
		}
		typ, pid := tag&0xffff, tag>>16
		if pid >= 0x8000 { // named property: skip its name
			if err := skipPropName(r); err != nil {
				return err
			}
		}
		if err := d.propValue(r, pid, typ); err != nil {
			return err
		}
	}
	return nil
}

func skipPropName(r *io.LimitedReader) error {
	if err := skip(r, 16); err != nil { // GUID
		return err
	}
	kind, err := readUint32(r)
	if err != nil {
		return err
	}
	switch kind {
	case 0: // MNID_ID
		return skip(r, 4)
	case 1: // MNID_STRING
		n, err := readUint32(r)
		if err != nil {
			return err
		}
		return skip(r, padded(int64(n)))
	default:
		return fmt.Errorf("named property kind %d", kind)
	}
}

func (d *tnefDecoder) propValue(r *io.LimitedReader, pid, typ uint32) error {
	base := typ &^ mvFlag
	var fixed int64
	switch base {
	case ptUnspecified, ptNull, ptShort, ptLong, ptFloat, ptError, ptBoolean:
		fixed = 4 // 2-byte values are padded to 4
	case ptDouble, ptCurrency, ptAppTime, ptI8, ptSysTime:
		fixed = 8
	case ptCLSID:
		fixed = 16
	case ptString8, ptUnicode, ptBinary, ptObject:
		// Variable length: always preceded by a count.
	default:
		return fmt.Errorf("property %#04x has unknown type %#04x", pid, typ)
	}
	if fixed > 0 && typ&mvFlag == 0 {
		return skip(r, fixed)
	}
	n, err := readUint32(r)
	if err != nil {
		return err
	}
	if n > tnefMaxValues {
		return fmt.Errorf("property %#04x has %d values", pid, n)
	}
	if fixed > 0 {
		return skip(r, fixed*int64(n))
	}
	for i := range n {
		size32, err := readUint32(r)
		if err != nil {
			return err
		}
		size := int64(size32)
		if size > r.N {
			return errTNEFTruncated
		}
		if err := d.variable(r, pid, base, size, i == 0); err != nil {
			return err
		}
		if err := skip(r, padded(size)-size); err != nil {
			return err
		}
	}
	return nil
}

// variable consumes one variable-length value of size bytes.
func (d *tnefDecoder) variable(r *io.LimitedReader, pid, typ uint32, size int64, first bool) error {
	var err error
	switch {
	case first && pid == prAttachDataBin && typ == ptBinary:
		return d.storeValue(r, size)
	case first && pid == prAttachDataBin && typ == ptObject && size >= tnefObjectIID:
		// An object starts with the interface id of its storage.
		if err := skip(r, tnefObjectIID); err != nil {
			return err
		}
		return d.storeValue(r, size-tnefObjectIID)
	case first && (pid == prAttachLongFilename || pid == prAttachMimeTag) && (typ == ptString8 || typ == ptUnicode):
		var s string
		if typ == ptUnicode {
			s, err = readUTF16(r, size)
		} else {
			s, err = readString8(r, size)
		}
		if err != nil {
			return err
		}
		if pid == prAttachLongFilename {
			d.current().LongName = s
		} else {
			d.current().MIMETag = s
		}
		return nil
	}
	return skip(r, size)
}

// storeValue stores size bytes as the content, or skips them when the
// attachment already has content from attAttachData.
func (d *tnefDecoder) storeValue(r *io.LimitedReader, size int64) error {
	if d.current().HasData {
		return skip(r, size)
	}
	return d.storeData(r, size)
}

func padded(n int64) int64 { return (n + 3) &^ 3 }

func readUint32(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, errTNEFTruncated
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func skip(r io.Reader, n int64) error {
	if n <= 0 {
		return nil
	}
	m, err := io.CopyN(io.Discard, r, n)
	if m < n {
		if err == nil || err == io.EOF {
			err = errTNEFTruncated
		}
		return err
	}
	return nil
}

// readBytes reads size bytes of which at most tnefMaxString are kept.
func readBytes(r io.Reader, size int64) ([]byte, error) {
	keep := min(size, tnefMaxString)
	b := make([]byte, keep)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, errTNEFTruncated
	}
	return b, skip(r, size-keep)
}

// readString8 reads a NUL-terminated 8-bit string, in UTF-8 or else in the
// Windows code page Outlook most often uses for ours.
func readString8(r io.Reader, size int64) (string, error) {
	b, err := readBytes(r, size)
	if err != nil {
		return "", err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return toUTF8(b), nil
}

// readUTF16 reads a NUL-terminated UTF-16LE string.
func readUTF16(r io.Reader, size int64) (string, error) {
	b, err := readBytes(r, size)
	if err != nil {
		return "", err
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u)), nil
}

package parse

import (
	"bufio"
	"bytes"
	"io"
)

// limitHeader returns r with its header block (up to the first blank line)
// cut to the limits: a field over a quarter of HeaderBytes is cut there,
// and fields past HeaderBytes or HeaderFields are dropped. Each cut is
// noted once, naming the part (path) whose header it was.
func (p *parser) limitHeader(r io.Reader, path string) io.Reader {
	br := bufio.NewReader(r)
	fieldCap := p.lim.HeaderBytes / 4
	var (
		out                  bytes.Buffer
		cur                  []byte // the field being read, with its continuation lines
		fields, dropped, cut int
		seen                 int // bytes of the header block as sent
	)
	flush := func() {
		if cur == nil {
			return
		}
		if fields >= p.lim.HeaderFields || out.Len()+len(cur) > p.lim.HeaderBytes {
			dropped++
		} else {
			out.Write(cur)
			fields++
		}
		cur = nil
	}
	for {
		line, long, err := readLine(br, fieldCap)
		seen += len(line) + long
		if long > 0 {
			cut++
		}
		switch {
		case len(line) == 0:
		case len(bytes.TrimRight(line, "\r\n")) == 0:
			flush()
			out.Write(line)
			err = io.EOF
		case (line[0] == ' ' || line[0] == '\t') && cur != nil:
			if len(cur)+len(line) > fieldCap {
				cut++
			} else {
				cur = append(cur, line...)
			}
		default:
			flush()
			cur = line
		}
		if err != nil {
			flush()
			break
		}
	}
	if cut > 0 {
		p.m.problem("part %s: header fields over %d bytes cut (%d times)", path, fieldCap, cut)
	}
	if dropped > 0 {
		p.m.problem("part %s: header of %d bytes over the limits of %d bytes and %d fields: %d fields dropped",
			path, seen, p.lim.HeaderBytes, p.lim.HeaderFields, dropped)
	}
	return io.MultiReader(&out, br)
}

// readLine reads one line of br, ending in "\n" unless the input ends
// first, keeping at most max bytes of it (a cut line gets a CRLF) and
// skipping the rest. It returns the bytes skipped.
func readLine(br *bufio.Reader, max int) (line []byte, skipped int, err error) {
	for {
		frag, ferr := br.ReadSlice('\n')
		if room := max - len(line); room > 0 {
			line = append(line, frag[:min(len(frag), room)]...)
			skipped += len(frag) - min(len(frag), room)
		} else {
			skipped += len(frag)
		}
		if ferr != bufio.ErrBufferFull {
			if skipped > 0 && !bytes.HasSuffix(line, []byte("\n")) {
				line = append(bytes.TrimRight(line, "\r"), "\r\n"...)
			}
			return line, skipped, ferr
		}
	}
}

package resp

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// clientDecoder reads the commands a client sends.
type clientDecoder struct {
	s    *Session
	p    parser
	args [][]byte // scratch for inline arguments
}

// Next implements wrappers.Decoder.
func (d *clientDecoder) Next() (wrappers.Message, error) {
	rd := &d.p.rd
	if err := d.p.resume(); err != nil {
		return wrappers.Message{}, err
	}
	err := rd.Frame()
	if err != nil {
		return wrappers.Message{}, err
	}
	var (
		t term.Term
		c call
	)
	if rd.Buf[rd.Pos] == '*' {
		var ok bool
		if t, c, ok = d.quickCommand(); !ok {
			t, c, err = d.multibulk()
		}
	} else {
		t, c, err = d.inline()
	}
	if err != nil {
		d.p.interrupted(err)
		return wrappers.Message{}, err
	}
	if t == nil {
		// Redis skips empty arrays and blank inline lines without a reply.
		return wrappers.Message{Kind: wrappers.Filler, Raw: rd.Raw()}, nil
	}
	d.s.push(c)
	return wrappers.Message{Kind: wrappers.Call, Term: t, Raw: rd.Raw()}, nil
}

// interrupted handles an error of the parse of a frame. For
// wrappers.ErrWouldBlock, the parser being recursive, not incremental, the
// frame is parsed again from its first byte, once the skipper has seen it
// end (see skipper). The arena may have handed out pieces of terms nobody
// uses, which costs a few of its bytes; nothing else was changed before
// the frame was whole.
func (p *parser) interrupted(err error) {
	if bufread.WouldBlock(err) {
		p.rd.Rewind()
		p.skipFrom(0)
	}
}

// resume, after wrappers.ErrWouldBlock interrupted a frame, scans what
// arrived since; it returns the read's error while the frame has not
// ended.
func (p *parser) resume() error {
	if p.skip != nil && p.skip.on {
		return p.skip.skip(&p.rd)
	}
	return nil
}

// skipFrom starts the skipper at rel, relative to the frame's start.
func (p *parser) skipFrom(rel int) {
	if p.skip == nil {
		p.skip = new(skipper)
	}
	p.skip.start(rel)
}

// command returns the term of a command, the bare name or the tuple of the
// name and the arguments in tu[1:], and the call it makes.
func (p *parser) command(nm name, tu term.Tuple) (term.Term, call) {
	if len(tu) == 0 {
		return nm.atom, call{op: nm.op}
	}
	tu[0] = nm.atom
	return p.ar.tuple(tu), call{op: nm.op, args: len(tu) - 1}
}

// quickArgs is the most words (the name included) quickCommand takes.
const quickArgs = 8

// quickCommand decodes the usual command straight from the buffer: an
// array of at most quickArgs bulk strings, its count of one digit and
// their lengths of one or two, all of it buffered. It reads what
// multibulk would read, and gives the same term, but in one pass over
// local indexes rather than through the general readers. Anything else it
// leaves alone (ok false, nothing consumed) for multibulk, which also
// reports the errors; the arena may then have handed out pieces of a term
// nobody uses, which costs a few of its bytes and nothing else.
func (d *clientDecoder) quickCommand() (term.Term, call, bool) {
	p := &d.p
	rd := &p.rd
	buf := p.quickBuf()
	if len(buf) < 4 || buf[2] != '\r' || buf[3] != '\n' {
		return nil, call{}, false
	}
	n := int(buf[1]) - '0'
	if n < 1 || n > quickArgs {
		return nil, call{}, false
	}
	b, e, ok := quickBulk(buf, 4, rd.Lim.MaxBinary)
	if !ok {
		return nil, call{}, false
	}
	nm := p.lookup(buf[b:e])
	i := e + 2
	var tu term.Tuple
	if n > 1 {
		tu = p.ar.slots(n)
		for k := 1; k < n; k++ {
			if b, e, ok = quickBulk(buf, i, rd.Lim.MaxBinary); !ok {
				return nil, call{}, false
			}
			tu[k] = p.ar.binary(buf[b:e])
			i = e + 2
		}
	}
	rd.Pos += i
	t, c := p.command(nm, tu)
	return t, c, true
}

// quickBuf returns the bytes buffered from the parse position, up to the
// frame limit: only those count for the quick paths, so that what they
// decode the general path accepts too.
func (p *parser) quickBuf() []byte {
	buf := p.rd.Buf[p.rd.Pos:p.rd.End]
	if room := p.rd.Lim.MaxFrame - (p.rd.Pos - p.rd.Start); len(buf) > room {
		buf = buf[:max(room, 0)]
	}
	return buf
}

// quickBulk finds the bulk string at buf[i:] when its length has one or two
// digits, it is at most maxLen and its bytes and CRLF are in buf: it
// returns where its bytes start and end. It reads the header as one word
// ("$3\r\n").
func quickBulk(buf []byte, i, maxLen int) (start, end int, ok bool) {
	if len(buf)-i < 6 { // "$0\r\n\r\n"
		return 0, 0, false
	}
	h := binary.LittleEndian.Uint32(buf[i:])
	l := int(h>>8&0xff) - '0'
	if h&0xff != '$' || uint(l) > 9 {
		return 0, 0, false
	}
	j := i + 4
	if h>>16 != '\r'|'\n'<<8 {
		d := int(h>>16&0xff) - '0'
		if uint(d) > 9 || h>>24 != '\r' || buf[i+4] != '\n' {
			return 0, 0, false
		}
		l = l*10 + d
		j++
	}
	if l > maxLen || len(buf)-j < l+2 || binary.LittleEndian.Uint16(buf[j+l:]) != '\r'|'\n'<<8 {
		return 0, 0, false
	}
	return j, j + l, true
}

// multibulk reads a command sent as an array of bulk strings. It returns
// nil for the arrays Redis ignores (*0 and *-1).
func (d *clientDecoder) multibulk() (term.Term, call, error) {
	p := &d.p
	at := p.rd.Off()
	p.rd.Pos++
	n, streamed, err := p.header(at, "command array")
	if err != nil {
		return nil, call{}, err
	}
	if streamed {
		return nil, call{}, p.rd.ErrAt(at+1, "a command cannot be a streamed array")
	}
	if n <= 0 {
		return nil, call{}, nil
	}
	// The shortest argument is "$0\r\n\r\n", two minimal elements.
	if err := p.count(at, n, 2, 1, "command array"); err != nil {
		return nil, call{}, err
	}
	var nm name
	var tu term.Tuple
	switch {
	case n == 1:
	case n <= maxElems:
		tu = p.ar.slots(int(n))[:1]
	default:
		tu = make(term.Tuple, 1, capFor(n))
	}
	for i := int64(0); i < n; i++ {
		if !p.rd.Has(1) {
			if err := p.rd.Need(1, "a command argument"); err != nil {
				return nil, call{}, err
			}
		}
		aat := p.rd.Off()
		if c := p.rd.Buf[p.rd.Pos]; c != '$' {
			return nil, call{}, p.rd.ErrAt(aat, "argument %d of %d of a command is %s, not a bulk string ('$')", i+1, n, quoteByte(c))
		}
		p.rd.Pos++
		ln, streamed, err := p.header(aat, "argument")
		if err != nil {
			return nil, call{}, err
		}
		if streamed || ln < 0 {
			return nil, call{}, p.rd.ErrAt(aat+1, "argument %d of %d of a command has no length", i+1, n)
		}
		b, err := p.blob(aat, ln, "argument")
		if err != nil {
			return nil, call{}, err
		}
		if i == 0 {
			nm = p.lookup(b)
			continue
		}
		tu = append(tu, p.ar.binary(b))
	}
	t, c := p.command(nm, tu)
	return t, c, nil
}

// inline reads a command sent as a line of words (telnet style).
func (d *clientDecoder) inline() (term.Term, call, error) {
	p := &d.p
	at := p.rd.Off()
	line, _, err := p.rd.Line("inline command")
	if errors.Is(err, io.EOF) {
		return nil, call{}, p.rd.EndedAt(p.rd.Offset(p.rd.End), "stream ended inside an inline command (frame started at byte %d)", at)
	}
	if err != nil {
		return nil, call{}, err
	}
	args, bad := splitArgs(line, d.args[:0])
	d.args = args[:0]
	if bad >= 0 {
		return nil, call{}, p.rd.ErrAt(at+int64(bad), "unbalanced quotes in inline command")
	}
	if len(args) == 0 {
		return nil, call{}, nil
	}
	for _, a := range args {
		if len(a) > p.rd.Lim.MaxBinary {
			return nil, call{}, p.rd.LimitAt(at, "inline argument of %d bytes exceeds the limit of %d bytes", len(a), p.rd.Lim.MaxBinary)
		}
	}
	var tu term.Tuple
	if len(args) > 1 {
		tu = p.ar.slots(len(args))
		for i, a := range args[1:] {
			tu[i+1] = p.ar.binary(a)
		}
	}
	t, c := p.command(p.lookup(args[0]), tu)
	return t, c, nil
}

// splitArgs splits an inline command as Redis's sdssplitargs does: words
// separated by white space; "double quotes" with \n \r \t \b \a \xHH and
// \<char> escapes; 'single quotes' with \' only; a closing quote must be
// followed by white space or the end. It appends to dst and returns the
// index of the offending byte, or -1. Unquoted words are sub-slices of
// line; quoted ones are fresh.
func splitArgs(line []byte, dst [][]byte) ([][]byte, int) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return dst, -1
		}
		start := i
		var cur []byte
		quoted := false
		for i < len(line) && !isSpace(line[i]) {
			c := line[i]
			if c != '"' && c != '\'' {
				if quoted {
					cur = append(cur, c)
				}
				i++
				continue
			}
			if !quoted {
				cur = append([]byte(nil), line[start:i]...)
				quoted = true
			}
			qs := i
			i++
			closed := false
			for i < len(line) {
				c2 := line[i]
				if c == '"' && c2 == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]) {
					cur = append(cur, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 4
					continue
				}
				if c2 == '\\' && i+1 < len(line) {
					e := line[i+1]
					if c == '"' {
						switch e {
						case 'n':
							e = '\n'
						case 'r':
							e = '\r'
						case 't':
							e = '\t'
						case 'b':
							e = '\b'
						case 'a':
							e = '\a'
						}
						cur = append(cur, e)
						i += 2
						continue
					}
					if e == '\'' {
						cur = append(cur, '\'')
						i += 2
						continue
					}
				}
				if c2 == c {
					i++
					if i < len(line) && !isSpace(line[i]) {
						return dst, i
					}
					closed = true
					break
				}
				cur = append(cur, c2)
				i++
			}
			if !closed {
				return dst, qs
			}
			break
		}
		if quoted {
			if cur == nil {
				cur = []byte{}
			}
			dst = append(dst, cur)
		} else {
			dst = append(dst, line[start:i])
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// Buffered implements wrappers.Bufferer.
func (d *clientDecoder) Buffered() int { return d.p.rd.Buffered() }

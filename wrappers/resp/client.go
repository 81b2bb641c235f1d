package resp

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// clientDecoder reads the commands a client sends.
type clientDecoder struct {
	s    *Session
	p    parser
	args [][]byte // scratch for inline arguments
	// held are the calls of the commands returned since the last Flush,
	// oldest first, which the server decoder does not see yet; only
	// while batching (wrappers.Batcher).
	held     []call
	batching bool
}

// Batch implements wrappers.Batcher.
func (d *clientDecoder) Batch() { d.batching = true }

// Flush implements wrappers.Batcher: the held calls join the queue, in
// one hold of the lock. When the queue is empty (the server decoder took
// it), the two swap arrays, so that none is copied and all keep their
// capacity.
func (d *clientDecoder) Flush() {
	if len(d.held) == 0 {
		return
	}
	s := d.s
	s.mu.Lock()
	if len(s.queued) == 0 {
		s.queued, d.held = d.held, s.queued[:0]
	} else {
		s.queued = append(s.queued, d.held...)
		d.held = d.held[:0]
	}
	s.mu.Unlock()
}

// push records the call of the command Next returns: held until Flush
// while batching, else queued at once.
func (d *clientDecoder) push(c call) {
	if d.batching {
		d.held = append(d.held, c)
		return
	}
	d.s.push(c)
}

// Next implements wrappers.Decoder.
func (d *clientDecoder) Next() (wrappers.Message, error) {
	rd := &d.p.rd
	if !rd.Ready() {
		if err := rd.Frame(); err != nil {
			return wrappers.Message{}, err
		}
	}
	if rd.Buf[rd.Pos] == '*' {
		if t, c, raw := d.quickCommand(); t != nil {
			d.push(c)
			return wrappers.Message{Kind: wrappers.Call, Term: t, Raw: raw}, nil
		}
	}
	return d.next()
}

// next is Next for the frames quickCommand leaves alone.
func (d *clientDecoder) next() (wrappers.Message, error) {
	rd := &d.p.rd
	var (
		t   term.Term
		c   call
		err error
	)
	if rd.Buf[rd.Pos] == '*' {
		t, c, err = d.multibulk()
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
	d.push(c)
	return wrappers.Message{Kind: wrappers.Call, Term: t, Raw: rd.Raw()}, nil
}

// interrupted handles an error of the parse of a frame. For
// wrappers.ErrWouldBlock, the parser being recursive, not incremental, the
// frame is parsed again from its first byte, once the skipper has seen it
// end (see skipper). The arena may have handed out pieces of terms nobody
// uses, which costs a few of its bytes; nothing else was changed before
// the frame was whole.
func (p *parser) interrupted(err error) {
	if wrappers.IsWouldBlock(err) {
		p.rewindTo(0)
	}
}

// rewindTo rewinds the frame, cut by a read that would block, to be
// parsed again once the skipper, started at rel (relative to the frame's
// start), has seen the value there end.
func (p *parser) rewindTo(rel int) {
	if p.skip == nil {
		p.skip = new(skipper)
	}
	p.skip.start(rel)
	p.rd.WaitFor(p.skip)
	p.rd.Rewind()
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
// local indexes rather than through the general readers, and it returns
// the frame's bytes. Anything else it leaves alone (a nil term, nothing
// consumed) for multibulk, which also reports the errors. Every length is
// read before the arena is asked for anything, so a frame left to
// multibulk costs the arena nothing.
func (d *clientDecoder) quickCommand() (term.Term, call, []byte) {
	p := &d.p
	buf := p.quickBuf()
	var (
		nm   name
		n, i int
	)
	if h := p.hot; h != nil && len(buf) >= 16 && binary.LittleEndian.Uint64(buf) == h.memo.head && binary.LittleEndian.Uint64(buf[8:])&h.memo.mask == h.memo.word {
		nm, n, i = h.memo.name, h.memo.n, h.memo.next
	} else if nm, n, i = d.quickName(buf); n == 0 {
		return nil, call{}, nil
	}
	maxLen := p.rd.Lim.MaxBinary
	var t term.Term
	switch n {
	case 1:
		t = nm.atom
	case 2:
		b, e, ok := quickBulk(buf, i, maxLen)
		if !ok {
			return nil, call{}, nil
		}
		t, i = p.ar.command(nm.atom, buf[b:e], nil, false), e+2
	case 3:
		b1, e1, ok := quickBulk(buf, i, maxLen)
		if !ok {
			return nil, call{}, nil
		}
		b2, e2, ok := quickBulk(buf, e1+2, maxLen)
		if !ok {
			return nil, call{}, nil
		}
		t, i = p.ar.command(nm.atom, buf[b1:e1], buf[b2:e2], true), e2+2
	default:
		var at [quickArgs - 1]struct{ b, e int }
		for k := range at[:n-1] {
			b, e, ok := quickBulk(buf, i, maxLen)
			if !ok {
				return nil, call{}, nil
			}
			at[k].b, at[k].e, i = b, e, e+2
		}
		tu := p.ar.slots(n)
		tu[0] = nm.atom
		for k, a := range at[:n-1] {
			tu[k+1] = p.ar.binary(buf[a.b:a.e])
		}
		t = p.ar.tuple(tu)
	}
	p.rd.Pos += i
	return t, call{op: nm.op, args: n - 1}, buf[:i]
}

// commandMemo is the start of the last command quickName read when its
// count and name length have one digit and its name at most 6 bytes, so
// that the start is at most 16 bytes: a pipelining client sends one
// command, or a few, over and over, and a start seen before needs neither
// parse nor lookup again.
type commandMemo struct {
	head, word, mask uint64 // the first 8 bytes; the name and CRLF after them, under mask
	n, next          int    // words; where the first argument starts
	name             name
}

// quickName reads the count and the name of a command for quickCommand:
// its name, count of words and where the first argument starts; n 0 when
// it leaves the frame to multibulk.
func (d *clientDecoder) quickName(buf []byte) (nm name, n, next int) {
	if len(buf) < 4 {
		return name{}, 0, 0
	}
	h := binary.LittleEndian.Uint32(buf)
	n = int(h>>8&0xff) - '0'
	if h&0xffff00ff != '*'|'\r'<<16|'\n'<<24 || uint(n-1) >= quickArgs {
		return name{}, 0, 0
	}
	b, e, ok := quickBulk(buf, 4, d.p.rd.Lim.MaxBinary)
	if !ok {
		return name{}, 0, 0
	}
	nm = d.p.lookup(buf[b:e])
	if l := e - b; b == 8 && l <= 6 && len(buf) >= 16 {
		d.p.hotState().memo = commandMemo{
			head: binary.LittleEndian.Uint64(buf),
			word: binary.LittleEndian.Uint64(buf[8:]) & (1<<(8*(l+2)) - 1),
			mask: 1<<(8*(l+2)) - 1,
			n:    n, next: e + 2, name: nm,
		}
	}
	return nm, n, e + 2
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
// ("$3\r\n"); a length of one digit is found inline.
func quickBulk(buf []byte, i, maxLen int) (start, end int, ok bool) {
	if rest := buf[i:]; len(rest) >= 6 {
		h := binary.LittleEndian.Uint32(rest)
		if l := int(h>>8&0xff) - '0'; h&0xffff00ff == '$'|'\r'<<16|'\n'<<24 && uint(l) <= 9 && l <= maxLen && len(rest) >= l+6 && rest[l+4] == '\r' && rest[l+5] == '\n' {
			return i + 4, i + 4 + l, true
		}
	}
	return quickBulk2(buf, i, maxLen)
}

// quickBulk2 is quickBulk for a length of two digits.
func quickBulk2(buf []byte, i, maxLen int) (start, end int, ok bool) {
	if len(buf)-i < 7 { // "$10\r\n" and 10 bytes
		return 0, 0, false
	}
	h := binary.LittleEndian.Uint32(buf[i:])
	l, d := int(h>>8&0xff)-'0', int(h>>16&0xff)-'0'
	if h&0xff0000ff != '$'|'\r'<<24 || uint(l) > 9 || uint(d) > 9 || buf[i+4] != '\n' {
		return 0, 0, false
	}
	l = l*10 + d
	j := i + 5
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

// Recycle implements wrappers.Recycler: the record of a command with one or
// two arguments (most commands; see arena.command) is reused for a later
// one.
func (d *clientDecoder) Recycle(t term.Term) { d.p.ar.recycle(t) }

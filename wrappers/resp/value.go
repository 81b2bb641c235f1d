package resp

import (
	"strconv"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/intern"
)

// Terms with fixed spellings. They are constants so that storing one in a
// term.Term allocates nothing.
const (
	atomNil   = term.Atom("nil")
	atomTrue  = term.Atom("true")
	atomFalse = term.Atom("false")
	atomError = term.Atom("error")
)

// parser reads RESP values from a reader.
type parser struct {
	rd    bufread.Reader
	names intern.Cache[name]
	// hot holds what the quick paths remember of the last frames: made
	// by the first frame, let go by Trim, so that an idle connection
	// does not keep it.
	hot    *parserHot
	ar     arena
	endSeq bool // the last value read was a streamed aggregate's end marker
	// skip finds the end of a frame a read that would block interrupted,
	// before it is parsed again; made by the first such read.
	skip *skipper
}

// minElem is the fewest bytes one element of an aggregate takes on the wire
// ("_\r\n"); it bounds a declared count before anything is allocated.
const minElem = 3

// header reads the rest of a type line and parses it as a length or count.
// It accepts -1 (null) and "?" (streamed) and reports them. A one-digit
// length already read (the usual: command arrays, short keys and values)
// is taken inline; everything else goes to headerLine.
func (p *parser) header(at int64, what string) (n int64, streamed bool, err error) {
	if i := p.rd.Pos; p.rd.End-i >= 3 && i+3-p.rd.Start <= p.rd.Lim.MaxFrame {
		if d := p.rd.Buf[i] - '0'; d <= 9 && p.rd.Buf[i+1] == '\r' && p.rd.Buf[i+2] == '\n' {
			p.rd.Pos = i + 3
			return int64(d), false, nil
		}
	}
	return p.headerLine(at, what)
}

// headerLine is header for any line.
func (p *parser) headerLine(at int64, what string) (n int64, streamed bool, err error) {
	// Fast path: a length of up to 18 digits and its CRLF already read.
	// It accepts exactly what the general path below accepts for such a
	// line, the frame limit included, and leaves everything else to it.
	buf := p.rd.Buf[p.rd.Pos:p.rd.End]
	for i := 0; i < len(buf) && i <= 18; i++ {
		c := buf[i]
		if '0' <= c && c <= '9' {
			n = n*10 + int64(c-'0')
			continue
		}
		if c == '\r' && i > 0 && i+1 < len(buf) && buf[i+1] == '\n' && p.rd.Pos+i+2-p.rd.Start <= p.rd.Lim.MaxFrame {
			p.rd.Pos += i + 2
			return n, false, nil
		}
		break
	}
	line, crlf, err := p.rd.Line(what)
	if err != nil {
		return 0, false, err
	}
	if !crlf {
		return 0, false, p.rd.ErrAt(at, "%s header is not ended by CRLF", what)
	}
	if len(line) == 1 && line[0] == '?' {
		return 0, true, nil
	}
	if n, ok := digits(line); ok {
		return n, false, nil
	}
	n, perr := strconv.ParseInt(string(line), 10, 64)
	if perr != nil || len(line) == 0 || (n < 0 && n != -1) || line[0] == '+' {
		return 0, false, p.rd.ErrAt(at+1, "invalid %s length %q", what, truncate(line))
	}
	return n, false, nil
}

// blob reads n bytes followed by CRLF, starting at the parse position, and
// returns them as a slice of the buffer, valid until the next read.
func (p *parser) blob(at int64, n int64, what string) ([]byte, error) {
	if n > int64(p.rd.Lim.MaxBinary) {
		return nil, p.rd.LimitAt(at, "%s of %d bytes exceeds the limit of %d bytes", what, n, p.rd.Lim.MaxBinary)
	}
	if int64(p.rd.Pos-p.rd.Start)+n+2 > int64(p.rd.Lim.MaxFrame) {
		return nil, p.rd.LimitAt(at, "%s of %d bytes exceeds the frame limit of %d bytes", what, n, p.rd.Lim.MaxFrame)
	}
	if !p.rd.Has(int(n) + 2) {
		if err := p.rd.Need(int(n)+2, what); err != nil {
			return nil, err
		}
	}
	b := p.rd.Buf[p.rd.Pos : p.rd.Pos+int(n)]
	if p.rd.Buf[p.rd.Pos+int(n)] != '\r' || p.rd.Buf[p.rd.Pos+int(n)+1] != '\n' {
		return nil, p.rd.ErrAt(p.rd.Offset(p.rd.Pos+int(n)), "%s of %d bytes is not followed by CRLF", what, n)
	}
	p.rd.Pos += int(n) + 2
	return b, nil
}

// count checks an aggregate's declared number of elements against the
// frame budget and the depth limit before anything is allocated.
func (p *parser) count(at int64, n int64, per int64, depth int, what string) error {
	if depth > p.rd.Lim.MaxDepth {
		return p.rd.LimitAt(at, "%s nested %d deep exceeds the depth limit of %d", what, depth, p.rd.Lim.MaxDepth)
	}
	budget := int64(p.rd.Lim.MaxFrame - (p.rd.Pos - p.rd.Start))
	if n > budget/(minElem*per) {
		return p.rd.LimitAt(at, "%s of %d elements cannot fit in the frame limit of %d bytes", what, n, p.rd.Lim.MaxFrame)
	}
	return nil
}

// capFor is the capacity to preallocate for n elements: a hostile count
// that passed the limits still costs memory only as elements arrive.
func capFor(n int64) int {
	if n > 64 {
		return 64
	}
	return int(n)
}

// value reads one RESP2 or RESP3 value. depth is the nesting of the value.
// It returns the term and the type byte that introduced it (after any
// attribute, which is read and dropped).
func (p *parser) value(depth int) (term.Term, byte, error) {
	p.endSeq = false
	for {
		if !p.rd.Has(1) {
			if err := p.rd.Need(1, "a value"); err != nil {
				return nil, 0, err
			}
		}
		at := p.rd.Off()
		c := p.rd.Buf[p.rd.Pos]
		p.rd.Pos++
		switch c {
		case '+':
			line, err := p.simpleLine(at, "simple string")
			if err != nil {
				return nil, c, err
			}
			if len(line) > p.rd.Lim.MaxBinary {
				return nil, c, p.rd.LimitAt(at, "simple string of %d bytes exceeds the limit of %d bytes", len(line), p.rd.Lim.MaxBinary)
			}
			return p.atom(line), c, nil
		case '-':
			line, err := p.simpleLine(at, "error")
			if err != nil {
				return nil, c, err
			}
			return p.ar.tuple2(atomError, p.ar.binary(line)), c, nil
		case ':':
			line, err := p.simpleLine(at, "integer")
			if err != nil {
				return nil, c, err
			}
			v, ok := digits(line)
			if !ok {
				var perr error
				if v, perr = strconv.ParseInt(string(line), 10, 64); perr != nil {
					return nil, c, p.rd.ErrAt(at+1, "invalid integer %q", truncate(line))
				}
			}
			return p.ar.integer(v), c, nil
		case '(':
			line, err := p.simpleLine(at, "big number")
			if err != nil {
				return nil, c, err
			}
			if len(line) > p.rd.Lim.MaxBinary {
				return nil, c, p.rd.LimitAt(at, "big number of %d digits exceeds the limit of %d bytes", len(line), p.rd.Lim.MaxBinary)
			}
			v, ok := term.ParseInteger(string(line))
			if !ok {
				return nil, c, p.rd.ErrAt(at+1, "invalid big number %q", truncate(line))
			}
			return v, c, nil
		case ',':
			line, err := p.simpleLine(at, "double")
			if err != nil {
				return nil, c, err
			}
			v, perr := strconv.ParseFloat(string(line), 64)
			if perr != nil && !isRangeErr(perr) {
				return nil, c, p.rd.ErrAt(at+1, "invalid double %q", truncate(line))
			}
			return term.Float(v), c, nil
		case '#':
			line, err := p.simpleLine(at, "boolean")
			if err != nil {
				return nil, c, err
			}
			switch string(line) {
			case "t":
				return atomTrue, c, nil
			case "f":
				return atomFalse, c, nil
			}
			return nil, c, p.rd.ErrAt(at+1, "invalid boolean %q (want t or f)", truncate(line))
		case '_':
			line, err := p.simpleLine(at, "null")
			if err != nil {
				return nil, c, err
			}
			if len(line) != 0 {
				return nil, c, p.rd.ErrAt(at+1, "null followed by %q", truncate(line))
			}
			return atomNil, c, nil
		case '$', '!', '=':
			t, err := p.bulk(at, c)
			return t, c, err
		case '*', '~', '>':
			t, err := p.aggregate(at, c, depth)
			return t, c, err
		case '%':
			t, err := p.mapValue(at, depth)
			return t, c, err
		case '|':
			// An attribute annotates the value after it; the contract sees
			// only that value, the attribute's bytes stay in Raw.
			if _, err := p.mapValue(at, depth); err != nil {
				return nil, c, err
			}
			continue
		case '.':
			line, err := p.simpleLine(at, "end marker")
			if err != nil {
				return nil, c, err
			}
			if len(line) != 0 {
				return nil, c, p.rd.ErrAt(at+1, "end marker followed by %q", truncate(line))
			}
			p.endSeq = true
			return nil, c, nil
		default:
			return nil, c, p.rd.ErrAt(at, "unknown RESP type byte %s", quoteByte(c))
		}
	}
}

// digits parses b when it is 1 to 18 decimal digits, which cannot
// overflow an int64: the common case of a length or count, without the
// generality of strconv.ParseInt (which the caller falls back to).
func digits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// simpleLine reads the rest of a one-line value, which must end in CRLF.
func (p *parser) simpleLine(at int64, what string) ([]byte, error) {
	line, crlf, err := p.rd.Line(what)
	if err != nil {
		return nil, err
	}
	if !crlf {
		return nil, p.rd.ErrAt(at, "%s is not ended by CRLF", what)
	}
	return line, nil
}

// bulk reads a bulk string ($), blob error (!) or verbatim string (=).
func (p *parser) bulk(at int64, c byte) (term.Term, error) {
	what := typeName(c)
	n, streamed, err := p.header(at, what)
	if err != nil {
		return nil, err
	}
	var b []byte
	switch {
	case streamed:
		if c != '$' {
			return nil, p.rd.ErrAt(at, "%s cannot be streamed", what)
		}
		return p.streamedBulk(at)
	case n == -1:
		if c != '$' {
			return nil, p.rd.ErrAt(at+1, "%s cannot be null", what)
		}
		return atomNil, nil
	default:
		if b, err = p.blob(at, n, what); err != nil {
			return nil, err
		}
	}
	switch c {
	case '!':
		return p.ar.tuple2(atomError, p.ar.binary(b)), nil
	case '=':
		if len(b) < 4 || b[3] != ':' {
			return nil, p.rd.ErrAt(at, "verbatim string does not start with a three-letter format and ':'")
		}
		return p.ar.binary(b[4:]), nil
	}
	return p.ar.binary(b), nil
}

// streamedBulk reads the chunks of a streamed string ($?) up to ";0".
func (p *parser) streamedBulk(at int64) (term.Term, error) {
	var out []byte
	for {
		if err := p.rd.Need(1, "a streamed string chunk"); err != nil {
			return nil, err
		}
		cat := p.rd.Off()
		if c := p.rd.Buf[p.rd.Pos]; c != ';' {
			return nil, p.rd.ErrAt(cat, "expected ';' (a streamed string chunk), got %s", quoteByte(c))
		}
		p.rd.Pos++
		n, streamed, err := p.header(cat, "streamed string chunk")
		if err != nil {
			return nil, err
		}
		if streamed || n < 0 {
			return nil, p.rd.ErrAt(cat+1, "invalid streamed string chunk length")
		}
		if n == 0 {
			return term.Binary(out), nil
		}
		if int64(len(out))+n > int64(p.rd.Lim.MaxBinary) {
			return nil, p.rd.LimitAt(cat, "streamed string longer than the limit of %d bytes", p.rd.Lim.MaxBinary)
		}
		b, err := p.blob(cat, n, "streamed string chunk")
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
}

// aggregate reads an array (*), set (~) or push (>); all become lists.
func (p *parser) aggregate(at int64, c byte, depth int) (term.Term, error) {
	what := typeName(c)
	n, streamed, err := p.header(at, what)
	if err != nil {
		return nil, err
	}
	if n == -1 {
		if c != '*' {
			return nil, p.rd.ErrAt(at+1, "%s cannot be null", what)
		}
		return atomNil, nil
	}
	if err := p.count(at, n, 1, depth+1, what); err != nil {
		return nil, err
	}
	if streamed {
		var l term.List
		for {
			v, _, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if p.endSeq {
				p.endSeq = false
				return l, nil
			}
			// Each element was read within the frame limit, so the list
			// grows only with the bytes that arrived.
			l = append(l, v)
		}
	}
	var l term.List
	if n <= maxElems {
		l = p.ar.slots(int(n))[:0]
	} else {
		l = make(term.List, 0, capFor(n))
	}
	for i := int64(0); i < n; i++ {
		v, _, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.endSeq {
			return nil, p.rd.ErrAt(p.rd.Offset(p.rd.Pos-3), "end marker inside a %s of declared length %d", what, n)
		}
		l = append(l, v)
	}
	return p.ar.list(l), nil
}

// mapValue reads a map (%) or attribute (|).
func (p *parser) mapValue(at int64, depth int) (term.Term, error) {
	n, streamed, err := p.header(at, "map")
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return nil, p.rd.ErrAt(at+1, "map cannot be null")
	}
	if err := p.count(at, n, 2, depth+1, "map"); err != nil {
		return nil, err
	}
	m := make(term.Map, 0, capFor(n))
	for i := int64(0); streamed || i < n; i++ {
		k, _, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.endSeq {
			if streamed {
				p.endSeq = false
				return p.ar.mapTerm(m), nil
			}
			return nil, p.rd.ErrAt(p.rd.Offset(p.rd.Pos-3), "end marker inside a map of declared length %d", n)
		}
		v, _, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.endSeq {
			return nil, p.rd.ErrAt(p.rd.Offset(p.rd.Pos-3), "end marker between a map key and its value")
		}
		m = append(m, term.MapEntry{Key: k, Value: v})
	}
	return p.ar.mapTerm(m), nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// truncate shortens b for an error message.
func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func quoteByte(c byte) string {
	return strconv.Quote(string([]byte{c}))
}

// typeName names the RESP type a type byte introduces.
func typeName(c byte) string {
	switch c {
	case '$':
		return "bulk string"
	case '!':
		return "blob error"
	case '=':
		return "verbatim string"
	case '*':
		return "array"
	case '~':
		return "set"
	case '>':
		return "push"
	}
	return "value"
}

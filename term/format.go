package term

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// String implements Term.
func (a Atom) String() string { return string(AppendText(nil, a)) }

// String implements Term.
func (i Integer) String() string { return i.Text() }

// String implements Term.
func (f Float) String() string { return string(AppendText(nil, f)) }

// String implements Term.
func (s String) String() string { return string(AppendText(nil, s)) }

// String implements Term.
func (b Binary) String() string { return string(AppendText(nil, b)) }

// String implements Term.
func (t Tuple) String() string { return string(AppendText(nil, t)) }

// String implements Term.
func (l List) String() string { return string(AppendText(nil, l)) }

// String implements Term.
func (m Map) String() string { return string(AppendText(nil, m)) }

// AppendText appends t in the literal text notation to dst and returns the
// extended slice. Parse reads back every term it prints, except floats that
// are not finite, which no wire format produces.
func AppendText(dst []byte, t Term) []byte {
	p := printer{buf: dst, limit: -1}
	p.term(t)
	return p.buf
}

// Truncated returns t in the text notation, cut to at most max bytes with
// "..." appended when it is longer. It stops printing once the limit is
// reached, so a huge term costs only what is printed.
func Truncated(t Term, max int) string {
	p := printer{limit: max}
	p.term(t)
	if p.cut {
		return string(p.buf[:max]) + "..."
	}
	return string(p.buf)
}

type printer struct {
	buf   []byte
	limit int // -1: none
	cut   bool
}

func (p *printer) full() bool {
	if p.limit >= 0 && len(p.buf) > p.limit {
		p.cut = true
	}
	return p.cut
}

func (p *printer) term(t Term) {
	if p.full() {
		return
	}
	switch v := t.(type) {
	case Atom:
		p.buf = appendAtom(p.buf, string(v))
	case Integer:
		if v.big != nil {
			p.buf = v.big.Append(p.buf, 10)
		} else {
			p.buf = strconv.AppendInt(p.buf, v.small, 10)
		}
	case Float:
		p.buf = appendFloat(p.buf, float64(v))
	case String:
		p.buf = appendQuoted(p.buf, string(v), '"')
	case Binary:
		p.buf = appendBinary(p.buf, v)
	case Tuple:
		p.buf = append(p.buf, '{')
		p.seq(v)
		p.buf = append(p.buf, '}')
	case List:
		p.buf = append(p.buf, '[')
		p.seq(v)
		p.buf = append(p.buf, ']')
	case Map:
		p.buf = append(p.buf, "#{"...)
		for i, e := range v {
			if i > 0 {
				p.buf = append(p.buf, ", "...)
			}
			p.term(e.Key)
			p.buf = append(p.buf, " => "...)
			p.term(e.Value)
			if p.full() {
				return
			}
		}
		p.buf = append(p.buf, '}')
	case nil:
		p.buf = append(p.buf, "<nil>"...)
	}
}

func (p *printer) seq(ts []Term) {
	for i, e := range ts {
		if i > 0 {
			p.buf = append(p.buf, ", "...)
		}
		p.term(e)
		if p.full() {
			return
		}
	}
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

// IsBareAtom reports whether the atom a can be written without quotes:
// a lower-case letter followed by letters, digits, '_' and '@'.
func IsBareAtom(a string) bool {
	if a == "" || a[0] < 'a' || a[0] > 'z' {
		return false
	}
	for i := 1; i < len(a); i++ {
		c := a[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '@') {
			return false
		}
	}
	return true
}

func appendAtom(dst []byte, a string) []byte {
	if IsBareAtom(a) {
		return append(dst, a...)
	}
	return appendQuoted(dst, a, '\'')
}

// appendQuoted writes s between quote characters, escaping the quote, the
// backslash, common control characters, and every byte that is not part of
// printable UTF-8 as \xHH, so that any byte string survives a round trip.
func appendQuoted(dst []byte, s string, quote byte) []byte {
	dst = append(dst, quote)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == quote || c == '\\':
			dst = append(dst, '\\', c)
			i++
			continue
		case c == '\n':
			dst = append(dst, '\\', 'n')
			i++
			continue
		case c == '\r':
			dst = append(dst, '\\', 'r')
			i++
			continue
		case c == '\t':
			dst = append(dst, '\\', 't')
			i++
			continue
		case c < 0x20 || c == 0x7f:
			dst = appendHexEscape(dst, c)
			i++
			continue
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !isPrintableRune(r) {
			for k := 0; k < size; k++ {
				dst = appendHexEscape(dst, s[i+k])
			}
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, quote)
}

func isPrintableRune(r rune) bool {
	return r >= 0xa0 && r != 0xfeff && !(r >= 0x2028 && r <= 0x2029)
}

const hexDigits = "0123456789abcdef"

func appendHexEscape(dst []byte, c byte) []byte {
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
}

// printableText reports whether b reads well as text: valid UTF-8 with no
// control characters other than tab, CR and LF.
func printableText(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || !isPrintableRune(r) {
			return false
		}
		i += size
	}
	return true
}

func appendBinary(dst []byte, b Binary) []byte {
	dst = append(dst, "<<"...)
	if len(b) > 0 && printableText(b) {
		dst = appendQuoted(dst, string(b), '"')
	} else {
		for i, c := range b {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, uint64(c), 10)
		}
	}
	return append(dst, ">>"...)
}

func appendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "1.0e999"...)
	case math.IsInf(f, -1):
		return append(dst, "-1.0e999"...)
	case math.IsNaN(f):
		return append(dst, "'NaN'"...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	// Make sure the text reads back as a float: it needs a '.' before any
	// exponent, as Erlang writes floats.
	num := dst[start:]
	for _, c := range num {
		if c == '.' {
			return dst
		}
	}
	for i, c := range num {
		if c == 'e' {
			exp := append([]byte(nil), num[i:]...)
			dst = append(dst[:start+i], ".0"...)
			return append(dst, exp...)
		}
	}
	return append(dst, ".0"...)
}

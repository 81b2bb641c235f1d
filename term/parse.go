package term

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxParseDepth bounds how deeply Parse lets tuples, lists and maps nest, so
// that hostile text cannot exhaust the stack.
const MaxParseDepth = 10000

// SyntaxError reports text that is not a term, with the byte offset (from 0)
// where reading failed.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg)
}

// Parse reads exactly one term in the literal text notation; only white
// space may surround it.
func Parse(s string) (Term, error) {
	t, rest, err := ParsePrefix(s)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(rest) != "" {
		return nil, &SyntaxError{Offset: len(s) - len(rest) + leadingSpace(rest), Msg: fmt.Sprintf("unexpected %s after the term", describe(strings.TrimSpace(rest)))}
	}
	return t, nil
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) Term {
	t, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("term.MustParse(%q): %v", s, err))
	}
	return t
}

// ParsePrefix reads one term at the start of s (after white space) and
// returns it with the text that follows it.
func ParsePrefix(s string) (Term, string, error) {
	p := parser{src: s}
	t, err := p.term(0)
	if err != nil {
		return nil, "", err
	}
	return t, s[p.pos:], nil
}

func leadingSpace(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t\r\n"))
}

func describe(s string) string {
	if s == "" {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(s)
	return strconv.QuoteRune(r)
}

type parser struct {
	src string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) expect(tok string) error {
	p.skipSpace()
	if !strings.HasPrefix(p.src[p.pos:], tok) {
		return p.errorf("expected %q, found %s", tok, describe(p.src[p.pos:]))
	}
	p.pos += len(tok)
	return nil
}

func (p *parser) term(depth int) (Term, error) {
	if depth > MaxParseDepth {
		return nil, p.errorf("terms nested more than %d deep", MaxParseDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.errorf("expected a term, found end of input")
	}
	c := p.src[p.pos]
	switch {
	case c == '{':
		p.pos++
		elems, err := p.seq('}', depth)
		if err != nil {
			return nil, err
		}
		return Tuple(elems), nil
	case c == '[':
		p.pos++
		elems, err := p.seq(']', depth)
		if err != nil {
			return nil, err
		}
		return List(elems), nil
	case c == '#':
		return p.mapTerm(depth)
	case c == '<':
		return p.binary()
	case c == '"':
		s, err := p.quoted('"')
		return String(s), err
	case c == '\'':
		s, err := p.quoted('\'')
		return Atom(s), err
	case c >= 'a' && c <= 'z':
		start := p.pos
		for p.pos < len(p.src) && isAtomChar(p.src[p.pos]) {
			p.pos++
		}
		return Atom(p.src[start:p.pos]), nil
	case c == '-' || c == '+' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, p.errorf("expected a term, found %s", describe(p.src[p.pos:]))
}

func isAtomChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '@'
}

func (p *parser) seq(closer byte, depth int) ([]Term, error) {
	elems := []Term{}
	p.skipSpace()
	if p.peek() == closer {
		p.pos++
		return elems, nil
	}
	for {
		t, err := p.term(depth + 1)
		if err != nil {
			return nil, err
		}
		elems = append(elems, t)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case closer:
			p.pos++
			return elems, nil
		default:
			return nil, p.errorf("expected ',' or '%c', found %s", closer, describe(p.src[p.pos:]))
		}
	}
}

func (p *parser) mapTerm(depth int) (Term, error) {
	if err := p.expect("#{"); err != nil {
		return nil, err
	}
	m := Map{}
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return m, nil
	}
	for {
		k, err := p.term(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect("=>"); err != nil {
			return nil, err
		}
		v, err := p.term(depth + 1)
		if err != nil {
			return nil, err
		}
		m = append(m, MapEntry{Key: k, Value: v})
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return m, nil
		default:
			return nil, p.errorf("expected ',' or '}', found %s", describe(p.src[p.pos:]))
		}
	}
}

// binary reads <<"text">>, <<1,2,255>> or a mix of the two segment kinds.
func (p *parser) binary() (Term, error) {
	if err := p.expect("<<"); err != nil {
		return nil, err
	}
	b := Binary{}
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], ">>") {
		p.pos += 2
		return b, nil
	}
	for {
		p.skipSpace()
		switch c := p.peek(); {
		case c == '"':
			s, err := p.quoted('"')
			if err != nil {
				return nil, err
			}
			b = append(b, s...)
		case c >= '0' && c <= '9':
			start := p.pos
			for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
				p.pos++
			}
			v, err := strconv.ParseUint(p.src[start:p.pos], 10, 8)
			if err != nil {
				digits := p.src[start:p.pos]
				if len(digits) > 20 {
					digits = digits[:20] + "..."
				}
				p.pos = start
				return nil, p.errorf("binary byte %s is not in 0..255", digits)
			}
			b = append(b, byte(v))
		default:
			return nil, p.errorf("expected a byte or a string in a binary, found %s", describe(p.src[p.pos:]))
		}
		p.skipSpace()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if err := p.expect(">>"); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// quoted reads a string or quoted atom, undoing the escapes appendQuoted
// writes (\\ \" \' \n \r \t \xHH) and the rest of Erlang's, which
// contracts written for ubf may use: \b \d \e \f \s \v, \^C (control
// character), \ooo (one to three octal digits) and \x{H...}. \xHH and
// \ooo up to 255 are that byte; \x{H...}, and \ooo above 255, are the code
// point in UTF-8, as the same character written as it is in a UTF-8 file.
func (p *parser) quoted(quote byte) (string, error) {
	start := p.pos
	p.pos++
	var sb []byte
	for {
		if p.pos >= len(p.src) {
			p.pos = start
			return "", p.errorf("unterminated %s", map[byte]string{'"': "string", '\'': "quoted atom"}[quote])
		}
		c := p.src[p.pos]
		if c == quote {
			p.pos++
			return string(sb), nil
		}
		if c != '\\' {
			sb = append(sb, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.src) {
			return "", p.errorf("unterminated escape")
		}
		e := p.src[p.pos+1]
		switch e {
		case '\\', '"', '\'':
			sb = append(sb, e)
		case 'n':
			sb = append(sb, '\n')
		case 'r':
			sb = append(sb, '\r')
		case 't':
			sb = append(sb, '\t')
		case 'b':
			sb = append(sb, '\b')
		case 'd':
			sb = append(sb, 0x7f)
		case 'e':
			sb = append(sb, 0x1b)
		case 'f':
			sb = append(sb, '\f')
		case 's':
			sb = append(sb, ' ')
		case 'v':
			sb = append(sb, '\v')
		case '^':
			if p.pos+2 >= len(p.src) {
				return "", p.errorf(`\^ needs a character after it`)
			}
			sb = append(sb, p.src[p.pos+2]&31)
			p.pos++
		case '0', '1', '2', '3', '4', '5', '6', '7':
			n := 1
			for n < 3 && p.pos+1+n < len(p.src) && p.src[p.pos+1+n] >= '0' && p.src[p.pos+1+n] <= '7' {
				n++
			}
			v, _ := strconv.ParseUint(p.src[p.pos+1:p.pos+1+n], 8, 16)
			if v <= 0xff {
				sb = append(sb, byte(v))
			} else {
				sb = utf8.AppendRune(sb, rune(v))
			}
			p.pos += n - 1
		case 'x':
			if p.pos+2 < len(p.src) && p.src[p.pos+2] == '{' {
				end := strings.IndexByte(p.src[p.pos+3:], '}')
				if end < 0 {
					return "", p.errorf(`\x{ needs a closing }`)
				}
				digits := p.src[p.pos+3 : p.pos+3+end]
				v, err := strconv.ParseUint(digits, 16, 32)
				if err != nil || digits == "" || v > utf8.MaxRune || (v >= 0xd800 && v <= 0xdfff) {
					return "", p.errorf(`\x{%s} is not a Unicode code point`, digits)
				}
				sb = utf8.AppendRune(sb, rune(v))
				p.pos += end + 2
				break
			}
			if p.pos+4 > len(p.src) {
				return "", p.errorf(`\x needs two hex digits`)
			}
			v, err := strconv.ParseUint(p.src[p.pos+2:p.pos+4], 16, 8)
			if err != nil {
				return "", p.errorf(`\x needs two hex digits`)
			}
			sb = append(sb, byte(v))
			p.pos += 2
		default:
			return "", p.errorf(`unknown escape \%c`, e)
		}
		p.pos += 2
	}
}

// number reads an integer (decimal, or base#digits as in Erlang) or a float.
func (p *parser) number() (Term, error) {
	start := p.pos
	if c := p.peek(); c == '-' || c == '+' {
		p.pos++
	}
	digitsStart := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == digitsStart {
		return nil, p.errorf("expected digits")
	}
	isFloat := false
	if p.peek() == '#' {
		base, err := strconv.Atoi(p.src[digitsStart:p.pos])
		if err != nil || base < 2 || base > 36 {
			return nil, p.errorf("base must be 2 to 36")
		}
		p.pos++
		ds := p.pos
		for p.pos < len(p.src) && isAtomChar(p.src[p.pos]) && p.src[p.pos] != '_' && p.src[p.pos] != '@' {
			p.pos++
		}
		sign := p.src[start:digitsStart]
		v, ok := parseIntegerBase(strings.TrimPrefix(sign, "+")+p.src[ds:p.pos], base)
		if !ok {
			return nil, &SyntaxError{Offset: ds, Msg: fmt.Sprintf("%q is not a base-%d integer", p.src[ds:p.pos], base)}
		}
		return v, nil
	}
	if p.peek() == '.' && p.pos+1 < len(p.src) && p.src[p.pos+1] >= '0' && p.src[p.pos+1] <= '9' {
		isFloat = true
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		save := p.pos
		p.pos++
		if c := p.peek(); c == '-' || c == '+' {
			p.pos++
		}
		ds := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == ds {
			p.pos = save
		} else {
			isFloat = true
		}
	}
	text := p.src[start:p.pos]
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !isRangeErr(err) {
			return nil, &SyntaxError{Offset: start, Msg: fmt.Sprintf("bad float %q", text)}
		}
		return Float(f), nil
	}
	v, ok := ParseInteger(strings.TrimPrefix(text, "+"))
	if !ok {
		return nil, &SyntaxError{Offset: start, Msg: fmt.Sprintf("bad integer %q", text)}
	}
	return v, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

package grammar

import (
	"io"

	"github.com/alecthomas/participle/v2/lexer"
)

// Token types of the contract language. Both dialects share them; keywords
// are identifiers matched by value in the grammar.
const (
	tokComment lexer.TokenType = -(iota + 2)
	tokWhitespace
	tokBinary
	tokFloat
	tokInt
	tokString
	tokQAtom
	tokTag
	tokIdent
	tokPunct
)

var symbols = map[string]lexer.TokenType{
	"EOF":        lexer.EOF,
	"Comment":    tokComment,
	"Whitespace": tokWhitespace,
	"Binary":     tokBinary,
	"Float":      tokFloat,
	"Int":        tokInt,
	"String":     tokString,
	"QAtom":      tokQAtom,
	"Tag":        tokTag,
	"Ident":      tokIdent,
	"Punct":      tokPunct,
}

// Lexer is the token definition of the contract language, a hand-written
// scanner (a regular-expression lexer was the parser's main cost). Columns
// count bytes from 1. Tokens:
//
//	Comment    %... to the end of the line
//	Whitespace spaces, tabs, line breaks
//	Binary     <<"text">>, <<1,2,255>> (contents checked by the compiler)
//	Float      [-+]digits.digits[e[-+]digits]
//	Int        [-+]digits, or base#digits as in Erlang (16#ff)
//	String     "..." with backslash escapes
//	QAtom      '...' with backslash escapes
//	Tag        `...` (UBF(B) annotations)
//	Ident      [a-zA-Z_][a-zA-Z0-9_@]*: atoms, names and keywords
//	Punct      .. ## :: := => <= -> and . | , ; : = # { } [ ] ( ) & ? +
var Lexer lexer.Definition = definition{}

type definition struct{}

func (definition) Symbols() map[string]lexer.TokenType {
	out := make(map[string]lexer.TokenType, len(symbols))
	for k, v := range symbols {
		out[k] = v
	}
	return out
}

func (definition) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	toks, err := tokenize(filename, src)
	if err != nil {
		return nil, err
	}
	return &sliceLexer{toks: toks}, nil
}

// sliceLexer replays tokens already scanned.
type sliceLexer struct {
	toks []lexer.Token
	i    int
}

func (l *sliceLexer) Next() (lexer.Token, error) {
	t := l.toks[l.i]
	if l.i < len(l.toks)-1 {
		l.i++
	}
	return t, nil
}

// tokenize scans src completely; the last token is EOF. A byte at which no
// token starts is an *Error.
func tokenize(filename string, src []byte) ([]lexer.Token, error) {
	s := scanner{src: src, pos: lexer.Position{Filename: filename, Line: 1, Column: 1}}
	// Token values are substrings of one copy of the source.
	text := string(src)
	toks := make([]lexer.Token, 0, len(src)/6+1)
	for s.pos.Offset < len(src) {
		start := s.pos
		typ, n := s.next()
		if n == 0 {
			return nil, &Error{Pos: start, Msg: describeBad(string(src[start.Offset:]))}
		}
		if typ == tokWhitespace {
			// White space separates tokens and nothing more: keeping it
			// out of the stream halves the parser's work.
			s.advance(n)
			continue
		}
		s.advance(n)
		toks = append(toks, lexer.Token{Type: typ, Value: text[start.Offset : start.Offset+n], Pos: start})
	}
	toks = append(toks, lexer.EOFToken(s.pos))
	return toks, nil
}

type scanner struct {
	src []byte
	pos lexer.Position
}

func (s *scanner) advance(n int) {
	for _, c := range s.src[s.pos.Offset : s.pos.Offset+n] {
		if c == '\n' {
			s.pos.Line++
			s.pos.Column = 1
		} else {
			s.pos.Column++
		}
	}
	s.pos.Offset += n
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isAlnum(c byte) bool  { return isLetter(c) || isDigit(c) }

// next returns the type and length of the token at the current offset;
// length 0 means no token starts there.
func (s *scanner) next() (lexer.TokenType, int) {
	b := s.src[s.pos.Offset:]
	c := b[0]
	at := func(i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	switch {
	case c == '%':
		n := 0
		for n < len(b) && b[n] != '\n' {
			n++
		}
		return tokComment, n
	case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
		n := 0
		for n < len(b) && (b[n] == ' ' || b[n] == '\t' || b[n] == '\r' || b[n] == '\n' || b[n] == '\f') {
			n++
		}
		return tokWhitespace, n
	case c == '<' && at(1) == '<':
		if n := scanBinary(b); n > 0 {
			return tokBinary, n
		}
		return 0, 0
	case isDigit(c) || (c == '-' || c == '+') && isDigit(at(1)):
		return scanNumber(b)
	case c == '"':
		return tokString, scanQuoted(b, '"')
	case c == '\'':
		return tokQAtom, scanQuoted(b, '\'')
	case c == '`':
		for n := 1; n < len(b); n++ {
			if b[n] == '`' {
				return tokTag, n + 1
			}
		}
		return 0, 0
	case isLetter(c):
		n := 1
		for n < len(b) && (isAlnum(b[n]) || b[n] == '@') {
			n++
		}
		return tokIdent, n
	}
	if len(b) >= 2 {
		switch string(b[:2]) {
		case "..", "##", "::", ":=", "=>", "<=", "->":
			return tokPunct, 2
		}
	}
	switch c {
	case '.', '|', ',', ';', ':', '=', '#', '{', '}', '[', ']', '(', ')', '&', '?', '+':
		return tokPunct, 1
	}
	return 0, 0
}

// scanQuoted returns the length of a quoted string or atom, 0 when it is
// not terminated.
func scanQuoted(b []byte, q byte) int {
	for n := 1; n < len(b); n++ {
		switch b[n] {
		case '\\':
			n++
		case q:
			return n + 1
		}
	}
	return 0
}

// scanBinary returns the length of <<...>>: strings inside may contain
// '>'; 0 when it is not terminated.
func scanBinary(b []byte) int {
	for n := 2; n < len(b); n++ {
		switch b[n] {
		case '"':
			m := scanQuoted(b[n:], '"')
			if m == 0 {
				return 0
			}
			n += m - 1
		case '>':
			if n+1 < len(b) && b[n+1] == '>' {
				return n + 2
			}
			return 0
		}
	}
	return 0
}

// scanNumber scans an integer (decimal or base#digits) or a float.
func scanNumber(b []byte) (lexer.TokenType, int) {
	n := 0
	if b[0] == '-' || b[0] == '+' {
		n++
	}
	for n < len(b) && isDigit(b[n]) {
		n++
	}
	if n+1 < len(b) && b[n] == '.' && isDigit(b[n+1]) {
		n++
		for n < len(b) && isDigit(b[n]) {
			n++
		}
		if n < len(b) && (b[n] == 'e' || b[n] == 'E') {
			m := n + 1
			if m < len(b) && (b[m] == '-' || b[m] == '+') {
				m++
			}
			if m < len(b) && isDigit(b[m]) {
				for m < len(b) && isDigit(b[m]) {
					m++
				}
				n = m
			}
		}
		return tokFloat, n
	}
	if n+1 < len(b) && b[n] == '#' && isAlnum(b[n+1]) && b[n+1] != '_' {
		n++
		for n < len(b) && isAlnum(b[n]) && b[n] != '_' {
			n++
		}
	}
	return tokInt, n
}

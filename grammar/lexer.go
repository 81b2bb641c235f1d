package grammar

import (
	"fmt"
	"io"
	"strings"

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
	return newStreamLexer(filename, src), nil
}

// streamLexer scans tokens on demand, skipping white space. On the way it
// keeps the comments, refuses absurd bracket nesting (the parser recurses
// once per level) and notes each declaration's dialect for error messages.
type streamLexer struct {
	s        scanner
	text     string // the source; token values are substrings of it
	comments []Comment
	depth    int
	prevPlus bool
	decls    []declStart
	// err, once set, is the reason the scan stopped; Next then returns
	// EOF at that position so that the parser can still read what came
	// before.
	err *Error
}

// declStart records where a declaration's keyword is and its dialect.
type declStart struct {
	offset int
	ubf    bool
}

func newStreamLexer(filename string, src []byte) *streamLexer {
	return &streamLexer{
		s:    scanner{src: src, pos: lexer.Position{Filename: filename, Line: 1, Column: 1}},
		text: string(src),
	}
}

func (l *streamLexer) Next() (lexer.Token, error) {
	for l.err == nil && l.s.pos.Offset < len(l.s.src) {
		start := l.s.pos
		typ, n := l.s.next()
		if n == 0 {
			l.err = &Error{Pos: Pos(start), Msg: describeBad(l.text[start.Offset:])}
			break
		}
		l.s.advance(n)
		if typ == tokWhitespace {
			continue
		}
		tok := lexer.Token{Type: typ, Value: l.text[start.Offset : start.Offset+n], Pos: start}
		switch typ {
		case tokComment:
			l.comments = append(l.comments, Comment{Pos: Pos(start), Text: strings.TrimRight(tok.Value, "\r")})
			return tok, nil
		case tokPunct:
			switch tok.Value {
			case "{", "[", "(":
				l.depth++
				if l.depth > MaxDepth {
					l.err = &Error{Pos: Pos(start), Msg: fmt.Sprintf("brackets nested more than %d deep", MaxDepth)}
					return lexer.EOFToken(start), nil
				}
			case "}", "]", ")":
				l.depth--
			}
		case tokIdent:
			if l.prevPlus {
				switch tok.Value {
				case "STATE", "ANYSTATE", "TYPES", "NAME", "VSN":
					l.decls = append(l.decls, declStart{offset: start.Offset, ubf: true})
				default:
					l.decls = append(l.decls, declStart{offset: start.Offset})
				}
			}
		}
		l.prevPlus = typ == tokPunct && tok.Value == "+"
		return tok, nil
	}
	return lexer.EOFToken(l.s.pos), nil
}

// ubfAt reports whether the declaration around offset is in the UBF(B)
// dialect.
func (l *streamLexer) ubfAt(offset int) bool {
	ubf := false
	for _, d := range l.decls {
		if d.offset > offset {
			break
		}
		ubf = d.ubf
	}
	return ubf
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

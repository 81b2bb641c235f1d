package grammar

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// Parse implements participle.Parseable for +state declarations (see
// StateDecl).
func (s *StateDecl) Parse(lex *lexer.PeekingLexer) error {
	if t := lex.Peek(); t.Type != tokIdent || t.Value != "state" {
		return participle.NextMatch
	}
	s.Pos = Pos(lex.Next().Pos)
	p := typeParser{lex: lex}
	for {
		n, err := p.name("<ident>")
		if err != nil {
			return err
		}
		s.States = append(s.States, n)
		if !p.accept("|") {
			break
		}
	}
	switch t := lex.Peek(); {
	case t.Type == tokIdent && t.Value == "x":
		lex.Next()
		in, err := p.subType()
		if err != nil {
			return err
		}
		s.In = in
		a := lex.Peek()
		if a.Type != tokPunct || a.Value != "->" && a.Value != "=>" {
			return p.unexpected(`("->" | "=>")`)
		}
		s.Arrow = lex.Next().Value
	case t.Type == tokIdent && (t.Value == "out" || t.Value == "in"):
		s.Dir = lex.Next().Value
	default:
		return p.unexpected(`("|" | "x" | "out" | "in")`)
	}
	// A call's outputs are its replies; a transition's, its messages.
	expect := "Output"
	if s.Dir != "" {
		expect = "Type"
	}
	for {
		o, err := p.output(expect)
		if err != nil {
			return err
		}
		s.Outs = append(s.Outs, o)
		if !p.accept("|") {
			return nil
		}
	}
}

// output parses one Output, T x N (or T & N); expect names what is
// expected when no type starts there.
func (p *typeParser) output(expect string) (*Output, error) {
	o := &Output{Pos: Pos(p.lex.Peek().Pos)}
	if !startsType(p.lex.Peek()) {
		return nil, p.unexpected(expect)
	}
	t, err := p.subType()
	if err != nil {
		return nil, err
	}
	o.Type = t
	sep := p.lex.Peek()
	if !(sep.Type == tokIdent && sep.Value == "x" || sep.Type == tokPunct && sep.Value == "&") {
		return nil, p.unexpected(`("x" | "&")`)
	}
	o.Sep = p.lex.Next().Value
	if o.Next, err = p.name("<ident>"); err != nil {
		return nil, err
	}
	return o, nil
}

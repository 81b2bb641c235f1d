package grammar

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// Type expressions make up most of a contract's tokens, and participle's
// reflective parser spent about two dozen allocations per token on them, so
// they are parsed by hand (participle calls Type.Parse through its
// Parseable interface). The grammar, in participle's notation:
//
//	Type     = Prim ( "|" Prim )* .
//	Prim     = Call | Bind | Var | Atom | Tuple | IntRange | List | String
//	         | Map | Record | ExtRec | OpenLo | Tail | Float | Binary .
//	Call     = (Ident | QAtom) "(" ( Attr ( "," Attr )* )? ")" "?"? .
//	Attr     = Name ( "(" String ")" )? .
//	Bind     = Variable "=" Type .
//	Var      = Variable .
//	Atom     = Ident | QAtom .
//	Tail     = ".." Prim .          (when no Int follows the "..")
//	Tuple    = "{" ( Type ( "," Type )* )? "}" .
//	IntRange = Int ( ".." Int? )? .
//	OpenLo   = ".." Int .
//	List     = "[" Type? "]" ( "+" | "?" | "{" Int? ","? Int? "}" )? .
//	Map      = "#" "{" ( MapEntry ( "," MapEntry )* )? "}" .
//	MapEntry = ".." | (Ident | QAtom | String) (":=" | "=>") Type .
//	Record   = "#" Name "{" ( Field ( "," Field )* )? "}" .
//	ExtRec   = "##" Name "{" ( Field ( "," Field )* )? "}" .
//	Field    = Name ( "=" Type )? "::" Type .

// Parse implements participle.Parseable.
func (t *Type) Parse(lex *lexer.PeekingLexer) error {
	if t := lex.Peek(); !startsType(t) || t.Type == tokIdent && t.Value == "EVENT" {
		// EVENT starts a UBF(B) event rule, never a type.
		return participle.NextMatch
	}
	p := typeParser{lex: lex}
	return p.typ(t)
}

type typeParser struct {
	lex *lexer.PeekingLexer
}

func startsType(t *lexer.Token) bool {
	switch t.Type {
	case tokIdent, tokQAtom, tokInt, tokFloat, tokString, tokBinary:
		return true
	case tokPunct:
		switch t.Value {
		case "{", "[", "#", "##", "..":
			return true
		}
	}
	return false
}

func (p *typeParser) peekPunct(v string) bool {
	t := p.lex.Peek()
	return t.Type == tokPunct && t.Value == v
}

// accept consumes the punctuation v if it comes next.
func (p *typeParser) accept(v string) bool {
	if p.peekPunct(v) {
		p.lex.Next()
		return true
	}
	return false
}

func (p *typeParser) expect(v, expect string) error {
	if p.accept(v) {
		return nil
	}
	return p.unexpected(expect)
}

func (p *typeParser) unexpected(expect string) error {
	return &participle.UnexpectedTokenError{Unexpected: *p.lex.Peek(), Expect: expect}
}

func (p *typeParser) typ(t *Type) error {
	t.Pos = Pos(p.lex.Peek().Pos)
	for {
		prim, err := p.prim()
		if err != nil {
			return err
		}
		t.Alts = append(t.Alts, prim)
		if !p.accept("|") {
			return nil
		}
	}
}

func (p *typeParser) subType() (*Type, error) {
	if !startsType(p.lex.Peek()) {
		return nil, p.unexpected("Type")
	}
	t := &Type{}
	return t, p.typ(t)
}

func (p *typeParser) prim() (*Prim, error) {
	tok := p.lex.Peek()
	prim := &Prim{Pos: Pos(tok.Pos)}
	var err error
	switch tok.Type {
	case tokIdent, tokQAtom:
		p.lex.Next()
		if tok.Type == tokIdent && IsVariable(tok.Value) && !p.peekPunct("(") {
			if p.accept("=") {
				b := &Bind{Pos: Pos(tok.Pos), Var: tok.Value}
				b.Type, err = p.subType()
				prim.Bind = b
			} else {
				v := tok.Value
				prim.Var = &v
			}
			break
		}
		if p.peekPunct("(") {
			prim.Call, err = p.call(tok)
		} else {
			v := tok.Value
			prim.Atom = &v
		}
	case tokInt:
		p.lex.Next()
		r := &IntRange{Pos: Pos(tok.Pos), Lo: tok.Value}
		if p.accept("..") {
			r.Dots = true
			if n := p.lex.Peek(); n.Type == tokInt {
				r.Hi = n.Value
				p.lex.Next()
			}
		}
		prim.Range = r
	case tokFloat:
		p.lex.Next()
		v := tok.Value
		prim.Float = &v
	case tokString:
		p.lex.Next()
		v := tok.Value
		prim.String = &v
	case tokBinary:
		p.lex.Next()
		v := tok.Value
		prim.Binary = &v
	case tokPunct:
		switch tok.Value {
		case "{":
			prim.Tuple, err = p.tuple()
		case "[":
			prim.List, err = p.list()
		case "#":
			p.lex.Next()
			if p.peekPunct("{") {
				prim.Map, err = p.mapType()
			} else {
				prim.Record, err = p.record(Pos(tok.Pos))
			}
		case "##":
			p.lex.Next()
			prim.ExtRec, err = p.record(Pos(tok.Pos))
		case "..":
			p.lex.Next()
			n := p.lex.Peek()
			if n.Type != tokInt {
				// ..L, a tuple's tail.
				if !startsType(n) {
					return nil, p.unexpected("(<int> | List)")
				}
				prim.Tail, err = p.prim()
				break
			}
			p.lex.Next()
			v := n.Value
			prim.OpenLo = &v
		default:
			return nil, p.unexpected("Type")
		}
	default:
		return nil, p.unexpected("Type")
	}
	if err != nil {
		return nil, err
	}
	return prim, nil
}

// IsVariable reports whether an identifier is a variable: it starts with
// an upper-case letter, as in Erlang.
func IsVariable(ident string) bool {
	return ident != "" && ident[0] >= 'A' && ident[0] <= 'Z'
}

func (p *typeParser) name(expect string) (*Name, error) {
	t := p.lex.Peek()
	if t.Type != tokIdent && t.Type != tokQAtom {
		return nil, p.unexpected(expect)
	}
	p.lex.Next()
	return &Name{Pos: Pos(t.Pos), Text: t.Value}, nil
}

func (p *typeParser) call(name *lexer.Token) (*Call, error) {
	c := &Call{Pos: Pos(name.Pos), Name: name.Value}
	p.lex.Next() // "("
	if !p.accept(")") {
		for {
			n, err := p.name("<ident>")
			if err != nil {
				return nil, err
			}
			a := &Attr{Pos: n.Pos, Name: n}
			if p.accept("(") {
				s := p.lex.Peek()
				if s.Type != tokString {
					return nil, p.unexpected("<string>")
				}
				p.lex.Next()
				a.Arg = s.Value
				if err := p.expect(")", `")"`); err != nil {
					return nil, err
				}
			}
			c.Attrs = append(c.Attrs, a)
			if p.accept(")") {
				break
			}
			if err := p.expect(",", `("," | ")")`); err != nil {
				return nil, err
			}
		}
	}
	c.Optional = p.accept("?")
	return c, nil
}

func (p *typeParser) tuple() (*Tuple, error) {
	t := &Tuple{Pos: Pos(p.lex.Next().Pos)}
	if p.accept("}") {
		return t, nil
	}
	for {
		e, err := p.subType()
		if err != nil {
			return nil, err
		}
		t.Elems = append(t.Elems, e)
		if p.accept("}") {
			return t, nil
		}
		if err := p.expect(",", `("," | "}")`); err != nil {
			return nil, err
		}
	}
}

func (p *typeParser) list() (*List, error) {
	l := &List{Pos: Pos(p.lex.Next().Pos)}
	if !p.accept("]") {
		e, err := p.subType()
		if err != nil {
			return nil, err
		}
		l.Elem = e
		if err := p.expect("]", `"]"`); err != nil {
			return nil, err
		}
	}
	switch {
	case p.accept("+"):
		l.Plus = true
	case p.accept("?"):
		l.Opt = true
	case p.peekPunct("{"):
		b := &Bounds{Pos: Pos(p.lex.Next().Pos)}
		if t := p.lex.Peek(); t.Type == tokInt {
			b.Min = t.Value
			p.lex.Next()
		}
		b.Comma = p.accept(",")
		if t := p.lex.Peek(); t.Type == tokInt {
			b.Max = t.Value
			p.lex.Next()
		}
		if err := p.expect("}", `"}"`); err != nil {
			return nil, err
		}
		l.Bounds = b
	}
	return l, nil
}

func (p *typeParser) mapType() (*Map, error) {
	m := &Map{Pos: Pos(p.lex.Next().Pos)}
	if p.accept("}") {
		return m, nil
	}
	for {
		t := p.lex.Peek()
		e := &MapEntry{Pos: Pos(t.Pos)}
		switch {
		case t.Type == tokPunct && t.Value == "..":
			p.lex.Next()
			e.Open = true
		case t.Type == tokIdent || t.Type == tokQAtom || t.Type == tokString:
			p.lex.Next()
			e.Key = t.Value
			op := p.lex.Peek()
			if op.Type != tokPunct || op.Value != ":=" && op.Value != "=>" {
				return nil, p.unexpected(`(":=" | "=>")`)
			}
			p.lex.Next()
			e.Op = op.Value
			v, err := p.subType()
			if err != nil {
				return nil, err
			}
			e.Value = v
		default:
			return nil, p.unexpected("MapEntry")
		}
		m.Entries = append(m.Entries, e)
		if p.accept("}") {
			return m, nil
		}
		if err := p.expect(",", `("," | "}")`); err != nil {
			return nil, err
		}
	}
}

func (p *typeParser) record(at Pos) (*Record, error) {
	n, err := p.name("<ident>")
	if err != nil {
		return nil, err
	}
	r := &Record{Pos: at, Name: n}
	if err := p.expect("{", `"{"`); err != nil {
		return nil, err
	}
	if p.accept("}") {
		return r, nil
	}
	for {
		fn, err := p.name("Field")
		if err != nil {
			return nil, err
		}
		f := &Field{Pos: Pos(fn.Pos), Name: fn}
		if p.accept("=") {
			if f.Default, err = p.subType(); err != nil {
				return nil, err
			}
		}
		if err := p.expect("::", `"::"`); err != nil {
			return nil, err
		}
		if f.Type, err = p.subType(); err != nil {
			return nil, err
		}
		r.Fields = append(r.Fields, f)
		if p.accept("}") {
			return r, nil
		}
		if err := p.expect(",", `("," | "}")`); err != nil {
			return nil, err
		}
	}
}

package contract

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"

	"github.com/ubfproxy/ubfproxy/grammar"
	"github.com/ubfproxy/ubfproxy/term"
)

// declareTypes registers the type definitions of f (names only; bodies are
// compiled once every name is known).
func (cp *compiler) declareTypes(f *grammar.File, imported bool) {
	for _, d := range f.Decls {
		switch {
		case d.DefType != nil:
			cp.declareType(d.DefType.Name, d.DefType.Type, d.DefType.Annotation, imported, false)
		case d.Types != nil:
			for _, td := range d.Types.Defs {
				cp.declareType(td.Name, td.Type, td.Annotation, imported, true)
			}
		}
	}
}

func (cp *compiler) declareType(n *grammar.TypeName, body *grammar.Type, annotation string, imported, ubf bool) {
	at := cp.pos(n.Pos)
	name, ok := cp.atomText(n.Name, n.Pos)
	if !ok {
		return
	}
	if IsReserved(name) {
		// ubf's own src/ubf_types_builtin.con defines the built-in types
		// as they are built in: such a definition is accepted once its
		// body is compiled and found to mean the same (builtinRedefs).
		def := &TypeDef{Name: name, Pos: at}
		cp.builtinRedefs = append(cp.builtinRedefs, &typeSource{def: def, ubf: ubf, syntax: body, file: at.File, nameAt: at})
		return
	}
	def := &TypeDef{Name: name, Pos: at, Imported: imported, Annotation: unquoteAnnotation(annotation)}
	src := &typeSource{def: def, ubf: ubf, syntax: body, file: at.File, nameAt: at}
	if prev, ok := cp.origin[name]; ok {
		switch {
		case prev.def.Imported && !imported:
			// ubf's rule: an imported type may be defined again only with
			// the same definition. Compare once both bodies are compiled.
			src.def.Imported = false
			cp.origin[name] = src
			cp.types[name] = def
			cp.redefs = append(cp.redefs, redef{prev: prev, cur: src})
			return
		case prev.def.Imported && imported:
			cp.redefs = append(cp.redefs, redef{prev: prev, cur: src, bothImported: true})
			return
		default:
			cp.reportf(at, CodeDuplicateType, "type %s() is already defined at %s", name, prev.nameAt)
			return
		}
	}
	cp.origin[name] = src
	cp.types[name] = def
	cp.order = append(cp.order, name)
}

type redef struct {
	prev, cur    *typeSource
	bothImported bool
}

func unquoteAnnotation(a string) string {
	if a == "" {
		return ""
	}
	if a[0] == '`' {
		return strings.Trim(a, "`")
	}
	t, err := term.Parse(a)
	if err != nil {
		return a
	}
	switch v := t.(type) {
	case term.String:
		return string(v)
	case term.Binary:
		return string(v)
	}
	return a
}

func (cp *compiler) compileTypes() {
	for _, name := range cp.order {
		src := cp.origin[name]
		src.def.Type = cp.sourceType(src)
	}
	for _, src := range cp.builtinRedefs {
		cp.checkBuiltinRedef(src)
	}
	for _, r := range cp.redefs {
		if r.prev.def.Type == nil {
			r.prev.def.Type = cp.sourceType(r.prev)
		}
		if r.cur.def.Type == nil {
			r.cur.def.Type = cp.sourceType(r.cur)
		}
		if r.prev.def.Type.String() == r.cur.def.Type.String() {
			continue
		}
		if r.bothImported {
			cp.reportf(r.cur.nameAt, CodeDuplicateType, "type %s() is imported twice with different definitions (%s and %s)", r.cur.def.Name, r.prev.nameAt, r.cur.nameAt)
		} else {
			cp.reportf(r.cur.nameAt, CodeDuplicateType, "type %s() is imported from %s with a different definition; an imported type may be defined again only with the same definition", r.cur.def.Name, r.prev.nameAt)
		}
	}
}

func (cp *compiler) typeNames() []string {
	names := make([]string, 0, len(cp.types)+len(predefKinds))
	for n := range cp.types {
		names = append(names, n)
	}
	for n := range predefKinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// atomText returns the atom a name denotes: bare as written, or unquoted.
func (cp *compiler) atomText(text string, at grammar.Pos) (string, bool) {
	if !strings.HasPrefix(text, "'") {
		if c := text[0]; c >= 'A' && c <= 'Z' || c == '_' {
			// As in Erlang (and ubf), such a name is a variable, which
			// stands only for a value inside a message type; taking it
			// as an atom would silently match only that atom.
			cp.reportf(cp.pos(at), CodeSyntax, "%s is not an atom: a name starting with a capital letter or \"_\" is a variable, which can only stand for a value in a message type (quote it as '%s' to name an atom)", text, text)
			return "", false
		}
		return text, true
	}
	t, err := term.Parse(text)
	if err != nil {
		cp.reportf(cp.pos(at), CodeSyntax, "bad quoted atom %s: %v", text, termErr(err))
		return "", false
	}
	a, ok := t.(term.Atom)
	if !ok {
		cp.reportf(cp.pos(at), CodeSyntax, "bad quoted atom %s", text)
		return "", false
	}
	return string(a), true
}

func (cp *compiler) unquoteString(text string, at grammar.Pos) (string, bool) {
	t, err := term.Parse(text)
	if err != nil {
		cp.reportf(cp.pos(at), CodeSyntax, "bad string %s: %v", text, termErr(err))
		return "", false
	}
	s, ok := t.(term.String)
	if !ok {
		cp.reportf(cp.pos(at), CodeSyntax, "expected a string, found %s", text)
		return "", false
	}
	return string(s), true
}

func termErr(err error) string {
	var se *term.SyntaxError
	if errors.As(err, &se) {
		return se.Msg
	}
	return err.Error()
}

// sourceType compiles the body of a type definition in its dialect.
func (cp *compiler) sourceType(src *typeSource) Type {
	cp.ubfDecl = src.ubf
	defer func() { cp.ubfDecl = false }()
	return cp.typ(src.syntax)
}

// typ compiles a type expression.
func (cp *compiler) typ(t *grammar.Type) Type {
	if len(t.Alts) == 1 {
		return cp.prim(t.Alts[0])
	}
	u := &Union{Pos: cp.pos(t.Pos)}
	for _, a := range t.Alts {
		u.Alts = append(u.Alts, cp.prim(a))
	}
	return u
}

func (cp *compiler) literal(text string, at grammar.Pos, what string) Type {
	v, err := term.Parse(text)
	if err != nil {
		cp.reportf(cp.pos(at), CodeSyntax, "bad %s %s: %v", what, text, termErr(err))
		return &Literal{Value: term.Atom("?"), Pos: cp.pos(at)}
	}
	return &Literal{Value: v, Pos: cp.pos(at)}
}

func (cp *compiler) integer(text string, at grammar.Pos) *term.Integer {
	v, err := term.Parse(text)
	if err != nil {
		cp.reportf(cp.pos(at), CodeSyntax, "bad integer %s: %v", text, termErr(err))
		return nil
	}
	i, ok := v.(term.Integer)
	if !ok {
		cp.reportf(cp.pos(at), CodeSyntax, "bad integer %s", text)
		return nil
	}
	return &i
}

func (cp *compiler) prim(p *grammar.Prim) Type {
	at := cp.pos(p.Pos)
	switch {
	case p.Tuple != nil:
		return cp.tuple(p.Tuple, at)
	case p.Tail != nil:
		cp.reportf(at, CodeBadTail, "..%s is a tuple's tail: it may only be the whole last element of a tuple, not an alternative or an earlier element", primText(p.Tail))
		return cp.prim(p.Tail)
	case p.Bind != nil:
		return cp.bind(p.Bind)
	case p.Var != nil:
		return cp.variable(*p.Var, p.Pos)
	case p.List != nil:
		return cp.list(p.List, at)
	case p.Record != nil:
		return cp.record(p.Record, false, at)
	case p.ExtRec != nil:
		return cp.record(p.ExtRec, true, at)
	case p.Map != nil:
		return cp.mapType(p.Map, at)
	case p.Call != nil:
		return cp.call(p.Call, at)
	case p.Range != nil:
		lo := cp.integer(p.Range.Lo, p.Pos)
		if !p.Range.Dots {
			if lo == nil {
				return &Literal{Value: term.Int(0), Pos: at}
			}
			return &Literal{Value: *lo, Pos: at}
		}
		r := &Range{Lo: lo, Pos: at}
		if p.Range.Hi != "" {
			r.Hi = cp.integer(p.Range.Hi, p.Pos)
		}
		if r.Lo != nil && r.Hi != nil && r.Lo.Cmp(*r.Hi) > 0 {
			cp.reportf(at, CodeEmptyRange, "range %s is empty: its start is greater than its end (write %s..%s)", r, r.Hi.Text(), r.Lo.Text())
		}
		return r
	case p.OpenLo != nil:
		return &Range{Hi: cp.integer(*p.OpenLo, p.Pos), Pos: at}
	case p.Float != nil:
		return cp.literal(*p.Float, p.Pos, "float")
	case p.Atom != nil:
		a, ok := cp.atomText(*p.Atom, p.Pos)
		if !ok {
			a = "?"
		}
		return &Literal{Value: term.Atom(a), Pos: at}
	case p.String != nil:
		return cp.literal(*p.String, p.Pos, "string")
	case p.Binary != nil:
		return cp.literal(*p.Binary, p.Pos, "binary")
	}
	cp.reportf(at, CodeSyntax, "empty type")
	return &Predef{Kind: Any, Pos: at}
}

// tuple compiles {T1, ..., Tn} and {T1, ..., ..L}: a tail is taken only
// as the last element, alone (not as an alternative).
func (cp *compiler) tuple(t *grammar.Tuple, at Pos) Type {
	tt := &TupleType{Pos: at, Elems: []Type{}}
	for i, e := range t.Elems {
		if i == len(t.Elems)-1 && len(e.Alts) == 1 && e.Alts[0].Tail != nil {
			cp.tail(tt, e.Alts[0])
			break
		}
		tt.Elems = append(tt.Elems, cp.typ(e))
	}
	return tt
}

// tail sets the tail of tt from ..L. A list type written in place is
// taken at once; list() is [any()]; a named type is checked once names
// are resolved (resolveTails).
func (cp *compiler) tail(tt *TupleType, p *grammar.Prim) {
	at := cp.pos(p.Pos)
	switch l := cp.prim(p.Tail).(type) {
	case *ListType:
		tt.Tail = l
	case *Literal:
		if lv, ok := l.Value.(term.List); ok && len(lv) == 0 {
			tt.Tail = &ListType{Elem: &Predef{Kind: Any}, Min: 0, Max: 0, Pos: l.Pos}
			return
		}
		cp.badTail(at, l)
	case *Predef:
		if l.Kind == ListT {
			tt.Tail = predefListTail(l)
			return
		}
		cp.badTail(at, l)
	case *Ref:
		if l.Optional {
			cp.badTail(at, l)
			return
		}
		tt.TailRef = l
		cp.tails = append(cp.tails, tt)
	default:
		cp.badTail(at, l)
	}
}

// predefListTail is list() as a tail: any elements, at least one when
// nonempty.
func predefListTail(p *Predef) *ListType {
	l := &ListType{Elem: &Predef{Kind: Any}, Min: 0, Max: -1, Pos: p.Pos}
	if p.Attrs&NonEmpty != 0 {
		l.Min = 1
	}
	return l
}

func (cp *compiler) badTail(at Pos, t Type) {
	cp.reportf(at, CodeBadTail, "the tail ..%s of a tuple must be a list type, such as ..[T], ..[T]+ or ..[T]{1,8}", t)
}

// resolveTails gives the tuples whose tail is a named type that type's
// list, once every name is resolved.
func (cp *compiler) resolveTails() {
	for _, tt := range cp.tails {
		switch l := deref(tt.TailRef).(type) {
		case *ListType:
			tt.Tail = l
		case *Predef:
			if l.Kind == ListT {
				tt.Tail = predefListTail(l)
				continue
			}
			cp.badTailRef(tt)
		case *Literal:
			if lv, ok := l.Value.(term.List); ok && len(lv) == 0 {
				tt.Tail = &ListType{Elem: &Predef{Kind: Any}, Min: 0, Max: 0}
				continue
			}
			cp.badTailRef(tt)
		default:
			if tt.TailRef.Def != nil { // an unknown name is reported already
				cp.badTailRef(tt)
			}
		}
	}
}

func (cp *compiler) badTailRef(tt *TupleType) {
	r := tt.TailRef
	cp.reportf(r.Pos, CodeBadTail, "the tail ..%s of a tuple must be a list type, and %s is %s", r, r, r.Def.Type)
}

func (cp *compiler) list(l *grammar.List, at Pos) Type {
	if l.Elem == nil {
		if l.Plus || l.Opt || l.Bounds != nil {
			cp.reportf(at, CodeEmptyRange, "[] is the empty list; it takes no length suffix (write [T]+ or [T]{n,m} with an element type)")
		}
		return &Literal{Value: term.List{}, Pos: at}
	}
	lt := &ListType{Elem: cp.typ(l.Elem), Min: 0, Max: -1, Pos: at}
	switch {
	case l.Plus:
		lt.Min = 1
	case l.Opt:
		lt.Max = 1
	case l.Bounds != nil:
		b := l.Bounds
		bat := cp.pos(b.Pos)
		num := func(s string) (int, bool) {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				cp.reportf(bat, CodeEmptyRange, "list length %s must be a non-negative decimal integer", s)
				return 0, false
			}
			return n, true
		}
		switch {
		case b.Min == "" && b.Max == "":
			cp.reportf(bat, CodeEmptyRange, "list length bounds need a number: write {n}, {n,}, {,m} or {n,m}")
		case !b.Comma:
			if n, ok := num(b.Min); ok {
				lt.Min, lt.Max = n, n
			}
		default:
			if b.Min != "" {
				if n, ok := num(b.Min); ok {
					lt.Min = n
				}
			}
			if b.Max != "" {
				if n, ok := num(b.Max); ok {
					lt.Max = n
				}
			}
			if lt.Max >= 0 && lt.Min > lt.Max {
				cp.reportf(bat, CodeEmptyRange, "list length bounds {%d,%d} are empty: the minimum is greater than the maximum", lt.Min, lt.Max)
			}
		}
	}
	return lt
}

func (cp *compiler) record(r *grammar.Record, ext bool, at Pos) Type {
	name, _ := cp.atomText(r.Name.Text, r.Name.Pos)
	rt := &RecordType{Name: name, Extended: ext, Pos: at}
	seen := map[string]Pos{}
	for _, f := range r.Fields {
		fname, _ := cp.atomText(f.Name.Text, f.Name.Pos)
		fat := cp.pos(f.Name.Pos)
		if prev, ok := seen[fname]; ok {
			cp.reportf(fat, CodeDuplicateField, "field %s of record #%s is already defined at %s", fname, name, prev)
		}
		seen[fname] = fat
		fld := Field{Name: fname, Type: cp.typ(f.Type)}
		if f.Default != nil {
			v, ok := cp.constant(f.Default)
			if !ok {
				cp.reportf(cp.pos(f.Default.Pos), CodeBadDefault, "the default of field %s must be a constant (an atom, number, string, binary, [] or a tuple of constants)", fname)
			}
			fld.Default = v
		}
		rt.Fields = append(rt.Fields, fld)
	}
	return rt
}

// constant turns a type expression that denotes exactly one term into it.
func (cp *compiler) constant(t *grammar.Type) (term.Term, bool) {
	if len(t.Alts) != 1 {
		return nil, false
	}
	p := t.Alts[0]
	switch {
	case p.Tuple != nil:
		tup := term.Tuple{}
		for _, e := range p.Tuple.Elems {
			v, ok := cp.constant(e)
			if !ok {
				return nil, false
			}
			tup = append(tup, v)
		}
		return tup, true
	case p.List != nil && p.List.Elem == nil && !p.List.Plus && !p.List.Opt && p.List.Bounds == nil:
		return term.List{}, true
	case p.Range != nil && !p.Range.Dots, p.Float != nil, p.Atom != nil, p.String != nil, p.Binary != nil:
		if l, ok := cp.prim(p).(*Literal); ok {
			return l.Value, true
		}
	}
	return nil, false
}

func (cp *compiler) mapType(m *grammar.Map, at Pos) Type {
	mt := &MapType{Pos: at}
	seen := map[string]Pos{}
	for i, e := range m.Entries {
		eat := cp.pos(e.Pos)
		if e.Open {
			if i != len(m.Entries)-1 {
				cp.reportf(eat, CodeSyntax, "\"..\" must be the last entry of a map type")
			}
			mt.Open = true
			continue
		}
		var key term.Term
		switch {
		case strings.HasPrefix(e.Key, `"`):
			s, ok := cp.unquoteString(e.Key, e.Pos)
			if !ok {
				continue
			}
			key = term.String(s)
		default:
			a, ok := cp.atomText(e.Key, e.Pos)
			if !ok {
				continue
			}
			key = term.Atom(a)
		}
		k := KeyName(key)
		if prev, ok := seen[k]; ok {
			cp.reportf(eat, CodeDuplicateField, "map key %s is already given at %s", key, prev)
		}
		seen[k] = eat
		mt.Fields = append(mt.Fields, MapField{Key: key, Required: e.Op == ":=", Value: cp.typ(e.Value)})
	}
	return mt
}

// KeyName is the name a map key stands for: the text of an atom or a
// string (JSON keys are strings; the contract writes atoms), so #{id, "id"}
// names one key twice. A binary, which only the wire carries, names the same.
func KeyName(k term.Term) string {
	switch v := k.(type) {
	case term.Atom:
		return string(v)
	case term.String:
		return string(v)
	case term.Binary:
		return string(v)
	}
	return k.String()
}

func (cp *compiler) call(c *grammar.Call, at Pos) Type {
	name, ok := cp.atomText(c.Name, c.Pos)
	if !ok {
		return &Predef{Kind: Any, Pos: at}
	}
	kind, isPredef := predefKinds[name]
	if name == "term" && len(c.Attrs) > 0 {
		// ubf allows term(nonempty) and term(nonundefined): term() is any().
		kind, isPredef = Any, true
	}
	if name == "proplist" && len(c.Attrs) > 0 {
		return cp.proplistWithAttrs(c, at)
	}
	if isPredef {
		pd := &Predef{Kind: kind, Pos: at}
		if kind == StringT && cp.ubfDecl {
			pd.Attrs |= CodeList
		}
		for _, a := range c.Attrs {
			cp.predefAttr(pd, name, a)
		}
		if c.Optional {
			return &Union{Alts: []Type{pd, &Literal{Value: term.Atom("undefined"), Pos: at}}, Pos: at}
		}
		return pd
	}
	if len(c.Attrs) > 0 {
		cp.reportf(cp.pos(c.Attrs[0].Pos), CodeBadAttribute, "type %s() takes no attributes; only predefined types such as atom(ascii) or binary(nonempty) do", name)
	}
	ref := &Ref{Name: name, Optional: c.Optional, Pos: at}
	cp.refs = append(cp.refs, ref)
	return ref
}

// predefAttr adds one attribute to a predefined type: a flag such as
// nonempty, or pattern("RE").
func (cp *compiler) predefAttr(pd *Predef, name string, a *grammar.Attr) {
	an, ok := cp.atomText(a.Name.Text, a.Pos)
	if !ok {
		return
	}
	at := cp.pos(a.Pos)
	if an == patternAttr {
		switch {
		case !patternKinds[pd.Kind]:
			cp.reportf(at, CodeBadAttribute, "%s", badAttrMessage(name, pd.Kind, an, true))
		case a.Arg == "":
			cp.reportf(at, CodeBadAttribute, "pattern needs a regular expression: write pattern(\"RE\")")
		case pd.Pattern != nil:
			cp.reportf(at, CodeBadAttribute, "%s() is given two patterns; combine them into one regular expression", name)
		default:
			pd.PatternText, pd.Pattern = cp.pattern(a.Arg, a.Pos)
		}
		return
	}
	if a.Arg != "" {
		cp.reportf(at, CodeBadAttribute, "attribute %q takes no argument; only pattern(\"RE\") does", an)
		return
	}
	bit, known := attrByName[an]
	if !known || allowedAttrs[pd.Kind]&bit == 0 {
		cp.reportf(at, CodeBadAttribute, "%s", badAttrMessage(name, pd.Kind, an, known))
		return
	}
	pd.Attrs |= bit
}

// pattern compiles the argument of pattern("RE"), as written with its
// quotes. The text between the quotes is the regular expression as is,
// but for \" which stands for a double quote: a backslash is the regular
// expression's own escape, so "\d+" means digits. The expression is
// checked alone (so that an unbalanced ")" cannot pair with the anchoring
// group) and then compiled anchored at both ends.
func (cp *compiler) pattern(quoted string, at grammar.Pos) (string, *regexp.Regexp) {
	body := quoted[1 : len(quoted)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' && i+1 < len(body) {
			if body[i+1] != '"' {
				b.WriteByte('\\')
			}
			i++
		}
		b.WriteByte(body[i])
	}
	re := b.String()
	if _, err := regexp.Compile(re); err != nil {
		cp.reportf(cp.pos(at), CodeBadPattern, "pattern %s does not compile: %s", quoted, patternErr(err))
		return re, nil
	}
	return re, regexp.MustCompile(`^(?:` + re + `)$`)
}

// patternErr is regexp's error without its "error parsing regexp: "
// prefix.
func patternErr(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: `%s`", se.Code, se.Expr)
	}
	return err.Error()
}

func badAttrMessage(name string, kind PredefKind, attr string, known bool) string {
	var allowed []string
	for _, an := range attrNames {
		if allowedAttrs[kind]&an.a != 0 {
			allowed = append(allowed, an.name)
		}
	}
	if patternKinds[kind] {
		allowed = append(allowed, patternAttr+`("RE")`)
	}
	what := fmt.Sprintf("attribute %q is not allowed on %s()", attr, name)
	if !known {
		what = fmt.Sprintf("unknown attribute %q on %s()", attr, name)
	}
	if len(allowed) == 0 {
		return what + ": it takes no attributes"
	}
	return what + ": allowed are " + strings.Join(allowed, ", ")
}

// proplistWithAttrs compiles ubf's proplist(nonempty).
func (cp *compiler) proplistWithAttrs(c *grammar.Call, at Pos) Type {
	lt := proplistType(0).(*ListType)
	lt.Pos = at
	for _, a := range c.Attrs {
		an, ok := cp.atomText(a.Name.Text, a.Pos)
		if !ok {
			continue
		}
		if an != "nonempty" || a.Arg != "" {
			_, known := attrByName[an]
			cp.reportf(cp.pos(a.Pos), CodeBadAttribute, "%s", badAttrMessage("proplist", ListT, an, known))
			continue
		}
		lt.Min = 1
	}
	if c.Optional {
		return &Union{Alts: []Type{lt, &Literal{Value: term.Atom("undefined"), Pos: at}}, Pos: at}
	}
	return lt
}

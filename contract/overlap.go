package contract

import (
	"regexp"
	"strconv"

	"github.com/ubfproxy/ubfproxy/term"
)

// This file decides, for the overlap warnings, whether two types can match
// one term. The check is structural and errs towards "they overlap" only
// where it cannot decide (nesting deeper than maxOverlapDepth through
// recursive types); attributes are ignored except where they exclude a
// constant outright (nonempty, nonundefined, ascii, asciiprintable).

const maxOverlapDepth = 32

// maxOverlapSteps bounds the work of one overlap question: unions of
// recursive types can otherwise branch exponentially. Running out of steps
// answers "they may overlap".
const maxOverlapSteps = 20000

// overlaps reports whether some term matches both a and b. Two different
// patterns are taken to overlap (whether two regular expressions share a
// string is not worth deciding here: "may overlap" is the safe answer);
// a pattern is checked exactly against a constant.
func overlaps(a, b Type) bool {
	o := &overlapper{steps: maxOverlapSteps}
	return o.overlapAt(a, b, 0)
}

type overlapper struct{ steps int }

type kindSet uint16

const (
	kAtom kindSet = 1 << iota
	kInt
	kFloat
	kString
	kBinary
	kTuple
	kList
	kMap
	kAll = kAtom | kInt | kFloat | kString | kBinary | kTuple | kList | kMap
)

// deref follows named types to their definition; an optional reference
// becomes a union with the atom undefined.
//
// A binding V = T matches what T matches, so it is looked through; a bare
// variable can be bound to any term, so it is any().
func deref(t Type) Type {
	for i := 0; i < 64; i++ {
		switch v := t.(type) {
		case *Bind:
			t = v.Type
			continue
		case *Var:
			return &Predef{Kind: Any, Pos: v.Pos}
		}
		r, ok := t.(*Ref)
		if !ok || r.Def == nil || r.Def.Type == nil {
			return t
		}
		if r.Optional {
			return &Union{Alts: []Type{&Ref{Name: r.Name, Def: r.Def}, &Literal{Value: term.Atom("undefined")}}}
		}
		t = r.Def.Type
	}
	return &Predef{Kind: Any}
}

func kindsOf(t Type) kindSet {
	switch t := t.(type) {
	case *Literal:
		return kindOfTerm(t.Value)
	case *Range:
		return kInt
	case *TupleType, *RecordType:
		return kTuple
	case *ListType:
		return kList
	case *MapType:
		return kMap
	case *Predef:
		switch t.Kind {
		case AtomT:
			return kAtom
		case BinaryT:
			return kBinary
		case FloatT:
			return kFloat
		case IntegerT:
			return kInt
		case ListT:
			return kList
		case TupleT:
			return kTuple
		case StringT:
			switch {
			case t.Attrs&WireString != 0:
				return kString
			case t.Attrs&CodeList != 0:
				return kList
			}
			return kString | kList
		case MapT:
			return kMap
		}
		return kAll
	case *Union:
		var k kindSet
		for _, a := range t.Alts {
			k |= kindsOf(deref(a))
		}
		return k
	}
	return kAll
}

func kindOfTerm(v term.Term) kindSet {
	switch v.(type) {
	case term.Atom:
		return kAtom
	case term.Integer:
		return kInt
	case term.Float:
		return kFloat
	case term.String:
		return kString
	case term.Binary:
		return kBinary
	case term.Tuple:
		return kTuple
	case term.List:
		return kList
	case term.Map:
		return kMap
	}
	return kAll
}

func (o *overlapper) overlapAt(a, b Type, depth int) bool {
	o.steps--
	if depth > maxOverlapDepth || o.steps < 0 {
		return true
	}
	a, b = deref(a), deref(b)
	if u, ok := a.(*Union); ok {
		for _, alt := range u.Alts {
			if o.overlapAt(alt, b, depth+1) {
				return true
			}
		}
		return false
	}
	if u, ok := b.(*Union); ok {
		for _, alt := range u.Alts {
			if o.overlapAt(a, alt, depth+1) {
				return true
			}
		}
		return false
	}
	if kindsOf(a)&kindsOf(b) == 0 {
		return false
	}
	// Order the pair so that literals come first, then predefined types.
	if _, ok := b.(*Literal); ok {
		a, b = b, a
	} else if _, ok := b.(*Predef); ok {
		if _, ok := a.(*Literal); !ok {
			a, b = b, a
		}
	}
	switch x := a.(type) {
	case *Literal:
		return o.matchesConst(b, x.Value, depth+1)
	case *Predef:
		return o.predefOverlap(x, b, depth+1)
	case *Range:
		if y, ok := b.(*Range); ok {
			return rangesMeet(x, y)
		}
		return true
	case *TupleType:
		return o.tuplesOverlap(x.Elems, x.Tail, tupleElems(b), tailOf(b), depth+1)
	case *RecordType:
		return o.tuplesOverlap(tupleElems(x), nil, tupleElems(b), tailOf(b), depth+1)
	case *ListType:
		if y, ok := b.(*ListType); ok {
			lo := max(x.Min, y.Min)
			hi := minBound(x.Max, y.Max)
			if hi >= 0 && lo > hi {
				return false
			}
			return lo == 0 || o.overlapAt(x.Elem, y.Elem, depth+1)
		}
		return true
	case *MapType:
		if y, ok := b.(*MapType); ok {
			return o.mapsOverlap(x, y, depth+1)
		}
		return true
	}
	return true
}

func minBound(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

// tupleElems returns the element types of a tuple or record type (nil for
// anything else).
func tupleElems(t Type) []Type {
	switch t := t.(type) {
	case *TupleType:
		return t.Elems
	case *RecordType:
		elems := []Type{&Literal{Value: term.Atom(t.Name)}}
		for _, f := range t.Fields {
			elems = append(elems, f.Type)
		}
		if t.Extended {
			elems = append(elems, &Literal{Value: term.Atom("$fields")}, &Predef{Kind: Any})
		}
		return elems
	}
	return nil
}

// tailOf returns the tail of a tuple type (nil for anything else).
func tailOf(t Type) *ListType {
	if tt, ok := t.(*TupleType); ok {
		return tt.Tail
	}
	return nil
}

// tuplesOverlap decides two tuple types, each a fixed prefix and an
// optional tail. Some tuple matches both if there is a length both allow
// and, at that length, every position's two element types overlap; the
// shortest common length is the one with the fewest positions to check.
func (o *overlapper) tuplesOverlap(x []Type, xt *ListType, y []Type, yt *ListType, depth int) bool {
	n, m := len(x), len(y)
	lo, hi := max(n, m), -1 // the common lengths [lo, hi]; hi < 0: unbounded
	bound := func(fixed int, t *ListType) {
		if t == nil {
			lo, hi = max(lo, fixed), minBound(hi, fixed)
			return
		}
		lo = max(lo, fixed+t.Min)
		if t.Max >= 0 {
			hi = minBound(hi, fixed+t.Max)
		}
	}
	bound(n, xt)
	bound(m, yt)
	if hi >= 0 && lo > hi {
		return false
	}
	at := func(elems []Type, tail *ListType, i int) Type {
		if i < len(elems) {
			return elems[i]
		}
		return tail.Elem
	}
	// Positions past both prefixes all compare the two tails' elements:
	// one comparison stands for them all.
	for i := 0; i < lo && i <= max(n, m); i++ {
		if !o.overlapAt(at(x, xt, i), at(y, yt, i), depth) {
			return false
		}
	}
	return true
}

func rangesMeet(x, y *Range) bool {
	// The intersection is [max(lo), min(hi)].
	if x.Lo != nil && y.Hi != nil && x.Lo.Cmp(*y.Hi) > 0 {
		return false
	}
	if y.Lo != nil && x.Hi != nil && y.Lo.Cmp(*x.Hi) > 0 {
		return false
	}
	return true
}

func (o *overlapper) mapsOverlap(x, y *MapType, depth int) bool {
	find := func(m *MapType, k string) (MapField, bool) {
		for _, f := range m.Fields {
			if KeyName(f.Key) == k {
				return f, true
			}
		}
		return MapField{}, false
	}
	for _, f := range x.Fields {
		g, ok := find(y, KeyName(f.Key))
		switch {
		case !ok && f.Required && !y.Open:
			return false
		case ok && (f.Required || g.Required) && !o.overlapAt(f.Value, g.Value, depth):
			return false
		}
	}
	for _, g := range y.Fields {
		if _, ok := find(x, KeyName(g.Key)); !ok && g.Required && !x.Open {
			return false
		}
	}
	return true
}

// predefOverlap decides p against a type that is not a literal.
func (o *overlapper) predefOverlap(p *Predef, b Type, depth int) bool {
	if _, ok := b.(*Predef); ok {
		return true
	}
	switch p.Kind {
	case StringT:
		if l, ok := b.(*ListType); ok && p.Attrs&WireString == 0 {
			if l.Min == 0 && p.Attrs&NonEmpty == 0 {
				return true // the empty list
			}
			return l.Max != 0 && o.overlapAt(l.Elem, &Range{Lo: intp(0), Hi: intp(0x10ffff)}, depth)
		}
	case ListT:
		if l, ok := b.(*ListType); ok && p.Attrs&NonEmpty != 0 {
			return l.Max != 0
		}
	case TupleT:
		if p.Attrs&NonEmpty != 0 {
			t := tailOf(b)
			return len(tupleElems(b)) > 0 || t != nil && t.Max != 0 && o.overlapAt(t.Elem, &Predef{Kind: Any}, depth)
		}
	case MapT:
		if m, ok := b.(*MapType); ok && p.Attrs&NonEmpty != 0 {
			return len(m.Fields) > 0 || m.Open
		}
	}
	return true
}

func intp(v int64) *term.Integer { i := term.Int(v); return &i }

// matchesConst reports whether t matches the constant v.
func (o *overlapper) matchesConst(t Type, v term.Term, depth int) bool {
	o.steps--
	if depth > maxOverlapDepth || o.steps < 0 {
		return true
	}
	t = deref(t)
	switch t := t.(type) {
	case *Literal:
		return term.Equal(t.Value, v)
	case *Range:
		i, ok := v.(term.Integer)
		if !ok {
			return false
		}
		return (t.Lo == nil || t.Lo.Cmp(i) <= 0) && (t.Hi == nil || t.Hi.Cmp(i) >= 0)
	case *Union:
		for _, a := range t.Alts {
			if o.matchesConst(a, v, depth+1) {
				return true
			}
		}
		return false
	case *ListType:
		l, ok := v.(term.List)
		return ok && len(l) == 0 && t.Min == 0
	case *Predef:
		if kindsOf(t)&kindOfTerm(v) == 0 {
			return false
		}
		nonEmpty := t.Attrs&NonEmpty != 0
		if t.Pattern != nil && !patternMatchesConst(t.Pattern, v) {
			return false
		}
		switch x := v.(type) {
		case term.Atom:
			if t.Attrs&NonUndefined != 0 && x == "undefined" {
				return false
			}
			return !(nonEmpty && x == "") && asciiOK(string(x), t.Attrs)
		case term.String:
			return !(nonEmpty && x == "") && asciiOK(string(x), t.Attrs)
		case term.Binary:
			return !(nonEmpty && len(x) == 0) && asciiOK(string(x), t.Attrs)
		case term.List:
			return !(nonEmpty && len(x) == 0)
		}
		return true
	}
	// Constants are scalars or [], which tuples, records and maps never
	// match.
	return false
}

// patternMatchesConst applies a pattern to the text of a constant: an
// atom's name, a string, a binary's bytes; the empty list is the empty
// string. Other constants have no text and never match.
func patternMatchesConst(re *regexp.Regexp, v term.Term) bool {
	switch x := v.(type) {
	case term.Atom:
		return re.MatchString(string(x))
	case term.String:
		return re.MatchString(string(x))
	case term.Binary:
		return re.Match(x)
	case term.List:
		return len(x) == 0 && re.MatchString("")
	}
	return false
}

// asciiOK applies the ascii (0..127) and asciiprintable (32..126)
// attributes to the bytes of a constant, as the checker does.
func asciiOK(s string, a Attr) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if a&Ascii != 0 && c > 127 || a&AsciiPrintable != 0 && (c < 32 || c > 126) {
			return false
		}
	}
	return true
}

// headIndex finds, for a rule's request type, the earlier rules whose
// request types might overlap it, without comparing every pair.
type headIndex struct {
	wild   []int                       // requests of any kind
	kinds  map[string][]int            // by kind key; "a" is atom(), "t" is tuple()
	atoms  map[string][]int            // atom constants
	tuples map[string]map[string][]int // arity -> leading atom ("" when not constant)
	stamp  map[int]int
	all    []int
}

func newHeadIndex() *headIndex {
	return &headIndex{kinds: map[string][]int{}, atoms: map[string][]int{}, tuples: map[string]map[string][]int{}, stamp: map[int]int{}}
}

// heads describes the coarse shapes a type's terms can have: "*" for
// anything, otherwise a kind letter, with the arity and leading atom for
// tuples ("t3:open", "t3" when the first element is not a constant atom).
func heads(t Type, depth int) []string {
	if depth > 8 {
		return []string{"*"}
	}
	t = deref(t)
	switch x := t.(type) {
	case *Union:
		var out []string
		for _, a := range x.Alts {
			hs := heads(a, depth+1)
			for _, h := range hs {
				if h == "*" {
					return []string{"*"}
				}
			}
			out = append(out, hs...)
		}
		return out
	case *Literal:
		if a, ok := x.Value.(term.Atom); ok {
			return []string{"a:" + string(a)}
		}
		return []string{kindKey(kindOfTerm(x.Value))}
	case *TupleType, *RecordType:
		elems := tupleElems(t)
		if tailOf(t) != nil {
			return []string{"t"} // of any arity from len(elems) on
		}
		k := "t" + strconv.Itoa(len(elems))
		if len(elems) > 0 {
			if l, ok := deref(elems[0]).(*Literal); ok {
				if a, ok := l.Value.(term.Atom); ok {
					return []string{k + ":" + string(a)}
				}
			}
		}
		return []string{k}
	}
	ks := kindsOf(t)
	if ks == kAll {
		return []string{"*"}
	}
	var out []string
	for k := kAtom; k <= kMap; k <<= 1 {
		if ks&k != 0 {
			out = append(out, kindKey(k))
		}
	}
	return out
}

func kindKey(k kindSet) string {
	switch k {
	case kAtom:
		return "a"
	case kInt:
		return "i"
	case kFloat:
		return "f"
	case kString:
		return "s"
	case kBinary:
		return "b"
	case kTuple:
		return "t"
	case kList:
		return "l"
	case kMap:
		return "m"
	}
	return "*"
}

// lookup visits the indexed rules that may share terms with key h.
func (ix *headIndex) lookup(h string, visit func(int)) {
	each := func(is []int) {
		for _, i := range is {
			visit(i)
		}
	}
	switch {
	case h == "*":
		each(ix.all)
	case h == "a":
		each(ix.kinds["a"])
		for _, is := range ix.atoms {
			each(is)
		}
	case len(h) > 2 && h[:2] == "a:":
		each(ix.kinds["a"])
		each(ix.atoms[h[2:]])
	case h == "t":
		each(ix.kinds["t"])
		for _, byAtom := range ix.tuples {
			for _, is := range byAtom {
				each(is)
			}
		}
	case h[0] == 't':
		each(ix.kinds["t"])
		arity, atom, hasAtom := splitTupleKey(h)
		byAtom := ix.tuples[arity]
		if !hasAtom {
			for _, is := range byAtom {
				each(is)
			}
			return
		}
		each(byAtom[atom])
		each(byAtom[""])
	default:
		each(ix.kinds[h])
	}
}

func splitTupleKey(k string) (arity, atom string, hasAtom bool) {
	rest := k[1:]
	for i := 0; i < len(rest); i++ {
		if rest[i] == ':' {
			return rest[:i], rest[i+1:], true
		}
	}
	return rest, "", false
}

func (ix *headIndex) candidates(keys []string, self int) []int {
	var out []int
	visit := func(i int) {
		if ix.stamp[i] == self+1 {
			return
		}
		ix.stamp[i] = self + 1
		out = append(out, i)
	}
	for _, i := range ix.wild {
		visit(i)
	}
	for _, h := range keys {
		ix.lookup(h, visit)
	}
	return out
}

func (ix *headIndex) add(keys []string, i int) {
	ix.all = append(ix.all, i)
	for _, h := range keys {
		if h == "*" {
			ix.wild = append(ix.wild, i)
			return
		}
	}
	for _, h := range keys {
		switch {
		case len(h) > 2 && h[:2] == "a:":
			ix.atoms[h[2:]] = append(ix.atoms[h[2:]], i)
		case h[0] == 't' && h != "t":
			arity, atom, _ := splitTupleKey(h)
			if ix.tuples[arity] == nil {
				ix.tuples[arity] = map[string][]int{}
			}
			ix.tuples[arity][atom] = append(ix.tuples[arity][atom], i)
		default:
			ix.kinds[h] = append(ix.kinds[h], i)
		}
	}
}

package compat

import (
	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Verdict is the answer to "is every term of T1 a term of T2?".
type Verdict uint8

// The verdicts of Include.
const (
	// Yes: T1 ⊆ T2, decided.
	Yes Verdict = iota + 1
	// No: some term of T1 is not a term of T2.
	No
	// Maybe: the question was not decided (two different patterns, or a
	// search too deep); callers report "may break" rather than guess.
	Maybe
)

func (v Verdict) String() string {
	switch v {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "maybe"
}

// maxIncludeDepth bounds the nesting of the inclusion search; deeper
// questions are answered Maybe.
const maxIncludeDepth = 64

// maxSplit bounds the tuples a tuple of unions is split into when it is
// compared with a union.
const maxSplit = 64

// Includer decides type inclusion between the types of two contracts. A
// variable stands for the types it is bound to (section 14: its value is
// one a V = T of the contract matched), so a bare V compares as the union
// of those T.
type Includer struct {
	varsA, varsB map[int][]contract.Type
	// assumed is the co-inductive assumption set: pairs of named types
	// under comparison. Meeting a pair again answers Yes, which is sound
	// for the greatest fixed point that recursive types denote.
	assumed map[[2]contract.Type]bool
}

// NewIncluder prepares inclusion questions "a type of A within a type of
// B"; A and B may be the same contract.
func NewIncluder(a, b *contract.Contract) *Includer {
	return &Includer{varsA: varTypes(a), varsB: varTypes(b), assumed: make(map[[2]contract.Type]bool)}
}

// Include answers whether every term of t1 (a type of A) is a term of t2
// (a type of B).
func (in *Includer) Include(t1, t2 contract.Type) Verdict {
	return in.inc(t1, t2, 0)
}

// varTypes maps each variable slot of c to the types its bindings carry.
func varTypes(c *contract.Contract) map[int][]contract.Type {
	out := make(map[int][]contract.Type)
	if c == nil {
		return out
	}
	seen := make(map[*contract.TypeDef]bool)
	var visit func(t contract.Type) bool
	visit = func(t contract.Type) bool {
		switch ty := t.(type) {
		case *contract.Bind:
			out[ty.Slot] = append(out[ty.Slot], ty.Type)
		case *contract.Ref:
			if ty.Def != nil && !seen[ty.Def] {
				seen[ty.Def] = true
				contract.VisitType(ty.Def.Type, visit)
			}
		}
		return true
	}
	contract.WalkTypes(c, func(t contract.Type) { contract.VisitType(t, visit) })
	for _, d := range c.Types {
		if !d.Builtin {
			contract.VisitType(d.Type, visit)
		}
	}
	return out
}

// undefinedAtom is what name()? adds to a type.
var undefinedAtom = &contract.Literal{Value: term.Atom("undefined")}

// unfold replaces a type that only names another (a reference, a binding,
// a variable, a record) by what it matches; it reports whether t changed.
func unfold(t contract.Type, vars map[int][]contract.Type) (contract.Type, bool) {
	switch ty := t.(type) {
	case *contract.Ref:
		if ty.Optional {
			return &contract.Union{Alts: []contract.Type{ty.Def.Type, undefinedAtom}}, true
		}
		return ty.Def.Type, true
	case *contract.Bind:
		return ty.Type, true
	case *contract.Var:
		alts := vars[ty.Slot]
		if len(alts) == 1 {
			return alts[0], true
		}
		return &contract.Union{Alts: alts}, true
	case *contract.RecordType:
		return recordTuple(ty), true
	case *contract.Predef:
		// none() matches any term, as in ubf (section 3).
		if ty.Kind == contract.None {
			return &contract.Predef{Kind: contract.Any}, true
		}
	}
	return t, false
}

// recordTuple is the tuple a record stands for.
func recordTuple(r *contract.RecordType) *contract.TupleType {
	elems := []contract.Type{&contract.Literal{Value: term.Atom(r.Name)}}
	for _, f := range r.Fields {
		elems = append(elems, f.Type)
	}
	if r.Extended {
		elems = append(elems, &contract.Literal{Value: term.Atom("$fields")}, &contract.Predef{Kind: contract.Any})
	}
	return &contract.TupleType{Elems: elems, Pos: r.Pos}
}

func (in *Includer) inc(a, b contract.Type, depth int) Verdict {
	if depth > maxIncludeDepth {
		return Maybe
	}
	// Named types: the co-inductive step.
	_, aRef := a.(*contract.Ref)
	_, bRef := b.(*contract.Ref)
	if aRef || bRef {
		key := [2]contract.Type{a, b}
		if in.assumed[key] {
			return Yes
		}
		in.assumed[key] = true
		defer delete(in.assumed, key)
	}
	if ua, ok := unfold(a, in.varsA); ok {
		return in.inc(ua, b, depth+1)
	}
	// The left side's alternatives each must be included.
	if u, ok := a.(*contract.Union); ok {
		worst := Yes
		for _, alt := range u.Alts {
			worst = max(worst, in.inc(alt, b, depth+1))
			if worst == No {
				return No
			}
		}
		return worst
	}
	if ub, ok := unfold(b, in.varsB); ok {
		return in.inc(a, ub, depth+1)
	}
	if lit, ok := a.(*contract.Literal); ok {
		return in.literal(lit.Value, b)
	}
	if u, ok := b.(*contract.Union); ok {
		return in.intoUnion(a, u, depth)
	}
	if p, ok := b.(*contract.Predef); ok && p.Kind == contract.Any {
		if p.Attrs&contract.NonUndefined == 0 {
			return Yes
		}
		return in.literalFree(a, undefinedAtom.Value, depth)
	}
	switch ta := a.(type) {
	case *contract.Range:
		return rangeIn(ta, b)
	case *contract.Predef:
		return in.predef(ta, b)
	case *contract.TupleType:
		return in.tuple(ta, b, depth)
	case *contract.ListType:
		return in.list(ta, b, depth)
	case *contract.MapType:
		return in.mapType(ta, b, depth)
	}
	return Maybe
}

// literal decides a constant exactly: the checker matches it, with the
// variables of b standing for their types.
func (in *Includer) literal(v term.Term, b contract.Type) Verdict {
	if checker.Match(v, in.byTypes(b, in.varsB)) {
		return Yes
	}
	return No
}

// literalFree answers whether the constant v is outside a: Yes when a
// cannot match it.
func (in *Includer) literalFree(a contract.Type, v term.Term, depth int) Verdict {
	if checker.Match(v, in.byTypes(a, in.varsA)) {
		return No
	}
	return Yes
}

// intoUnion: a (not itself a union) within one of the alternatives, or,
// for integers, within their combined ranges, or, for a tuple of unions,
// each of its splits within the union.
func (in *Includer) intoUnion(a contract.Type, u *contract.Union, depth int) Verdict {
	best := No
	for _, alt := range u.Alts {
		v := in.inc(a, alt, depth+1)
		if v == Yes {
			return Yes
		}
		if v == Maybe {
			best = Maybe
		}
	}
	if ivs, ok := in.integerSet(a, depth); ok {
		if covered(ivs, in.unionIntegers(u, depth)) {
			return Yes
		}
		return best
	}
	if t, ok := a.(*contract.TupleType); ok {
		if splits := in.split(t, depth); len(splits) > 1 {
			worst := Yes
			for _, s := range splits {
				worst = max(worst, in.intoUnion(s, u, depth+1))
				if worst == No {
					break
				}
			}
			// A failed split shows no more than the failed whole: keep
			// the whole's Maybe rather than turn it into No.
			if worst == No && best == Maybe {
				return Maybe
			}
			return worst
		}
	}
	return best
}

// split turns a tuple whose elements are unions into the tuples of each
// combination of alternatives, when there are at most maxSplit of them.
func (in *Includer) split(t *contract.TupleType, depth int) []*contract.TupleType {
	out := []*contract.TupleType{{Tail: t.Tail, Pos: t.Pos}}
	for _, e := range t.Elems {
		alts := in.alternatives(e, in.varsA, depth)
		if len(out)*len(alts) > maxSplit {
			return nil
		}
		var next []*contract.TupleType
		for _, o := range out {
			for _, alt := range alts {
				elems := append(append([]contract.Type(nil), o.Elems...), alt)
				next = append(next, &contract.TupleType{Elems: elems, Tail: o.Tail, Pos: t.Pos})
			}
		}
		out = next
	}
	return out
}

// alternatives flattens the unions t stands for (through names, bindings
// and variables, not through recursion).
func (in *Includer) alternatives(t contract.Type, vars map[int][]contract.Type, depth int) []contract.Type {
	if depth > maxIncludeDepth {
		return []contract.Type{t}
	}
	if _, isRec := t.(*contract.RecordType); isRec {
		return []contract.Type{t}
	}
	if u, ok := unfold(t, vars); ok {
		return in.alternatives(u, vars, depth+1)
	}
	if un, ok := t.(*contract.Union); ok {
		var out []contract.Type
		for _, alt := range un.Alts {
			out = append(out, in.alternatives(alt, vars, depth+1)...)
		}
		return out
	}
	return []contract.Type{t}
}

func (in *Includer) predef(a *contract.Predef, b contract.Type) Verdict {
	p, ok := b.(*contract.Predef)
	if !ok {
		switch tb := b.(type) {
		case *contract.Range:
			if a.Kind == contract.IntegerT && tb.Lo == nil && tb.Hi == nil {
				return Yes
			}
		case *contract.ListType:
			if a.Kind == contract.ListT && in.inc(&contract.Predef{Kind: contract.Any}, tb.Elem, 0) == Yes &&
				tb.Max < 0 && (tb.Min == 0 || tb.Min == 1 && a.Attrs&contract.NonEmpty != 0) {
				return Yes
			}
		case *contract.TupleType:
			if a.Kind == contract.TupleT && len(tb.Elems) == 0 && tb.Tail != nil {
				return in.list(&contract.ListType{Elem: &contract.Predef{Kind: contract.Any}, Max: -1}, tb.Tail, 0)
			}
		case *contract.MapType:
			if a.Kind == contract.MapT && tb.Open && !hasRequired(tb) {
				return Yes
			}
		}
		return No
	}
	if a.Kind != p.Kind {
		return No
	}
	// Every restriction of b must follow from a's. Secret restricts
	// nothing; asciiprintable implies ascii.
	need := p.Attrs &^ contract.Secret
	have := a.Attrs
	if have&contract.AsciiPrintable != 0 {
		have |= contract.Ascii
	}
	if need&^have != 0 {
		return No
	}
	switch {
	case p.Pattern == nil:
		return Yes
	case a.Pattern == nil:
		return No
	case a.Pattern.String() == p.Pattern.String():
		return Yes
	}
	return Maybe
}

func hasRequired(m *contract.MapType) bool {
	for _, f := range m.Fields {
		if f.Required {
			return true
		}
	}
	return false
}

// tuple compares tuples, tails included, by position: a tuple with a tail
// is the union of its arities.
func (in *Includer) tuple(a *contract.TupleType, b contract.Type, depth int) Verdict {
	if p, ok := b.(*contract.Predef); ok {
		if p.Kind == contract.TupleT {
			return Yes
		}
		return No
	}
	tb, ok := b.(*contract.TupleType)
	if !ok {
		return No
	}
	n, m := len(a.Elems), len(tb.Elems)
	if a.Tail != nil && a.Tail.Max >= 0 && a.Tail.Max-a.Tail.Min < maxSplit {
		// A bounded tail is a finite union of fixed arities.
		worst := Yes
		for k := a.Tail.Min; k <= a.Tail.Max; k++ {
			elems := append([]contract.Type(nil), a.Elems...)
			for range k {
				elems = append(elems, a.Tail.Elem)
			}
			worst = max(worst, in.tuple(&contract.TupleType{Elems: elems}, tb, depth+1))
			if worst == No {
				return No
			}
		}
		return worst
	}
	worst := Yes
	elem := func(x, y contract.Type) bool {
		worst = max(worst, in.inc(x, y, depth+1))
		return worst != No
	}
	switch {
	case a.Tail == nil && tb.Tail == nil:
		if n != m {
			return No
		}
		for i := range n {
			if !elem(a.Elems[i], tb.Elems[i]) {
				return No
			}
		}
	case a.Tail == nil: // fixed arity within a tail
		k := n - m
		if k < tb.Tail.Min || tb.Tail.Max >= 0 && k > tb.Tail.Max {
			return No
		}
		for i := range n {
			y := tb.Tail.Elem
			if i < m {
				y = tb.Elems[i]
			}
			if !elem(a.Elems[i], y) {
				return No
			}
		}
	case tb.Tail == nil: // unbounded arities never fit one arity
		return No
	default: // both with tails, a's unbounded
		la, lb := a.Tail, tb.Tail
		if lb.Max >= 0 {
			return No
		}
		for i := 0; i < min(n, m); i++ {
			if !elem(a.Elems[i], tb.Elems[i]) {
				return No
			}
		}
		if n >= m {
			for i := m; i < n; i++ {
				if !elem(a.Elems[i], lb.Elem) {
					return No
				}
			}
			if n-m+la.Min < lb.Min {
				return No
			}
		} else {
			// a's tail fills b's fixed positions n..m-1 and must be long
			// enough to.
			if la.Min < m-n {
				return No
			}
			for i := n; i < m; i++ {
				if !elem(la.Elem, tb.Elems[i]) {
					return No
				}
			}
			if la.Min-(m-n) < lb.Min {
				return No
			}
		}
		if !elem(la.Elem, lb.Elem) {
			return No
		}
	}
	return worst
}

func (in *Includer) list(a *contract.ListType, b contract.Type, depth int) Verdict {
	var tb *contract.ListType
	switch ty := b.(type) {
	case *contract.ListType:
		tb = ty
	case *contract.Predef:
		switch {
		case ty.Kind == contract.ListT:
			tb = &contract.ListType{Elem: &contract.Predef{Kind: contract.Any}, Max: -1}
			if ty.Attrs&contract.NonEmpty != 0 {
				tb.Min = 1
			}
		case ty.Kind == contract.StringT && ty.Attrs&contract.WireString == 0 && ty.Pattern == nil && a.Max == 0:
			// The empty list is the empty string of character codes.
			if ty.Attrs&contract.NonEmpty == 0 {
				return Yes
			}
			return No
		default:
			return No
		}
	default:
		return No
	}
	if a.Min < tb.Min || tb.Max >= 0 && (a.Max < 0 || a.Max > tb.Max) {
		return No
	}
	if a.Max == 0 {
		return Yes // only [], whatever the elements
	}
	return in.inc(a.Elem, tb.Elem, depth+1)
}

// mapType compares maps key by key; keys match by name (section 3).
func (in *Includer) mapType(a *contract.MapType, b contract.Type, depth int) Verdict {
	if p, ok := b.(*contract.Predef); ok {
		if p.Kind == contract.MapT && (p.Attrs&contract.NonEmpty == 0 || hasRequired(a)) {
			return Yes
		}
		return No
	}
	tb, ok := b.(*contract.MapType)
	if !ok {
		return No
	}
	if a.Open && !tb.Open {
		return No
	}
	worst := Yes
	inB := make(map[string]contract.MapField)
	for _, f := range tb.Fields {
		inB[contract.KeyName(f.Key)] = f
	}
	inA := make(map[string]bool)
	for _, f := range a.Fields {
		name := contract.KeyName(f.Key)
		inA[name] = true
		g, ok := inB[name]
		if !ok {
			if !tb.Open {
				return No
			}
			continue
		}
		worst = max(worst, in.inc(f.Value, g.Value, depth+1))
		if worst == No {
			return No
		}
	}
	for _, g := range tb.Fields {
		name := contract.KeyName(g.Key)
		af := false
		for _, f := range a.Fields {
			if contract.KeyName(f.Key) == name {
				af = f.Required
			}
		}
		if g.Required && !af {
			return No
		}
		// An open a may carry b's key with any value.
		if !inA[name] && a.Open {
			worst = max(worst, in.inc(&contract.Predef{Kind: contract.Any}, g.Value, depth+1))
			if worst == No {
				return No
			}
		}
	}
	return worst
}

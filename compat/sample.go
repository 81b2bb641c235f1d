package compat

import (
	"math/big"
	"math/rand/v2"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Samples are the candidate messages the walk tries: terms of a type
// chosen to tell it apart from the other contract's types (its "hints").
// For every type form but patterns they include a term on each side of
// every boundary the hints draw (an integer just past a range's end, an
// atom the hints do not name, a list one longer than a bound, a tuple of
// another arity...), so a difference between the two contracts shows as a
// sample one accepts and the other refuses. Whether a sample is legal is
// always decided by checker sessions, never here.

const (
	// maxSamples bounds the samples of one type.
	maxSamples = 48
	// maxProduct bounds the combinations of a tuple's element samples
	// tried in full; beyond it elements vary one at a time.
	maxProduct = 48
	// maxSampleDepth bounds the named types followed; deeper, one
	// generated term stands for the type.
	maxSampleDepth = 6
	// generated is how many random terms of a pattern type are tried.
	generated = 4
)

// sampler draws samples of the types of one contract.
type sampler struct {
	vars     map[int][]contract.Type // the sampled contract's variables
	hintVars map[int][]contract.Type // the hints' contract's variables
	env      checker.Env
	r        *rand.Rand
	// extra are the parts of the request a reply answers: a variable the
	// request bound (not yet in env) has one of them as its value.
	extra []term.Term
}

func newSampler(vars, hintVars map[int][]contract.Type, env checker.Env) *sampler {
	return &sampler{vars: vars, hintVars: hintVars, env: env, r: rand.New(rand.NewPCG(1, 2))}
}

// of returns samples of t, telling it apart from hints. Each alternative
// of a union gets its own share, so that a long union (a command() of
// every request) still has its boundary samples in every alternative.
func (s *sampler) of(t contract.Type, hints []contract.Type, depth int) []term.Term {
	var alts []contract.Type
	if depth <= maxSampleDepth {
		alts = s.alternatives(t, 0)
	}
	if len(alts) <= 1 {
		return dedupe(s.raw(t, hints, depth), maxSamples)
	}
	var out []term.Term
	for _, alt := range alts {
		out = append(out, dedupe(s.raw(alt, hints, depth), maxSamples)...)
	}
	return dedupe(out, maxSamples*len(alts))
}

// alternatives flattens the unions t stands for through names and
// bindings (not variables, whose samples are their values).
func (s *sampler) alternatives(t contract.Type, depth int) []contract.Type {
	if depth > maxSampleDepth {
		return []contract.Type{t}
	}
	switch ty := t.(type) {
	case *contract.Ref:
		out := s.alternatives(ty.Def.Type, depth+1)
		if ty.Optional {
			out = append(out, undefinedAtom)
		}
		return out
	case *contract.Bind:
		return s.alternatives(ty.Type, depth+1)
	case *contract.Union:
		var out []contract.Type
		for _, a := range ty.Alts {
			out = append(out, s.alternatives(a, depth+1)...)
		}
		return out
	}
	return []contract.Type{t}
}

func (s *sampler) raw(t contract.Type, hints []contract.Type, depth int) []term.Term {
	switch ty := t.(type) {
	case *contract.Literal:
		return []term.Term{ty.Value}
	case *contract.Var:
		if v, ok := s.env[ty.Name]; ok && v != nil {
			return []term.Term{v}
		}
		out := append([]term.Term(nil), s.extra...)
		for _, alt := range s.vars[ty.Slot] {
			out = append(out, s.raw(alt, hints, depth+1)...)
		}
		return out
	case *contract.Bind:
		return s.raw(ty.Type, hints, depth)
	case *contract.Ref:
		if depth > maxSampleDepth {
			if v := checker.GenerateIn(s.r, ty, 3, s.env); v != nil {
				return []term.Term{v}
			}
			return nil
		}
		out := s.raw(ty.Def.Type, hints, depth+1)
		if ty.Optional {
			out = append(out, term.Atom("undefined"))
		}
		return out
	case *contract.Union:
		var out []term.Term
		for _, alt := range ty.Alts {
			out = append(out, s.raw(alt, hints, depth)...)
		}
		return out
	case *contract.RecordType:
		return s.raw(recordTuple(ty), hints, depth)
	case *contract.Range:
		return s.integers(ty, hints)
	case *contract.Predef:
		return s.predef(ty, hints, depth)
	case *contract.TupleType:
		return s.tuple(ty, hints, depth)
	case *contract.ListType:
		return s.list(ty, hints, depth)
	case *contract.MapType:
		return s.mapType(ty, hints, depth)
	}
	return nil
}

// flat is hints as alternatives that are neither unions nor names.
func (s *sampler) flat(hints []contract.Type) []contract.Type {
	var out []contract.Type
	seen := make(map[contract.Type]bool)
	var add func(t contract.Type, depth int)
	add = func(t contract.Type, depth int) {
		if t == nil || depth > maxSampleDepth || seen[t] {
			return
		}
		seen[t] = true
		if u, ok := unfold(t, s.hintVars); ok {
			if _, isPredef := t.(*contract.Predef); !isPredef {
				add(u, depth+1)
				if r, ok := t.(*contract.Ref); ok && r.Optional {
					out = append(out, undefinedAtom)
				}
				return
			}
		}
		if u, ok := t.(*contract.Union); ok {
			for _, a := range u.Alts {
				add(a, depth+1)
			}
			return
		}
		out = append(out, t)
	}
	for _, h := range hints {
		add(h, 0)
	}
	return out
}

// constants are the literals of hints and the integers next to their
// ranges' ends.
func (s *sampler) constants(hints []contract.Type) []term.Term {
	var out []term.Term
	one := big.NewInt(1)
	around := func(n *big.Int) {
		out = append(out, term.BigInt(new(big.Int).Sub(n, one)), term.BigInt(n), term.BigInt(new(big.Int).Add(n, one)))
	}
	for _, h := range s.flat(hints) {
		switch t := h.(type) {
		case *contract.Literal:
			out = append(out, t.Value)
			if n, ok := t.Value.(term.Integer); ok {
				around(n.Big())
			}
		case *contract.Range:
			if t.Lo != nil {
				around(t.Lo.Big())
			}
			if t.Hi != nil {
				around(t.Hi.Big())
			}
		}
	}
	return out
}

func (s *sampler) integers(r *contract.Range, hints []contract.Type) []term.Term {
	var out []term.Term
	if r.Lo != nil {
		out = append(out, *r.Lo, term.BigInt(new(big.Int).Add(r.Lo.Big(), big.NewInt(1))))
	} else {
		out = append(out, term.Int(-1<<62))
	}
	if r.Hi != nil {
		out = append(out, *r.Hi, term.BigInt(new(big.Int).Sub(r.Hi.Big(), big.NewInt(1))))
	} else {
		out = append(out, term.Int(1<<62))
	}
	out = append(out, term.Int(0))
	for _, c := range s.constants(hints) {
		if n, ok := c.(term.Integer); ok {
			out = append(out, n)
		}
	}
	// Keep those within the range.
	var in []term.Term
	for _, t := range out {
		n := t.(term.Integer)
		if (r.Lo == nil || n.Cmp(*r.Lo) >= 0) && (r.Hi == nil || n.Cmp(*r.Hi) <= 0) {
			in = append(in, n)
		}
	}
	return in
}

// anyTerms are terms of every kind, for any() and the like.
var anyTerms = []term.Term{
	term.Atom("a"), term.Int(0), term.String("s"), term.Binary("b"), term.Float(1.5),
	term.Tuple{}, term.List{}, term.Map{}, term.Atom("undefined"),
}

func (s *sampler) predef(p *contract.Predef, hints []contract.Type, depth int) []term.Term {
	var out []term.Term
	consts := s.constants(hints)
	kinds := func(k term.Kind) {
		for _, c := range consts {
			if c.Kind() == k {
				out = append(out, c)
			}
		}
	}
	switch p.Kind {
	case contract.Any, contract.None:
		out = append(out, anyTerms...)
		out = append(out, consts...)
		if depth <= 1 {
			for _, h := range s.flat(hints) {
				if _, isLit := h.(*contract.Literal); !isLit {
					hs := &sampler{vars: s.hintVars, hintVars: s.hintVars, env: s.env, r: s.r}
					out = append(out, hs.raw(h, nil, depth+1)...)
				}
			}
		}
	case contract.AtomT:
		out = append(out, term.Atom("a"))
		kinds(term.KindAtom)
		out = append(out, term.Atom("ubfproxy_other"), term.Atom("undefined"), term.Atom(""), term.Atom("é"), term.Atom("a\x01"))
	case contract.IntegerT:
		kinds(term.KindInteger)
		out = append(out, term.Int(0), term.Int(1), term.Int(-1), term.Int(1<<62), term.Int(-1<<62))
	case contract.FloatT:
		kinds(term.KindFloat)
		out = append(out, term.Float(0.5), term.Float(-2.5))
	case contract.StringT:
		kinds(term.KindString)
		out = append(out, term.String("x"), term.String(""), term.String("hello world"), term.String("é"), term.String("a\x01"))
	case contract.BinaryT:
		kinds(term.KindBinary)
		out = append(out, term.Binary("x"), term.Binary(""), term.Binary("hello world"), term.Binary("é"), term.Binary("a\x01"))
	case contract.ListT:
		out = append(out, term.List{}, term.List{term.Atom("a")}, term.List{term.Int(0), term.Int(1)})
	case contract.TupleT:
		out = append(out, term.Tuple{}, term.Tuple{term.Atom("a")}, term.Tuple{term.Atom("a"), term.Int(0)})
	case contract.MapT:
		out = append(out, term.Map{}, term.Map{{Key: term.String("k"), Value: term.Int(0)}})
	}
	if p.Pattern != nil || p.Kind == contract.StringT || p.Kind == contract.BinaryT || p.Kind == contract.AtomT {
		// Terms the type's own generator makes respect its pattern and
		// attributes; the fixed ones above may not.
		for range generated {
			if v := checker.Generate(s.r, p, 2); v != nil {
				out = append(out, asString(v, p))
			}
		}
	}
	if p.Kind == contract.StringT || p.Kind == contract.BinaryT || p.Kind == contract.AtomT {
		// Keep what the type matches: a pattern or an attribute refuses
		// most fixed candidates, and the generated ones say the rest.
		var kept []term.Term
		for _, t := range out {
			if checker.Match(t, p) {
				kept = append(kept, t)
			}
		}
		out = kept
	}
	return out
}

// tupleHints are the types hints give position i of a tuple of n
// elements.
func (s *sampler) tupleHints(hints []contract.Type, n int) (per [][]contract.Type, arities []int) {
	per = make([][]contract.Type, n)
	for _, h := range s.flat(hints) {
		ht, ok := h.(*contract.TupleType)
		if !ok {
			if r, isRec := h.(*contract.RecordType); isRec {
				ht = recordTuple(r)
			} else {
				continue
			}
		}
		arities = append(arities, len(ht.Elems))
		if ht.Tail != nil {
			arities = append(arities, len(ht.Elems)+ht.Tail.Min)
			if ht.Tail.Max >= 0 {
				arities = append(arities, len(ht.Elems)+ht.Tail.Max, len(ht.Elems)+ht.Tail.Max+1)
			} else {
				arities = append(arities, len(ht.Elems)+ht.Tail.Min+1)
			}
			if ht.Tail.Min > 0 {
				arities = append(arities, len(ht.Elems)+ht.Tail.Min-1)
			}
		}
		for i := range n {
			switch {
			case i < len(ht.Elems):
				per[i] = append(per[i], ht.Elems[i])
			case ht.Tail != nil:
				per[i] = append(per[i], ht.Tail.Elem)
			}
		}
	}
	return per, arities
}

func (s *sampler) tuple(t *contract.TupleType, hints []contract.Type, depth int) []term.Term {
	n := len(t.Elems)
	var lengths []int
	if t.Tail == nil {
		lengths = []int{n}
	} else {
		lengths = tailLengths(n, t.Tail)
		_, arities := s.tupleHints(hints, n)
		for _, a := range arities {
			k := a - n
			if k >= t.Tail.Min && (t.Tail.Max < 0 || k <= t.Tail.Max) {
				lengths = append(lengths, a)
			}
		}
	}
	var out []term.Term
	sizes := uniqueInts(lengths)
	// Every arity gets its share of the samples: the one past a bound
	// matters as much as the shortest.
	share := max(4, maxSamples/len(sizes))
	for _, size := range sizes {
		per, _ := s.tupleHints(hints, size)
		elems := make([][]term.Term, size)
		for i := range size {
			et := contract.Type(nil)
			if i < n {
				et = t.Elems[i]
			} else {
				et = t.Tail.Elem
			}
			elems[i] = s.of(et, per[i], depth+1)
			if len(elems[i]) == 0 {
				elems = nil
				break
			}
		}
		if elems == nil {
			continue
		}
		for i, c := range combine(elems) {
			if i == share {
				break
			}
			out = append(out, term.Tuple(c))
		}
	}
	return out
}

// tailLengths are the total arities worth trying for a tuple of n
// elements and a tail.
func tailLengths(n int, l *contract.ListType) []int {
	out := []int{n + l.Min, n + l.Min + 1}
	if l.Max >= 0 {
		out = append(out, n+l.Max)
	}
	var in []int
	for _, k := range out {
		if k-n >= l.Min && (l.Max < 0 || k-n <= l.Max) {
			in = append(in, k)
		}
	}
	return in
}

// combine returns every combination of the element samples when there
// are at most maxProduct, else the first samples varied one position at a
// time.
func combine(elems [][]term.Term) [][]term.Term {
	total := 1
	for _, e := range elems {
		total *= len(e)
		if total > maxProduct {
			break
		}
	}
	if total <= maxProduct {
		out := [][]term.Term{{}}
		for _, e := range elems {
			var next [][]term.Term
			for _, prefix := range out {
				for _, v := range e {
					next = append(next, append(append([]term.Term(nil), prefix...), v))
				}
			}
			out = next
		}
		return out
	}
	base := make([]term.Term, len(elems))
	for i, e := range elems {
		base[i] = e[0]
	}
	// Round robin over the positions, so that a cut of the list keeps
	// variations of every element.
	out := [][]term.Term{base}
	for j := 1; ; j++ {
		added := false
		for i, e := range elems {
			if j < len(e) {
				c := append([]term.Term(nil), base...)
				c[i] = e[j]
				out = append(out, c)
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func (s *sampler) list(l *contract.ListType, hints []contract.Type, depth int) []term.Term {
	lengths := []int{l.Min, l.Min + 1}
	if l.Max >= 0 {
		lengths = append(lengths, l.Max, l.Max-1)
	}
	var elemHints []contract.Type
	for _, h := range s.flat(hints) {
		if hl, ok := h.(*contract.ListType); ok {
			elemHints = append(elemHints, hl.Elem)
			lengths = append(lengths, hl.Min-1, hl.Min, hl.Max, hl.Max+1)
		}
	}
	var out []term.Term
	var elems []term.Term
	for _, size := range uniqueInts(lengths) {
		if size < l.Min || l.Max >= 0 && size > l.Max || size < 0 || size > 16 {
			continue
		}
		if size == 0 {
			out = append(out, term.List{})
			continue
		}
		if elems == nil {
			elems = s.of(l.Elem, elemHints, depth+1)
			if len(elems) == 0 {
				break
			}
		}
		for _, e := range elems {
			v := make(term.List, size)
			for i := range v {
				v[i] = elems[0]
			}
			v[0] = e
			out = append(out, v)
		}
	}
	return out
}

func (s *sampler) mapType(m *contract.MapType, hints []contract.Type, depth int) []term.Term {
	var required term.Map
	type opt struct {
		key  term.Term
		vals []term.Term
	}
	var variants []term.Map
	var optional []opt
	for _, f := range m.Fields {
		var fh []contract.Type
		for _, h := range s.flat(hints) {
			if hm, ok := h.(*contract.MapType); ok {
				for _, g := range hm.Fields {
					if contract.KeyName(g.Key) == contract.KeyName(f.Key) {
						fh = append(fh, g.Value)
					}
				}
			}
		}
		vals := s.of(f.Value, fh, depth+1)
		if len(vals) == 0 {
			if f.Required {
				return nil
			}
			continue
		}
		if f.Required {
			required = append(required, term.MapEntry{Key: f.Key, Value: vals[0]})
			for _, v := range vals[1:] {
				variants = append(variants, term.Map{{Key: f.Key, Value: v}})
			}
		} else {
			optional = append(optional, opt{f.Key, vals})
		}
	}
	with := func(extra term.Map) term.Map {
		out := append(term.Map(nil), required...)
		for _, e := range extra {
			replaced := false
			for i := range out {
				if contract.KeyName(out[i].Key) == contract.KeyName(e.Key) {
					out[i].Value = e.Value
					replaced = true
				}
			}
			if !replaced {
				out = append(out, e)
			}
		}
		return out
	}
	out := []term.Term{with(nil)}
	for _, v := range variants {
		out = append(out, with(v))
	}
	var all term.Map
	for _, o := range optional {
		for _, v := range o.vals {
			out = append(out, with(term.Map{{Key: o.key, Value: v}}))
		}
		all = append(all, term.MapEntry{Key: o.key, Value: o.vals[0]})
	}
	if len(all) > 1 {
		out = append(out, with(all))
	}
	if m.Open {
		out = append(out, with(term.Map{{Key: term.String("ubfproxy_extra"), Value: term.Atom("a")}}))
	}
	return out
}

func uniqueInts(xs []int) []int {
	seen := make(map[int]bool)
	var out []int
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// dedupe drops repeated terms and keeps at most limit.
func dedupe(ts []term.Term, limit int) []term.Term {
	seen := make(map[string]bool)
	var out []term.Term
	for _, t := range ts {
		if t == nil {
			continue
		}
		k := t.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, t)
		if len(out) == limit {
			break
		}
	}
	return out
}

// asString writes a string generated as a list of character codes as the
// string it is, which reads better in a trace and matches the same types.
func asString(v term.Term, p *contract.Predef) term.Term {
	l, ok := v.(term.List)
	if !ok || p.Kind != contract.StringT {
		return v
	}
	var b []rune
	for _, e := range l {
		n, ok := e.(term.Integer)
		if !ok || !n.IsInt64() {
			return v
		}
		b = append(b, rune(n.Int64()))
	}
	if s := term.String(string(b)); checker.Match(s, p) {
		return s
	}
	return v
}

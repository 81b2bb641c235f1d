package checker

import (
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Generate returns a random term that belongs to typ, for property tests
// and contract-driven testing. maxDepth bounds the nesting of tuples, lists
// and maps where the type leaves a choice (a recursive type is cut at its
// shallowest alternative); a type whose every value is deeper is generated
// at its minimum depth. It returns nil when typ has no value at all (a
// named type defined only in terms of itself).
//
// A bare variable has no value here (nothing is bound), so a type that
// needs one has none; GenerateIn gives variables their values.
func Generate(r *rand.Rand, typ contract.Type, maxDepth int) term.Term {
	return GenerateIn(r, typ, maxDepth, nil)
}

// Env gives variables their values by name, as Session.Bindings reports
// them.
type Env map[string]term.Term

// GenerateIn is Generate with the variables of env: a bare variable
// generates its value (nil, no term, when env does not bind it), and
// V = T generates a value of T.
func GenerateIn(r *rand.Rand, typ contract.Type, maxDepth int, env Env) term.Term {
	g := generator{r: r, height: make(map[*contract.TypeDef]int), env: env}
	g.measure(typ)
	return g.gen(typ, maxDepth, 0)
}

// infinite is the height of a type with no finite value.
const infinite = math.MaxInt32

type generator struct {
	r        *rand.Rand
	height   map[*contract.TypeDef]int // least nesting of a value of each named type
	env      Env
	patterns map[*regexp.Regexp]*syntax.Regexp // parsed once per pattern
}

// measure computes the height of every named type reachable from typ, as a
// least fixed point: start from infinite and lower until nothing changes.
func (g *generator) measure(typ contract.Type) {
	var defs []*contract.TypeDef
	var collect func(t contract.Type) bool
	collect = func(t contract.Type) bool {
		ref, ok := t.(*contract.Ref)
		if !ok || ref.Def == nil {
			return true
		}
		if _, ok := g.height[ref.Def]; !ok {
			g.height[ref.Def] = infinite
			defs = append(defs, ref.Def)
			contract.VisitType(ref.Def.Type, collect)
		}
		return true
	}
	contract.VisitType(typ, collect)
	for changed := true; changed; {
		changed = false
		for _, d := range defs {
			if d.Type == nil {
				continue
			}
			if h := g.h(d.Type); h < g.height[d] {
				g.height[d] = h
				changed = true
			}
		}
	}
}

// h is the least nesting depth of a value of t (0 for scalars and empty
// composites).
func (g *generator) h(t contract.Type) int {
	switch ty := t.(type) {
	case *contract.Ref:
		if ty.Optional {
			return 0
		}
		if h, ok := g.height[ty.Def]; ok {
			return h
		}
		return infinite
	case *contract.Union:
		best := infinite
		for _, a := range ty.Alts {
			best = min(best, g.h(a))
		}
		return best
	case *contract.TupleType:
		h := 1 + g.maxH(len(ty.Elems), func(i int) contract.Type { return ty.Elems[i] })
		if ty.Tail != nil && ty.Tail.Min > 0 {
			h = max(h, plus1(g.h(ty.Tail.Elem)))
		}
		return h
	case *contract.Bind:
		return g.h(ty.Type)
	case *contract.Var:
		if _, ok := g.env[ty.Name]; ok {
			return 0
		}
		return infinite
	case *contract.RecordType:
		return 1 + g.maxH(len(ty.Fields), func(i int) contract.Type { return ty.Fields[i].Type })
	case *contract.ListType:
		if ty.Min == 0 {
			return 0
		}
		return plus1(g.h(ty.Elem))
	case *contract.MapType:
		m := 0
		for _, f := range ty.Fields {
			if f.Required {
				m = max(m, plus1(g.h(f.Value)))
			}
		}
		return m
	}
	return 0
}

func plus1(h int) int {
	if h == infinite {
		return h
	}
	return h + 1
}

func (g *generator) maxH(n int, at func(int) contract.Type) int {
	m := 0
	for i := 0; i < n; i++ {
		h := g.h(at(i))
		if h == infinite {
			return infinite - 1 // plus the 1 of the caller stays infinite
		}
		m = max(m, h)
	}
	return m
}

// maxHops bounds named types followed without descending into the term.
const maxHops = 64

func (g *generator) gen(t contract.Type, depth, hops int) term.Term {
	if hops > maxHops {
		return nil
	}
	switch ty := t.(type) {
	case *contract.Literal:
		if s, ok := ty.Value.(term.String); ok && g.r.IntN(4) == 0 {
			return charList(string(s))
		}
		return ty.Value
	case *contract.Range:
		return g.integer(ty)
	case *contract.Predef:
		return g.predef(ty, depth)
	case *contract.Ref:
		if ty.Optional && g.r.IntN(4) == 0 {
			return term.Atom("undefined")
		}
		if ty.Def == nil || ty.Def.Type == nil {
			return nil
		}
		return g.gen(ty.Def.Type, depth, hops+1)
	case *contract.Union:
		var fit []contract.Type
		best, bestH := contract.Type(nil), infinite
		for _, a := range ty.Alts {
			h := g.h(a)
			if h <= depth {
				fit = append(fit, a)
			}
			if h < bestH {
				best, bestH = a, h
			}
		}
		if len(fit) > 0 {
			return g.gen(fit[g.r.IntN(len(fit))], depth, hops)
		}
		if best == nil {
			return nil
		}
		return g.gen(best, depth, hops)
	case *contract.TupleType:
		n := len(ty.Elems)
		if ty.Tail != nil {
			n += g.length(ty.Tail, depth)
		}
		out := make(term.Tuple, n)
		for i := range out {
			var e contract.Type
			if i < len(ty.Elems) {
				e = ty.Elems[i]
			} else {
				e = ty.Tail.Elem
			}
			if out[i] = g.gen(e, depth-1, 0); out[i] == nil {
				return nil
			}
		}
		return out
	case *contract.Bind:
		return g.gen(ty.Type, depth, hops)
	case *contract.Var:
		return g.env[ty.Name]
	case *contract.RecordType:
		out := make(term.Tuple, 0, recordArity(ty))
		out = append(out, term.Atom(ty.Name))
		for _, f := range ty.Fields {
			v := g.gen(f.Type, depth-1, 0)
			if v == nil {
				return nil
			}
			out = append(out, v)
		}
		if ty.Extended {
			names := make(term.List, len(ty.Fields))
			for i, f := range ty.Fields {
				names[i] = term.Atom(f.Name)
			}
			out = append(out, term.Atom("$fields"), names)
		}
		return out
	case *contract.ListType:
		out := make(term.List, g.length(ty, depth))
		for i := range out {
			if out[i] = g.gen(ty.Elem, depth-1, 0); out[i] == nil {
				return nil
			}
		}
		return out
	case *contract.MapType:
		return g.mapValue(ty, depth)
	}
	return nil
}

// maxTailSpread is how far past its minimum a tuple's tail grows when its
// bound allows: every length up to there is generated (bounds such as
// {1,8} in full).
const maxTailSpread = 16

// length picks the length of a list (or a tuple's tail) of type ty: its
// minimum, or, when depth leaves room for an element, any length up to a
// few past it (up to maxTailSpread for a bounded one).
func (g *generator) length(ty *contract.ListType, depth int) int {
	hi := ty.Max
	if hi < 0 || hi > ty.Min+maxTailSpread {
		hi = ty.Min + 4
	}
	if depth > 0 && g.h(ty.Elem) < depth {
		return ty.Min + g.r.IntN(hi-ty.Min+1)
	}
	return ty.Min
}

func charList(s string) term.List {
	out := make(term.List, 0, len(s))
	for _, r := range s {
		out = append(out, term.Int(int64(r)))
	}
	return out
}

func (g *generator) integer(ty *contract.Range) term.Term {
	const spread = 1000
	switch {
	case ty.Lo != nil && ty.Hi != nil:
		lo, hi := ty.Lo.Big(), ty.Hi.Big()
		width := new(big.Int).Sub(hi, lo)
		if width.IsInt64() && width.Int64() < math.MaxInt64 {
			return term.BigInt(new(big.Int).Add(lo, big.NewInt(g.r.Int64N(width.Int64()+1))))
		}
		// Wide range: random bits reduced modulo the width (the slight
		// bias does not matter for testing).
		words := make([]big.Word, len(width.Bits())+1)
		for i := range words {
			words[i] = big.Word(g.r.Uint64())
		}
		off := new(big.Int).SetBits(words)
		off.Mod(off, new(big.Int).Add(width, big.NewInt(1)))
		return term.BigInt(off.Add(off, lo))
	case ty.Lo != nil:
		return term.BigInt(new(big.Int).Add(ty.Lo.Big(), big.NewInt(g.r.Int64N(spread))))
	case ty.Hi != nil:
		return term.BigInt(new(big.Int).Sub(ty.Hi.Big(), big.NewInt(g.r.Int64N(spread))))
	}
	return term.Int(g.r.Int64N(2*spread) - spread)
}

func (g *generator) mapValue(ty *contract.MapType, depth int) term.Term {
	var out term.Map
	for _, f := range ty.Fields {
		if !f.Required && (depth <= 0 || g.r.IntN(2) == 0) {
			continue
		}
		v := g.gen(f.Value, depth-1, 0)
		if v == nil {
			if f.Required {
				return nil
			}
			continue
		}
		out = append(out, term.MapEntry{Key: g.keyAs(f.Key), Value: v})
	}
	if ty.Open && depth > 0 && g.r.IntN(2) == 0 {
		k := term.String("extra_" + itoaInt(g.r.IntN(100)))
		if findField(ty, k) < 0 {
			out = append(out, term.MapEntry{Key: k, Value: g.randomTerm(depth-1, 0)})
		}
	}
	if out == nil {
		out = term.Map{}
	}
	return out
}

// keyAs writes a field's key the way some wire would: as an atom, a string
// (JSON) or a binary.
func (g *generator) keyAs(k term.Term) term.Term {
	name, ok := keyName(k)
	if !ok {
		return k
	}
	switch g.r.IntN(3) {
	case 0:
		return term.Atom(name)
	case 1:
		return term.String(name)
	}
	return term.Binary(name)
}

func (g *generator) predef(p *contract.Predef, depth int) term.Term {
	for tries := 0; tries < 100; tries++ {
		t := g.predefOnce(p, depth)
		if predefOK(t, p, nil) {
			return t
		}
	}
	return nil
}

func (g *generator) predefOnce(p *contract.Predef, depth int) term.Term {
	if p.Pattern != nil {
		s, ok := g.matching(p)
		if !ok {
			return nil
		}
		switch p.Kind {
		case contract.AtomT:
			return term.Atom(s)
		case contract.BinaryT:
			return term.Binary(s)
		}
		if p.Attrs&contract.CodeList != 0 || p.Attrs&contract.WireString == 0 && g.r.IntN(4) == 0 {
			return charList(s)
		}
		return term.String(s)
	}
	switch p.Kind {
	case contract.Any, contract.None:
		return g.randomTerm(depth, p.Attrs)
	case contract.AtomT:
		return term.Atom(g.text(p.Attrs))
	case contract.BinaryT:
		return term.Binary(g.text(p.Attrs))
	case contract.StringT:
		s := g.text(p.Attrs)
		if p.Attrs&contract.CodeList != 0 || p.Attrs&contract.WireString == 0 && g.r.IntN(4) == 0 {
			return charList(s)
		}
		return term.String(s)
	case contract.FloatT:
		return term.Float(g.r.NormFloat64() * 1000)
	case contract.IntegerT:
		return g.anyInteger()
	case contract.ListT:
		n := g.size(depth, p.Attrs)
		out := make(term.List, n)
		for i := range out {
			out[i] = g.randomTerm(depth-1, 0)
		}
		return out
	case contract.TupleT:
		n := g.size(depth, p.Attrs)
		out := make(term.Tuple, n)
		for i := range out {
			out[i] = g.randomTerm(depth-1, 0)
		}
		return out
	case contract.MapT:
		n := g.size(depth, p.Attrs)
		out := make(term.Map, 0, n)
		for i := 0; i < n; i++ {
			out = append(out, term.MapEntry{Key: term.String("k" + itoaInt(i)), Value: g.randomTerm(depth-1, 0)})
		}
		return out
	}
	return nil
}

func (g *generator) size(depth int, a contract.Attr) int {
	lo := 0
	if a&contract.NonEmpty != 0 {
		lo = 1
	}
	if depth <= 0 {
		return lo
	}
	return lo + g.r.IntN(4)
}

func (g *generator) anyInteger() term.Term {
	switch g.r.IntN(8) {
	case 0:
		v := new(big.Int).Lsh(big.NewInt(g.r.Int64N(1000)+1), 64+uint(g.r.IntN(64)))
		if g.r.IntN(2) == 0 {
			v.Neg(v)
		}
		return term.BigInt(v)
	case 1:
		return term.Int(g.r.Int64())
	}
	return term.Int(g.r.Int64N(2000) - 1000)
}

// text returns a short random text honouring ascii, asciiprintable and
// nonempty (nonundefined is left to the caller's retry).
func (g *generator) text(a contract.Attr) string {
	n := g.r.IntN(8)
	if a&contract.NonEmpty != 0 && n == 0 {
		n = 1
	}
	b := make([]rune, n)
	for i := range b {
		switch {
		case a&contract.AsciiPrintable != 0:
			b[i] = rune(32 + g.r.IntN(95))
		case a&contract.Ascii != 0:
			b[i] = rune(g.r.IntN(128))
		case g.r.IntN(8) == 0:
			b[i] = rune(0xa0 + g.r.IntN(0x2000))
		default:
			b[i] = rune('a' + g.r.IntN(26))
		}
	}
	return string(b)
}

// randomTerm returns any term, nested at most depth deep.
func (g *generator) randomTerm(depth int, a contract.Attr) term.Term {
	k := g.r.IntN(8)
	if depth <= 0 {
		k = g.r.IntN(5)
	}
	switch k {
	case 0:
		if g.r.IntN(8) == 0 {
			return term.Atom("undefined")
		}
		return term.Atom(g.text(0))
	case 1:
		return g.anyInteger()
	case 2:
		return term.Float(g.r.NormFloat64())
	case 3:
		return term.String(g.text(0))
	case 4:
		return term.Binary(g.text(0))
	case 5:
		out := make(term.Tuple, g.r.IntN(4))
		for i := range out {
			out[i] = g.randomTerm(depth-1, 0)
		}
		return out
	case 6:
		out := make(term.List, g.r.IntN(4))
		for i := range out {
			out[i] = g.randomTerm(depth-1, 0)
		}
		return out
	}
	out := make(term.Map, g.r.IntN(3))
	for i := range out {
		out[i] = term.MapEntry{Key: g.randomTerm(0, 0), Value: g.randomTerm(depth-1, 0)}
	}
	return out
}

// RandomTerm returns an arbitrary term nested at most maxDepth deep, for
// testing that checks never fail on unexpected input.
func RandomTerm(r *rand.Rand, maxDepth int) term.Term {
	g := generator{r: r}
	return g.randomTerm(maxDepth, 0)
}

func itoaInt(i int) string { return term.Int(int64(i)).String() }

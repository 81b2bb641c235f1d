package checker

import (
	"strconv"
	"strings"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Limits on how much of a term or type an explanation prints.
const (
	maxTermText   = 120 // bytes of a term shown in an explanation
	maxTypeText   = 200 // bytes of a type shown in an explanation
	maxUnionShown = 8   // alternatives listed before "... (N more)"
)

// Explain says why t does not belong to typ: the path into t where it first
// failed for the closest candidate, what was expected there and what was
// found, for example
//
//	element 2 of {read_line, "x"}: expected fileHandle() = integer(), got "x"
//
// It returns "" when t matches. Explain is the slow path: it allocates and
// is meant to run once, after Match said no. Like Match it stays linear in
// the size of t: past a step budget it memoizes named types per subterm.
func Explain(t term.Term, typ contract.Type) string {
	return ExplainAny(t, []contract.Type{typ})
}

// ExplainAny is Explain against several types at once, as a union: the
// explanation follows the candidate that came closest. A state's rules are
// explained this way against a request that none of them accepts.
func ExplainAny(t term.Term, types []contract.Type) string { return explainVars(t, types, nil) }

// explainVars is ExplainAny with the variables of a session: a bare
// variable is explained with the value it is bound to.
func explainVars(t term.Term, types []contract.Type, vars *varCtx) string {
	e := explainer{budget: fastBudget, root: t, vars: vars}
	f := e.union(t, types, nil, 0, nil)
	if e.over {
		// Overlapping recursive alternatives: memoize to stay linear.
		e = explainer{budget: -1, memo: make(map[memoKey]*failure), vars: vars}
		f = e.union(t, types, nil, 0, nil)
	}
	if f == nil {
		return ""
	}
	return f.format(t)
}

// failure is why a term did not match, relative to the term it was asked
// about; callers prefix the path as the failure travels up.
type failure struct {
	path   *pathSeg // outermost first
	depth  int      // length of path
	exp    contract.Type
	expStr string // overrides exp's text when set
	got    term.Term
	note   string
}

type pathSeg struct {
	desc string
	next *pathSeg
}

// ok is the memo's mark for a match.
var okMark = &failure{}

func (f *failure) expected() string {
	if f.expStr != "" {
		return f.expStr
	}
	return typeText(f.exp)
}

func (f *failure) format(top term.Term) string {
	var b strings.Builder
	if f.depth > 0 {
		segs := make([]string, 0, f.depth)
		for p := f.path; p != nil; p = p.next {
			segs = append(segs, p.desc)
		}
		for i := len(segs) - 1; i >= 0; i-- {
			b.WriteString(segs[i])
			b.WriteString(" of ")
		}
		b.WriteString(term.Truncated(top, maxTermText))
		b.WriteString(": ")
	}
	b.WriteString("expected ")
	b.WriteString(f.expected())
	b.WriteString(", got ")
	b.WriteString(term.Truncated(f.got, maxTermText))
	if f.note != "" {
		b.WriteString(" (")
		b.WriteString(f.note)
		b.WriteString(")")
	}
	return b.String()
}

// under returns f seen from the enclosing term: desc is the step into it.
func (f *failure) under(desc string) *failure {
	g := *f
	g.path = &pathSeg{desc: desc, next: f.path}
	g.depth++
	return &g
}

// explainer walks a term the way matcher does, building failures. Like
// matcher it first runs on a step budget without memoizing, and reruns
// memoizing (named type, subterm) pairs when the budget runs out.
type explainer struct {
	budget   int // steps left; -1: unlimited
	root     term.Term
	extended bool
	over     bool
	memo     map[memoKey]*failure
	vars     *varCtx // nil: no variable is bound
}

// overMark is returned, and ignored, once the budget is exhausted.
var overMark = &failure{expStr: "(over budget)"}

func (e *explainer) spend() bool {
	if e.budget < 0 {
		return true
	}
	if e.budget == 0 {
		if e.extended {
			e.over = true
			return false
		}
		e.extended = true
		e.budget = 64 * termSize(e.root)
	}
	e.budget--
	return !e.over
}

func leaf(t term.Term, typ contract.Type, note string) *failure {
	return &failure{exp: typ, got: t, note: note}
}

// union explains t against alternatives. Only alternatives whose outer
// shape fits t (kind, and tag for tagged tuples and records) are explored:
// the others cannot match, and are named only when no alternative fits.
// The explanation follows the candidate that failed deepest in the term;
// when none got into the term, a single fitting candidate is named with
// its reason (an arity, a missing key), otherwise the whole union. whole
// is the type to name (nil: list the alternatives).
func (e *explainer) union(t term.Term, alts []contract.Type, whole contract.Type, depth int, refs *refFrame) *failure {
	if len(alts) == 1 {
		return e.explain(t, alts[0], depth, refs)
	}
	var best *failure
	var fitting []contract.Type
	heads := 0
	for _, alt := range alts {
		if !fits(t, alt) {
			continue
		}
		heads++
		fitting = append(fitting, alt)
		f := e.explain(t, alt, depth, refs)
		if f == nil {
			return nil
		}
		if best == nil || f.depth > best.depth {
			best = f
		}
	}
	switch {
	case best != nil && (best.depth > 0 || heads == 1):
		return best
	case whole != nil:
		return leaf(t, whole, "")
	case len(alts) == 0:
		return &failure{expStr: "nothing (no alternative)", got: t}
	case heads > 1:
		// Several rules fit the outside of the message (same tag,
		// other arities): name those only.
		return &failure{expStr: unionText(fitting), got: t}
	}
	return &failure{expStr: unionText(alts), got: t}
}

// fits is a necessary condition for t to match typ that looks only at the
// outside of t: its kind, and the tag of a tagged tuple or a record (not
// the arity, so that a message with the right tag and a wrong arity is
// explained against its rule).
func fits(t term.Term, typ contract.Type) bool {
	budget := 256
	return fitsIn(t, typ, nil, &budget)
}

// fitsIn is fits with the named types already followed (a cycle adds
// nothing) and a bound on the work, past which it answers true (fits is
// only a filter).
func fitsIn(t term.Term, typ contract.Type, seen *refFrame, budget *int) bool {
	if *budget--; *budget < 0 {
		return true
	}
	switch ty := typ.(type) {
	case *contract.Literal:
		return matchLiteral(t, ty.Value)
	case *contract.Range:
		return t.Kind() == term.KindInteger
	case *contract.Predef:
		return predefKindFits(t, ty.Kind)
	case *contract.TupleType:
		tu, ok := t.(term.Tuple)
		if !ok {
			return false
		}
		if len(tu) > 0 && len(ty.Elems) > 0 {
			if lit, ok := ty.Elems[0].(*contract.Literal); ok {
				return matchLiteral(tu[0], lit.Value)
			}
		}
		return arityFits(len(tu), ty)
	case *contract.RecordType:
		tu, ok := t.(term.Tuple)
		if !ok || len(tu) == 0 {
			return false
		}
		a, ok := tu[0].(term.Atom)
		return ok && string(a) == ty.Name
	case *contract.ListType:
		return t.Kind() == term.KindList
	case *contract.MapType:
		return t.Kind() == term.KindMap
	case *contract.Union:
		for _, a := range ty.Alts {
			if fitsIn(t, a, seen, budget) {
				return true
			}
		}
		return false
	case *contract.Ref:
		if ty.Optional {
			if a, ok := t.(term.Atom); ok && a == "undefined" {
				return true
			}
		}
		if ty.Def == nil || ty.Def.Type == nil || seen.has(ty.Def) {
			return false
		}
		return fitsIn(t, ty.Def.Type, &refFrame{ty.Def, seen}, budget)
	case *contract.Bind:
		return fitsIn(t, ty.Type, seen, budget)
	}
	return true
}

func (e *explainer) explain(t term.Term, typ contract.Type, depth int, refs *refFrame) *failure {
	if !e.spend() {
		return overMark
	}
	switch ty := typ.(type) {
	case *contract.Literal:
		if matchLiteral(t, ty.Value) {
			return nil
		}
		return leaf(t, ty, "")
	case *contract.Range:
		i, ok := t.(term.Integer)
		if ok && inRange(i, ty) {
			return nil
		}
		return leaf(t, ty, "")
	case *contract.Predef:
		if predefOK(t, ty, nil) {
			return nil
		}
		if ty.Attrs&contract.CodeList != 0 && t.Kind() == term.KindString {
			return leaf(t, ty, "in the UBF(B) dialect string() is a list of character codes, as in ubf; a \"...\" string is ubfstring()")
		}
		if ty.Attrs&contract.WireString != 0 && t.Kind() == term.KindList {
			return leaf(t, ty, "ubfstring() is a \"...\" string, as ubf's; a list of character codes is not one")
		}
		return leaf(t, ty, "")
	case *contract.Ref:
		return e.ref(t, ty, depth, refs)
	case *contract.Union:
		return e.union(t, ty.Alts, ty, depth, refs)
	case *contract.TupleType:
		tu, ok := t.(term.Tuple)
		if !ok {
			return leaf(t, ty, "")
		}
		head := true
		if len(ty.Elems) > 0 && len(tu) > 0 {
			if lit, ok := ty.Elems[0].(*contract.Literal); ok {
				head = matchLiteral(tu[0], lit.Value)
			}
		}
		if !head {
			// Another tag: this candidate is not what the sender meant.
			return leaf(t, ty, "")
		}
		if !arityFits(len(tu), ty) {
			return leaf(t, ty, count(len(tu), "element")+" instead of "+arityText(ty))
		}
		if depth >= MaxDepth {
			return leaf(t, ty, tooDeep)
		}
		for i, et := range ty.Elems {
			if f := e.explain(tu[i], et, depth+1, nil); f != nil {
				return f.under("element " + strconv.Itoa(i+1))
			}
		}
		if ty.Tail != nil {
			elem := ty.Tail.Elem
			for i := len(ty.Elems); i < len(tu); i++ {
				if f := e.explain(tu[i], elem, depth+1, nil); f != nil {
					return f.under("element " + strconv.Itoa(i+1))
				}
			}
		}
		return nil
	case *contract.Bind:
		return e.explain(t, ty.Type, depth, refs)
	case *contract.Var:
		return e.variable(t, ty)
	case *contract.RecordType:
		return e.record(t, ty, depth)
	case *contract.ListType:
		l, ok := t.(term.List)
		if !ok {
			return leaf(t, ty, "")
		}
		if n := len(l); n < ty.Min || (ty.Max >= 0 && n > ty.Max) {
			return leaf(t, ty, lengthNote(n, ty))
		}
		if len(l) > 0 && depth >= MaxDepth {
			return leaf(t, ty, tooDeep)
		}
		for i, el := range l {
			if f := e.explain(el, ty.Elem, depth+1, nil); f != nil {
				return f.under("item " + strconv.Itoa(i+1))
			}
		}
		return nil
	case *contract.MapType:
		return e.mapType(t, ty, depth)
	}
	return &failure{expStr: "a known type", got: t}
}

// arityText says how many elements a tuple type takes: "3", "at least 2",
// "2 to 9".
func arityText(ty *contract.TupleType) string {
	n := len(ty.Elems)
	if ty.Tail == nil {
		return strconv.Itoa(n)
	}
	lt := ty.Tail
	switch {
	case lt.Max < 0:
		return "at least " + strconv.Itoa(n+lt.Min)
	case lt.Min == lt.Max:
		return strconv.Itoa(n + lt.Min)
	}
	return strconv.Itoa(n+lt.Min) + " to " + strconv.Itoa(n+lt.Max)
}

// variable explains t against a bare V: the value V is bound to, or that
// it is not bound.
func (e *explainer) variable(t term.Term, ty *contract.Var) *failure {
	var val term.Term
	ok := false
	if e.vars != nil {
		val, ok = e.vars.lookup(ty.Slot)
	}
	if !ok {
		return &failure{exp: ty, got: t, note: ty.Name + " is not bound, so it matches nothing"}
	}
	if matchLiteral(t, val) {
		return nil
	}
	return &failure{exp: ty, expStr: ty.Name + " (bound to " + term.Truncated(val, maxTermText) + ")", got: t}
}

// tooDeep notes a term nested beyond MaxDepth.
var tooDeep = "nested deeper than " + strconv.Itoa(MaxDepth) + " levels"

func (e *explainer) ref(t term.Term, ty *contract.Ref, depth int, refs *refFrame) *failure {
	if ty.Optional {
		if a, ok := t.(term.Atom); ok && a == "undefined" {
			return nil
		}
	}
	def := ty.Def
	if def == nil || def.Type == nil {
		return &failure{exp: ty, got: t, note: "type " + ty.Name + "() is not defined"}
	}
	if refs.has(def) {
		return leaf(t, ty, "")
	}
	var key memoKey
	memoized := false
	if ptr, n, k, ok := compositeKey(t); ok && e.memo != nil {
		key, memoized = memoKey{def, ptr, n, k}, true
		if f, seen := e.memo[key]; seen {
			if f == okMark {
				return nil
			}
			return f
		}
		// In progress: reaching the same pair again without descending
		// is a cycle, which adds nothing (least fixed point).
		e.memo[key] = leaf(t, ty, "")
	}
	f := e.explain(t, def.Type, depth, &refFrame{def, refs})
	if f != nil && f.depth == 0 && f.exp == def.Type {
		// The whole body failed: name the type as the contract wrote it
		// here, with its definition (a chain of names unfolds:
		// nick() = ubfstring() = ... down to the first body that is not a
		// name).
		g := *f
		g.exp = ty
		body := g.expStr
		if body == "" {
			body = typeText(def.Type)
		}
		g.expStr = ty.String() + " = " + body
		if pd, ok := def.Type.(*contract.Predef); ok && def.Builtin && pd.Attrs&contract.WireString != 0 {
			// ubfstring()'s body prints as string(), which in the UBF(B)
			// dialect means the list of character codes it refuses.
			g.expStr = ty.String()
		}
		if ty.Optional {
			g.expStr += " | undefined"
		}
		f = &g
	}
	if memoized {
		if f == nil {
			e.memo[key] = okMark
		} else {
			e.memo[key] = f
		}
	}
	return f
}

func (e *explainer) record(t term.Term, ty *contract.RecordType, depth int) *failure {
	tu, ok := t.(term.Tuple)
	if !ok || len(tu) == 0 {
		return leaf(t, ty, "")
	}
	if a, ok := tu[0].(term.Atom); !ok || string(a) != ty.Name {
		return leaf(t, ty, "")
	}
	if len(tu) != recordArity(ty) {
		return leaf(t, ty, count(len(tu), "element")+" instead of "+strconv.Itoa(recordArity(ty)))
	}
	if depth >= MaxDepth {
		return leaf(t, ty, tooDeep)
	}
	for i, fd := range ty.Fields {
		if f := e.explain(tu[i+1], fd.Type, depth+1, nil); f != nil {
			return f.under("field " + fd.Name + " (element " + strconv.Itoa(i+2) + ")")
		}
	}
	if ty.Extended {
		i := len(ty.Fields) + 1
		if a, ok := tu[i].(term.Atom); !ok || a != "$fields" {
			f := &failure{expStr: "'$fields'", got: tu[i]}
			return f.under("element " + strconv.Itoa(i+1))
		}
	}
	return nil
}

func (e *explainer) mapType(t term.Term, ty *contract.MapType, depth int) *failure {
	mp, ok := t.(term.Map)
	if !ok {
		return leaf(t, ty, "")
	}
	if len(mp) > 0 && depth >= MaxDepth {
		return leaf(t, ty, tooDeep)
	}
	seen := make([]bool, len(ty.Fields))
	find := newFieldFinder(ty, len(mp))
	for _, ent := range mp {
		fi := find.find(ent.Key)
		if fi < 0 {
			if ty.Open {
				continue
			}
			return leaf(t, ty, "key "+term.Truncated(ent.Key, maxTermText)+" not allowed")
		}
		seen[fi] = true
		if f := e.explain(ent.Value, ty.Fields[fi].Value, depth+1, nil); f != nil {
			return f.under("value of key " + term.Truncated(ent.Key, maxTermText))
		}
	}
	for i, fd := range ty.Fields {
		if fd.Required && !seen[i] {
			return leaf(t, ty, "required key "+fd.Key.String()+" missing")
		}
	}
	return nil
}

func predefKindFits(t term.Term, k contract.PredefKind) bool {
	switch k {
	case contract.Any, contract.None:
		return true
	case contract.AtomT:
		return t.Kind() == term.KindAtom
	case contract.BinaryT:
		return t.Kind() == term.KindBinary
	case contract.FloatT:
		return t.Kind() == term.KindFloat
	case contract.IntegerT:
		return t.Kind() == term.KindInteger
	case contract.ListT:
		return t.Kind() == term.KindList
	case contract.TupleT:
		return t.Kind() == term.KindTuple
	case contract.StringT:
		return t.Kind() == term.KindString || t.Kind() == term.KindList
	case contract.MapT:
		return t.Kind() == term.KindMap
	}
	return false
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func lengthNote(n int, ty *contract.ListType) string {
	var want string
	switch {
	case ty.Max < 0:
		want = "at least " + strconv.Itoa(ty.Min) + " required"
	case ty.Min == ty.Max:
		want = "exactly " + strconv.Itoa(ty.Min) + " required"
	case ty.Min == 0:
		want = "at most " + strconv.Itoa(ty.Max) + " allowed"
	default:
		want = strconv.Itoa(ty.Min) + " to " + strconv.Itoa(ty.Max) + " required"
	}
	return count(n, "item") + ", " + want
}

// typeText prints a type for a message, cut to a readable length and with
// long unions abbreviated.
func typeText(t contract.Type) string {
	if u, ok := t.(*contract.Union); ok {
		return unionText(u.Alts)
	}
	return cut(t.String(), maxTypeText)
}

// unionText prints alternatives joined by |, each text once (two rules may
// accept the same type), abbreviated after maxUnionShown or maxTypeText.
func unionText(alts []contract.Type) string {
	texts := make([]string, 0, len(alts))
	seen := make(map[string]bool, len(alts))
	for _, a := range alts {
		s := a.String()
		if !seen[s] {
			seen[s] = true
			texts = append(texts, s)
		}
	}
	var b strings.Builder
	for i, s := range texts {
		if i == maxUnionShown || (i > 0 && b.Len()+len(s) > maxTypeText) {
			b.WriteString(" | ... (" + strconv.Itoa(len(texts)-i) + " more)")
			break
		}
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(s)
	}
	return b.String()
}

func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

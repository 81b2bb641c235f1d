package checker

import (
	"strings"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// MaxDepth bounds how deeply matching descends into a term: as deep as the
// text notation may nest (term.MaxParseDepth). A term nested deeper does not
// match (Explain says why). Wire decoders refuse far shallower terms by
// default (wrappers.Limits.MaxDepth); the bound exists so that a hostile
// term handed to the library directly costs bounded stack (a few MB).
const MaxDepth = term.MaxParseDepth

// fastBudget is how many steps the plain recursive matcher takes before it
// measures the term and allows a multiple of its size. Types with
// overlapping recursive alternatives can make plain backtracking
// exponential in the depth of a term; past the budget the match restarts
// memoizing (named type, subterm) pairs, which keeps it linear in the size
// of the term.
const fastBudget = 1 << 14

// Match reports whether t belongs to typ. It does not allocate for any term
// that matches or fails within a linear number of steps, which is every term
// unless the type has overlapping recursive alternatives; then it falls back
// to a memoized walk, still linear in the size of t.
//
// A bare variable matches nothing here (no variable is bound outside a
// session); V = T matches what T matches.
func Match(t term.Term, typ contract.Type) bool { return matchVars(t, typ, nil, nil) }

// Match is the package's Match with the machine's compiled patterns (see
// patterndfa.go): what sessions use.
func (m *Machine) Match(t term.Term, typ contract.Type) bool {
	return matchVars(t, typ, nil, m.core.pats)
}

// MatchShape is Match where a bare variable matches any term: whether t
// has the shape of typ whatever the variables are bound to. Coverage uses
// it to say which rule a message already checked by a session exercised.
func (m *Machine) MatchShape(t term.Term, typ contract.Type) bool {
	var out []newBind
	return matchVars(t, typ, &varCtx{out: &out, spec: true}, m.core.pats)
}

// matchVars is Match with the variables of vars (nil: none bound) and the
// pattern automata of ps. The bindings V = T makes are appended to
// vars.out, in the order met.
func matchVars(t term.Term, typ contract.Type, vars *varCtx, ps patternSet) bool {
	return matchBudget(t, typ, nil, vars, ps)
}

// matchNode is matchVars by the compiled form of typ, n (nil: not
// compiled). Past the step budget (spent only by the recursive named types
// in n), the match starts again as the interpreter's memoized walk of typ.
func matchNode(t term.Term, typ contract.Type, n *cnode, vars *varCtx, ps patternSet) bool {
	if ok, decided := n.quick(t); decided {
		// No variable to bind or look up, no step to count: no matcher.
		return ok
	}
	return matchBudget(t, typ, n, vars, ps)
}

// quick is matchNode's way for a pure n, small enough to inline into the
// session's short ways: decided is false when n is nil or not pure.
func (n *cnode) quick(t term.Term) (ok, decided bool) {
	if n == nil || !n.pure {
		return false, false
	}
	return (*matcher)(nil).run(n, t, 0), true
}

// matchBudget is matchNode with a matcher: variables, and the step budget
// of the interpreter.
func matchBudget(t term.Term, typ contract.Type, n *cnode, vars *varCtx, ps patternSet) bool {
	mark := 0
	if vars != nil {
		mark = len(*vars.out)
	}
	m := matcher{budget: fastBudget, root: t, vars: vars, pats: ps}
	var ok bool
	if n != nil {
		ok = m.run(n, t, 0)
	} else {
		ok = m.match(t, typ, 0, nil)
	}
	if !m.over {
		return ok
	}
	if vars != nil {
		*vars.out = (*vars.out)[:mark]
		vars.unknown = false
	}
	mm := matcher{budget: -1, memo: make(map[memoKey]memoState), vars: vars, pats: ps}
	return mm.match(t, typ, 0, nil)
}

// varCtx is what a match sees of a session's variables: the bindings of
// the state it is checked in, those its request made (for a reply), and
// where the bindings it makes go. A binding takes effect only when the
// message is accepted, so within one message a bare variable sees the
// bindings from before it.
type varCtx struct {
	env   []binding  // by slot; nil when nothing is bound
	extra []newBind  // on top of env: the request's own bindings, for its reply
	out   *[]newBind // V = T appends here
	// spec: the values are not known yet (a request pipelined behind
	// replies that may bind them): a bare variable matches anything and
	// sets unknown.
	spec    bool
	unknown bool
	// dirty (with spec) marks the variables the pending messages may
	// bind; the others keep the values of env.
	dirty []bool
}

// binding is a variable's value in one state of a session, with the
// message that bound it.
type binding struct {
	val term.Term // nil: not bound
	seq int32     // the message that bound it (Session.seq)
	by  Role      // what that message was
}

// newBind is a binding a message makes, applied when it is accepted.
type newBind struct {
	slot int32
	val  term.Term
}

// lookup returns the value of the variable in slot, if bound.
func (v *varCtx) lookup(slot int) (term.Term, bool) {
	for i := len(v.extra) - 1; i >= 0; i-- {
		if int(v.extra[i].slot) == slot {
			return v.extra[i].val, true
		}
	}
	if slot < len(v.env) && v.env[slot].val != nil {
		return v.env[slot].val, true
	}
	return nil, false
}

// matchBare is the match of a bare variable: t must be the bound value.
func (v *varCtx) matchBare(t term.Term, slot int) bool {
	if v == nil {
		return false
	}
	if v.spec && (v.env == nil || v.dirty == nil || v.dirty[slot]) {
		v.unknown = true
		return true
	}
	val, ok := v.lookup(slot)
	return ok && matchLiteral(t, val)
}

// arityFits reports whether a tuple of n elements has the arity of ty:
// exactly its elements, or with a tail ..L, at least those and as many
// more as L's bounds allow.
func arityFits(n int, ty *contract.TupleType) bool {
	if ty.Tail == nil {
		return n == len(ty.Elems)
	}
	rest := n - len(ty.Elems)
	return rest >= ty.Tail.Min && (ty.Tail.Max < 0 || rest <= ty.Tail.Max)
}

// refFrame records a named type entered at the current term position, so
// that a cycle of named types that never descends into the term (t() = t()
// | integer()) is cut: under the least-fixed-point meaning of recursive
// types such a cycle contributes nothing.
type refFrame struct {
	def  *contract.TypeDef
	prev *refFrame
}

func (f *refFrame) has(def *contract.TypeDef) bool {
	for ; f != nil; f = f.prev {
		if f.def == def {
			return true
		}
	}
	return false
}

type memoKey struct {
	def *contract.TypeDef
	ptr unsafe.Pointer
	n   int
	k   term.Kind
}

type memoState uint8

const (
	memoBusy memoState = iota + 1
	memoYes
	memoNo
)

// compositeKey identifies a tuple, list or map by its backing array, which
// is what memoization needs: the same subterm reached again is the same
// array. ok is false for scalars and empty composites (cheap to match).
func compositeKey(t term.Term) (ptr unsafe.Pointer, n int, k term.Kind, ok bool) {
	switch v := t.(type) {
	case term.Tuple:
		if len(v) > 0 {
			return unsafe.Pointer(unsafe.SliceData(v)), len(v), term.KindTuple, true
		}
	case term.List:
		if len(v) > 0 {
			return unsafe.Pointer(unsafe.SliceData(v)), len(v), term.KindList, true
		}
	case term.Map:
		if len(v) > 0 {
			return unsafe.Pointer(unsafe.SliceData(v)), len(v), term.KindMap, true
		}
	}
	return nil, 0, 0, false
}

type matcher struct {
	budget   int // steps left; -1 means unlimited (memoizing mode)
	root     term.Term
	extended bool // the budget was raised to a multiple of the term's size
	over     bool
	memo     map[memoKey]memoState
	vars     *varCtx    // nil outside a session
	pats     patternSet // the machine's pattern automata; nil: regexps only
}

func (m *matcher) match(t term.Term, typ contract.Type, depth int, refs *refFrame) bool {
	if m.budget >= 0 {
		if m.budget == 0 {
			if m.extended {
				m.over = true
				return false
			}
			m.extended = true
			m.budget = 64 * termSize(m.root)
		}
		m.budget--
	}
	if m.over {
		return false
	}
	switch ty := typ.(type) {
	case *contract.Literal:
		return matchLiteral(t, ty.Value)
	case *contract.Range:
		i, ok := t.(term.Integer)
		return ok && inRange(i, ty)
	case *contract.Predef:
		return predefOK(t, ty, m.pats.dfaOf(ty))
	case *contract.Ref:
		if ty.Optional {
			if a, ok := t.(term.Atom); ok && a == "undefined" {
				return true
			}
		}
		def := ty.Def
		if def == nil || def.Type == nil {
			return false
		}
		if refs.has(def) {
			return false
		}
		if m.memo != nil {
			if ptr, n, k, ok := compositeKey(t); ok {
				key := memoKey{def, ptr, n, k}
				switch m.memo[key] {
				case memoYes:
					return true
				case memoNo, memoBusy:
					return false
				}
				m.memo[key] = memoBusy
				r := m.match(t, def.Type, depth, &refFrame{def, refs})
				if r {
					m.memo[key] = memoYes
				} else {
					m.memo[key] = memoNo
				}
				return r
			}
		}
		return m.match(t, def.Type, depth, &refFrame{def, refs})
	case *contract.Union:
		for _, alt := range ty.Alts {
			if !mayMatch(t, alt) {
				continue
			}
			if m.vars == nil {
				if m.match(t, alt, depth, refs) {
					return true
				}
				continue
			}
			mark := len(*m.vars.out)
			if m.match(t, alt, depth, refs) {
				return true
			}
			*m.vars.out = (*m.vars.out)[:mark] // bindings of a failed alternative
		}
		return false
	case *contract.TupleType:
		tu, ok := t.(term.Tuple)
		if !ok || depth >= MaxDepth || !arityFits(len(tu), ty) {
			return false
		}
		for i, e := range ty.Elems {
			if !m.match(tu[i], e, depth+1, nil) {
				return false
			}
		}
		if ty.Tail != nil {
			return m.matchTail(tu[len(ty.Elems):], ty.Tail.Elem, depth+1)
		}
		return true
	case *contract.Var:
		return m.vars.matchBare(t, ty.Slot)
	case *contract.Bind:
		if !m.match(t, ty.Type, depth, refs) {
			return false
		}
		if m.vars != nil {
			*m.vars.out = append(*m.vars.out, newBind{slot: int32(ty.Slot), val: t})
		}
		return true
	case *contract.RecordType:
		tu, ok := recordShape(t, ty)
		if !ok || depth >= MaxDepth {
			return false
		}
		for i, f := range ty.Fields {
			if !m.match(tu[i+1], f.Type, depth+1, nil) {
				return false
			}
		}
		return true
	case *contract.ListType:
		l, ok := t.(term.List)
		if !ok || !listFits(len(l), ty, depth) {
			return false
		}
		for _, e := range l {
			if !m.match(e, ty.Elem, depth+1, nil) {
				return false
			}
		}
		return true
	case *contract.MapType:
		mp, ok := t.(term.Map)
		if !ok || (len(mp) > 0 && depth >= MaxDepth) {
			return false
		}
		return m.matchMap(mp, ty, nil, depth)
	}
	return false
}

// listFits reports whether a list of n elements at depth may match ty: its
// length is within ty's bounds and, unless empty, it is not too deep.
func listFits(n int, ty *contract.ListType, depth int) bool {
	return n >= ty.Min && (ty.Max < 0 || n <= ty.Max) && (n == 0 || depth < MaxDepth)
}

// matchTail matches the elements of a tuple's tail (or any run of terms)
// against elem. A tail may be long (an IRC message's words, a hundred keys
// of MGET): when elem is, through plain named types, a predefined type, its
// elements are checked without the recursion's bookkeeping, which a
// predefined type does not need (it never descends).
func (m *matcher) matchTail(xs []term.Term, elem contract.Type, depth int) bool {
	if p, ok := plainType(elem).(*contract.Predef); ok && m.vars == nil {
		d := m.pats.dfaOf(p)
		for _, x := range xs {
			if !predefOK(x, p, d) {
				return false
			}
		}
		return true
	}
	for _, x := range xs {
		if !m.match(x, elem, depth, nil) {
			return false
		}
	}
	return true
}

// plainType follows named types that are not optional (name()? adds
// undefined) to the type they stand for.
func plainType(t contract.Type) contract.Type {
	for hops := 0; hops < maxHops; hops++ {
		r, ok := t.(*contract.Ref)
		if !ok || r.Optional || r.Def == nil || r.Def.Type == nil {
			return t
		}
		t = r.Def.Type
	}
	return t
}

// recordShape returns t as a tuple when it has the arity and the tag of
// the record type ty and, when ty is extended, the '$fields' marker where
// ty puts it: all of a record but its fields' values.
func recordShape(t term.Term, ty *contract.RecordType) (term.Tuple, bool) {
	tu, ok := t.(term.Tuple)
	if !ok || len(tu) != recordArity(ty) {
		return nil, false
	}
	if a, ok := tu[0].(term.Atom); !ok || string(a) != ty.Name {
		return nil, false
	}
	if ty.Extended {
		if a, ok := tu[len(ty.Fields)+1].(term.Atom); !ok || a != "$fields" {
			return nil, false
		}
	}
	return tu, true
}

func recordArity(r *contract.RecordType) int {
	if r.Extended {
		return len(r.Fields) + 3
	}
	return len(r.Fields) + 1
}

// matchMap matches mp against ty, its values against vals (the compiled
// values of ty's fields) or, when vals is nil, by the interpreter.
func (m *matcher) matchMap(mp term.Map, ty *contract.MapType, vals []*cnode, depth int) bool {
	var seen uint64
	var seenBig []bool
	if len(ty.Fields) > 64 {
		seenBig = make([]bool, len(ty.Fields))
	}
	find := newFieldFinder(ty, len(mp))
	for _, e := range mp {
		fi := find.find(e.Key)
		if fi < 0 {
			if !ty.Open {
				return false
			}
			continue
		}
		if vals != nil {
			if !m.run(vals[fi], e.Value, depth+1) {
				return false
			}
		} else if !m.match(e.Value, ty.Fields[fi].Value, depth+1, nil) {
			return false
		}
		if seenBig != nil {
			seenBig[fi] = true
		} else {
			seen |= 1 << uint(fi)
		}
	}
	for i, f := range ty.Fields {
		if !f.Required {
			continue
		}
		if seenBig != nil {
			if !seenBig[i] {
				return false
			}
		} else if seen&(1<<uint(i)) == 0 {
			return false
		}
	}
	return true
}

// keyName returns the name a map key stands for: the text of an atom, a
// string or a binary (JSON keys are strings; the contract writes atoms).
func keyName(k term.Term) (string, bool) {
	switch v := k.(type) {
	case term.Atom:
		return string(v), true
	case term.String:
		return string(v), true
	case term.Binary:
		return string(v), true
	}
	return "", false
}

// bigMapWork is the number of key comparisons (wire keys × fields) past
// which matching a map first indexes the type's fields by name.
const bigMapWork = 4096

// fieldFinder finds the field a wire key names. For a map of n entries
// that would cost more than bigMapWork comparisons it indexes the type's
// fields by name first, so that a huge map against a type with many fields
// stays linear.
type fieldFinder struct {
	ty     *contract.MapType
	byName map[string]int
}

func newFieldFinder(ty *contract.MapType, n int) fieldFinder {
	f := fieldFinder{ty: ty}
	if n*len(ty.Fields) > bigMapWork {
		f.byName = make(map[string]int, len(ty.Fields))
		for i := len(ty.Fields) - 1; i >= 0; i-- {
			if name, ok := keyName(ty.Fields[i].Key); ok {
				f.byName[name] = i
			}
		}
	}
	return f
}

func (f fieldFinder) find(k term.Term) int {
	if f.byName != nil {
		if name, ok := keyName(k); ok {
			if i, found := f.byName[name]; found {
				return i
			}
			return -1
		}
	}
	return findField(f.ty, k)
}

// findField returns the index of the field of ty that the wire key k names,
// or -1.
func findField(ty *contract.MapType, k term.Term) int {
	name, ok := keyName(k)
	if !ok {
		// A key of another kind matches only a field whose key is the
		// same term (not expressible in the language today).
		for i, f := range ty.Fields {
			if term.Equal(f.Key, k) {
				return i
			}
		}
		return -1
	}
	for i, f := range ty.Fields {
		if fname, ok := keyName(f.Key); ok && fname == name {
			return i
		}
	}
	return -1
}

// matchLiteral compares t with a constant. A string constant also matches a
// list of the same character codes, as string() does (ubf's strings are
// lists).
func matchLiteral(t, lit term.Term) bool {
	switch l := lit.(type) {
	case term.Atom:
		a, ok := t.(term.Atom)
		return ok && a == l
	case term.Integer:
		i, ok := t.(term.Integer)
		return ok && i.Cmp(l) == 0
	case term.String:
		switch v := t.(type) {
		case term.String:
			return v == l
		case term.List:
			return charListEquals(v, string(l))
		}
		return false
	}
	return term.Equal(t, lit)
}

func charListEquals(l term.List, s string) bool {
	i := 0
	for _, r := range s {
		if i >= len(l) {
			return false
		}
		c, ok := l[i].(term.Integer)
		if !ok || !c.IsInt64() || c.Int64() != int64(r) {
			return false
		}
		i++
	}
	return i == len(l)
}

func inRange(i term.Integer, r *contract.Range) bool {
	if r.Lo != nil && i.Cmp(*r.Lo) < 0 {
		return false
	}
	if r.Hi != nil && i.Cmp(*r.Hi) > 0 {
		return false
	}
	return true
}

// predefOK checks a predefined type with its attributes, its pattern by
// the automaton d (nil: none, the regexp decides). Attributes that do not
// apply to a kind of term are ignored (the contract compiler refuses them
// where ubf does).
func predefOK(t term.Term, p *contract.Predef, d *byteDFA) bool {
	if p.Attrs&contract.NonUndefined != 0 {
		if a, ok := t.(term.Atom); ok && a == "undefined" {
			return false
		}
	}
	switch p.Kind {
	case contract.Any, contract.None:
		return p.Attrs&contract.NonEmpty == 0 || !isEmpty(t)
	case contract.AtomT:
		a, ok := t.(term.Atom)
		return ok && textAttrsOK(string(a), p.Attrs) && patternOK(d, string(a), p)
	case contract.BinaryT:
		b, ok := t.(term.Binary)
		if !ok {
			return false
		}
		s := unsafe.String(unsafe.SliceData(b), len(b))
		return textAttrsOK(s, p.Attrs) && patternOK(d, s, p)
	case contract.StringT:
		switch v := t.(type) {
		case term.String:
			return p.Attrs&contract.CodeList == 0 && textAttrsOK(string(v), p.Attrs) && patternOK(d, string(v), p)
		case term.List:
			return p.Attrs&contract.WireString == 0 && v.IsString() && charListAttrsOK(v, p.Attrs) &&
				(p.Pattern == nil || patternOK(d, charListText(v), p))
		}
		return false
	case contract.FloatT:
		_, ok := t.(term.Float)
		return ok
	case contract.IntegerT:
		_, ok := t.(term.Integer)
		return ok
	case contract.ListT:
		l, ok := t.(term.List)
		return ok && (p.Attrs&contract.NonEmpty == 0 || len(l) > 0)
	case contract.TupleT:
		tu, ok := t.(term.Tuple)
		return ok && (p.Attrs&contract.NonEmpty == 0 || len(tu) > 0)
	case contract.MapT:
		mp, ok := t.(term.Map)
		return ok && (p.Attrs&contract.NonEmpty == 0 || len(mp) > 0)
	}
	return false
}

// isEmpty reports whether t is an empty list, tuple, map, string, binary
// or the empty atom (what any(nonempty) refuses).
func isEmpty(t term.Term) bool {
	switch v := t.(type) {
	case term.Atom:
		return v == ""
	case term.String:
		return v == ""
	case term.Binary:
		return len(v) == 0
	case term.Tuple:
		return len(v) == 0
	case term.List:
		return len(v) == 0
	case term.Map:
		return len(v) == 0
	}
	return false
}

func textAttrsOK(s string, a contract.Attr) bool {
	if a&contract.NonEmpty != 0 && s == "" {
		return false
	}
	if a&(contract.Ascii|contract.AsciiPrintable) == 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if !charOK(int64(s[i]), a) {
			return false
		}
	}
	return true
}

// charListText is the text of a list of character codes (a string as ubf
// writes it), for matching a pattern. It allocates; such strings are rare on
// the wire.
func charListText(l term.List) string {
	var b strings.Builder
	for _, e := range l {
		b.WriteRune(rune(e.(term.Integer).Int64()))
	}
	return b.String()
}

func charListAttrsOK(l term.List, a contract.Attr) bool {
	if a&contract.NonEmpty != 0 && len(l) == 0 {
		return false
	}
	if a&(contract.Ascii|contract.AsciiPrintable) == 0 {
		return true
	}
	for _, e := range l {
		if !charOK(e.(term.Integer).Int64(), a) {
			return false
		}
	}
	return true
}

// charOK applies ascii (0..127) and asciiprintable (32..126, space to
// tilde) to one character code.
func charOK(c int64, a contract.Attr) bool {
	if a&contract.AsciiPrintable != 0 && (c < 32 || c > 126) {
		return false
	}
	if a&contract.Ascii != 0 && (c < 0 || c > 127) {
		return false
	}
	return true
}

// mayMatch is a constant-time pre-check: false means t certainly does not
// belong to typ. It looks at the kind, a tuple's arity and tag, so that a
// union of many tagged alternatives is not tried one by one in depth.
func mayMatch(t term.Term, typ contract.Type) bool {
	for hops := 0; hops < 8; hops++ {
		switch ty := typ.(type) {
		case *contract.Literal:
			return matchLiteral(t, ty.Value)
		case *contract.Range:
			_, ok := t.(term.Integer)
			return ok
		case *contract.TupleType:
			tu, ok := t.(term.Tuple)
			if !ok || !arityFits(len(tu), ty) {
				return false
			}
			if len(tu) > 0 {
				if lit, ok := ty.Elems[0].(*contract.Literal); ok {
					return matchLiteral(tu[0], lit.Value)
				}
			}
			return true
		case *contract.RecordType:
			_, ok := recordShape(t, ty)
			return ok
		case *contract.ListType:
			_, ok := t.(term.List)
			return ok
		case *contract.MapType:
			_, ok := t.(term.Map)
			return ok
		case *contract.Ref:
			if ty.Optional {
				return true
			}
			if ty.Def == nil || ty.Def.Type == nil {
				return false
			}
			typ = ty.Def.Type
			continue
		case *contract.Bind:
			typ = ty.Type
			continue
		default:
			return true
		}
	}
	return true
}

// termSize counts the nodes of t without recursion. Its stack holds one
// frame per level of nesting (not per element), so measuring a long list
// costs no memory.
func termSize(t term.Term) int {
	type frame struct {
		elems []term.Term
		m     term.Map
		i     int
	}
	n := 1
	var stack []frame
	push := func(x term.Term) {
		switch v := x.(type) {
		case term.Tuple:
			stack = append(stack, frame{elems: v})
		case term.List:
			stack = append(stack, frame{elems: v})
		case term.Map:
			stack = append(stack, frame{m: v})
		}
	}
	push(t)
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		var next term.Term
		switch {
		case f.elems != nil && f.i < len(f.elems):
			next = f.elems[f.i]
			f.i++
		case f.m != nil && f.i < 2*len(f.m):
			e := f.m[f.i/2]
			if next = e.Key; f.i%2 == 1 {
				next = e.Value
			}
			f.i++
		default:
			stack = stack[:len(stack)-1]
			continue
		}
		n++
		push(next)
	}
	return n
}

package checker

import (
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Prepare compiles the type of every rule, reply and transition into a
// tree of matcher nodes (cnode), so that checking a message walks a tree
// made for it instead of interpreting the contract's types (matcher.match):
//
//   - a named type that is not recursive is inlined: its body's nodes are
//     shared by every use, with no cycle bookkeeping, memo or step budget;
//   - a union is split by term kind, and, where a kind has many
//     alternatives, by the term's key: an atom itself, or a tuple's first
//     element (the tag a command or a reply starts with); a term tries only
//     the alternatives that can take it, in the order written, so the first
//     that matches (and the bindings it makes) is the one the interpreter
//     finds;
//   - literals are compared directly and a pattern's automaton is looked up
//     once, at compile time.
//
// A named type that is recursive (it reaches itself) is left to the
// interpreter (opRef), with its step budget and, past it, the memoized walk
// that keeps types with overlapping recursive alternatives linear: that is
// where the exponential backtracking it guards against comes from. A type
// whose inlined tree would exceed maxExpanded nodes (a huge type, or, the
// likelier way, named types shared over and over, nested) is not compiled
// at all and goes to the interpreter whole.
//
// Matching a compiled tree costs at most its expanded size for each node
// of the term (a node of the tree is matched against a node of the term at
// most once: a union's alternatives are different nodes), which is why it
// needs no step budget of its own; the interpreter called at an opRef
// spends the budget as before, and running out of it restarts the whole
// match memoized, as Match does.

// maxExpanded bounds the nodes a compiled type may have when its shared
// named types are written out: its matching cost per node of a term.
const maxExpanded = 4096

// unionKeyMin is how many alternatives of one kind a union needs before
// they are indexed by key: below it, trying them costs less than a map
// lookup.
const unionKeyMin = 6

type cop uint8

const (
	opNever    cop = iota // matches nothing (a named type with no definition)
	opAtom                // an atom literal
	opLiteral             // another literal
	opRange               // an integer range
	opPredef              // a predefined type
	opTuple               // a tuple type, maybe with a tail
	opRecord              // a record type
	opList                // a list type
	opMap                 // a map type
	opUnion               // a union (dispatch)
	opOptional            // name()?: undefined, or kids[0]
	opBind                // V = kids[0]
	opVar                 // a bare variable
	opRef                 // a recursive named type: the interpreter

	// Predefined types that only test the kind of term (and, with
	// nonempty, its length), the most common leaves.
	opAny     // any() or none(): anything
	opBinary  // binary(), binary(nonempty), binary(secret)
	opInteger // integer()
	opAtomAny // atom(), atom(nonempty)
)

// cnode is a node of a compiled type.
type cnode struct {
	op    cop
	kinds kindSet   // the kinds of term it may match
	atom  term.Atom // opAtom; also a tuple's or record's key, when it has one
	keyed bool      // atom is the node's key (see unionKeyOf)
	lit   term.Term // opLiteral
	typ   contract.Type
	pred  *contract.Predef // opPredef
	dfa   *byteDFA         // opPredef: the pattern's automaton, nil when none or not built
	tuple *contract.TupleType
	rec   *contract.RecordType
	list  *contract.ListType
	mapT  *contract.MapType
	kids  []*cnode // elements, fields, map values, alternatives; the type of opOptional and opBind
	elem  *cnode   // a list's elements, a tuple tail's
	slot  int      // opBind, opVar
	disp  *dispatch
	// nonEmpty: opBinary and opAtomAny refuse the empty one.
	nonEmpty bool
	// pure: no variable and no recursive named type in the tree, which
	// therefore needs no matcher (run with a nil one).
	pure bool
	// always: the kinds of term (as Term.Kind tells them) that a pure n
	// accepts whatever their value: a union with binary() among its
	// alternatives takes any binary without looking for it.
	always kindSet
}

// kindSet is a set of term.Kinds, bit k for kind k.
type kindSet uint16

const allKinds kindSet = 1<<(term.KindMap+1) - 2

func kindBit(k term.Kind) kindSet { return 1 << (k & 15) } // every kind is below 16

// kindOf is kindBit(t.Kind()) with the usual reply, a binary, told by a
// comparison of its type rather than a call through the interface.
func kindOf(t term.Term) kindSet {
	if _, ok := t.(term.Binary); ok {
		return kindBit(term.KindBinary)
	}
	return kindBit(t.Kind())
}

// dispatch is a union's alternatives by the kind of term they may match.
type dispatch struct {
	byKind [term.KindMap + 1]kindCands
}

// kindCands is a union's alternatives that may match terms of one kind,
// in the order written; byKey, when the kind has unionKeyMin or more of
// them and some have a key, lists them by the term's key (the keyed ones
// with that key and the unkeyed, in order), rest being the unkeyed alone.
type kindCands struct {
	all   []*cnode
	byKey map[term.Atom][]*cnode
	rest  []*cnode
}

// candidates returns the alternatives of the union that may match t.
func (d *dispatch) candidates(t term.Term) []*cnode {
	k := t.Kind()
	if k > term.KindMap {
		return nil
	}
	kc := &d.byKind[k]
	if kc.byKey == nil {
		return kc.all
	}
	if key, _, ok := keyOf(t); ok {
		if c, found := kc.byKey[key]; found {
			return c
		}
	}
	return kc.rest
}

// compiler compiles the types of one contract; named types that are not
// recursive are compiled once and shared.
type compiler struct {
	pats patternSet
	rec  map[*contract.TypeDef]bool // named types that reach themselves
	defs map[*contract.TypeDef]*cnode
	size map[*cnode]int // expanded sizes, as computed
}

func newCompiler(pats patternSet) *compiler {
	return &compiler{
		pats: pats,
		rec:  map[*contract.TypeDef]bool{},
		defs: map[*contract.TypeDef]*cnode{},
		size: map[*cnode]int{},
	}
}

// compile returns the compiled typ, or nil when its expanded tree would
// exceed maxExpanded nodes (the interpreter then matches it).
func (c *compiler) compile(typ contract.Type) *cnode {
	n := c.node(typ)
	if c.expanded(n) > maxExpanded {
		return nil
	}
	return n
}

// expanded is the number of nodes of n's tree with shared subtrees written
// out, up to a little over maxExpanded.
func (c *compiler) expanded(n *cnode) int {
	if s, ok := c.size[n]; ok {
		return s
	}
	s := 1
	add := func(k *cnode) {
		if k != nil && s <= maxExpanded {
			s += c.expanded(k)
		}
	}
	for _, k := range n.kids {
		add(k)
	}
	add(n.elem)
	if s > maxExpanded {
		s = maxExpanded + 1
	}
	c.size[n] = s
	return s
}

func (c *compiler) node(typ contract.Type) *cnode {
	n := c.build(typ)
	n.pure = n.op != opBind && n.op != opVar && n.op != opRef && (n.elem == nil || n.elem.pure)
	for _, k := range n.kids {
		n.pure = n.pure && k.pure
	}
	if n.pure {
		n.always = alwaysKinds(n)
	}
	return n
}

// alwaysKinds is the always of a pure n, whose children's are known
// already (nodes are compiled children first).
func alwaysKinds(n *cnode) kindSet {
	switch n.op {
	case opAny:
		return allKinds
	case opBinary:
		if !n.nonEmpty {
			return kindBit(term.KindBinary)
		}
	case opAtomAny:
		if !n.nonEmpty {
			return kindBit(term.KindAtom)
		}
	case opInteger:
		return kindBit(term.KindInteger)
	case opUnion:
		// One alternative taking every term of a kind is enough:
		// whichever alternative accepts a term, a pure one binds nothing.
		var k kindSet
		for _, alt := range n.kids {
			k |= alt.always
		}
		return k
	case opOptional:
		return n.kids[0].always
	}
	return 0
}

// build makes the node of typ, its children compiled.
func (c *compiler) build(typ contract.Type) *cnode {
	switch ty := typ.(type) {
	case *contract.Literal:
		if a, ok := ty.Value.(term.Atom); ok {
			return &cnode{op: opAtom, atom: a, keyed: true, kinds: kindBit(term.KindAtom), typ: ty}
		}
		return &cnode{op: opLiteral, lit: ty.Value, kinds: literalKinds(ty.Value), typ: ty}
	case *contract.Range:
		return &cnode{op: opRange, kinds: kindBit(term.KindInteger), typ: ty}
	case *contract.Predef:
		return predefNode(ty, c.pats)
	case *contract.TupleType:
		n := &cnode{op: opTuple, tuple: ty, kinds: kindBit(term.KindTuple), typ: ty}
		n.kids = c.nodes(ty.Elems)
		if ty.Tail != nil {
			n.elem = c.node(ty.Tail.Elem)
		}
		if len(n.kids) > 0 && n.kids[0].op == opAtom {
			n.atom, n.keyed = n.kids[0].atom, true
		}
		return n
	case *contract.RecordType:
		n := &cnode{op: opRecord, rec: ty, atom: term.Atom(ty.Name), keyed: true, kinds: kindBit(term.KindTuple), typ: ty}
		for _, f := range ty.Fields {
			n.kids = append(n.kids, c.node(f.Type))
		}
		return n
	case *contract.ListType:
		return &cnode{op: opList, list: ty, elem: c.node(ty.Elem), kinds: kindBit(term.KindList), typ: ty}
	case *contract.MapType:
		n := &cnode{op: opMap, mapT: ty, kinds: kindBit(term.KindMap), typ: ty}
		for _, f := range ty.Fields {
			n.kids = append(n.kids, c.node(f.Value))
		}
		return n
	case *contract.Union:
		return c.union(ty)
	case *contract.Ref:
		return c.ref(ty)
	case *contract.Bind:
		k := c.node(ty.Type)
		return &cnode{op: opBind, kids: []*cnode{k}, slot: ty.Slot, kinds: k.kinds, atom: k.atom, keyed: k.keyed, typ: ty}
	case *contract.Var:
		return &cnode{op: opVar, slot: ty.Slot, kinds: allKinds, typ: ty}
	}
	return &cnode{op: opNever, typ: typ}
}

// predefNode compiles a predefined type: the common ones that test only
// the kind of term to their own ops, the others to opPredef.
func predefNode(p *contract.Predef, pats patternSet) *cnode {
	n := &cnode{op: opPredef, pred: p, dfa: pats.dfaOf(p), kinds: predefKinds(p), typ: p}
	if p.Pattern != nil || p.Attrs&^(contract.NonEmpty|contract.Secret) != 0 {
		return n
	}
	n.nonEmpty = p.Attrs&contract.NonEmpty != 0
	switch p.Kind {
	case contract.Any, contract.None:
		if !n.nonEmpty {
			n.op = opAny
		}
	case contract.BinaryT:
		n.op = opBinary
	case contract.IntegerT:
		n.op = opInteger
	case contract.AtomT:
		n.op = opAtomAny
	}
	return n
}

func (c *compiler) nodes(types []contract.Type) []*cnode {
	out := make([]*cnode, len(types))
	for i, t := range types {
		out[i] = c.node(t)
	}
	return out
}

func (c *compiler) ref(ty *contract.Ref) *cnode {
	var body *cnode
	switch def := ty.Def; {
	case def == nil || def.Type == nil:
		body = &cnode{op: opNever, typ: ty}
	case c.recursive(def):
		// The interpreter handles name()? itself.
		return &cnode{op: opRef, typ: ty, kinds: typeKinds(ty, map[*contract.TypeDef]bool{})}
	default:
		if body = c.defs[def]; body == nil {
			body = c.node(def.Type)
			c.defs[def] = body
		}
	}
	if !ty.Optional {
		return body
	}
	return &cnode{op: opOptional, kids: []*cnode{body}, kinds: body.kinds | kindBit(term.KindAtom), typ: ty}
}

// union compiles a union: its alternatives, nested unions flattened in
// order, listed by the kinds they may match.
func (c *compiler) union(ty *contract.Union) *cnode {
	n := &cnode{op: opUnion, typ: ty}
	var flat func(alts []contract.Type)
	flat = func(alts []contract.Type) {
		for _, a := range alts {
			k := c.node(a)
			if k.op == opUnion {
				n.kids = append(n.kids, k.kids...)
				continue
			}
			n.kids = append(n.kids, k)
		}
	}
	flat(ty.Alts)
	d := &dispatch{}
	for _, k := range n.kids {
		n.kinds |= k.kinds
		for kind := term.KindAtom; kind <= term.KindMap; kind++ {
			if k.kinds&kindBit(kind) != 0 {
				d.byKind[kind].all = append(d.byKind[kind].all, k)
			}
		}
	}
	for kind := range d.byKind {
		d.byKind[kind].index()
	}
	n.disp = d
	return n
}

// index builds byKey when there are enough alternatives and some have a
// key.
func (kc *kindCands) index() {
	if len(kc.all) < unionKeyMin {
		return
	}
	keyed := 0
	for _, k := range kc.all {
		if k.keyed {
			keyed++
		}
	}
	if keyed == 0 {
		return
	}
	kc.byKey = map[term.Atom][]*cnode{}
	kc.rest = []*cnode{}
	for _, k := range kc.all {
		if !k.keyed {
			// An unkeyed alternative takes every key: it goes to every
			// list after the keyed ones before it, so each list keeps
			// the order written.
			kc.rest = append(kc.rest, k)
			for key, l := range kc.byKey {
				kc.byKey[key] = append(l, k)
			}
			continue
		}
		if _, ok := kc.byKey[k.atom]; !ok {
			kc.byKey[k.atom] = append([]*cnode(nil), kc.rest...)
		}
		kc.byKey[k.atom] = append(kc.byKey[k.atom], k)
	}
}

// literalKinds is the kinds of term a literal matches: a string also
// matches a list of its character codes.
func literalKinds(v term.Term) kindSet {
	if v.Kind() == term.KindString {
		return kindBit(term.KindString) | kindBit(term.KindList)
	}
	return kindBit(v.Kind())
}

// predefKinds is the kinds of term a predefined type may match.
func predefKinds(p *contract.Predef) kindSet {
	switch p.Kind {
	case contract.AtomT:
		return kindBit(term.KindAtom)
	case contract.BinaryT:
		return kindBit(term.KindBinary)
	case contract.StringT:
		return kindBit(term.KindString) | kindBit(term.KindList)
	case contract.FloatT:
		return kindBit(term.KindFloat)
	case contract.IntegerT:
		return kindBit(term.KindInteger)
	case contract.ListT:
		return kindBit(term.KindList)
	case contract.TupleT:
		return kindBit(term.KindTuple)
	case contract.MapT:
		return kindBit(term.KindMap)
	}
	return allKinds
}

// typeKinds is the kinds of term typ may match, following named types; a
// named type met again at the same place adds nothing (a cycle that does
// not descend into the term matches nothing).
func typeKinds(typ contract.Type, seen map[*contract.TypeDef]bool) kindSet {
	switch ty := typ.(type) {
	case *contract.Literal:
		return literalKinds(ty.Value)
	case *contract.Range:
		return kindBit(term.KindInteger)
	case *contract.Predef:
		return predefKinds(ty)
	case *contract.TupleType, *contract.RecordType:
		return kindBit(term.KindTuple)
	case *contract.ListType:
		return kindBit(term.KindList)
	case *contract.MapType:
		return kindBit(term.KindMap)
	case *contract.Union:
		var k kindSet
		for _, a := range ty.Alts {
			k |= typeKinds(a, seen)
		}
		return k
	case *contract.Bind:
		return typeKinds(ty.Type, seen)
	case *contract.Var:
		return allKinds
	case *contract.Ref:
		var k kindSet
		if ty.Optional {
			k = kindBit(term.KindAtom)
		}
		if ty.Def == nil || ty.Def.Type == nil || seen[ty.Def] {
			return k
		}
		seen[ty.Def] = true
		k |= typeKinds(ty.Def.Type, seen)
		delete(seen, ty.Def)
		return k
	}
	return 0
}

// recursive reports whether the named type d reaches itself through the
// types it is defined with (memoized).
func (c *compiler) recursive(d *contract.TypeDef) bool {
	if r, ok := c.rec[d]; ok {
		return r
	}
	// Depth first, with a stack, so that a long chain of named types
	// costs no deep recursion.
	seen := map[*contract.TypeDef]bool{}
	stack := []*contract.TypeDef{d}
	found := false
	for len(stack) > 0 && !found {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		refsOf(x.Type, func(y *contract.TypeDef) {
			if y == d {
				found = true
			}
			if !seen[y] {
				seen[y] = true
				stack = append(stack, y)
			}
		})
	}
	c.rec[d] = found
	return found
}

// refsOf calls fn for each named type t refers to, as matching follows
// them (a tuple's tail by its resolved list type, not the name it was
// written as).
func refsOf(t contract.Type, fn func(*contract.TypeDef)) {
	contract.VisitType(t, func(x contract.Type) bool {
		switch x := x.(type) {
		case *contract.Ref:
			if x.Def != nil && x.Def.Type != nil {
				fn(x.Def)
			}
		case *contract.TupleType:
			if x.TailRef != nil && x.Tail != nil {
				for _, e := range x.Elems {
					refsOf(e, fn)
				}
				refsOf(x.Tail, fn)
				return false
			}
		}
		return true
	})
}

// leafOK decides the commonest leaves (an atom literal, binary(),
// integer()) where a node's children are matched, saving the call to run;
// handled is false for any other node. It must stay small enough to
// inline.
func leafOK(n *cnode, t term.Term) (ok, handled bool) {
	switch n.op {
	case opAtom:
		a, is := t.(term.Atom)
		return is && a == n.atom, true
	case opBinary:
		b, is := t.(term.Binary)
		return is && (len(b) > 0 || !n.nonEmpty), true
	case opInteger:
		_, is := t.(term.Integer)
		return is, true
	}
	return false, false
}

// leafArgs is elems for a tuple tu listed under the tag of n, a tagged
// tuple node, when n has no tail and its other elements are leaves
// (leafOK): it makes no call. decided is false otherwise.
func (n *cnode) leafArgs(tu term.Tuple) (ok, decided bool) {
	kids := n.kids
	if n.elem != nil || n.tuple.Tail != nil || len(tu) != len(kids) {
		return false, false
	}
	for i := 1; i < len(kids); i++ {
		ok, handled := leafOK(kids[i], tu[i])
		if !handled {
			return false, false
		}
		if !ok {
			return false, true
		}
	}
	return true, true
}

// each matches every term of xs against n (a list's elements, a tuple's
// tail).
func (m *matcher) each(n *cnode, xs []term.Term, depth int) bool {
	for _, x := range xs {
		if ok, handled := leafOK(n, x); handled {
			if !ok {
				return false
			}
		} else if !m.run(n, x, depth) {
			return false
		}
	}
	return true
}

// elems matches the elements of tu from the i-th on, and its tail, against
// those of the tuple node n, tu being at depth and of n's arity.
func (m *matcher) elems(n *cnode, tu term.Tuple, i, depth int) bool {
	kids := n.kids
	for ; i < len(kids); i++ {
		if ok, handled := leafOK(kids[i], tu[i]); handled {
			if !ok {
				return false
			}
		} else if !m.run(kids[i], tu[i], depth+1) {
			return false
		}
	}
	return n.elem == nil || m.each(n.elem, tu[len(kids):], depth+1)
}

// run is match for a compiled type: whether t matches n at depth. It
// spends no step budget; only an opRef's interpreter does. m may be nil
// for a pure tree.
func (m *matcher) run(n *cnode, t term.Term, depth int) bool {
	switch n.op {
	case opAtom:
		a, ok := t.(term.Atom)
		return ok && a == n.atom
	case opBinary:
		b, ok := t.(term.Binary)
		return ok && (len(b) > 0 || !n.nonEmpty)
	case opInteger:
		_, ok := t.(term.Integer)
		return ok
	case opAtomAny:
		a, ok := t.(term.Atom)
		return ok && (len(a) > 0 || !n.nonEmpty)
	case opAny:
		return true
	case opLiteral:
		return matchLiteral(t, n.lit)
	case opRange:
		i, ok := t.(term.Integer)
		return ok && inRange(i, n.typ.(*contract.Range))
	case opPredef:
		return predefOK(t, n.pred, n.dfa)
	case opTuple:
		tu, ok := t.(term.Tuple)
		if !ok || depth >= MaxDepth || !arityFits(len(tu), n.tuple) {
			return false
		}
		i := 0
		if n.keyed {
			// The tag (an atom literal) compared here, not by a call.
			if a, ok := tu[0].(term.Atom); !ok || a != n.atom {
				return false
			}
			i = 1
		}
		return m.elems(n, tu, i, depth)
	case opUnion:
		if n.always != 0 && n.always&kindBit(t.Kind()) != 0 {
			return true
		}
		for _, alt := range n.disp.candidates(t) {
			if ok, handled := leafOK(alt, t); handled {
				if ok {
					return true
				}
				continue
			}
			if m == nil || m.vars == nil {
				if m.run(alt, t, depth) {
					return true
				}
				continue
			}
			mark := len(*m.vars.out)
			if m.run(alt, t, depth) {
				return true
			}
			*m.vars.out = (*m.vars.out)[:mark] // bindings of a failed alternative
		}
		return false
	case opOptional:
		if a, ok := t.(term.Atom); ok && a == "undefined" {
			return true
		}
		return m.run(n.kids[0], t, depth)
	case opRecord:
		tu, ok := recordShape(t, n.rec)
		if !ok || depth >= MaxDepth {
			return false
		}
		for i, k := range n.kids {
			if !m.run(k, tu[i+1], depth+1) {
				return false
			}
		}
		return true
	case opList:
		l, ok := t.(term.List)
		if !ok || !listFits(len(l), n.list, depth) {
			return false
		}
		return m.each(n.elem, l, depth+1)
	case opMap:
		mp, ok := t.(term.Map)
		if !ok || (len(mp) > 0 && depth >= MaxDepth) {
			return false
		}
		return m.matchMap(mp, n.mapT, n.kids, depth)
	case opBind:
		if !m.run(n.kids[0], t, depth) {
			return false
		}
		if m.vars != nil {
			*m.vars.out = append(*m.vars.out, newBind{slot: int32(n.slot), val: t})
		}
		return true
	case opVar:
		return m.vars.matchBare(t, n.slot)
	case opRef:
		return m.match(t, n.typ, depth, nil)
	}
	return false
}

package checker

import (
	"slices"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Machine is a contract prepared for checking: every state's rules indexed
// by message tag and arity, next states resolved to indexes. Prepare it once
// per contract and start any number of sessions from it; it is read-only and
// safe for concurrent use.
type Machine struct {
	c    *contract.Contract
	core *core
}

// core is everything a session needs.
type core struct {
	states  []stateInfo
	index   map[string]int32
	initial int32
	any     ruleIndex    // +anystate rules; outputs keep the state
	anyTr   [3]ruleIndex // +anystate events, by contract.Direction; they keep the state
	vars    []string     // variable names by slot
	pats    patternSet   // the patterns' automata
	secrets *redactor    // nil when the contract has no secret type
	parts   []Part       // every rule and transition of every state, by ruleInfo.part
	// allDue: no call rule allows none() as its reply, so every pending
	// call must be answered (ReplyDue needs no look at the queue).
	allDue bool
}

type stateInfo struct {
	name     string
	terminal bool
	rules    ruleIndex
	// tr holds the transitions by contract.Direction (in: client, out:
	// server); an event is a transition back to its own state.
	tr [3]ruleIndex
}

// dirCall selects the call rules where a contract.Direction selects
// transitions (indexOf).
const dirCall contract.Direction = 0

// indexOf returns the state's rules for dir: its calls (dirCall) or its
// transitions in that direction.
func (si *stateInfo) indexOf(dir contract.Direction) *ruleIndex {
	if dir == dirCall {
		return &si.rules
	}
	return &si.tr[dir]
}

// anyIndex is indexOf for the +anystate rules and events.
func (m *core) anyIndex(dir contract.Direction) *ruleIndex {
	if dir == dirCall {
		return &m.any
	}
	return &m.anyTr[dir]
}

// ruleIndex finds the rules that could accept a message without trying
// them all: rules whose input type fixes the message's tag (the atom, or
// the first element of a tuple) and arity are listed under that key; the
// others (wild) are tried for every message. Where many rules share a key
// and fix the first argument to an atom or binary literal (sub-commands:
// {config, get, ...}, {config, set, ...}), the key's rules are indexed by
// that argument too (argIndex).
type ruleIndex struct {
	rules []ruleInfo
	// slots is an open-addressed table of the keyed rule lists (each
	// holding the wild rules too, in order), len a power of two and at
	// most half full; nil when no rule is keyed. It does what a
	// map[msgKey][]int32 did at a fraction of the cost per message: a
	// short inline hash (slotOf) and, mostly, one probe.
	slots []keySlot
	wild  []int32
}

// keySlot is an entry of ruleIndex.slots; rules is nil in a free one.
type keySlot struct {
	key   msgKey
	rules []int32
	args  *argIndex // nil unless argIndexMin rules of the key fix their first argument
}

// argIndexMin is how many rules of one key must fix their first argument
// for the key to get an argIndex: below it, trying them costs less than a
// map lookup.
const argIndexMin = 8

// argIndex lists a key's rules by the message's first argument (the
// element after the tag): the rules whose input type allows that atom or
// binary there, and the rules that do not fix it (rest), in declaration
// order; rest alone for any other first argument.
type argIndex struct {
	atoms map[term.Atom][]int32
	bins  map[string][]int32
	rest  []int32
}

// lookup returns the rules that could accept a message with first
// argument arg.
func (a *argIndex) lookup(arg term.Term) []int32 {
	switch v := arg.(type) {
	case term.Atom:
		if r, ok := a.atoms[v]; ok {
			return r
		}
	case term.Binary:
		if r, ok := a.bins[string(v)]; ok {
			return r
		}
	}
	return a.rest
}

// slotOf is the first slot to probe for key k in a table of mask+1 slots:
// FNV-1a of the tag and arity. Tags are short, so hashing every byte costs
// little, and contracts with many tags alike but for a middle character
// (op1, op2, ...) still spread over the table.
func slotOf(tag term.Atom, arity int32, mask int) int {
	h := uint32(2166136261)
	for i := 0; i < len(tag); i++ {
		h = (h ^ uint32(tag[i])) * 16777619
	}
	h = (h ^ uint32(arity)) * 16777619
	return int(h^h>>16) & mask
}

type msgKey struct {
	tag   term.Atom
	arity int32 // -1 for a bare atom
}

// ruleInfo is a call rule, or a transition (outs nil, next its state).
type ruleInfo struct {
	rule     *contract.Rule // nil for a transition
	in       contract.Type
	inC      *cnode // in compiled; nil: the interpreter matches it
	outs     []outInfo
	next     int32 // a transition's next state; -1: the state it was taken from
	mayClose bool  // an output is none(): the server may close instead
	// oneNext: every output leads to the same state (the same next, or
	// all stay): a reply need not be tried against the outputs after the
	// first that matches.
	oneNext bool
	binds   []int32         // the variables its message or replies may bind
	event   *contract.Event // the transition's; nil for a call rule
	part    int32           // its number among the machine's Parts
	// tagged: inC is a pure tuple whose tag is an atom literal. Such a
	// rule is listed under its tag alone (a tuple type with a literal
	// tag is never wild), so a message the index lists it for has that
	// tag (tryPlain).
	tagged bool
	// after is where the rule leaves the session when that is one state
	// (as next: -1 for the state it was taken from): a transition's next,
	// or the next of every output of a call (oneNext); noAfter when a
	// call's replies may lead to different states, or it has none.
	// afterOne reads it.
	after int32
}

// noAfter is ruleInfo.after when the rule may lead to several states.
const noAfter = -2

type outInfo struct {
	typ  contract.Type
	c    *cnode // typ compiled; nil: the interpreter matches it
	next int32  // -1: stay in the state the rule was taken from (anystate)
}

// Prepare indexes c for checking. A model built by contract.Compile is
// always accepted; in a hand-built model, a next state that is not defined
// is treated as a terminal state of that name.
func Prepare(c *contract.Contract) *Machine {
	return &Machine{c: c, core: build(c)}
}

// Contract returns the contract the machine checks.
func (m *Machine) Contract() *contract.Contract { return m.c }

// HasState reports whether the contract defines a state of that name (for
// validating an --initial flag).
func (m *Machine) HasState(name string) bool {
	_, ok := m.core.index[name]
	return ok
}

// NewSession starts a conversation in opts.Initial, or in the contract's
// initial state. It fails only when opts.Initial names no state; the
// session it then returns as well is never nil, and every check of it is
// an InvalidSession violation.
func (m *Machine) NewSession(opts Options) (*Session, error) {
	s, err := m.core.newSession(opts)
	if err != nil {
		return &Session{err: err.Error()}, err
	}
	return s, nil
}

func build(c *contract.Contract) *core {
	m := &core{index: make(map[string]int32, len(c.States)+1)}
	for _, st := range c.States {
		if _, dup := m.index[st.Name]; dup {
			continue
		}
		m.index[st.Name] = int32(len(m.states))
		m.states = append(m.states, stateInfo{name: st.Name, terminal: st.Terminal || st.Name == contract.StopState})
	}
	stateOf := func(name string) int32 {
		if i, ok := m.index[name]; ok {
			return i
		}
		i := int32(len(m.states))
		m.index[name] = i
		m.states = append(m.states, stateInfo{name: name, terminal: true})
		return i
	}
	stateOf(contract.StopState)
	// Resolve every next state before taking addresses into m.states.
	contract.Walk(c, contract.Visitor{
		Rule: func(st *contract.State, r *contract.Rule) {
			if st == nil {
				return // anystate rules stay in their state
			}
			for _, o := range r.Outs {
				stateOf(o.Next)
			}
		},
		Event: func(st *contract.State, ev *contract.Event) {
			if st != nil && ev.Next != "" {
				stateOf(ev.Next)
			}
		},
	})
	m.vars = c.Vars
	m.pats = collectPatterns(c)
	m.secrets = newRedactor(c)
	comp := newCompiler(m.pats)
	switch {
	case c.Initial != "":
		m.initial = stateOf(c.Initial)
	case !declaresStates(c) && (len(c.Anystate) > 0 || len(c.AnyEvents) > 0):
		// No state declared, only +anystate rules or events: a stateless
		// service (the talk's "+type mod:fn(T) -> R." API form). Its
		// conversation stays in one implicit state, never terminal, where
		// those rules and events hold; without it the session would start
		// in stop and refuse every message.
		m.initial = int32(len(m.states))
		m.index[statelessState] = m.initial
		m.states = append(m.states, stateInfo{name: statelessState})
	case len(c.States) > 0:
		m.initial = m.index[c.States[0].Name]
	}
	for _, st := range c.States {
		si := &m.states[m.index[st.Name]]
		si.rules = buildIndex(callInfos(st.Rules, m.index, false, comp))
		si.tr = transitionIndexes(st, st.Events, m.index, comp)
		if len(st.Rules) == 0 && len(st.Events) == 0 {
			si.terminal = true
		}
	}
	m.any = buildIndex(callInfos(c.Anystate, m.index, true, comp))
	m.anyTr = transitionIndexes(nil, c.AnyEvents, m.index, comp)
	m.numberParts()
	m.allDue = !mayClose(&m.any)
	for i := range m.states {
		m.allDue = m.allDue && !mayClose(&m.states[i].rules)
	}
	return m
}

// Part is a call rule, or a transition or event, of one state (AnyState
// for the +anystate ones): what a session takes a message by. A rule
// written for several states is a part in each.
type Part struct {
	State string
	Rule  *contract.Rule  // a call rule; nil for a transition or event
	Event *contract.Event // a transition or event; nil for a call rule
}

// Parts lists the rules and transitions of the machine's states, the
// numbers Session.AppendTaken answers with.
func (m *Machine) Parts() []Part { return slices.Clone(m.core.parts) }

// numberParts numbers the rules and transitions of every state, then the
// +anystate ones, and lists them (parts).
func (m *core) numberParts() {
	add := func(state string, ix *ruleIndex) {
		for i := range ix.rules {
			ri := &ix.rules[i]
			ri.part = int32(len(m.parts))
			m.parts = append(m.parts, Part{State: state, Rule: ri.rule, Event: ri.event})
		}
	}
	for i := range m.states {
		si := &m.states[i]
		add(si.name, &si.rules)
		add(si.name, &si.tr[contract.In])
		add(si.name, &si.tr[contract.Out])
	}
	add(AnyState, &m.any)
	add(AnyState, &m.anyTr[contract.In])
	add(AnyState, &m.anyTr[contract.Out])
}

// mayClose reports whether a call rule of ix allows none() as its reply.
func mayClose(ix *ruleIndex) bool {
	for i := range ix.rules {
		if ix.rules[i].mayClose {
			return true
		}
	}
	return false
}

func callInfos(rules []*contract.Rule, index map[string]int32, anystate bool, comp *compiler) []ruleInfo {
	infos := make([]ruleInfo, len(rules))
	for i, r := range rules {
		ri := ruleInfo{rule: r, in: r.In, inC: comp.compile(r.In), next: -1}
		ri.tagged = isTagged(ri.inC)
		for _, o := range r.Outs {
			next := int32(-1)
			if !anystate && o.Next != "" {
				next = index[o.Next]
			}
			ri.outs = append(ri.outs, outInfo{typ: o.Type, c: comp.compile(o.Type), next: next})
			if isNone(o.Type) {
				ri.mayClose = true
			}
		}
		ri.oneNext, ri.after = true, noAfter
		for _, o := range ri.outs {
			ri.oneNext = ri.oneNext && o.next == ri.outs[0].next
		}
		if ri.oneNext && len(ri.outs) > 0 {
			ri.after = ri.outs[0].next
		}
		ri.binds = boundVars(append([]contract.Type{r.In}, outTypes(r)...))
		infos[i] = ri
	}
	return infos
}

// isTagged reports whether n is a pure tuple whose tag is an atom literal
// (ruleInfo.tagged).
func isTagged(n *cnode) bool { return n != nil && n.pure && n.op == opTuple && n.keyed }

func outTypes(r *contract.Rule) []contract.Type {
	out := make([]contract.Type, len(r.Outs))
	for i, o := range r.Outs {
		out[i] = o.Type
	}
	return out
}

// boundVars lists the slots of the variables types bind (V = T),
// following named types.
func boundVars(types []contract.Type) []int32 {
	var out []int32
	eachVar(types, func(slot int, bound bool) {
		if bound && !slices.Contains(out, int32(slot)) {
			out = append(out, int32(slot))
		}
	})
	return out
}

// transitionIndexes indexes the transitions of st (nil: the anystate
// events) by direction. A transition to its own state is an event and
// stays (next -1), as do all anystate events.
func transitionIndexes(st *contract.State, evs []*contract.Event, index map[string]int32, comp *compiler) [3]ruleIndex {
	var by [3][]ruleInfo
	for _, ev := range evs {
		if ev.Dir != contract.In && ev.Dir != contract.Out {
			continue
		}
		next := int32(-1)
		if st != nil && ev.Next != "" && ev.Next != st.Name {
			next = index[ev.Next]
		}
		inC := comp.compile(ev.Type)
		by[ev.Dir] = append(by[ev.Dir], ruleInfo{in: ev.Type, inC: inC, tagged: isTagged(inC), next: next, after: next, binds: boundVars([]contract.Type{ev.Type}), event: ev})
	}
	var out [3]ruleIndex
	for d, infos := range by {
		out[d] = buildIndex(infos)
	}
	return out
}

// statelessState names the one state of a contract that declares none
// (see build): none, as ubf's stateless services (statelessrpc) announce
// it with every reply.
const statelessState = "none"

// declaresStates reports whether c has a state other than stop.
func declaresStates(c *contract.Contract) bool {
	for _, st := range c.States {
		if st.Name != contract.StopState {
			return true
		}
	}
	return false
}

// anyArity is the arity of the key of a tuple type with a tail ..L: the
// tag alone. Such rules are listed under it and, merged, under every
// (tag, arity) key of the same tag, so that find probes a second time only
// when no rule names the exact arity.
const anyArity = -2

func buildIndex(rules []ruleInfo) ruleIndex {
	ix := ruleIndex{rules: rules}
	keyed := make(map[msgKey][]int32)
	var order []msgKey
	for i, r := range rules {
		keys, wild := keysOf(r.in)
		if wild {
			ix.wild = append(ix.wild, int32(i))
			continue
		}
		for _, k := range keys {
			if _, seen := keyed[k]; !seen {
				order = append(order, k)
			}
			keyed[k] = addRule(keyed[k], int32(i))
		}
	}
	if len(keyed) > 0 {
		n := 8
		for n < 2*len(keyed) {
			n *= 2
		}
		ix.slots = make([]keySlot, n)
		for _, k := range order {
			i := slotOf(k.tag, k.arity, n-1)
			for ix.slots[i].rules != nil {
				i = (i + 1) & (n - 1)
			}
			rules := mergeSorted(keyed[k], ix.wild)
			if k.arity >= 0 {
				rules = mergeSorted(rules, keyed[msgKey{k.tag, anyArity}])
			}
			ix.slots[i] = keySlot{key: k, rules: rules, args: buildArgIndex(ix.rules, rules, k)}
		}
	}
	return ix
}

// buildArgIndex indexes the rules of key k (in declaration order) by their
// first argument, or returns nil when fewer than argIndexMin of them fix it.
func buildArgIndex(infos []ruleInfo, rules []int32, k msgKey) *argIndex {
	if k.arity < 2 {
		return nil
	}
	a := &argIndex{atoms: map[term.Atom][]int32{}, bins: map[string][]int32{}}
	fixed := 0
	for _, r := range rules {
		lits, ok := firstArgs(infos[r].in, k, map[*contract.TypeDef]bool{})
		if !ok || len(lits) == 0 {
			a.rest = append(a.rest, r)
			continue
		}
		fixed++
		for _, l := range lits {
			switch v := l.(type) {
			case term.Atom:
				a.atoms[v] = addRule(a.atoms[v], r)
			case term.Binary:
				a.bins[string(v)] = addRule(a.bins[string(v)], r)
			}
		}
	}
	if fixed < argIndexMin {
		return nil
	}
	for v, rs := range a.atoms {
		a.atoms[v] = mergeSorted(rs, a.rest)
	}
	for v, rs := range a.bins {
		a.bins[v] = mergeSorted(rs, a.rest)
	}
	return a
}

// addRule appends rule r unless it is already last (a union naming the
// same literal twice).
func addRule(rs []int32, r int32) []int32 {
	if len(rs) > 0 && rs[len(rs)-1] == r {
		return rs
	}
	return append(rs, r)
}

// firstArgs lists the atom and binary literals that the first argument of
// a message of type typ with key k can be; ok is false when typ allows
// such a message with any other first argument. Alternatives of typ with
// another key add nothing.
func firstArgs(typ contract.Type, k msgKey, seen map[*contract.TypeDef]bool) (lits []term.Term, ok bool) {
	switch ty := typ.(type) {
	case *contract.TupleType:
		if ty.Tail != nil {
			if len(ty.Elems) > int(k.arity) {
				return nil, true
			}
			if len(ty.Elems) < 2 {
				return nil, false // the first argument is the tail's
			}
		} else if len(ty.Elems) != int(k.arity) {
			return nil, true
		}
		tags, ok := atomsOf(ty.Elems[0], map[*contract.TypeDef]bool{})
		if !ok {
			return nil, false
		}
		if !slices.Contains(tags, k.tag) {
			return nil, true
		}
		return literalsOf(ty.Elems[1], map[*contract.TypeDef]bool{})
	case *contract.Literal:
		return nil, true // an atom: arity -1, never k's
	case *contract.RecordType:
		return nil, term.Atom(ty.Name) != k.tag || int32(recordArity(ty)) != k.arity
	case *contract.Union:
		for _, alt := range ty.Alts {
			ls, ok := firstArgs(alt, k, seen)
			if !ok {
				return nil, false
			}
			lits = append(lits, ls...)
		}
		return lits, true
	case *contract.Ref:
		if ty.Def == nil || ty.Def.Type == nil || seen[ty.Def] {
			return nil, false
		}
		seen[ty.Def] = true
		defer delete(seen, ty.Def)
		return firstArgs(ty.Def.Type, k, seen) // Optional adds undefined, an atom
	case *contract.Bind:
		return firstArgs(ty.Type, k, seen)
	}
	return nil, false
}

// literalsOf lists the terms a type consists of, when it is a finite set
// of atom and binary literals.
func literalsOf(t contract.Type, seen map[*contract.TypeDef]bool) ([]term.Term, bool) {
	switch ty := t.(type) {
	case *contract.Literal:
		switch ty.Value.(type) {
		case term.Atom, term.Binary:
			return []term.Term{ty.Value}, true
		}
		return nil, false
	case *contract.Union:
		var out []term.Term
		for _, alt := range ty.Alts {
			ls, ok := literalsOf(alt, seen)
			if !ok {
				return nil, false
			}
			out = append(out, ls...)
		}
		return out, true
	case *contract.Ref:
		if ty.Def == nil || ty.Def.Type == nil || seen[ty.Def] {
			return nil, false
		}
		seen[ty.Def] = true
		ls, ok := literalsOf(ty.Def.Type, seen)
		if ok && ty.Optional {
			ls = append(ls, term.Atom("undefined"))
		}
		return ls, ok
	case *contract.Bind:
		return literalsOf(ty.Type, seen)
	}
	return nil, false
}

// mergeSorted merges two ascending lists of rule numbers, dropping
// duplicates, so that rules are always tried in declaration order.
func mergeSorted(a, b []int32) []int32 {
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	// A rule listed twice under one key (a union naming the tag twice)
	// appears once.
	w := 0
	for k, v := range out {
		if k == 0 || v != out[w-1] {
			out[w] = v
			w++
		}
	}
	return out[:w]
}

// lookup returns the numbers of the rules that could accept t.
func (ix *ruleIndex) lookup(t term.Term) []int32 { return ix.rulesOf(ix.find(t), t) }

// rulesOf is lookup's answer for t once its key slot e is found (nil when
// no rule is listed under t's key).
func (ix *ruleIndex) rulesOf(e *keySlot, t term.Term) []int32 {
	switch {
	case e == nil:
		return ix.wild
	case e.args != nil:
		return e.args.lookup(t.(term.Tuple)[1])
	}
	return e.rules
}

// lookupKey returns the numbers of the rules for t's tag and arity,
// whatever its arguments: the candidates a violation is explained against.
func (ix *ruleIndex) lookupKey(t term.Term) []int32 {
	if e := ix.find(t); e != nil {
		return e.rules
	}
	return ix.wild
}

// find returns the slot of t's tag and arity, or nil when no rule is
// listed under them.
func (ix *ruleIndex) find(t term.Term) *keySlot {
	if ix.slots == nil {
		return nil
	}
	tag, arity, ok := keyOf(t)
	if !ok {
		return nil
	}
	return ix.findKey(tag, arity)
}

// keyOf is the tag and arity a message is indexed by: an atom's (arity
// -1), or a tuple's whose first element is an atom.
func keyOf(t term.Term) (tag term.Atom, arity int32, ok bool) {
	_, tag, arity, ok = tupleKey(t)
	return tag, arity, ok
}

// tupleKey is keyOf, with t as a tuple when it is one (nil otherwise), for
// the rules that match the tuple's elements after its tag (tryPlain).
func tupleKey(t term.Term) (tu term.Tuple, tag term.Atom, arity int32, ok bool) {
	switch v := t.(type) {
	case term.Atom:
		return nil, v, -1, true
	case term.Tuple:
		if len(v) == 0 {
			return v, "", 0, false
		}
		a, ok := v[0].(term.Atom)
		return v, a, int32(len(v)), ok
	}
	return nil, "", 0, false
}

// findKey is find for a message's tag and arity, in an index with slots.
func (ix *ruleIndex) findKey(tag term.Atom, arity int32) *keySlot {
	// The probe loop is written here, not called, to keep the per-message
	// path short: (tag, arity), then, for a tuple, (tag, anyArity).
	mask := len(ix.slots) - 1
	for {
		for i := slotOf(tag, arity, mask); ; i = (i + 1) & mask {
			e := &ix.slots[i]
			if e.rules == nil {
				break
			}
			if e.key.arity == arity && e.key.tag == tag {
				return e
			}
		}
		if arity < 0 {
			return nil
		}
		arity = anyArity
	}
}

// keysOf lists the (tag, arity) keys a message of type typ can have; wild
// is true when the type does not fix them.
func keysOf(typ contract.Type) (keys []msgKey, wild bool) {
	var visit func(t contract.Type, seen map[*contract.TypeDef]bool) bool
	visit = func(t contract.Type, seen map[*contract.TypeDef]bool) bool {
		switch ty := t.(type) {
		case *contract.Literal:
			a, ok := ty.Value.(term.Atom)
			if !ok {
				return false
			}
			keys = append(keys, msgKey{a, -1})
			return true
		case *contract.TupleType:
			if len(ty.Elems) == 0 {
				return false
			}
			tags, ok := atomsOf(ty.Elems[0], map[*contract.TypeDef]bool{})
			if !ok {
				return false
			}
			arity := int32(len(ty.Elems))
			if ty.Tail != nil {
				arity = anyArity
			}
			for _, a := range tags {
				keys = append(keys, msgKey{a, arity})
			}
			return true
		case *contract.Bind:
			return visit(ty.Type, seen)
		case *contract.RecordType:
			keys = append(keys, msgKey{term.Atom(ty.Name), int32(recordArity(ty))})
			return true
		case *contract.Union:
			for _, alt := range ty.Alts {
				if !visit(alt, seen) {
					return false
				}
			}
			return true
		case *contract.Ref:
			if ty.Def == nil || ty.Def.Type == nil || seen[ty.Def] {
				return false
			}
			if ty.Optional {
				keys = append(keys, msgKey{"undefined", -1})
			}
			seen[ty.Def] = true
			ok := visit(ty.Def.Type, seen)
			delete(seen, ty.Def)
			return ok
		}
		return false
	}
	if !visit(typ, map[*contract.TypeDef]bool{}) {
		return nil, true
	}
	return keys, false
}

// atomsOf lists the atoms a type consists of, when it is a finite set of
// atom literals.
func atomsOf(t contract.Type, seen map[*contract.TypeDef]bool) ([]term.Atom, bool) {
	lits, ok := literalsOf(t, seen)
	if !ok {
		return nil, false
	}
	atoms := make([]term.Atom, len(lits))
	for i, l := range lits {
		if atoms[i], ok = l.(term.Atom); !ok {
			return nil, false
		}
	}
	return atoms, true
}

// isNone reports whether t is none(), directly or through named types
// (no_return()).
func isNone(t contract.Type) bool {
	for hops := 0; hops < 64; hops++ {
		switch ty := t.(type) {
		case *contract.Predef:
			return ty.Kind == contract.None
		case *contract.Ref:
			if ty.Def == nil || ty.Def.Type == nil {
				return false
			}
			t = ty.Def.Type
		default:
			return false
		}
	}
	return false
}

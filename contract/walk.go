package contract

import "slices"

// Visitor receives the rules and events of a contract from Walk. Either
// function may be nil. The state is nil for anystate rules and events.
type Visitor struct {
	Rule  func(st *State, r *Rule)
	Event func(st *State, e *Event)
}

// Walk calls v for every rule and event of c in declaration order: each
// state's rules and then its events, state by state, then the anystate
// rules, then the anystate events. Checks, diagrams, the checker's index
// and the proxy all see a contract in this one order.
func Walk(c *Contract, v Visitor) {
	for _, st := range c.States {
		v.visit(st, st.Rules, st.Events)
	}
	v.visit(nil, c.Anystate, c.AnyEvents)
}

func (v Visitor) visit(st *State, rules []*Rule, events []*Event) {
	if v.Rule != nil {
		for _, r := range rules {
			v.Rule(st, r)
		}
	}
	if v.Event != nil {
		for _, e := range events {
			v.Event(st, e)
		}
	}
}

// transitions calls fn for every output of every state's rules, in Walk's
// order: the edges of the state machine (anystate rules have none).
func transitions(c *Contract, fn func(st *State, r *Rule, o Output)) {
	Walk(c, Visitor{Rule: func(st *State, r *Rule) {
		if st == nil {
			return
		}
		for _, o := range r.Outs {
			fn(st, r, o)
		}
	}})
}

// edges calls fn for every edge of the state machine, in Walk's order:
// each output of a state's rules, then each of its transitions (events
// included, as edges back to the state itself); at is where the next
// state is named (the type's position for an event, which names none).
func edges(c *Contract, fn func(st *State, next string, at Pos)) {
	Walk(c, Visitor{
		Rule: func(st *State, r *Rule) {
			if st == nil {
				return
			}
			for _, o := range r.Outs {
				fn(st, o.Next, o.Pos)
			}
		},
		Event: func(st *State, e *Event) {
			if st == nil {
				return
			}
			at := e.NextPos
			if at.Line == 0 {
				at = e.Pos
			}
			fn(st, e.Next, at)
		},
	})
}

// WalkTypes calls fn, in Walk's order, for each type a message is checked
// against: every rule's request and replies, and every event.
func WalkTypes(c *Contract, fn func(Type)) {
	Walk(c, Visitor{
		Rule: func(_ *State, r *Rule) {
			fn(r.In)
			for _, o := range r.Outs {
				fn(o.Type)
			}
		},
		Event: func(_ *State, e *Event) { fn(e.Type) },
	})
}

// VisitType calls fn for t and then, when fn returns true, for each type
// written inside t, depth first in source order (as go/ast.Inspect). It
// stays within the expression: a Ref is visited but its definition is not
// entered, so a recursive type needs no cycle check here; a caller that
// follows Ref.Def decides how to stop.
func VisitType(t Type, fn func(Type) bool) {
	if t == nil || !fn(t) {
		return
	}
	switch t := t.(type) {
	case *TupleType:
		for _, e := range t.Elems {
			VisitType(e, fn)
		}
		if t.TailRef != nil {
			VisitType(t.TailRef, fn)
		} else if t.Tail != nil {
			VisitType(t.Tail, fn)
		}
	case *ListType:
		VisitType(t.Elem, fn)
	case *Union:
		for _, a := range t.Alts {
			VisitType(a, fn)
		}
	case *RecordType:
		for _, f := range t.Fields {
			VisitType(f.Type, fn)
		}
	case *MapType:
		for _, f := range t.Fields {
			VisitType(f.Value, fn)
		}
	case *Bind:
		VisitType(t.Type, fn)
	}
}

// RecordFields indexes the record types c can use by name, with their
// field names in declaration order: for wire formats that carry records as
// named fields. Record types are found through every rule, event and
// named type; when two share a name, the first found wins: in Walk's order,
// then the named types' by name.
func RecordFields(c *Contract) map[string][]string {
	out := map[string][]string{}
	seen := map[*TypeDef]bool{}
	var visit func(t Type) bool
	visit = func(t Type) bool {
		switch t := t.(type) {
		case *RecordType:
			if _, ok := out[t.Name]; !ok {
				names := make([]string, len(t.Fields))
				for i, f := range t.Fields {
					names[i] = f.Name
				}
				out[t.Name] = names
			}
		case *Ref:
			if t.Def != nil && !seen[t.Def] {
				seen[t.Def] = true
				VisitType(t.Def.Type, visit)
			}
		}
		return true
	}
	WalkTypes(c, func(t Type) { VisitType(t, visit) })
	names := make([]string, 0, len(c.Types))
	for n := range c.Types {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if d := c.Types[n]; !seen[d] {
			seen[d] = true
			VisitType(d.Type, visit)
		}
	}
	return out
}

package contract

import (
	"fmt"
	"strings"

	didyoumean "github.com/ubfproxy/ubfproxy/internal/suggest"
)

// checkTypes reports types that can match no term. A type is inhabited
// when some finite term matches it; this is the least fixed point over the
// named types, so a type defined only in terms of itself (directly or
// through tuples, records, non-empty lists and required map keys) is not.
// none() is inhabited: in ubf it matches any term.
func (cp *compiler) checkTypes() {
	inh := map[*TypeDef]bool{}
	for _, d := range cp.types {
		if d.Builtin {
			inh[d] = true
		}
	}
	// A worklist: a definition is looked at again only when one it
	// refers to has just been found inhabited.
	users := map[*TypeDef][]*TypeDef{}
	queue := make([]*TypeDef, 0, len(cp.order))
	for _, name := range cp.order {
		d := cp.origin[name].def
		if d.Type == nil {
			continue
		}
		queue = append(queue, d)
		for _, used := range refsOf(d.Type, nil) {
			users[used] = append(users[used], d)
		}
	}
	for len(queue) > 0 {
		d := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if inh[d] || !inhabited(d.Type, inh) {
			continue
		}
		inh[d] = true
		queue = append(queue, users[d]...)
	}
	for _, name := range cp.order {
		d := cp.origin[name].def
		if d.Type != nil && !inh[d] {
			cp.reportf(d.Pos, CodeUninhabitedType, "type %s() matches no term: it is defined only in terms of itself (give it an alternative that does not refer back to it)", name)
		}
	}
}

// refsOf appends the definitions t refers to directly (not through other
// definitions).
func refsOf(t Type, out []*TypeDef) []*TypeDef {
	VisitType(t, func(t Type) bool {
		if r, ok := t.(*Ref); ok && r.Def != nil {
			out = append(out, r.Def)
		}
		return true
	})
	return out
}

func inhabited(t Type, inh map[*TypeDef]bool) bool {
	switch t := t.(type) {
	case *TupleType:
		for _, e := range t.Elems {
			if !inhabited(e, inh) {
				return false
			}
		}
		return t.Tail == nil || inhabited(t.Tail, inh)
	case *Bind:
		return inhabited(t.Type, inh)
	case *ListType:
		return t.Min == 0 || inhabited(t.Elem, inh)
	case *Union:
		for _, a := range t.Alts {
			if inhabited(a, inh) {
				return true
			}
		}
		return false
	case *Ref:
		return t.Optional || t.Def == nil || inh[t.Def]
	case *RecordType:
		for _, f := range t.Fields {
			if !inhabited(f.Type, inh) {
				return false
			}
		}
		return true
	case *MapType:
		for _, f := range t.Fields {
			if f.Required && !inhabited(f.Value, inh) {
				return false
			}
		}
		return true
	}
	// Literals, ranges (empty ones are reported on their own) and
	// predefined types.
	return true
}

// warnings runs the checks whose findings do not refuse a contract unless
// --strict. They run only on contracts without errors, whose names are all
// resolved.
func (cp *compiler) warnings(c *Contract) {
	cp.warnUnused(c)
	cp.warnUnusedVars()
	if c.Initial == "" {
		return
	}
	reach := reachable(c)
	cp.warnStates(c, reach)
	cp.warnDeadEvents(c, reach)
	for _, st := range c.States {
		cp.warnOverlaps(st.Rules, fmt.Sprintf("state %q", st.Name))
		for _, r := range st.Rules {
			cp.warnAmbiguous(r, st.Name)
		}
		cp.warnTransitions(c, st)
	}
	cp.warnOverlaps(c.Anystate, "+anystate")
}

// warnTransitions reports, in one state, the messages the contract cannot
// classify by itself (section 11): a client message that matches both a
// call and an in transition (it is taken as the call), a server message
// that matches both a reply of a call and an out transition (it is taken
// as the reply while the call is pending), and two transitions or events
// in one direction that overlap and lead to different states.
func (cp *compiler) warnTransitions(c *Contract, st *State) {
	if len(st.Events) == 0 && len(c.AnyEvents) == 0 {
		return
	}
	evs := append(append([]*Event(nil), st.Events...), c.AnyEvents...)
	// Anystate rules are left out: their replies are typically term()
	// (contract(), info()), which would flag every out transition.
	for _, e := range st.Events {
		// An event is a transition back to its own state (+event S out T
		// means +state S out T x S), so it is as ambiguous as one.
		if msg := callOverlap(e, st.Rules); msg != "" {
			cp.reportf(e.Pos, CodeAmbiguousTransition, "in state %q, %s %s overlaps %s", st.Name, eventKind(e), e.Type, msg)
		}
	}
	for j, e := range evs {
		if j >= len(st.Events) {
			break // two anystate events lead nowhere
		}
		for _, f := range evs[:j] {
			if f.Dir == e.Dir && nextOf(f, st) != nextOf(e, st) && overlaps(f.Type, e.Type) {
				cp.reportf(e.Pos, CodeAmbiguousTransition, "in state %q, %s %s leading to %q overlaps %s %s leading to %q: a message matching both leaves the session in either state",
					st.Name, eventKind(e), e.Type, nextOf(e, st), eventKind(f), f.Type, nextOf(f, st))
				break
			}
		}
	}
}

// callOverlap describes the first rule whose request (for an in event) or
// one of whose replies (for an out event) overlaps e, or returns "".
func callOverlap(e *Event, rules []*Rule) string {
	for _, r := range rules {
		if e.Dir == In && overlaps(r.In, e.Type) {
			return fmt.Sprintf("the request %s of the rule at %s: a client message matching both is taken as the call", r.In, r.Pos)
		}
		if e.Dir != Out {
			continue
		}
		for _, o := range r.Outs {
			if overlaps(o.Type, e.Type) {
				return fmt.Sprintf("the reply %s to %s (rule at %s): a server message matching both is taken as the reply while that call is pending", o.Type, r.In, r.Pos)
			}
		}
	}
	return ""
}

// nextOf is the state an event leads to from st: anystate events stay.
func nextOf(e *Event, st *State) string {
	if e.Next == "" {
		return st.Name
	}
	return e.Next
}

// eventKind names an event in messages: "out transition", "in event".
func eventKind(e *Event) string {
	if e.Transition {
		return e.Dir.String() + " transition"
	}
	return e.Dir.String() + " event"
}

// warnUnused reports the contract's own types that no rule or event uses,
// directly or through other types. A file without any rule or event is a
// library of types (for --types and +import): nothing is reported there.
// Imported types are never reported (section 10).
func (cp *compiler) warnUnused(c *Contract) {
	used := map[*TypeDef]bool{}
	any := false
	WalkTypes(c, func(t Type) { any = true; markUsed(t, used) })
	if !any {
		return
	}
	for _, name := range cp.order {
		d := cp.origin[name].def
		if d.Imported || used[d] || d.Pos.File != cp.main {
			continue
		}
		cp.reportf(d.Pos, CodeUnusedType, "type %s() is defined but never used", name)
	}
}

// markUsed marks the definitions t uses, directly or through other
// definitions.
func markUsed(t Type, used map[*TypeDef]bool) {
	VisitType(t, func(t Type) bool {
		if r, ok := t.(*Ref); ok && r.Def != nil && !used[r.Def] {
			used[r.Def] = true
			markUsed(r.Def.Type, used)
		}
		return true
	})
}

// reachable returns the states reachable from the initial state through
// rule outputs and transitions (anystate rules and events never change
// the state).
func reachable(c *Contract) map[string]bool {
	succ := map[string][]string{}
	edges(c, func(st *State, next string, _ Pos) {
		succ[st.Name] = append(succ[st.Name], next)
	})
	seen := map[string]bool{c.Initial: true}
	queue := []string{c.Initial}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, next := range succ[n] {
			if !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	return seen
}

func (cp *compiler) warnStates(c *Contract, reach map[string]bool) {
	// States from which a terminal state can be reached: a backward
	// search from the terminal states.
	preds := map[string][]string{}
	edges(c, func(st *State, next string, _ Pos) {
		preds[next] = append(preds[next], st.Name)
	})
	canEnd := map[string]bool{}
	var queue []string
	for _, st := range c.States {
		if st.Terminal {
			canEnd[st.Name] = true
			queue = append(queue, st.Name)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, p := range preds[n] {
			if !canEnd[p] {
				canEnd[p] = true
				queue = append(queue, p)
			}
		}
	}
	for _, st := range c.States {
		if st.Name == StopState {
			continue
		}
		if !reach[st.Name] {
			cp.reportf(st.Pos, CodeUnreachableState, "state %q is not reachable from the initial state %q", st.Name, c.Initial)
			continue
		}
		if !st.Terminal && !canEnd[st.Name] {
			cp.reportf(st.Pos, CodeNoTerminalPath, "no terminal state can be reached from state %q: the conversation can never end by the contract (add a rule leading to stop)", st.Name)
		}
	}
}

// warnDeadEvents reports events that can never be sent: those declared
// only in states that cannot be reached from the initial state.
func (cp *compiler) warnDeadEvents(c *Contract, reach map[string]bool) {
	// One declaration gives each of its states an Event of its own (an
	// event's next state is the state itself): group them by where the
	// type was written.
	where := map[Pos][]string{}
	var order []*Event
	Walk(c, Visitor{Event: func(st *State, e *Event) {
		if st == nil {
			return // legal in every state, reachable ones included
		}
		if _, ok := where[e.Pos]; !ok {
			order = append(order, e)
		}
		where[e.Pos] = append(where[e.Pos], st.Name)
	}})
	for _, e := range order {
		live := false
		for _, s := range where[e.Pos] {
			live = live || reach[s]
		}
		if live {
			continue
		}
		qs := make([]string, len(where[e.Pos]))
		for i, s := range where[e.Pos] {
			qs[i] = fmt.Sprintf("%q", s)
		}
		what := "event"
		if e.Transition {
			what = "transition"
		}
		cp.reportf(e.Pos, CodeDeadEvent, "%s %s (%s) can never be sent: it is declared only in %s, which the initial state %q never leads to",
			what, e.Type, e.Dir, plural(len(qs), "state ", "states ")+strings.Join(qs, ", "), c.Initial)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// warnOverlaps reports pairs of rules whose request types can both match
// one term. Candidate pairs are found through a head index (term kind,
// tuple arity, leading atom) so that contracts with thousands of rules stay
// fast; each candidate pair is then checked structurally by overlaps.
func (cp *compiler) warnOverlaps(rules []*Rule, where string) {
	if len(rules) < 2 {
		return
	}
	idx := newHeadIndex()
	for j, r := range rules {
		keys := heads(r.In, 0)
		for _, i := range idx.candidates(keys, j) {
			if overlaps(rules[i].In, r.In) {
				cp.reportf(r.Pos, CodeOverlappingRules, "in %s, request type %s overlaps request type %s of the rule at %s: a request matching both is checked against both rules",
					where, r.In, rules[i].In, rules[i].Pos)
				break
			}
		}
		idx.add(keys, j)
	}
}

// warnAmbiguous reports replies of one rule that can match the same term
// but lead to different states.
func (cp *compiler) warnAmbiguous(r *Rule, state string) {
	for j := 1; j < len(r.Outs); j++ {
		for i := 0; i < j; i++ {
			a, b := r.Outs[i], r.Outs[j]
			if a.Next == b.Next || !overlaps(a.Type, b.Type) {
				continue
			}
			cp.reportf(b.Type.Position(), CodeAmbiguousReply, "in state %q, reply %s leading to %q overlaps reply %s leading to %q: a reply matching both leaves the session in either state",
				state, b.Type, b.Next, a.Type, a.Next)
			break
		}
	}
}

// suggest returns the candidate closest to name, or "" when none is close
// enough to be a plausible typo (internal/suggest).
func suggest(name string, candidates []string) string {
	return didyoumean.Closest(name, candidates)
}

package contract

import (
	"fmt"
	"strings"

	"github.com/ubfproxy/ubfproxy/grammar"
	"github.com/ubfproxy/ubfproxy/term"
)

// build creates the states, rules and events, one declaration at a time,
// then the state table and the initial state.
func (cp *compiler) build(f *grammar.File, filename string, opts Options) *Contract {
	c := &Contract{File: filename, Types: cp.types, StateIndex: map[string]*State{}}
	metaAt := map[string]Pos{}
	for _, d := range f.Decls {
		switch {
		case d.Meta != nil:
			cp.meta(c, d.Meta, metaAt)
		case d.State != nil:
			cp.stateDecl(d.State)
		case d.API != nil:
			cp.apiDecl(d.API)
		case d.AnyAPI != nil:
			cp.anyAPIDecl(c, d.AnyAPI)
		case d.Event != nil:
			cp.eventDecl(d.Event)
		case d.AnyState != nil:
			cp.anyStateDecl(c, d.AnyState)
		case d.UState != nil:
			cp.ubfState(d.UState)
		case d.UAny != nil:
			cp.ubfAnystate(c, d.UAny)
		}
	}
	// Types referenced by rules are compiled after the type definitions,
	// so resolve their names now.
	cp.resolveLate()
	cp.resolveTails()
	c.Vars = cp.varOrder
	cp.stateTable(c)
	c.Name = cp.nameOr(c.Name, filename)
	cp.initial(c, filename, opts.Initial)
	return c
}

// meta records +name and +vsn (+import was followed before types were
// declared); each may be given once.
func (cp *compiler) meta(c *Contract, m *grammar.Meta, metaAt map[string]Pos) {
	key := strings.ToLower(m.Key)
	if key != "import" {
		at := cp.pos(m.Pos)
		if prev, ok := metaAt[key]; ok {
			cp.reportf(at, CodeDuplicateDeclaration, "+%s is already given at %s", m.Key, prev)
			return
		}
		metaAt[key] = at
	}
	switch key {
	case "name":
		c.Name, _ = cp.unquoteString(m.Value, m.Pos)
	case "vsn":
		c.Vsn, _ = cp.unquoteString(m.Value, m.Pos)
	}
}

// stateDecl adds +state S1 | S2 x In -> Outs, or the transition
// +state S1 | S2 out|in T1 x N1 | T2 x N2, to each of its states.
func (cp *compiler) stateDecl(s *grammar.StateDecl) {
	if s.Dir != "" {
		cp.addTransitions(s.States, dirOf(s.Dir), s.Outs)
		return
	}
	cp.addRule(s.States, &Rule{In: cp.typ(s.In), Outs: cp.outputs(s.Outs), Pos: cp.pos(s.In.Pos)})
}

// apiDecl adds +type S x mod:fn(Args) -> Outs, the request {fn, Args...},
// to each of its states.
func (cp *compiler) apiDecl(a *grammar.APIDecl) {
	cp.addRule(a.States, &Rule{In: cp.apiRequest(a.Module, a.Func, a.Args), Outs: cp.outputs(a.Outs), Pos: cp.pos(a.Module.Pos)})
}

// anyAPIDecl adds +type mod:fn(Args) -> Out as an anystate rule.
func (cp *compiler) anyAPIDecl(c *Contract, a *grammar.AnyAPIDecl) {
	c.Anystate = append(c.Anystate, &Rule{In: cp.apiRequest(a.Module, a.Func, a.Args), Outs: []Output{{Type: cp.typ(a.Out), Pos: cp.pos(a.Out.Pos)}}, Pos: cp.pos(a.Module.Pos)})
}

// apiRequest is the request of the API form mod:fn(Args): {fn, Args...}.
func (cp *compiler) apiRequest(mod, fn *grammar.Name, args []*grammar.Type) *TupleType {
	name, _ := cp.atomText(fn.Text, fn.Pos)
	in := &TupleType{Elems: []Type{&Literal{Value: term.Atom(name), Pos: cp.pos(fn.Pos)}}, Pos: cp.pos(mod.Pos)}
	for i, arg := range args {
		// The arguments are the tuple's elements after fn: the last may
		// be a tail (mod:fn(key(), ..[key()])).
		if i == len(args)-1 && len(arg.Alts) == 1 && arg.Alts[0].Tail != nil {
			cp.tail(in, arg.Alts[0])
			break
		}
		in.Elems = append(in.Elems, cp.typ(arg))
	}
	return in
}

// addRule adds one rule to each of the named states.
func (cp *compiler) addRule(states []*grammar.Name, rule *Rule) {
	for _, n := range states {
		if st := cp.defineState(n, false); st != nil {
			st.Rules = append(st.Rules, rule)
		}
	}
}

// eventDecl adds +event S1 | S2 Dir T to each of its states: a transition
// back to the state itself.
func (cp *compiler) eventDecl(e *grammar.EventDecl) {
	t := cp.typ(e.Type)
	for _, n := range e.States {
		if st := cp.defineState(n, false); st != nil {
			st.Events = append(st.Events, &Event{Dir: dirOf(e.Dir), Type: t, Next: st.Name, Pos: cp.pos(e.Type.Pos)})
		}
	}
}

// addTransitions adds the transitions T1 x N1 | T2 x N2 in direction dir
// to each of the named states; the Events are shared, as their next
// states do not depend on the state they leave.
func (cp *compiler) addTransitions(states []*grammar.Name, dir Direction, outs []*grammar.Output) {
	evs := cp.transitionEvents(dir, outs)
	for _, n := range states {
		if st := cp.defineState(n, false); st != nil {
			st.Events = append(st.Events, evs...)
		}
	}
}

// transitionEvents compiles the alternatives of a transition.
func (cp *compiler) transitionEvents(dir Direction, outs []*grammar.Output) []*Event {
	evs := make([]*Event, 0, len(outs))
	for _, o := range cp.outputs(outs) {
		evs = append(evs, &Event{Dir: dir, Type: o.Type, Next: o.Next, Transition: true, Pos: o.Type.Position(), NextPos: o.Pos})
	}
	return evs
}

// anyStateDecl adds +anystate In -> Out or +anystate event Dir T.
func (cp *compiler) anyStateDecl(c *Contract, a *grammar.AnyStateDecl) {
	if a.Event != nil {
		c.AnyEvents = append(c.AnyEvents, &Event{Dir: dirOf(a.Dir), Type: cp.typ(a.Event), Pos: cp.pos(a.Event.Pos)})
		return
	}
	out := cp.typ(a.Out)
	c.Anystate = append(c.Anystate, &Rule{In: cp.typ(a.In), Outs: []Output{{Type: out, Pos: cp.pos(a.Out.Pos)}}, Pos: cp.pos(a.In.Pos)})
}

// ubfState defines a state by its UBF(B) +STATE section of rules, events
// (EVENT => T) and transitions (EVENT => T & N | ...).
func (cp *compiler) ubfState(u *grammar.UStateSection) {
	cp.ubfDecl = true
	defer func() { cp.ubfDecl = false }()
	st := cp.defineState(u.Name, true)
	for _, r := range u.Rules {
		if r.Event != nil {
			var evs []*Event
			if r.Next != nil {
				first := &grammar.Output{Pos: r.Event.Pos, Type: r.Event, Sep: "&", Next: r.Next}
				evs = cp.transitionEvents(ubfDir(r.Dir), append([]*grammar.Output{first}, r.More...))
			} else {
				ev := &Event{Dir: ubfDir(r.Dir), Type: cp.typ(r.Event), Pos: cp.pos(r.Event.Pos)}
				if st != nil {
					ev.Next = st.Name
				}
				evs = []*Event{ev}
			}
			if st != nil {
				st.Events = append(st.Events, evs...)
			}
			continue
		}
		rule := &Rule{In: cp.typ(r.In), Outs: cp.outputs(r.Outs), Pos: cp.pos(r.In.Pos)}
		if st != nil {
			st.Rules = append(st.Rules, rule)
		}
	}
}

// ubfAnystate adds the rules and events of a UBF(B) +ANYSTATE section.
func (cp *compiler) ubfAnystate(c *Contract, u *grammar.UAnySection) {
	cp.ubfDecl = true
	defer func() { cp.ubfDecl = false }()
	for _, r := range u.Rules {
		if r.Event != nil {
			c.AnyEvents = append(c.AnyEvents, &Event{Dir: ubfDir(r.Dir), Type: cp.typ(r.Event), Pos: cp.pos(r.Event.Pos)})
			continue
		}
		c.Anystate = append(c.Anystate, &Rule{In: cp.typ(r.In), Outs: []Output{{Type: cp.typ(r.Out), Pos: cp.pos(r.Out.Pos)}}, Pos: cp.pos(r.In.Pos)})
	}
}

// stateTable lists the states in order of first mention, with the built-in
// stop state, marks the terminal ones and reports next states that are not
// defined.
func (cp *compiler) stateTable(c *Contract) {
	stop := &State{Name: StopState, Terminal: true}
	if info, ok := cp.states[StopState]; ok {
		stop = info.state
		stop.Terminal = true
	} else {
		cp.stateOrder = append(cp.stateOrder, stop)
	}
	for _, st := range cp.stateOrder {
		if len(st.Rules) == 0 && len(st.Events) == 0 {
			st.Terminal = true
		}
		c.States = append(c.States, st)
		c.StateIndex[st.Name] = st
	}
	names := stateNames(c)
	edges(c, func(_ *State, next string, at Pos) {
		if _, ok := c.StateIndex[next]; ok || next == "" {
			return // "" is a name already reported as not an atom
		}
		if cp.reported(at, CodeUnknownState) {
			return
		}
		msg := fmt.Sprintf("state %q is not defined", next)
		if s := suggest(next, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		cp.reportf(at, CodeUnknownState, "%s", msg)
	})
}

// initial sets the initial state: the one given (which must exist), else
// start, else the first state declared.
func (cp *compiler) initial(c *Contract, filename, given string) {
	switch {
	case given != "":
		if _, ok := c.StateIndex[given]; !ok {
			msg := fmt.Sprintf("initial state %q is not defined in the contract", given)
			if s := suggest(given, stateNames(c)); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			cp.reportf(Pos{File: filename}, CodeUnknownState, "%s", msg)
		}
		c.Initial = given
	case c.StateIndex["start"] != nil:
		c.Initial = "start"
	case len(cp.stateOrder) > 0 && cp.stateOrder[0].Name != StopState:
		c.Initial = cp.stateOrder[0].Name
	}
}

func stateNames(c *Contract) []string {
	names := make([]string, 0, len(c.States))
	for _, st := range c.States {
		names = append(names, st.Name)
	}
	return names
}

func dirOf(s string) Direction {
	if s == "in" {
		return In
	}
	return Out
}

// ubfDir maps UBF(B)'s EVENT => (server to client) and EVENT <= (client to
// server).
func ubfDir(s string) Direction {
	if s == "<=" {
		return In
	}
	return Out
}

func (cp *compiler) outputs(outs []*grammar.Output) []Output {
	res := make([]Output, 0, len(outs))
	for _, o := range outs {
		next, _ := cp.atomText(o.Next.Text, o.Next.Pos)
		res = append(res, Output{Type: cp.typ(o.Type), Next: next, Pos: cp.pos(o.Next.Pos)})
	}
	return res
}

// defineState returns the state named n, creating it on first use. A
// UBF(B) +STATE section may appear once per state.
func (cp *compiler) defineState(n *grammar.Name, section bool) *State {
	name, ok := cp.atomText(n.Text, n.Pos)
	if !ok {
		return nil
	}
	at := cp.pos(n.Pos)
	if name == StopState {
		cp.reportf(at, CodeDuplicateState, "state stop is built in and terminal: it cannot have rules or events")
		return nil
	}
	if info, ok := cp.states[name]; ok {
		if section && info.section {
			cp.reportf(at, CodeDuplicateState, "state %q is already defined at %s", name, info.state.Pos)
		}
		info.section = info.section || section
		return info.state
	}
	st := &State{Name: name, Pos: at}
	cp.states[name] = &stateInfo{state: st, section: section}
	cp.stateOrder = append(cp.stateOrder, st)
	return st
}

package checker

import (
	"strings"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// This file builds the violations a session reports: the slow path, run
// once per violation, which may allocate.

func joinNames(names []string) string { return strings.Join(names, ", ") }

// badClient is the violation of a client message no candidate accepted in
// set, checked as a call (asCall), an in transition (asIn), or either.
func (s *Session) badClient(t term.Term, set *configSet, spec, asCall, asIn bool) *Violation {
	kind := BadRequest
	if !asCall {
		kind = BadEvent
	}
	v := &Violation{Side: Client, Kind: kind, States: s.names(set.states), Message: t}
	var candidates []contract.Type
	live, speaks, waits := false, false, false
	for _, st := range set.states {
		si := &s.m.states[st]
		if si.terminal {
			continue
		}
		live = true
		// A state that defines only out transitions waits for the
		// server (+anystate rules and events aside).
		speaks = speaks || len(si.rules.rules) > 0 || len(si.tr[contract.In].rules) > 0
		waits = waits || len(si.tr[contract.Out].rules) > 0
	}
	if !live {
		v.Kind = AfterEnd
		v.Explanation = "the conversation will have ended (terminal state) when this message arrives"
		if !spec {
			v.Explanation = "the conversation ended in a terminal state; no message may follow"
		}
		return v
	}
	// Calls first (the states', then +anystate), then transitions.
	add := func(ix *ruleIndex) {
		for i := range ix.rules {
			v.Expected = append(v.Expected, ix.rules[i].in)
		}
		for _, ri := range ix.lookupKey(t) {
			candidates = append(candidates, ix.rules[ri].in)
		}
	}
	for _, dir := range clientDirs(asCall, asIn) {
		for _, st := range set.states {
			if si := &s.m.states[st]; !si.terminal {
				add(si.indexOf(dir))
			}
		}
		add(s.m.anyIndex(dir))
	}
	if !asCall && s.accepts(t, set, contract.Out) {
		v.Kind = WrongDirection
		v.Explanation = "declared as an event from the server (out), not from the client (in)"
		return v
	}
	if len(candidates) == 0 {
		candidates = v.Expected
	}
	switch {
	case len(candidates) > 0:
		v.Explanation = explainVars(t, candidates, s.explainCtx(set, spec))
		if !spec {
			v.Bindings = s.relevant(candidates, set, nil)
		}
		if !speaks && waits {
			v.Explanation = serverSpeaks + "; " + v.Explanation
		}
	case !speaks && waits:
		v.Explanation = serverSpeaks + ", so no client message is allowed"
	case asCall:
		v.Explanation = "no request is allowed in this state"
	default:
		v.Explanation = "no client event (in) is allowed here"
	}
	if spec && v.Explanation != "" {
		v.Explanation += " (checked against the states the pending replies may lead to)"
	}
	return v
}

const serverSpeaks = "the server speaks next in this state (it defines only out transitions)"

func clientDirs(asCall, asIn bool) []contract.Direction {
	switch {
	case asCall && asIn:
		return []contract.Direction{dirCall, contract.In}
	case asCall:
		return []contract.Direction{dirCall}
	}
	return []contract.Direction{contract.In}
}

// accepts reports whether a transition of direction dir accepts t in a
// state of set.
func (s *Session) accepts(t term.Term, set *configSet, dir contract.Direction) bool {
	e := pending{}
	e.reset(t, 0, s.nv)
	s.collect(&e, t, set, false, dir)
	return len(e.cands) > 0
}

// explainCtx is the variables an explanation names: those of the first
// state of set.
func (s *Session) explainCtx(set *configSet, spec bool) *varCtx {
	if spec || s.nv == 0 {
		return nil
	}
	return &varCtx{env: set.env(0, s.nv)}
}

// badServerEvent is the violation of a server message no out transition
// or event accepted, with no call pending (or, explicitly marked, whatever
// is pending). classify: the wire did not say it was an event.
func (s *Session) badServerEvent(t term.Term, classify bool) *Violation {
	v := &Violation{Side: Server, Kind: BadEvent, States: s.States(), Message: t}
	seen := make(map[contract.Type]bool)
	add := func(ix *ruleIndex) {
		for i := range ix.rules {
			if x := ix.rules[i].in; !seen[x] {
				seen[x] = true
				v.Expected = append(v.Expected, x)
			}
		}
	}
	for _, st := range s.cur.states {
		if si := &s.m.states[st]; !si.terminal {
			add(&si.tr[contract.Out])
		}
	}
	add(&s.m.anyTr[contract.Out])
	if !classify && s.accepts(t, &s.cur, contract.In) {
		v.Kind = WrongDirection
		v.Explanation = "declared as an event from the client (in), not from the server (out)"
		return v
	}
	switch {
	case len(v.Expected) > 0:
		v.Explanation = explainVars(t, v.Expected, s.explainCtx(&s.cur, false))
		v.Bindings = s.relevant(v.Expected, &s.cur, nil)
	case classify:
		v.Kind = UnexpectedReply
		v.Explanation = "a reply with no request outstanding, and no out transition or event is allowed here"
	default:
		v.Explanation = "no server event (out) is allowed here"
	}
	return v
}

// badReply is the violation of a reply no output of the call e accepted.
func (s *Session) badReply(t term.Term, e *pending) *Violation {
	v := &Violation{Side: Server, Kind: BadReply, States: s.States(), Message: t, Request: e.msg}
	seen := make(map[contract.Type]bool)
	for _, c := range e.cands {
		for _, o := range c.info.outs {
			if !seen[o.typ] {
				seen[o.typ] = true
				v.Expected = append(v.Expected, o.typ)
			}
		}
	}
	var vars *varCtx
	if s.nv > 0 && len(e.cands) > 0 {
		c := e.cands[0]
		vars = &varCtx{env: s.replyEnv(e, 0), extra: e.bindsOf(c)}
	}
	v.Explanation = explainVars(t, v.Expected, vars) + " (reply to " + term.Truncated(e.msg, maxTermText) + ")"
	v.Bindings = s.relevant(v.Expected, nil, e)
	return v
}

// pipelineViolation is the violation of a message pipelined behind the
// reply that was just taken, which is not legal in the state it led to.
func (s *Session) pipelineViolation(req term.Term) *Violation {
	v := &Violation{Side: Client, Kind: PipelinedRequest, States: s.States(), Message: req}
	live := false
	for _, st := range s.cur.states {
		si := &s.m.states[st]
		if si.terminal {
			continue
		}
		live = true
		for _, dir := range clientDirs(true, true) {
			ix := si.indexOf(dir)
			for i := range ix.rules {
				v.Expected = append(v.Expected, ix.rules[i].in)
			}
		}
	}
	if !live {
		v.Explanation = "request pipelined before the reply that ended the conversation"
		return v
	}
	for _, dir := range clientDirs(true, true) {
		ix := s.m.anyIndex(dir)
		for i := range ix.rules {
			v.Expected = append(v.Expected, ix.rules[i].in)
		}
	}
	v.Explanation = "request pipelined before the reply that led here, and not legal here: " +
		explainVars(req, v.Expected, s.explainCtx(&s.cur, false))
	v.Bindings = s.relevant(v.Expected, &s.cur, nil)
	return v
}

// relevant returns the bindings of the variables types use bare (what they
// constrain), in each state of set, or, for a reply, in each candidate of
// the call e with the bindings the call made.
func (s *Session) relevant(types []contract.Type, set *configSet, e *pending) []Binding {
	if s.nv == 0 {
		return nil
	}
	slots := usedVars(types, s.nv)
	if len(slots) == 0 {
		return nil
	}
	var out []Binding
	add := func(state int32, vars varCtx) {
		name := s.m.states[state].name
		for _, slot := range slots {
			if !hasBinding(out, name, s.m.vars[slot]) {
				out = append(out, s.bindingOf(name, slot, vars))
			}
		}
	}
	if e != nil {
		for i, c := range e.cands {
			add(c.state, varCtx{env: s.replyEnv(e, i), extra: e.bindsOf(c)})
		}
		return out
	}
	for i, st := range set.states {
		add(st, varCtx{env: set.env(i, s.nv)})
	}
	return out
}

// bindingOf describes the variable in slot as vars sees it.
func (s *Session) bindingOf(state string, slot int, vars varCtx) Binding {
	b := Binding{State: state, Var: s.m.vars[slot]}
	for i := len(vars.extra) - 1; i >= 0; i-- {
		if int(vars.extra[i].slot) == slot {
			// A call's own binding, seen from its reply: the call
			// is the head of the ring.
			e := &s.ring[s.head]
			b.Value, b.Seq, b.By = vars.extra[i].val, int(e.seq), RoleCall
			return b
		}
	}
	if slot < len(vars.env) && vars.env[slot].val != nil {
		x := vars.env[slot]
		b.Value, b.Seq, b.By = x.val, int(x.seq), x.by
	}
	return b
}

// usedVars lists the slots of the variables types use bare, following
// named types.
func usedVars(types []contract.Type, nv int) []int {
	used := make([]bool, nv)
	eachVar(types, func(slot int, bound bool) {
		if !bound && slot < nv {
			used[slot] = true
		}
	})
	var out []int
	for slot, u := range used {
		if u {
			out = append(out, slot)
		}
	}
	return out
}

// eachVar calls fn for every variable written in types, bound (V = T) or
// bare, following named types (each once).
func eachVar(types []contract.Type, fn func(slot int, bound bool)) {
	seen := map[*contract.TypeDef]bool{}
	var walk func(t contract.Type)
	walk = func(t contract.Type) {
		contract.VisitType(t, func(x contract.Type) bool {
			switch ty := x.(type) {
			case *contract.Var:
				fn(ty.Slot, false)
			case *contract.Bind:
				fn(ty.Slot, true)
				walk(ty.Type)
			case *contract.TupleType:
				if ty.Tail != nil {
					walk(ty.Tail)
				}
			case *contract.Ref:
				if ty.Def != nil && !seen[ty.Def] {
					seen[ty.Def] = true
					walk(ty.Def.Type)
				}
			}
			return true
		})
	}
	for _, t := range types {
		walk(t)
	}
}

func hasBinding(bs []Binding, state, name string) bool {
	for _, b := range bs {
		if b.State == state && b.Var == name {
			return true
		}
	}
	return false
}

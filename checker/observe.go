package checker

import (
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// AnyState names the +anystate rules in AppendShapedCalls.
const AnyState = "+anystate"

// AppendShapedCalls appends to dst the call rules of state (AnyState: the
// +anystate rules) whose request t matches by shape (see MatchShape), and
// returns it; nothing for a state the machine does not know. It is what
// coverage asks for a call a session accepted (Tracker.Call; AppendTaken
// asks the session instead): the rules are those the session's own index
// lists for t, matched by their compiled form, so a message costs about
// what its check did, not a walk of every rule of the state with the
// interpreter. The rules are not in the contract's order when the index
// lists them by their first argument.
func (m *Machine) AppendShapedCalls(dst []*contract.Rule, state string, t term.Term) []*contract.Rule {
	c := m.core
	ix := &c.any
	if state != AnyState {
		i, ok := c.index[state]
		if !ok {
			return dst
		}
		ix = &c.states[i].rules
	}
	for _, k := range ix.lookup(t) {
		ri := &ix.rules[k]
		if ri.rule != nil && c.matchesShape(t, ri.in, ri.inC) {
			dst = append(dst, ri.rule)
		}
	}
	return dst
}

// matchesShape is MatchShape by the compiled form n of typ (nil: not
// compiled). A type with no variable is matched before the variables'
// context is made, which would escape to the heap.
func (c *core) matchesShape(t term.Term, typ contract.Type, n *cnode) bool {
	if ok, decided := n.quick(t); decided {
		return ok
	}
	var out []newBind
	return matchNode(t, typ, n, &varCtx{out: &out, spec: true}, c.pats)
}

// AppendTaken appends to dst the numbers (see Machine.Parts) of the rules,
// transitions or events by which s, a session of m, took the message it
// checked last, and returns it: for a call, what the session matched it
// by (a call pipelined behind others, by the states the pending replies
// may lead to, as the session checks it); for a transition or event, what
// moved the session. It appends nothing after a reply, after a message
// that was not legal, or for a session of another machine; ask right after
// the check, before the session is given anything else (Foresee of the
// next message forgets a transition). It does not allocate when dst has
// room: it reads what the check left, matching nothing again.
func (m *Machine) AppendTaken(dst []int, s *Session) []int {
	if s.m != m.core || len(s.ring) == 0 || s.act == nil || s.act.refused == s.seq {
		return dst
	}
	var e *pending
	switch {
	case s.n > 0 && s.at(int(s.n)-1).seq == s.seq && s.at(int(s.n)-1).msg != nil:
		// Committed by the check: a call, or a transition behind calls.
		e = s.at(int(s.n) - 1)
	case int(s.n) < len(s.ring) && s.at(int(s.n)).seq == s.seq && s.at(int(s.n)).msg == nil:
		// A transition applied: the ring's free slot keeps its
		// candidates until the next message.
		e = s.at(int(s.n))
	default:
		return dst
	}
	for _, c := range e.cands {
		dst = append(dst, int(c.info.part))
	}
	return dst
}

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
// coverage asks for every message a session accepted: the rules are those
// the session's own index lists for t, matched by their compiled form, so
// a message costs about what its check did, not a walk of every rule of
// the state with the interpreter. The rules are not in the contract's
// order when the index lists them by their first argument.
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

// AppendStates appends the session's current states to dst (see States)
// and returns it: with room in dst, it allocates nothing, for callers that
// ask before every message.
func (s *Session) AppendStates(dst []string) []string {
	if s.m == nil {
		return dst
	}
	for _, st := range s.cur.states {
		dst = append(dst, s.m.states[st].name)
	}
	return dst
}

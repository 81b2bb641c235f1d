package compat

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Trace directions, as replay reads them.
const (
	DirCall     = ">"
	DirReply    = "<"
	DirEventIn  = ">!"
	DirEventOut = "<!"
)

// Step is one message of a conversation, written as a trace line.
type Step struct {
	Dir string
	Msg term.Term
}

func (s Step) String() string { return s.Dir + " " + s.Msg.String() }

// Options bound a comparison.
type Options struct {
	// MaxPairs bounds the pairs of state sets visited; 0 means 2000.
	MaxPairs int
	// MaxSteps bounds the length of the conversations walked; 0 means 64.
	MaxSteps int
}

// Result is what Compare found.
type Result struct {
	Findings []Finding
	// Pairs is how many pairs of state sets the walk visited.
	Pairs int
	// Truncated is true when a bound stopped the walk before it had seen
	// every pair.
	Truncated bool
}

// side is one contract prepared for the walk.
type side struct {
	c    *contract.Contract
	m    *checker.Machine
	vars map[int][]contract.Type
	// rules indexes each state's rules ("" for anystate rules) by their
	// request's tag (see tagOf), so that a request is matched only against
	// the rules that may accept it; untagged rules are under the tag "".
	rules map[string]map[term.Atom][]*contract.Rule
}

// tag is what every request of a rule starts with: the atom itself, or a
// tuple's first element; ok is false when the rule's requests vary.
type tag struct {
	atom term.Atom
	ok   bool
}

func newSide(c *contract.Contract) side {
	sd := side{c: c, m: checker.Prepare(c), vars: varTypes(c), rules: make(map[string]map[term.Atom][]*contract.Rule)}
	add := func(state string, rules []*contract.Rule) {
		idx := make(map[term.Atom][]*contract.Rule)
		for _, r := range rules {
			t := tagOf(r.In, 0)
			idx[t.atom] = append(idx[t.atom], r)
		}
		sd.rules[state] = idx
	}
	for _, st := range c.States {
		add(st.Name, st.Rules)
	}
	add("", c.Anystate)
	return sd
}

// candidates are the rules of state ("" for anystate) that may accept a
// request with that tag.
func (sd side) candidates(state string, reqTag term.Atom, tagged bool) []*contract.Rule {
	idx := sd.rules[state]
	if !tagged {
		var all []*contract.Rule
		for _, rs := range idx {
			all = append(all, rs...)
		}
		return all
	}
	if reqTag == "" {
		return idx[""]
	}
	return append(slices.Clip(idx[reqTag]), idx[""]...)
}

func tagOf(t contract.Type, depth int) tag {
	if depth > maxSampleDepth {
		return tag{}
	}
	switch ty := t.(type) {
	case *contract.Literal:
		if a, ok := ty.Value.(term.Atom); ok {
			return tag{a, true}
		}
	case *contract.Ref:
		if !ty.Optional {
			return tagOf(ty.Def.Type, depth+1)
		}
	case *contract.Bind:
		return tagOf(ty.Type, depth+1)
	case *contract.RecordType:
		return tag{term.Atom(ty.Name), true}
	case *contract.TupleType:
		if len(ty.Elems) > 0 {
			if first := tagOf(ty.Elems[0], depth+1); first.ok {
				return first
			}
		}
	}
	return tag{}
}

// msgType is a type of messages one side may send in a state: a call
// rule's request, a reply, an in or out transition or event.
type msgType struct {
	typ  contract.Type
	pos  contract.Pos
	role string // "request", "reply", "client message", "server message"
	dir  string
}

type walker struct {
	old, new side
	opts     Options
	found    map[string]bool // dedupe keys of findings
	findings []Finding
	seen     map[string]bool // pairs expanded
	queued   map[string]int  // pairs queued, by the length of their conversation
	queue    [][][]Step      // buckets of conversations by length
}

// Compare walks OLD and NEW together from their initial states over the
// conversations OLD allows and reports, per pair of states, what breaks
// clients and what breaks services (see Finding).
func Compare(oldC, newC *contract.Contract, opts Options) *Result {
	if opts.MaxPairs == 0 {
		opts.MaxPairs = 2000
	}
	if opts.MaxSteps == 0 {
		opts.MaxSteps = 64
	}
	w := &walker{
		old:    newSide(oldC),
		new:    newSide(newC),
		opts:   opts,
		found:  make(map[string]bool),
		seen:   make(map[string]bool),
		queued: make(map[string]int),
	}
	res := &Result{}
	w.queue = [][][]Step{{nil}}
	for n := 0; n < len(w.queue); n++ {
		for i := 0; i < len(w.queue[n]); i++ {
			nd := w.newNode(w.queue[n][i])
			if w.seen[nd.key] {
				continue
			}
			if len(w.seen) >= opts.MaxPairs {
				res.Truncated = true
				break
			}
			w.seen[nd.key] = true
			if nd.o.Done() {
				continue
			}
			if len(nd.prefix) >= opts.MaxSteps {
				res.Truncated = true
				continue
			}
			w.expand(nd)
		}
	}
	res.Pairs = len(w.seen)
	res.Findings = w.findings
	return res
}

// node is a conversation both contracts accept, with a session of each
// that has checked it. A message that breaks a contract leaves its
// session as it was, so the sessions are checked again (replayed) only
// after a message was accepted.
type node struct {
	w      *walker
	prefix []Step
	o, n   *checker.Session
	dirty  bool
	key    string // the pair of state sets the conversation leads to
	// request is the pending call of a node that awaits its reply: the
	// values the reply may repeat come from it.
	request term.Term
}

func (w *walker) newNode(prefix []Step) *node {
	nd := &node{w: w, prefix: prefix}
	nd.o, _ = replay(w.old.m, prefix)
	nd.n, _ = replay(w.new.m, prefix)
	nd.key = pairKey(nd.o, nd.n)
	return nd
}

// sessions returns the node's sessions, replayed if a message moved them.
func (nd *node) sessions() (o, n *checker.Session) {
	if nd.dirty {
		nd.o, _ = replay(nd.w.old.m, nd.prefix)
		nd.n, _ = replay(nd.w.new.m, nd.prefix)
		nd.dirty = false
	}
	return nd.o, nd.n
}

// push queues a conversation that leads to the pair key, unless one as
// short is queued already.
func (w *walker) push(trace []Step, key string) {
	n := len(trace)
	if w.seen[key] {
		return
	}
	if l, ok := w.queued[key]; ok && l <= n {
		return
	}
	w.queued[key] = n
	for len(w.queue) <= n {
		w.queue = append(w.queue, nil)
	}
	w.queue[n] = append(w.queue[n], trace)
}

func pairKey(o, n *checker.Session) string {
	os, ns := slices.Clone(o.States()), slices.Clone(n.States())
	slices.Sort(os)
	slices.Sort(ns)
	return strings.Join(os, ",") + "|" + strings.Join(ns, ",")
}

// replay runs a conversation on a fresh session of m; v is the first
// violation, at message index at.
func replay(m *checker.Machine, steps []Step) (s *checker.Session, v *checker.Violation) {
	s, _ = m.NewSession(checker.Options{})
	for _, st := range steps {
		if v = apply(s, st); v != nil {
			return s, v
		}
	}
	return s, nil
}

// apply checks one message as replay does.
func apply(s *checker.Session, st Step) *checker.Violation {
	var v *checker.Violation
	switch st.Dir {
	case DirCall:
		_, v = s.Client(st.Msg)
	case DirReply:
		_, v = s.Server(st.Msg)
	case DirEventIn:
		v = s.EventIn(st.Msg)
	default:
		v = s.EventOut(st.Msg)
	}
	return v
}

func env(s *checker.Session) checker.Env {
	e := make(checker.Env)
	for _, b := range s.Bindings() {
		if _, ok := e[b.Var]; !ok && b.Value != nil {
			e[b.Var] = b.Value
		}
	}
	return e
}

// clientTypes are the messages the client may send in the session's
// states: call rules' requests, then in transitions and events.
func (sd side) clientTypes(s *checker.Session) []msgType {
	var out []msgType
	seen := make(map[contract.Type]bool)
	add := func(t contract.Type, role, dir string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, msgType{typ: t, pos: t.Position(), role: role, dir: dir})
		}
	}
	for _, st := range sd.states(s) {
		for _, r := range st.Rules {
			add(r.In, "request", DirCall)
		}
	}
	for _, r := range sd.c.Anystate {
		add(r.In, "request", DirCall)
	}
	for _, e := range sd.events(s, contract.In) {
		add(e.Type, "client message", DirEventIn)
	}
	return out
}

// serverTypes are the out transitions and events of the session's states.
func (sd side) serverTypes(s *checker.Session) []msgType {
	var out []msgType
	for _, e := range sd.events(s, contract.Out) {
		out = append(out, msgType{typ: e.Type, pos: e.Pos, role: "server message", dir: DirEventOut})
	}
	return out
}

func (sd side) states(s *checker.Session) []*contract.State {
	var out []*contract.State
	for _, name := range s.States() {
		if st := sd.c.State(name); st != nil && !st.Terminal {
			out = append(out, st)
		}
	}
	return out
}

func (sd side) events(s *checker.Session, dir contract.Direction) []*contract.Event {
	var out []*contract.Event
	for _, st := range sd.states(s) {
		for _, e := range st.Events {
			if e.Dir == dir {
				out = append(out, e)
			}
		}
	}
	if len(sd.states(s)) > 0 || sd.c.Initial == "" {
		for _, e := range sd.c.AnyEvents {
			if e.Dir == dir {
				out = append(out, e)
			}
		}
	}
	return out
}

// replyTypes are the replies the rules that accept request allow, in the
// session's states (anystate rules only when no state rule accepts it, as
// at run time). matched numbers the rules, to group requests that the
// same rules accept.
func (sd side) replyTypes(s *checker.Session, request term.Term) (out []msgType, matched string) {
	e := env(s)
	reqTag, tagged := term.Tag(request)
	var ids []string
	take := func(state string) {
		for _, r := range sd.candidates(state, reqTag, tagged) {
			if !checker.Match(request, withEnv(r.In, sd.vars, e)) {
				continue
			}
			ids = append(ids, r.Pos.String())
			for _, o := range r.Outs {
				out = append(out, msgType{typ: o.Type, pos: o.Type.Position(), role: "reply", dir: DirReply})
			}
		}
	}
	for _, st := range sd.states(s) {
		take(st.Name)
	}
	if len(ids) == 0 {
		take("")
	}
	return out, strings.Join(ids, ";")
}

func typesOf(ms []msgType) []contract.Type {
	out := make([]contract.Type, len(ms))
	for i, m := range ms {
		out[i] = m.typ
	}
	return out
}

// expand tries every message either side allows after the node's
// conversation.
func (w *walker) expand(nd *node) {
	o, n := nd.o, nd.n
	oldClient, newClient := w.old.clientTypes(o), w.new.clientTypes(n)
	oldServer, newServer := w.old.serverTypes(o), w.new.serverTypes(n)
	repliesDone := make(map[string]bool)
	onClient := func(st Step, o, n *checker.Session) {
		trace := appendStep(nd.prefix, st)
		if o.Pending() == 0 {
			w.push(trace, pairKey(o, n))
			return
		}
		// A call: its replies are tried now. Requests the same rules
		// accept have the same replies, so one of them is enough.
		_, om := w.old.replyTypes(o, st.Msg)
		_, nm := w.new.replyTypes(n, st.Msg)
		if key := om + "|" + nm; repliesDone[key] {
			return
		} else {
			repliesDone[key] = true
		}
		// The sessions have checked exactly trace: they become the
		// reply node's, and this node's are replayed for what follows.
		child := &node{w: w, prefix: trace, o: o, n: n, key: nd.key, request: st.Msg}
		nd.dirty = true
		w.replies(child)
	}
	w.tryTypes(nd, oldClient, newClient, true, onClient)
	w.tryTypes(nd, newClient, oldClient, false, onClient)
	next := func(st Step, o, n *checker.Session) { w.push(appendStep(nd.prefix, st), pairKey(o, n)) }
	w.tryTypes(nd, oldServer, newServer, true, next)
	w.tryTypes(nd, newServer, oldServer, false, next)
}

func appendStep(prefix []Step, st Step) []Step {
	return append(slices.Clip(prefix), st)
}

// replies tries the replies either contract allows to the call that ends
// the node's conversation.
func (w *walker) replies(nd *node) {
	oldReplies, _ := w.old.replyTypes(nd.o, nd.request)
	newReplies, _ := w.new.replyTypes(nd.n, nd.request)
	next := func(r Step, o, n *checker.Session) { w.push(appendStep(nd.prefix, r), pairKey(o, n)) }
	w.tryTypes(nd, oldReplies, newReplies, true, next)
	w.tryTypes(nd, newReplies, oldReplies, false, next)
}

// tryTypes sends samples of each type of from (a message one contract
// allows next) through both contracts; fromOld says which contract from
// belongs to. A sample both accept continues the walk (both, with the
// sessions after it); one the other contract refuses is a finding, and a
// type whose samples the other contract all accepts but inclusion cannot
// confirm is a "may break".
func (w *walker) tryTypes(nd *node, from, other []msgType, fromOld bool, both func(Step, *checker.Session, *checker.Session)) {
	src, dst := w.old, w.new
	o, n := nd.sessions()
	oldStates, newStates := o.States(), n.States()
	srcS := o
	if !fromOld {
		src, dst, srcS = w.new, w.old, n
	}
	sm := newSampler(src.vars, dst.vars, env(srcS))
	if nd.request != nil {
		sm.extra = subterms(nd.request)
	}
	otherTypes := typesOf(other)
	for _, mt := range from {
		witnessed := false
		samples := sm.of(mt.typ, hintsFor(mt.typ, otherTypes), 0)
		// The shortest sample that shows a difference is the clearest.
		slices.SortStableFunc(samples, func(a, b term.Term) int { return len(a.String()) - len(b.String()) })
		for _, msg := range samples {
			st := Step{Dir: mt.dir, Msg: msg}
			o, n := nd.sessions()
			srcS, dstS := o, n
			if !fromOld {
				srcS, dstS = n, o
			}
			if v := apply(srcS, st); v != nil {
				// Not a message of this type where the source contract
				// is (a rule that another one shadows, a variable bound
				// to another value); the session is as it was.
				continue
			}
			nd.dirty = true
			if v := apply(dstS, st); v != nil {
				witnessed = true
				w.report(oldStates, newStates, mt, fromOld, appendStep(nd.prefix, st), v)
				continue
			}
			both(st, o, n)
		}
		if witnessed {
			continue
		}
		var verdict Verdict
		if len(otherTypes) == 0 {
			verdict = No
		} else {
			verdict = NewIncluder(src.c, dst.c).Include(mt.typ, &contract.Union{Alts: otherTypes})
		}
		if verdict != Yes {
			w.reportMaybe(nd.prefix, oldStates, newStates, mt, fromOld, otherTypes, verdict)
		}
	}
}

// hintsFor keeps the types of others that can share a message with t:
// those with t's tag, and those without a tag. Samples need no others.
func hintsFor(t contract.Type, others []contract.Type) []contract.Type {
	tt := tagOf(t, 0)
	if !tt.ok {
		return others
	}
	var out []contract.Type
	for _, o := range others {
		if ot := tagOf(o, 0); !ot.ok || ot.atom == tt.atom {
			out = append(out, o)
		}
	}
	return out
}

// subterms are t and every term inside it.
func subterms(t term.Term) []term.Term {
	out := []term.Term{t}
	switch v := t.(type) {
	case term.Tuple:
		for _, e := range v {
			out = append(out, subterms(e)...)
		}
	case term.List:
		for _, e := range v {
			out = append(out, subterms(e)...)
		}
	case term.Map:
		for _, e := range v {
			out = append(out, subterms(e.Value)...)
		}
	}
	return out
}

// kindOf says what a message one contract allows and the other refuses
// breaks.
func kindOf(mt msgType, fromOld bool) contract.Code {
	client := mt.dir == DirCall || mt.dir == DirEventIn
	switch {
	case fromOld && client:
		return CodeClientRequest
	case !fromOld && !client:
		return CodeClientReply
	case !fromOld && client:
		return CodeServiceRequest
	}
	return CodeServiceReply
}

// finding is what a finding of either kind says about mt in the pair of
// states: its code and what shows it are the caller's.
func finding(oldStates, newStates []string, mt msgType, fromOld bool) Finding {
	return Finding{
		OldStates: oldStates,
		NewStates: newStates,
		Role:      mt.role,
		Type:      mt.typ.String(),
		Pos:       mt.pos,
		InOld:     fromOld,
	}
}

func (w *walker) report(oldStates, newStates []string, mt msgType, fromOld bool, trace []Step, v *checker.Violation) {
	f := finding(oldStates, newStates, mt, fromOld)
	f.Code = kindOf(mt, fromOld)
	f.Message = trace[len(trace)-1].Msg
	f.Trace = trace
	f.Explanation = v.Error()
	w.add(f)
}

func (w *walker) reportMaybe(prefix []Step, oldStates, newStates []string, mt msgType, fromOld bool, other []contract.Type, verdict Verdict) {
	var names []string
	for _, t := range other {
		names = append(names, t.String())
	}
	why := "inclusion could not be decided"
	if verdict == No {
		why = "inclusion fails but no sample message shows it"
	}
	f := finding(oldStates, newStates, mt, fromOld)
	f.Code = CodeMayBreak
	f.Breaks = kindOf(mt, fromOld)
	f.Trace = slices.Clone(prefix)
	f.Explanation = fmt.Sprintf("%s: %s within %s", why, mt.typ, shorten(strings.Join(names, " | ")))
	w.add(f)
}

// add records f unless a finding of the same code, pair of states and
// type is already recorded.
func (w *walker) add(f Finding) {
	key := fmt.Sprintf("%s|%s|%s|%s|%s", f.Code, f.OldStates, f.NewStates, f.Pos, f.Type)
	if w.found[key] {
		return
	}
	w.found[key] = true
	w.findings = append(w.findings, f)
}

// maxTypesText bounds how much of the other contract's types a may-break
// finding quotes.
const maxTypesText = 160

func shorten(s string) string {
	if len(s) <= maxTypesText {
		return s
	}
	return s[:maxTypesText] + " | ..."
}

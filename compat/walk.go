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
	found    map[string]int // dedupe key -> index in findings
	findings []Finding
	seen     map[string]bool
	queue    [][][]Step // buckets of conversations by length
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
		old:   side{c: oldC, m: checker.Prepare(oldC), vars: varTypes(oldC)},
		new:   side{c: newC, m: checker.Prepare(newC), vars: varTypes(newC)},
		opts:  opts,
		found: make(map[string]int),
		seen:  make(map[string]bool),
	}
	res := &Result{}
	w.push(nil)
	for n := 0; n < len(w.queue); n++ {
		for i := 0; i < len(w.queue[n]); i++ {
			prefix := w.queue[n][i]
			o, _ := replay(w.old.m, prefix)
			nw, _ := replay(w.new.m, prefix)
			key := pairKey(o, nw)
			if w.seen[key] {
				continue
			}
			if len(w.seen) >= opts.MaxPairs {
				res.Truncated = true
				break
			}
			w.seen[key] = true
			if o.Done() {
				continue
			}
			if len(prefix) >= opts.MaxSteps {
				res.Truncated = true
				continue
			}
			w.expand(prefix, o, nw)
		}
	}
	res.Pairs = len(w.seen)
	res.Findings = w.findings
	return res
}

func (w *walker) push(trace []Step) {
	n := len(trace)
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
	accepts := func(r *contract.Rule) bool {
		return checker.Match(request, withEnv(r.In, sd.vars, e))
	}
	var ids []string
	take := func(r *contract.Rule) {
		ids = append(ids, r.Pos.String())
		for _, o := range r.Outs {
			out = append(out, msgType{typ: o.Type, pos: o.Type.Position(), role: "reply", dir: DirReply})
		}
	}
	for _, st := range sd.states(s) {
		for _, r := range st.Rules {
			if accepts(r) {
				take(r)
			}
		}
	}
	if len(ids) == 0 {
		for _, r := range sd.c.Anystate {
			if accepts(r) {
				take(r)
			}
		}
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

// expand tries every message either side allows after prefix.
func (w *walker) expand(prefix []Step, o, n *checker.Session) {
	oldClient, newClient := w.old.clientTypes(o), w.new.clientTypes(n)
	repliesDone := make(map[string]bool)
	onBoth := func(st Step) {
		w.afterClient(prefix, st, repliesDone)
	}
	w.tryTypes(prefix, o, n, oldClient, newClient, true, onBoth)
	w.tryTypes(prefix, o, n, newClient, oldClient, false, onBoth)
	oldServer, newServer := w.old.serverTypes(o), w.new.serverTypes(n)
	next := func(st Step) { w.push(appendStep(prefix, st)) }
	w.tryTypes(prefix, o, n, oldServer, newServer, true, next)
	w.tryTypes(prefix, o, n, newServer, oldServer, false, next)
}

func appendStep(prefix []Step, st Step) []Step {
	return append(slices.Clip(prefix), st)
}

// afterClient continues a conversation with a client message both sides
// accepted: a call goes on with its replies, anything else is the next
// pair.
func (w *walker) afterClient(prefix []Step, st Step, repliesDone map[string]bool) {
	trace := appendStep(prefix, st)
	o, _ := replay(w.old.m, trace)
	n, _ := replay(w.new.m, trace)
	if o.Pending() == 0 {
		w.push(trace)
		return
	}
	before, _ := replay(w.old.m, prefix)
	beforeNew, _ := replay(w.new.m, prefix)
	oldReplies, om := w.old.replyTypes(before, st.Msg)
	newReplies, nm := w.new.replyTypes(beforeNew, st.Msg)
	// Requests the same rules accept have the same replies: one of them
	// is enough.
	if key := om + "|" + nm; repliesDone[key] {
		return
	} else {
		repliesDone[key] = true
	}
	next := func(r Step) { w.push(appendStep(trace, r)) }
	w.tryTypes(trace, o, n, oldReplies, newReplies, true, next)
	w.tryTypes(trace, o, n, newReplies, oldReplies, false, next)
}

// tryTypes sends samples of each type of from (a message one contract
// allows next) through both contracts; fromOld says which contract from
// belongs to. A sample both accept continues the walk (both); one the
// other contract refuses is a finding, and a type whose samples the other
// contract all accepts but inclusion cannot confirm is a "may break".
func (w *walker) tryTypes(prefix []Step, o, n *checker.Session, from, other []msgType, fromOld bool, both func(Step)) {
	src, dst := w.old, w.new
	srcS := o
	if !fromOld {
		src, dst, srcS = w.new, w.old, n
	}
	sm := newSampler(src.vars, dst.vars, env(srcS))
	otherTypes := typesOf(other)
	for _, mt := range from {
		witnessed := false
		samples := sm.of(mt.typ, otherTypes, 0)
		// The shortest sample that shows a difference is the clearest.
		slices.SortStableFunc(samples, func(a, b term.Term) int { return len(a.String()) - len(b.String()) })
		for _, msg := range samples {
			st := Step{Dir: mt.dir, Msg: msg}
			trace := appendStep(prefix, st)
			_, vo := replay(w.old.m, trace)
			_, vn := replay(w.new.m, trace)
			vSrc, vDst := vo, vn
			if !fromOld {
				vSrc, vDst = vn, vo
			}
			switch {
			case vSrc != nil:
				// Not a message of this type where the source contract
				// is (a rule that another one shadows, a variable bound
				// to another value).
			case vDst == nil:
				both(st)
			default:
				witnessed = true
				w.report(o, n, mt, fromOld, trace, vDst)
			}
		}
		if witnessed {
			continue
		}
		inc := NewIncluder(src.c, dst.c)
		var verdict Verdict
		if len(otherTypes) == 0 {
			verdict = No
		} else {
			verdict = inc.Include(mt.typ, &contract.Union{Alts: otherTypes})
		}
		if verdict != Yes {
			w.reportMaybe(prefix, o, n, mt, fromOld, otherTypes, verdict)
		}
	}
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

func (w *walker) report(o, n *checker.Session, mt msgType, fromOld bool, trace []Step, v *checker.Violation) {
	code := kindOf(mt, fromOld)
	key := fmt.Sprintf("%s|%s|%s|%s", code, pairKey(o, n), mt.pos, mt.typ)
	if _, dup := w.found[key]; dup {
		return
	}
	f := Finding{
		Code:        code,
		OldStates:   o.States(),
		NewStates:   n.States(),
		Role:        mt.role,
		Type:        mt.typ.String(),
		Pos:         mt.pos,
		InOld:       fromOld,
		Message:     trace[len(trace)-1].Msg,
		Trace:       trace,
		Explanation: v.Error(),
	}
	w.found[key] = len(w.findings)
	w.findings = append(w.findings, f)
}

func (w *walker) reportMaybe(prefix []Step, o, n *checker.Session, mt msgType, fromOld bool, other []contract.Type, verdict Verdict) {
	key := fmt.Sprintf("%s|%s|%s|%s", CodeMayBreak, pairKey(o, n), mt.pos, mt.typ)
	if _, dup := w.found[key]; dup {
		return
	}
	var names []string
	for _, t := range other {
		names = append(names, t.String())
	}
	why := "inclusion could not be decided"
	if verdict == No {
		why = "inclusion fails but no sample message shows it"
	}
	f := Finding{
		Code:        CodeMayBreak,
		Breaks:      kindOf(mt, fromOld),
		OldStates:   o.States(),
		NewStates:   n.States(),
		Role:        mt.role,
		Type:        mt.typ.String(),
		Pos:         mt.pos,
		InOld:       fromOld,
		Trace:       slices.Clone(prefix),
		Explanation: fmt.Sprintf("%s: %s within %s", why, mt.typ, shorten(strings.Join(names, " | "))),
	}
	w.found[key] = len(w.findings)
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

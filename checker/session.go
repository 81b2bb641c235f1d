// Package checker decides whether messages keep a contract: it matches terms
// against types (explaining, on a mismatch, where and why), and follows
// conversations as state machines with Session: calls and their replies,
// transitions in both directions (events are transitions back to the same
// state), and the values variables are bound to.
//
// A server prepares each contract once with Prepare and starts a Session per
// connection with Machine.NewSession; the check of a request and its reply
// does not allocate.
package checker

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// DefaultMaxPending is the number of pipelined requests a session holds
// when Options.MaxPending is 0.
const DefaultMaxPending = 128

// Options tune a session.
type Options struct {
	// Initial names the starting state; "" means the contract's.
	Initial string
	// MaxPending bounds the client messages awaiting their turn: calls
	// awaiting their reply, and client transitions sent behind them. One
	// more is a TooManyPending violation. 0 means DefaultMaxPending.
	MaxPending int
}

// Session follows one conversation. It is not safe for concurrent use: one
// connection owns it.
//
// The session holds the states the conversation may be in (usually one),
// each with its own bindings of the contract's variables. A message is
// checked in each of them; the states where it is not legal are dropped,
// and it is a violation when it is legal in none.
//
// A message that breaks the contract leaves the session as it was, so a
// caller that drops the message (rather than ending the session) may go on.
// One exception: a PipelinedRequest violation returned by Reply, ReplyState
// or Server blames the pending request, not the reply, which is taken (the
// session moves), and the conversation cannot go on: end the session.
//
// Pipelining: a client message sent while calls await their reply (a call,
// or an in transition) is checked against every state the session may be
// in once those replies arrive, with the variables those replies may bind
// taken as unknown (matching anything). It is rejected at once when it is
// legal in none of them. When a reply then fixes the state, the next
// pending message is checked again, exactly, in that state with its
// bindings; if it is not legal there, that reply's check reports a
// PipelinedRequest violation by the client. Foresee tells, without
// checking anything, whether a message would be legal whatever the
// pending replies are (what a proxy that must never forward an illegal
// request needs).
//
// Server transitions and events are checked in the states the session is
// in now, whatever calls are pending; the reply to a pending call then
// moves the session as the call's rule says. Terminal states accept
// nothing: neither +anystate rules nor +anystate events keep a
// conversation alive once it reached one (a session whose states are
// terminal and non-terminal goes on in the non-terminal ones).
type Session struct {
	m          *core
	err        string // set when the session could not start
	nv         int    // variables of the contract
	cur, spare configSet
	curBuf     [2]int32
	spareBuf   [2]int32
	// ring is the FIFO of client messages awaiting their turn: calls
	// awaiting their reply, and in transitions behind them. Its head is
	// always a call checked exactly (settle).
	ring       []pending
	head, n    int32
	calls      int32 // calls among the n
	maxPending int32
	closed     bool
	seq        int32 // messages checked so far
	fore       foresight
	act        *active  // made with the ring: an idle session does without
	x          *scratch // made on first use: an idle session does without
}

// active is what a session keeps once it checks messages, made with the
// ring: an idle session (no message taken, nothing to tell) does without.
type active struct {
	key lastKey
	// refused is the seq of the last message refused, for AppendTaken: a
	// violation that ends checking before seq counts the message
	// (AfterEnd) leaves seq as the message before had it.
	refused int32
}

// lastKey is the key slots the session's last lookups of one key found
// (nil when no rule is listed under the key), in the last two indexes
// looked up: a client sends the same command time after time, and
// comparing its tag with the last one (mostly the very same string:
// wrappers hand out the names they know from a table) costs less than
// hashing it and comparing it with the contract's. Two, because a call
// that no rule of its state accepts is looked up among the +anystate
// rules next, every time.
type lastKey struct {
	tag   term.Atom
	arity int32
	ix    [2]*ruleIndex // ix[0] the one found last; a third takes ix[1]'s place
	slot  [2]*keySlot
	// rules is what ruleIndex.rulesOf lists for slot[i], unless args[i]:
	// the slot lists its rules by the message's first argument.
	rules [2][]int32
	args  [2]bool
}

// lookup is ix.lookup(t), the key slot found remembered (lastKey).
func (s *Session) lookup(ix *ruleIndex, t term.Term) []int32 {
	tag, arity, ok := keyOf(t)
	if a := s.act; ok && a != nil {
		if rules, hit := a.key.rulesIn(ix, tag, arity); hit {
			return rules
		}
	}
	return s.lookupOther(ix, t, tag, arity, ok)
}

// rulesIn returns the rules of ix listed under the key when it is the one
// last looked up in ix and they do not depend on the arguments: the usual
// case, the tag in the very same string (wrappers hand out the names they
// know from a table), which compares no bytes and is small enough to
// inline.
func (c *lastKey) rulesIn(ix *ruleIndex, tag term.Atom, arity int32) ([]int32, bool) {
	if c.arity != arity || !sameString(c.tag, tag) {
		return nil, false
	}
	switch {
	case c.ix[0] == ix && !c.args[0]:
		return c.rules[0], true
	case c.ix[1] == ix && !c.args[1]:
		return c.rules[1], true
	}
	return nil, false
}

// sameString reports whether a and b are the same bytes in memory: equal,
// without comparing them.
func sameString(a, b term.Atom) bool {
	return len(a) == len(b) && unsafe.StringData(string(a)) == unsafe.StringData(string(b))
}

// lookupOther is lookup for another key or index than the last ones,
// or rules that depend on t's arguments.
func (s *Session) lookupOther(ix *ruleIndex, t term.Term, tag term.Atom, arity int32, ok bool) []int32 {
	if !ok || s.act == nil || ix.slots == nil {
		return ix.lookup(t)
	}
	c := &s.act.key
	if c.arity != arity || c.tag != tag {
		*c = lastKey{tag: tag, arity: arity}
	}
	c.tag = tag // the same key, maybe in another string: rulesIn compares the strings' memory
	i := 0
	for i < len(c.ix) && c.ix[i] != ix {
		i++
	}
	if i == len(c.ix) {
		// Not one of the last two: it takes the place of the older.
		e := ix.findKey(tag, arity)
		c.ix[1], c.slot[1], c.args[1] = c.ix[0], c.slot[0], c.args[0]
		c.rules[1] = c.rules[0]
		c.ix[0], c.slot[0], c.args[0], c.rules[0] = ix, e, e != nil && e.args != nil, nil
		if !c.args[0] {
			c.rules[0] = ix.rulesOf(e, nil)
		}
		i = 0
	}
	return ix.rulesOf(c.slot[i], t)
}

// foresight is what Foresee leaves for the check of the same message that
// follows it (CallForeseen, ClientForeseen).
type foresight struct {
	msg term.Term // the message foreseen
	has bool      // msg is still to be checked: no client message was since
	seq int32     // Session.seq when it was foreseen: a server message since spoils the match
	// left: Foresee left in the ring's free slot the candidates that
	// accept msg among the rules of kind dir (dirCall, or contract.In when
	// no call accepts it), matched in the very states, with the very
	// bindings, that the check uses.
	left  bool
	dir   contract.Direction
	state int32 // with calls pending, the one state they lead to
}

// scratch is what a session reuses from one message to the next.
type scratch struct {
	spec  []int32   // states reachable after the pending replies
	after afterKey  // whose states spec holds
	binds []newBind // the bindings a reply makes
	// What a message checked behind pending ones may take for known of
	// the variables: the bindings of the session's only state (known;
	// nil while it is in several), except those a pending message's
	// rules may bind (dirty).
	known []binding
	dirty []bool
	one   [1]int32 // the one state Foresee tries at a time, kept off the heap per call
}

// afterKey names the one candidate (and its kind) whose next states
// scratch.spec holds, when one: afterPending's answer for a last pending
// message accepted by that candidate alone.
type afterKey struct {
	state int32
	info  *ruleInfo
	call  bool
	one   bool // spec is for this candidate
}

func (s *Session) scr() *scratch {
	if s.x == nil {
		s.x = &scratch{}
	}
	return s.x
}

// prepareKnown fills the scratch's known and dirty for checking a message
// behind the pending ones; a contract without variables needs nothing.
func (s *Session) prepareKnown() {
	if s.nv == 0 {
		return
	}
	k := s.scr()
	if k.dirty == nil {
		k.dirty = make([]bool, s.nv)
	}
	k.known = nil
	if len(s.cur.states) == 1 {
		k.known = s.cur.env(0, s.nv)
	}
	clear(k.dirty)
	for i := range int(s.n) {
		for _, c := range s.at(i).cands {
			for _, slot := range c.info.binds {
				k.dirty[slot] = true
			}
		}
	}
}

// configSet is the states a session may be in, each with its bindings:
// state i's are vals[i*nv : (i+1)*nv].
type configSet struct {
	states []int32
	vals   []binding
}

func (c *configSet) env(i, nv int) []binding {
	if c.vals == nil || nv == 0 {
		return nil
	}
	return c.vals[i*nv : (i+1)*nv]
}

func (c *configSet) reset() {
	c.states = c.states[:0]
	c.vals = c.vals[:0]
}

// add appends state st with the bindings env, then binds (made by message
// seq, a by), unless st is there already: a state keeps the bindings of
// the first way the message led to it.
func (c *configSet) add(st int32, env []binding, nv int, binds [2][]newBind, seq [2]int32, by [2]Role) {
	if hasState(c.states, st) {
		return
	}
	c.states = append(c.states, st)
	if nv == 0 {
		return
	}
	base := len(c.vals)
	c.vals = appendEnv(c.vals, env, nv)
	for k := range binds {
		for _, nb := range binds[k] {
			c.vals[base+int(nb.slot)] = binding{val: nb.val, seq: seq[k], by: by[k]}
		}
	}
}

// appendEnv appends the nv bindings of env, or nv unbound ones when env is
// nil.
func appendEnv(dst, env []binding, nv int) []binding {
	if env != nil {
		return append(dst, env...)
	}
	for i := 0; i < nv; i++ {
		dst = append(dst, binding{})
	}
	return dst
}

// pending is a client message awaiting its turn (or being checked), with
// the (state, rule) pairs that accepted it.
type pending struct {
	msg   term.Term
	cands []cand
	vars  *pendingVars // nil while the contract has no variables
	seq   int32
	// alone is the state it was checked in behind pending replies when
	// they may lead to that one state only; -1 otherwise.
	alone int32
	call  bool // a call; otherwise an in transition queued behind calls
	spec  bool // checked against the states after the pending replies: check again at the head
}

// pendingVars is what a pending message knows of variables.
type pendingVars struct {
	binds []newBind // the bindings each candidate made: cand.lo:cand.hi
	envs  []binding // each candidate's bindings before the message: cand i at i*nv
}

func (e *pending) reset(t term.Term, seq int32, nv int) {
	e.msg, e.seq, e.call, e.spec, e.alone = t, seq, false, false, -1
	e.cands = e.cands[:0]
	if nv == 0 {
		return
	}
	if e.vars == nil {
		e.vars = &pendingVars{}
	}
	e.vars.binds, e.vars.envs = e.vars.binds[:0], e.vars.envs[:0]
}

// bindsOf returns the bindings candidate c made.
func (e *pending) bindsOf(c cand) []newBind {
	if e.vars == nil {
		return nil
	}
	return e.vars.binds[c.lo:c.hi]
}

type cand struct {
	state  int32
	info   *ruleInfo // the rule or transition (of the state or +anystate)
	lo, hi int32     // its bindings in pending.binds
}

// NewSession starts a conversation in the initial state. It indexes c's
// rules each time it is called: a program that holds many sessions of one
// contract should call Prepare once and Machine.NewSession per connection.
// When opts.Initial names no state, every check of the session returns an
// InvalidSession violation.
func NewSession(c *contract.Contract, opts Options) *Session {
	s, _ := Prepare(c).NewSession(opts)
	return s
}

func (m *core) newSession(opts Options) (*Session, error) {
	init := m.initial
	if opts.Initial != "" {
		i, ok := m.index[opts.Initial]
		if !ok {
			return nil, fmt.Errorf("checker: the contract has no state %q", opts.Initial)
		}
		init = i
	}
	if len(m.states) == 0 {
		return nil, fmt.Errorf("checker: the contract has no states")
	}
	max := opts.MaxPending
	if max <= 0 || max > math.MaxInt32-1 {
		max = DefaultMaxPending
	}
	s := &Session{m: m, nv: len(m.vars), maxPending: int32(max)}
	s.cur.states = append(s.curBuf[:0], init)
	s.spare.states = s.spareBuf[:0]
	if s.nv > 0 {
		s.cur.vals = make([]binding, s.nv)
	}
	return s, nil
}

// States returns the states the session may be in.
func (s *Session) States() []string {
	if s.m == nil {
		return nil
	}
	return s.names(s.cur.states)
}

func (s *Session) names(states []int32) []string {
	out := make([]string, len(states))
	for i, st := range states {
		out[i] = s.m.states[st].name
	}
	return out
}

// Done reports whether the conversation is over: closed, or in terminal
// states only.
func (s *Session) Done() bool {
	if s.m == nil || s.closed {
		return true
	}
	for _, st := range s.cur.states {
		if !s.m.states[st].terminal {
			return false
		}
	}
	return true
}

// Pending returns how many calls await their reply.
func (s *Session) Pending() int { return int(s.calls) }

// KeepsTerms reports whether the session may hold on to parts of a message
// once it was checked and, for a call, once its reply was accepted: the
// bindings of a contract's variables do. Apart from them it keeps a
// message until it is done with it (a call until its reply, a transition
// queued behind calls until it is applied, a foreseen message until the
// next client message is checked) and the atom of the last tag it looked
// up. So when it is false, a caller that owns the memory of the messages
// (a decoder that reuses it, see wrappers.Recycler, and builds no atom in
// that memory) may reuse a call's as soon as its reply was accepted, and a
// reply's once it was checked.
func (s *Session) KeepsTerms() bool { return s.nv != 0 }

// Seq returns how many messages the session has checked, legal or not,
// but for those refused because it had ended (AfterEnd, InvalidSession);
// Binding.Seq numbers messages the same way.
func (s *Session) Seq() int { return int(s.seq) }

// ReplyDue reports whether the i-th call awaiting its reply (0 is the
// oldest) must be answered: false when a rule it was accepted by allows
// none() as the reply, which the service may never send. A reply
// time-out applies to a call only when this is true; transitions and
// events are never answered.
//
// The ring is walked from the end nearer to the call: a proxy asks about
// the newest call after each one, which costs the same however many are
// pending.
func (s *Session) ReplyDue(i int) bool {
	if i < 0 || i >= int(s.calls) {
		return false
	}
	if s.m.allDue {
		return true
	}
	k, step, skip := 0, 1, i
	if back := int(s.calls) - 1 - i; back < i {
		k, step, skip = int(s.n)-1, -1, back
	}
	for ; ; k += step {
		e := s.at(k)
		if !e.call {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		for _, c := range e.cands {
			if c.info.mayClose {
				return false
			}
		}
		return true
	}
}

// Bindings returns the variables bound in the states the session may be
// in, state by state in the order of States, variables in the order the
// contract names them; unbound ones are left out.
func (s *Session) Bindings() []Binding {
	if s.m == nil {
		return nil
	}
	var out []Binding
	for i, st := range s.cur.states {
		env := s.cur.env(i, s.nv)
		for slot, b := range env {
			if b.val != nil {
				out = append(out, Binding{State: s.m.states[st].name, Var: s.m.vars[slot], Value: b.val, Seq: int(b.seq), By: b.by})
			}
		}
	}
	return out
}

// ended returns the violation for a message after the end, or nil.
func (s *Session) ended(t term.Term, side Side) *Violation {
	if s.m != nil && !s.closed && !s.Done() {
		return nil
	}
	return s.endedViolation(t, side)
}

// endedViolation is ended's violation, when there is one.
func (s *Session) endedViolation(t term.Term, side Side) *Violation {
	if s.m == nil {
		return &Violation{Side: side, Kind: InvalidSession, Message: t, Explanation: s.err}
	}
	if s.closed {
		return &Violation{Side: side, Kind: AfterEnd, States: s.States(), Message: t,
			Explanation: "the connection was closed; no message may follow"}
	}
	if s.Done() {
		return &Violation{Side: side, Kind: AfterEnd, States: s.States(), Message: t,
			Explanation: "the conversation ended in a terminal state; no message may follow"}
	}
	return nil
}

// Call checks a client request (a message the wire marks as a call). It
// returns nil when the request is legal.
func (s *Session) Call(t term.Term) *Violation {
	if s.callPlain(t) {
		return nil
	}
	_, v := s.client(t, true, false, false)
	return v
}

// callPlain is Call's short way, for the usual case: the session in one
// state, no request pending, a contract without variables, and a call rule
// of the state, or else a +anystate one, accepting t. It takes t as
// checkClient would and reports true, or reports false having changed
// nothing, and the general way decides.
func (s *Session) callPlain(t term.Term) bool {
	if s.m == nil || s.closed || s.n != 0 || s.nv != 0 || len(s.cur.states) != 1 {
		return false
	}
	st := s.cur.states[0]
	si := &s.m.states[st]
	if si.terminal {
		return false
	}
	if s.fore.has {
		s.fore = foresight{} // a client message uses it up, as in checkClient
	}
	s.seq++
	e := s.slot(t)
	s.tryPlain(e, t, st, &si.rules, &s.m.any)
	if len(e.cands) == 0 {
		s.seq--
		e.msg = nil
		return false
	}
	e.call = true
	s.commit()
	return true
}

// EventIn checks a message the client sent unasked (the wire marks it as
// an event): an in transition or event of the current states.
func (s *Session) EventIn(t term.Term) *Violation {
	_, v := s.client(t, false, true, false)
	return v
}

// Client checks a message from the client whose kind the wire does not
// say, and says what it was: a call if a call rule of a current state (or
// +anystate) accepts it, else an in transition or event if one accepts
// it, else a violation.
func (s *Session) Client(t term.Term) (Role, *Violation) { return s.client(t, true, true, false) }

// CallForeseen is Call of the message last given to Foresee. When nothing
// was checked since, it takes the match Foresee made rather than making it
// again: a proxy that foresees each pipelined request and then checks it
// matches it once. A check of a client message (this one, or Call, Client,
// EventIn) uses the foresight up: without a message foreseen since, it
// reports an InvalidSession violation.
func (s *Session) CallForeseen() *Violation {
	if s.callForeseenPlain() {
		return nil
	}
	_, v := s.clientForeseen(true, false)
	return v
}

// callForeseenPlain is CallForeseen's short way, for a message Foresee
// found a call of (its candidates left in the ring's free slot) with
// nothing checked since: it takes the message as checkClient would and
// reports true, or reports false having changed nothing, and the general
// way decides. Foresee left candidates only in a session that had not
// ended, and since then (the same seq) only Close could end it. It is
// small enough to inline.
func (s *Session) callForeseenPlain() bool {
	f := &s.fore
	if !f.left || f.dir != dirCall || f.seq != s.seq || s.closed || s.n >= s.maxPending {
		// Foresee sets left only with has (the foresight not used up).
		return false
	}
	s.seq++
	e := s.foreseenSlot(f.msg, f)
	*f = foresight{} // used up, and the message not kept alive
	e.call = true    // admit's way with a call, committed
	s.calls++
	s.n++
	return true
}

// foreseenSlot returns the ring's free slot, where Foresee left the
// candidates of t, the message f foresaw (what collect would find), filled
// in for checkClient or callForeseenPlain to admit t (message s.seq).
func (s *Session) foreseenSlot(t term.Term, f *foresight) *pending {
	e := s.at(int(s.n))
	e.msg, e.seq, e.spec = t, s.seq, s.n > 0
	if e.spec {
		e.alone = f.state
	}
	return e
}

// ClientForeseen is Client of the message last given to Foresee, as
// CallForeseen is Call.
func (s *Session) ClientForeseen() (Role, *Violation) { return s.clientForeseen(true, true) }

func (s *Session) clientForeseen(asCall, asIn bool) (Role, *Violation) {
	if !s.fore.has {
		return RoleCall, s.report(&Violation{Side: Client, Kind: InvalidSession,
			Explanation: "no message was foreseen since the last client message was checked"})
	}
	return s.client(s.fore.msg, asCall, asIn, s.fore.left && s.fore.seq == s.seq)
}

// Reply checks the server's reply to the oldest outstanding request.
func (s *Session) Reply(t term.Term) *Violation {
	if s.replyPlain(t) {
		return nil
	}
	_, v := s.server(t, "", false, true, false)
	return v
}

// ReplyState is Reply for wire formats that carry the state the server
// announces; that state must be one the contract allows after this reply.
// The session then continues in that state only.
func (s *Session) ReplyState(t term.Term, next string) *Violation {
	_, v := s.server(t, next, true, true, false)
	return v
}

// EventOut checks a message the server sent unasked (the wire marks it as
// an event, or it is a greeting): an out transition or event of the
// current states.
func (s *Session) EventOut(t term.Term) *Violation {
	_, v := s.server(t, "", false, false, true)
	return v
}

// Server checks a message from the server whose kind the wire does not
// say, and says what it was: the reply to the oldest pending call if it
// matches one of that call's replies, else an out transition or event if
// one accepts it, else a violation (of the pending call's reply, when a
// call is pending).
func (s *Session) Server(t term.Term) (Role, *Violation) {
	if s.replyPlain(t) {
		return RoleReply, nil
	}
	return s.server(t, "", false, true, true)
}

// client checks a client message as a call, an in transition, or either
// (calls first). foreseen: Foresee left t's candidates in the ring's free
// slot (foresight.left) and nothing was checked since.
func (s *Session) client(t term.Term, asCall, asIn, foreseen bool) (Role, *Violation) {
	role, v := s.checkClient(t, asCall, asIn, foreseen)
	if v != nil {
		v = s.report(v)
	}
	return role, v
}

// report is a check's violation v as the session reports it: its secrets
// hidden, and the message marked refused, for AppendTaken. Callers test v
// for nil first, which costs an accepted message no call.
func (s *Session) report(v *Violation) *Violation {
	if s.act != nil {
		s.act.refused = s.seq
	}
	return s.redact(v)
}

// checkClient is client before the violation's secrets are hidden.
func (s *Session) checkClient(t term.Term, asCall, asIn, foreseen bool) (Role, *Violation) {
	role := RoleCall
	if !asCall {
		role = RoleEvent
	}
	var f foresight
	if s.fore.has {
		f, s.fore = s.fore, foresight{} // used up, and the message not kept alive
	}
	if s.m == nil || s.closed || s.Done() {
		return role, s.endedViolation(t, Client)
	}
	s.seq++
	if s.n >= s.maxPending {
		return role, &Violation{Side: Client, Kind: TooManyPending, States: s.States(), Message: t,
			Explanation: fmt.Sprintf("%d requests already await their reply (the limit)", s.n)}
	}
	if foreseen && (f.dir == dirCall && asCall || f.dir == contract.In && asIn) {
		e := s.foreseenSlot(t, &f)
		return s.admit(e, f.dir, e.spec), nil
	}
	spec := s.n > 0
	set := &s.cur
	if spec {
		set = &configSet{states: s.afterPending()}
		s.prepareKnown()
	}
	e := s.slot(t)
	e.spec = spec
	if spec && len(set.states) == 1 {
		e.alone = set.states[0]
	}
	if asCall {
		s.collect(e, t, set, spec, dirCall)
		if len(e.cands) > 0 {
			e.call = true
			s.commit()
			return RoleCall, nil
		}
	}
	if asIn {
		s.collect(e, t, set, spec, contract.In)
		if len(e.cands) > 0 {
			return s.admit(e, contract.In, spec), nil
		}
	}
	e.msg = nil
	return role, s.badClient(t, set, spec, asCall, asIn)
}

// admit takes the client message checked in the ring's free slot e, whose
// candidates are of kind dir: a call, or a transition behind pending
// calls (spec), waits its turn; any other transition moves the session
// now.
func (s *Session) admit(e *pending, dir contract.Direction, spec bool) Role {
	if dir == dirCall {
		e.call = true
		s.commit()
		return RoleCall
	}
	role := s.transitionRole(e)
	if spec {
		s.commit()
		return role
	}
	s.apply(e, RoleTransition)
	e.msg = nil
	return role
}

// slot returns the ring's slot after the pending messages, reset for
// checking t (message s.seq): a message is checked in place and, if it
// must wait its turn, committed there; otherwise the slot stays free. The
// ring grows up to MaxPending slots and the one being checked.
func (s *Session) slot(t term.Term) *pending {
	if int(s.n) == len(s.ring) {
		s.grow()
	}
	e := s.at(int(s.n))
	e.reset(t, s.seq, s.nv)
	return e
}

// grow makes the ring larger (its messages kept, in order): twice as
// large, up to MaxPending slots and the one being checked.
func (s *Session) grow() {
	size := 2 * len(s.ring)
	if size < 1 {
		size = 1
	}
	if size > int(s.maxPending)+1 {
		size = int(s.maxPending) + 1
	}
	ring := make([]pending, size)
	if s.act == nil {
		s.act = &active{}
	}
	for i := range int(s.n) {
		ring[i] = *s.at(i)
	}
	s.ring, s.head = ring, 0
}

// commit makes the message checked in slot() pending.
func (s *Session) commit() {
	if s.at(int(s.n)).call {
		s.calls++
	}
	s.n++
}

// at returns the k-th message of the ring, 0 being the head, for k up to
// the ring's size (head+k wraps round once at most: no division).
func (s *Session) at(k int) *pending {
	i := int(s.head) + k
	if i >= len(s.ring) {
		i -= len(s.ring)
	}
	return &s.ring[i]
}

// pop drops the head of the ring.
func (s *Session) pop() {
	e := &s.ring[s.head]
	if e.call {
		s.calls--
	}
	e.msg = nil
	if s.head++; int(s.head) == len(s.ring) {
		s.head = 0
	}
	s.n--
}

// collect appends to e the candidates that accept t in the states of set:
// the state's rules of kind dir (calls, or transitions in a direction),
// and, where none of them does, the +anystate ones. spec: set holds no
// bindings (the states after pending replies), every bare variable is
// unknown and matches.
//
// It reports whether a candidate was accepted thanks to an unknown value.
func (s *Session) collect(e *pending, t term.Term, set *configSet, spec bool, dir contract.Direction) (unknown bool) {
	for i, st := range set.states {
		si := &s.m.states[st]
		if si.terminal {
			continue
		}
		env := set.env(i, s.nv)
		if spec && s.x != nil {
			env = s.x.known
		}
		matched, unk := s.try(e, t, st, env, si.indexOf(dir), spec)
		if !matched || unk {
			// +anystate rules apply when no rule of the state does;
			// when that hangs on unknown values, they may.
			_, unk2 := s.try(e, t, st, env, s.m.anyIndex(dir), spec)
			unk = unk || unk2
		}
		unknown = unknown || unk
	}
	return unknown
}

func (s *Session) try(e *pending, t term.Term, st int32, env []binding, ix *ruleIndex, spec bool) (matched, unknown bool) {
	pv := e.vars
	if pv == nil {
		// No variables: nothing to bind or look up.
		n := len(e.cands)
		s.tryPlain(e, t, st, ix, nil)
		return len(e.cands) > n, false
	}
	for _, ri := range s.lookup(ix, t) {
		lo := len(pv.binds)
		vars := varCtx{env: env, out: &pv.binds, spec: spec}
		if spec && s.x != nil {
			vars.dirty = s.x.dirty
		}
		if r := &ix.rules[ri]; !matchNode(t, r.in, r.inC, &vars, s.m.pats) {
			pv.binds = pv.binds[:lo]
			continue
		}
		e.cands = append(e.cands, cand{state: st, info: &ix.rules[ri], lo: int32(lo), hi: int32(len(pv.binds))})
		pv.envs = appendEnv(pv.envs, env, s.nv)
		matched = true
		unknown = unknown || vars.unknown
	}
	return matched, unknown
}

// tryPlain is try for a contract without variables: it appends to e the
// rules of ix that accept t in state st, in order, or, when none does and
// or is not nil, those of or (the +anystate rules, as collect tries them).
// The usual case, a tagged rule of the key looked up last whose arguments
// are leaves, makes no call.
func (s *Session) tryPlain(e *pending, t term.Term, st int32, ix, or *ruleIndex) {
	n := len(e.cands)
	tu, tag, arity, keyed := tupleKey(t)
	var rules []int32
	hit := false
	if a := s.act; keyed && a != nil {
		rules, hit = a.key.rulesIn(ix, tag, arity) // lookup's usual case, inlined
	}
	if !hit {
		rules = s.lookupOther(ix, t, tag, arity, keyed)
	}
	for _, ri := range rules {
		r := &ix.rules[ri]
		var ok, decided bool
		if r.tagged && tu != nil {
			ok, decided = r.inC.leafArgs(tu)
		} else {
			ok, decided = r.inC.quick(t) // matchNode, inlined for the usual case
		}
		if !decided {
			ok = r.acceptsPlain(t, tu, s.m.pats)
		}
		if ok {
			e.cands = append(e.cands, cand{state: st, info: r})
		}
	}
	if len(e.cands) == n && or != nil {
		s.tryPlain(e, t, st, or, nil)
	}
}

// acceptsPlain reports whether r, a rule of a contract without variables
// that its index lists for t, accepts t (tu: t as a tuple, nil when it is
// not one).
func (r *ruleInfo) acceptsPlain(t term.Term, tu term.Tuple, ps patternSet) bool {
	if r.tagged && tu != nil {
		// The index listed r under t's tag: only the arity and the
		// arguments are left to match.
		return arityFits(len(tu), r.inC.tuple) && (*matcher)(nil).elems(r.inC, tu, 1, 0)
	}
	return matchNode(t, r.in, r.inC, nil, ps)
}

// transitionRole is RoleEvent when every transition that accepted e keeps
// its state, RoleTransition otherwise.
func (s *Session) transitionRole(e *pending) Role {
	for _, c := range e.cands {
		if nextState(c.info.next, c.state) != c.state {
			return RoleTransition
		}
	}
	return RoleEvent
}

// apply moves the session by the transitions that accepted e, which
// become the session's states with their bindings.
func (s *Session) apply(e *pending, by Role) {
	next := &s.spare
	next.reset()
	if by == RoleTransition {
		by = s.transitionRole(e)
	}
	for i, c := range e.cands {
		next.add(nextState(c.info.next, c.state), s.envOf(e, i), s.nv, [2][]newBind{e.bindsOf(c)}, [2]int32{e.seq}, [2]Role{by})
	}
	s.cur, s.spare = s.spare, s.cur
}

func (s *Session) envOf(e *pending, i int) []binding {
	if s.nv == 0 || e.vars == nil {
		return nil
	}
	return e.vars.envs[i*s.nv : (i+1)*s.nv]
}

// afterPending returns the states the session may be in once every
// pending call is answered and every queued transition applied: the next
// states of the last pending message's candidates.
func (s *Session) afterPending() []int32 {
	last := s.at(int(s.n) - 1)
	x := s.scr()
	// A client that pipelines one command after another asks this of
	// messages accepted by the same one rule, time after time.
	key := afterKey{call: last.call}
	if len(last.cands) == 1 {
		c := last.cands[0]
		key = afterKey{state: c.state, info: c.info, call: last.call, one: true}
		if key == x.after {
			return x.spec
		}
	}
	x.after = key
	x.spec = x.spec[:0]
	for _, c := range last.cands {
		if !last.call {
			x.spec = addState(x.spec, nextState(c.info.next, c.state))
			continue
		}
		for k := range c.info.outs {
			x.spec = addState(x.spec, c.info.outs[k].nextFrom(c.state))
		}
	}
	return x.spec
}

func addState(set []int32, st int32) []int32 {
	if hasState(set, st) {
		return set
	}
	return append(set, st)
}

func hasState(set []int32, st int32) bool {
	for _, x := range set {
		if x == st {
			return true
		}
	}
	return false
}

// server checks a server message as the reply to the oldest pending call
// (asReply), as an out transition or event (asOut), or either (reply
// first).
func (s *Session) server(t term.Term, announced string, hasAnnounced, asReply, asOut bool) (Role, *Violation) {
	if s.m == nil || s.closed || (s.calls == 0 && s.Done()) {
		return serverRole(asReply), s.report(s.endedViolation(t, Server))
	}
	s.seq++
	if asReply && s.calls > 0 {
		if v, ok := s.replyAll(t, &s.ring[s.head], announced, hasAnnounced); ok || !asOut || hasAnnounced {
			if v != nil {
				v = s.report(v)
			}
			return RoleReply, v
		}
	}
	role, v := s.notReply(t, asReply, asOut)
	if v != nil {
		v = s.report(v)
	}
	return role, v
}

// serverRole is the role a server message is checked in: a reply or
// either (asReply), or an event or transition.
func serverRole(asReply bool) Role {
	if asReply {
		return RoleReply
	}
	return RoleEvent
}

// notReply is server's check of t, message s.seq, when it is not the reply
// to a pending call: an out transition or event (asOut), or else the
// violation, before its secrets are hidden.
func (s *Session) notReply(t term.Term, asReply, asOut bool) (Role, *Violation) {
	if asOut && !s.Done() {
		e := s.slot(t)
		s.collect(e, t, &s.cur, false, contract.Out)
		e.msg = nil
		if len(e.cands) > 0 {
			role := s.transitionRole(e)
			s.apply(e, RoleTransition)
			return role, nil
		}
	}
	if asReply && s.calls > 0 {
		return RoleReply, s.badReply(t, &s.ring[s.head])
	}
	role := serverRole(asReply)
	if asOut {
		return role, s.badServerEvent(t, asReply)
	}
	if v := s.ended(t, Server); v != nil {
		return role, v
	}
	return role, &Violation{Side: Server, Kind: UnexpectedReply, States: s.States(), Message: t,
		Explanation: "a reply with no request outstanding"}
}

// replyPlain is the short way of Reply and Server, for the usual case: a
// contract without variables, a call pending that one rule accepted whose
// outputs all lead to one state (repliesOne), one of them accepting t, and
// behind the call nothing, a message not checked behind it, or a call
// checked in that state alone, whose candidates are therefore already the
// exact ones (see settle). The first output that accepts t decides: the
// session goes to its state, as the general way (server, replyAll) would
// take it there. It takes t as server would and reports true, or reports
// false having changed nothing, and the general way decides.
func (s *Session) replyPlain(t term.Term) bool {
	// A call pending: the session started.
	if s.calls == 0 || s.closed || t == nil {
		return false
	}
	e := &s.ring[s.head]
	if !s.repliesOne(e) {
		return false
	}
	c := &e.cands[0]
	kind := kindOf(t)
	for k := range c.info.outs {
		o := &c.info.outs[k]
		// A reply that the output takes whatever its value (value() |
		// nil: any binary) is not matched.
		ok := o.c != nil && o.c.always&kind != 0
		if !ok {
			var decided bool
			ok, decided = o.c.quick(t) // matchNode, inlined for the usual case
			if !decided {
				ok = matchNode(t, o.typ, o.c, nil, s.m.pats)
			}
		}
		if !ok {
			continue
		}
		st := o.nextFrom(c.state)
		var next *pending // the message behind the call
		if s.n > 1 {
			if next = s.at(1); next.spec && (!next.call || next.alone != st || len(next.cands) == 0) {
				return false // settle checks it again
			}
		}
		s.seq++
		if len(s.cur.states) != 1 || s.cur.states[0] != st {
			s.cur.states = append(s.cur.states[:0], st) // no bindings to keep
		}
		s.pop()
		if next != nil {
			next.spec = false // settled, when it was spec
		}
		return true
	}
	return false // the general way reports it
}

// replyAll matches t against the replies of e, the head call (the
// general way; see replyPlain). ok is false when none accepts it (the
// session is unchanged, v is the BadReply, or BadNextState when
// hasAnnounced). When ok, v is nil or the PipelinedRequest violation of a
// message queued behind the call.
func (s *Session) replyAll(t term.Term, e *pending, announced string, hasAnnounced bool) (v *Violation, ok bool) {
	next := &s.spare
	next.reset()
	for i := range e.cands {
		c := &e.cands[i]
		for k := range c.info.outs {
			o := &c.info.outs[k]
			if s.nv > 0 {
				s.replyBinding(t, e, i, o, next)
				continue
			}
			if matchNode(t, o.typ, o.c, nil, s.m.pats) {
				next.states = addState(next.states, o.nextFrom(c.state))
			}
		}
	}
	if len(next.states) == 0 {
		return s.badReply(t, e), false
	}
	if hasAnnounced {
		if v := s.announced(t, e, next, announced); v != nil {
			return v, false
		}
	}
	s.cur, s.spare = s.spare, s.cur
	s.pop()
	return s.settle(), true
}

// announced reduces next, the states the reply t to e allows, to the
// state the server announced, or returns the BadNextState violation when
// that is not one of them.
func (s *Session) announced(t term.Term, e *pending, next *configSet, announced string) *Violation {
	i, known := s.m.index[announced]
	k := -1
	if known {
		for j, st := range next.states {
			if st == i {
				k = j
			}
		}
	}
	if k < 0 {
		v := s.badReply(t, e)
		v.Kind = BadNextState
		v.Explanation = fmt.Sprintf("announced next state %s, but the contract allows only %s after this reply",
			announced, joinNames(s.names(next.states)))
		return v
	}
	keep(next, k, s.nv)
	return nil
}

// repliesOne reports whether replyPlain may take the reply to the call e:
// a contract without variables, and a call accepted by one rule whose
// outputs all lead to one state.
func (s *Session) repliesOne(e *pending) bool {
	return s.nv == 0 && len(e.cands) == 1 && e.cands[0].info.oneNext
}

// replyBinding adds to next the state the output o of e's i-th candidate
// leads to, with its bindings, when the reply t matches o (a contract with
// variables).
func (s *Session) replyBinding(t term.Term, e *pending, i int, o *outInfo, next *configSet) {
	c := e.cands[i]
	env, extra := s.replyEnv(e, i), e.bindsOf(c)
	x := s.scr()
	x.binds = x.binds[:0]
	vars := varCtx{env: env, extra: extra, out: &x.binds}
	if matchNode(t, o.typ, o.c, &vars, s.m.pats) {
		next.add(o.nextFrom(c.state), env, s.nv, [2][]newBind{extra, x.binds}, [2]int32{e.seq, s.seq}, [2]Role{RoleCall, RoleReply})
	}
}

// nextFrom is the state o leads to from state st.
func (o *outInfo) nextFrom(st int32) int32 { return nextState(o.next, st) }

// nextState is the state a rule's next (a transition's, or an output's)
// leads to from st: st itself when next is -1, a rule that stays where it
// was taken (+anystate).
func nextState(next, st int32) int32 {
	if next < 0 {
		return st
	}
	return next
}

// keep reduces set to its k-th state.
func keep(set *configSet, k, nv int) {
	set.states[0] = set.states[k]
	set.states = set.states[:1]
	if nv > 0 {
		copy(set.vals, set.vals[k*nv:(k+1)*nv])
		set.vals = set.vals[:nv]
	}
}

// replyEnv is the bindings the i-th candidate of the call e answers in:
// those of its state now, when the session is still in it (server events
// since the call may have bound variables), else those it was accepted
// with.
func (s *Session) replyEnv(e *pending, i int) []binding {
	if s.nv == 0 {
		return nil
	}
	st := e.cands[i].state
	for k, x := range s.cur.states {
		if x == st {
			return s.cur.env(k, s.nv)
		}
	}
	return s.envOf(e, i)
}

// settle checks the messages queued behind a reply that was just taken,
// now that the state is known: in transitions are applied, up to the next
// call, which is checked exactly and stays at the head. A message that is
// not legal now is a PipelinedRequest violation.
func (s *Session) settle() *Violation {
	for s.n > 0 {
		e := &s.ring[s.head]
		if !e.spec {
			return nil
		}
		dir := contract.In
		if e.call {
			dir = dirCall
		}
		if s.nv > 0 || len(s.cur.states) != 1 || e.alone != s.cur.states[0] {
			// Checked exactly, now that the state is known. (Checked
			// behind the replies in the one state the session is now
			// in, and with no variables to tell the checks apart, its
			// candidates are already the exact ones.)
			e.reset(e.msg, e.seq, s.nv)
			e.call = dir == dirCall
			s.collect(e, e.msg, &s.cur, false, dir)
		}
		if len(e.cands) == 0 {
			v := s.pipelineViolation(e.msg)
			if !e.call {
				// A transition awaits no reply: it leaves the queue,
				// whose head stays a call.
				s.pop()
			}
			return v
		}
		e.spec = false
		if e.call {
			return nil
		}
		s.apply(e, RoleTransition)
		s.pop()
	}
	return nil
}

// Close reports that side closed the connection; it is a violation when the
// server leaves a request unanswered whose reply is not none(). The client
// may close at any time. After Close every message is an AfterEnd
// violation.
func (s *Session) Close(side Side) *Violation { return s.redact(s.close(side)) }

// close is Close before the violation's secrets are hidden.
func (s *Session) close(side Side) *Violation {
	if s.m == nil || s.closed {
		return nil
	}
	s.closed = true
	if side != Server {
		return nil
	}
	for i := range int(s.n) {
		e := s.at(i)
		if !e.call {
			continue
		}
		ok := false
		var expected []contract.Type
		for _, c := range e.cands {
			ri := c.info
			if ri.mayClose {
				ok = true
				break
			}
			for _, o := range ri.outs {
				expected = append(expected, o.typ)
			}
		}
		if ok {
			continue
		}
		return &Violation{Side: Server, Kind: Unanswered, States: s.States(), Message: e.msg, Expected: expected,
			Explanation: "the server closed the connection without replying"}
	}
	return nil
}

// Package checker decides whether messages keep a contract: it matches terms
// against types (explaining, on a mismatch, where and why), and follows
// conversations as state machines with Session.
//
// A server prepares each contract once with Prepare and starts a Session per
// connection with Machine.NewSession; the check of a request and its reply
// does not allocate.
package checker

import (
	"fmt"
	"strings"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/violation"
	"github.com/ubfproxy/ubfproxy/term"
)

// Side names who broke the contract (violation.Side, which the wire
// formats share).
type Side = violation.Side

// The sides.
const (
	Client = violation.Client
	Server = violation.Server
)

// Kind says what sort of violation happened (violation.Kind, which the
// proxy shares). The checker returns the kinds from BadRequest to
// InvalidSession.
type Kind = violation.Kind

// The kinds of violations the checker finds; see violation.Kind for each.
const (
	BadRequest       = violation.BadRequest
	BadReply         = violation.BadReply
	BadNextState     = violation.BadNextState
	BadEvent         = violation.BadEvent
	WrongDirection   = violation.WrongDirection
	AfterEnd         = violation.AfterEnd
	UnexpectedReply  = violation.UnexpectedReply
	TooManyPending   = violation.TooManyPending
	Unanswered       = violation.Unanswered
	PipelinedRequest = violation.PipelinedRequest
	InvalidSession   = violation.InvalidSession
)

// Violation says how a message broke the contract.
type Violation struct {
	Side        Side
	Kind        Kind
	States      []string        // the states the session was in (or may be in, for a pipelined request)
	Message     term.Term       // the offending message; for Unanswered the request left unanswered; nil for InvalidSession
	Request     term.Term       // for BadReply and BadNextState, the request being answered
	Expected    []contract.Type // the input types of the states, the outputs of the matched rules, or the events allowed
	Explanation string          // why Message did not match the closest candidate, or what else went wrong
}

// Error is a one-line message for people and logs:
//
//	client broke the contract in state ready: {read_line, "x"}: element 2 of {read_line, "x"}: expected fileHandle() = integer(), got "x"
func (v *Violation) Error() string {
	var b strings.Builder
	violation.Line(&b, violation.Plain, v.Side, v.States, v.Message, v.Explanation, nil)
	return b.String()
}

// ExpectedStrings returns the expected types in the contract's notation.
func (v *Violation) ExpectedStrings() []string {
	out := make([]string, len(v.Expected))
	for i, t := range v.Expected {
		out[i] = t.String()
	}
	return out
}

// DefaultMaxPending is the number of pipelined requests a session holds
// when Options.MaxPending is 0.
const DefaultMaxPending = 128

// Options tune a session.
type Options struct {
	// Initial names the starting state; "" means the contract's.
	Initial string
	// MaxPending bounds the requests awaiting their reply; one more is a
	// TooManyPending violation. 0 means DefaultMaxPending.
	MaxPending int
}

// Session follows one conversation. It is not safe for concurrent use: one
// connection owns it.
//
// A message that breaks the contract leaves the session as it was, so a
// caller that drops the message (rather than ending the session) may go on.
// One exception: a PipelinedRequest violation returned by Reply or
// ReplyState blames the pending request, not the reply, which is taken (the
// session moves), and the conversation cannot go on: end the session.
//
// Pipelining: a request sent while earlier ones await their reply is
// checked against every state the session may be in once those replies
// arrive — the next states of all outputs of the rules the previous pending
// request matched (its own state for +anystate rules). It is rejected at
// once when it is legal in none of them. When a reply then fixes the state,
// the next pending request must have been legal in that state; if not, that
// reply's check reports a PipelinedRequest violation by the client.
//
// Events are checked against the states the session is in now, whatever
// requests are pending. Terminal states accept nothing: neither +anystate
// rules nor +anystate events keep a conversation alive once it reached one
// (a session whose states are terminal and non-terminal goes on in the
// non-terminal ones).
type Session struct {
	m          *core
	err        string // set when the session could not start
	cur        []int32
	spare      []int32
	curBuf     [2]int32
	spareBuf   [2]int32
	ring       []pending // FIFO of requests awaiting replies
	head, n    int
	maxPending int
	closed     bool
	spec       []int32 // scratch: states reachable after the pending replies
}

// pending is a request awaiting its reply, with the (state, rule) pairs
// that accepted it.
type pending struct {
	msg   term.Term
	cands []cand
}

type cand struct {
	state int32
	rule  int32
	any   bool // an +anystate rule
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
	s := &Session{m: m, maxPending: opts.MaxPending}
	if s.maxPending <= 0 {
		s.maxPending = DefaultMaxPending
	}
	s.cur = append(s.curBuf[:0], init)
	s.spare = s.spareBuf[:0]
	return s, nil
}

// States returns the states the session may be in.
func (s *Session) States() []string {
	if s.m == nil {
		return nil
	}
	return s.names(s.cur)
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
	for _, st := range s.cur {
		if !s.m.states[st].terminal {
			return false
		}
	}
	return true
}

// Pending returns how many requests await their reply.
func (s *Session) Pending() int { return s.n }

// ended returns the violation for a message after the end, or nil.
func (s *Session) ended(t term.Term, side Side) *Violation {
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

// Call checks a client request. It returns nil when the request is legal.
func (s *Session) Call(t term.Term) *Violation {
	if v := s.ended(t, Client); v != nil {
		return v
	}
	if s.n >= s.maxPending {
		return &Violation{Side: Client, Kind: TooManyPending, States: s.States(), Message: t,
			Explanation: fmt.Sprintf("%d requests already await their reply (the limit)", s.n)}
	}
	states := s.cur
	if s.n > 0 {
		states = s.afterPending()
	}
	e := s.push(t)
	for _, st := range states {
		si := &s.m.states[st]
		if si.terminal {
			continue
		}
		matched := false
		for _, ri := range si.rules.lookup(t) {
			if Match(t, si.rules.rules[ri].in) {
				e.cands = append(e.cands, cand{state: st, rule: ri})
				matched = true
			}
		}
		if matched {
			continue
		}
		for _, ri := range s.m.any.lookup(t) {
			if Match(t, s.m.any.rules[ri].in) {
				e.cands = append(e.cands, cand{state: st, rule: ri, any: true})
			}
		}
	}
	if len(e.cands) > 0 {
		return nil
	}
	s.n-- // not accepted: the request is not pending
	e.msg = nil
	return s.badRequest(t, states)
}

// afterPending returns the states the session may be in once every pending
// reply has arrived.
func (s *Session) afterPending() []int32 {
	last := &s.ring[(s.head+s.n-1)%len(s.ring)]
	s.spec = s.spec[:0]
	for _, c := range last.cands {
		ri := s.rule(c)
		for _, o := range ri.outs {
			next := o.next
			if next < 0 {
				next = c.state
			}
			s.spec = addState(s.spec, next)
		}
	}
	return s.spec
}

func (s *Session) rule(c cand) *ruleInfo {
	if c.any {
		return &s.m.any.rules[c.rule]
	}
	return &s.m.states[c.state].rules.rules[c.rule]
}

func addState(set []int32, st int32) []int32 {
	for _, x := range set {
		if x == st {
			return set
		}
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

// push appends a request to the FIFO, growing it up to maxPending, and
// returns its slot with an empty candidate list (capacity kept).
func (s *Session) push(t term.Term) *pending {
	if s.n == len(s.ring) {
		size := 2 * len(s.ring)
		if size < 2 {
			size = 2
		}
		if size > s.maxPending {
			size = s.maxPending
		}
		ring := make([]pending, size)
		for i := 0; i < s.n; i++ {
			ring[i] = s.ring[(s.head+i)%len(s.ring)]
		}
		s.ring, s.head = ring, 0
	}
	e := &s.ring[(s.head+s.n)%len(s.ring)]
	e.msg = t
	e.cands = e.cands[:0]
	s.n++
	return e
}

func (s *Session) badRequest(t term.Term, states []int32) *Violation {
	v := &Violation{Side: Client, Kind: BadRequest, States: s.names(states), Message: t}
	var candidates []contract.Type
	live := false
	for _, st := range states {
		si := &s.m.states[st]
		if si.terminal {
			continue
		}
		live = true
		for i := range si.rules.rules {
			v.Expected = append(v.Expected, si.rules.rules[i].in)
		}
		for _, ri := range si.rules.lookupKey(t) {
			candidates = append(candidates, si.rules.rules[ri].in)
		}
	}
	if !live {
		v.Kind = AfterEnd
		v.Explanation = "the conversation will have ended (terminal state) when this request arrives"
		if s.n == 0 {
			v.Explanation = "the conversation ended in a terminal state; no message may follow"
		}
		return v
	}
	for i := range s.m.any.rules {
		v.Expected = append(v.Expected, s.m.any.rules[i].in)
	}
	for _, ri := range s.m.any.lookupKey(t) {
		candidates = append(candidates, s.m.any.rules[ri].in)
	}
	if len(candidates) == 0 {
		candidates = v.Expected
	}
	if len(candidates) == 0 {
		v.Explanation = "no request is allowed in this state"
		return v
	}
	v.Explanation = ExplainAny(t, candidates)
	if s.n > 0 {
		v.Explanation += " (checked against the states the pending replies may lead to)"
	}
	return v
}

// Reply checks the server's reply to the oldest outstanding request.
func (s *Session) Reply(t term.Term) *Violation { return s.reply(t, "", false) }

// ReplyState is Reply for wire formats that carry the state the server
// announces; that state must be one the contract allows after this reply.
// The session then continues in that state only.
func (s *Session) ReplyState(t term.Term, next string) *Violation { return s.reply(t, next, true) }

func (s *Session) reply(t term.Term, announced string, hasAnnounced bool) *Violation {
	if s.m == nil {
		return s.ended(t, Server)
	}
	if s.n == 0 {
		if v := s.ended(t, Server); v != nil {
			return v
		}
		return &Violation{Side: Server, Kind: UnexpectedReply, States: s.States(), Message: t,
			Explanation: "a reply with no request outstanding"}
	}
	if s.closed {
		return s.ended(t, Server)
	}
	e := &s.ring[s.head]
	next := s.spare[:0]
	valid := false
	for _, c := range e.cands {
		if !hasState(s.cur, c.state) {
			continue
		}
		valid = true
		ri := s.rule(c)
		for _, o := range ri.outs {
			if Match(t, o.typ) {
				n := o.next
				if n < 0 {
					n = c.state
				}
				next = addState(next, n)
			}
		}
	}
	if !valid {
		return s.pipelineViolation(e.msg)
	}
	if len(next) == 0 {
		s.spare = next
		return s.badReply(t, e)
	}
	if hasAnnounced {
		i, ok := s.m.index[announced]
		if !ok || !hasState(next, i) {
			s.spare = next
			v := s.badReply(t, e)
			v.Kind = BadNextState
			v.Explanation = fmt.Sprintf("announced next state %s, but the contract allows only %s after this reply",
				announced, strings.Join(s.names(next), ", "))
			return v
		}
		next = append(next[:0], i)
	}
	// Accept: pop the request and move.
	e.msg = nil
	s.head = (s.head + 1) % len(s.ring)
	s.n--
	s.cur, s.spare = next, s.cur
	if s.n > 0 {
		nx := &s.ring[s.head]
		for _, c := range nx.cands {
			if hasState(s.cur, c.state) {
				return nil
			}
		}
		return s.pipelineViolation(nx.msg)
	}
	return nil
}

func (s *Session) pipelineViolation(req term.Term) *Violation {
	v := &Violation{Side: Client, Kind: PipelinedRequest, States: s.States(), Message: req}
	live := false
	for _, st := range s.cur {
		si := &s.m.states[st]
		if si.terminal {
			continue
		}
		live = true
		for i := range si.rules.rules {
			v.Expected = append(v.Expected, si.rules.rules[i].in)
		}
	}
	if !live {
		v.Explanation = "request pipelined before the reply that ended the conversation"
		return v
	}
	for i := range s.m.any.rules {
		v.Expected = append(v.Expected, s.m.any.rules[i].in)
	}
	v.Explanation = "request pipelined before the reply that led here, and not legal here: " + ExplainAny(req, v.Expected)
	return v
}

func (s *Session) badReply(t term.Term, e *pending) *Violation {
	v := &Violation{Side: Server, Kind: BadReply, States: s.States(), Message: t, Request: e.msg}
	seen := make(map[contract.Type]bool)
	for _, c := range e.cands {
		if !hasState(s.cur, c.state) {
			continue
		}
		for _, o := range s.rule(c).outs {
			if !seen[o.typ] {
				seen[o.typ] = true
				v.Expected = append(v.Expected, o.typ)
			}
		}
	}
	v.Explanation = ExplainAny(t, v.Expected) + " (reply to " + term.Truncated(e.msg, maxTermText) + ")"
	return v
}

// EventIn checks an event sent by the client.
func (s *Session) EventIn(t term.Term) *Violation { return s.event(t, contract.In) }

// EventOut checks an event sent by the server (a greeting included).
func (s *Session) EventOut(t term.Term) *Violation { return s.event(t, contract.Out) }

func (s *Session) event(t term.Term, dir contract.Direction) *Violation {
	side := Client
	if dir == contract.Out {
		side = Server
	}
	if v := s.ended(t, side); v != nil {
		return v
	}
	if s.eventMatches(t, dir) {
		return nil
	}
	v := &Violation{Side: side, Kind: BadEvent, States: s.States(), Message: t}
	seen := make(map[contract.Type]bool)
	add := func(ts []contract.Type) {
		for _, x := range ts {
			if !seen[x] {
				seen[x] = true
				v.Expected = append(v.Expected, x)
			}
		}
	}
	for _, st := range s.cur {
		if !s.m.states[st].terminal {
			add(s.m.states[st].ev[dir])
		}
	}
	add(s.m.anyEv[dir])
	other := contract.In
	if dir == contract.In {
		other = contract.Out
	}
	if s.eventMatches(t, other) {
		v.Kind = WrongDirection
		v.Explanation = fmt.Sprintf("declared as an event from the %s (%s), not from the %s (%s)",
			sideOf(other), other, side, dir)
		return v
	}
	if len(v.Expected) == 0 {
		v.Explanation = fmt.Sprintf("no %s event (%s) is allowed here", side, dir)
		return v
	}
	v.Explanation = ExplainAny(t, v.Expected)
	return v
}

func sideOf(d contract.Direction) Side {
	if d == contract.Out {
		return Server
	}
	return Client
}

func (s *Session) eventMatches(t term.Term, dir contract.Direction) bool {
	live := false
	for _, st := range s.cur {
		si := &s.m.states[st]
		if si.terminal {
			continue
		}
		live = true
		for _, et := range si.ev[dir] {
			if Match(t, et) {
				return true
			}
		}
	}
	if !live {
		return false
	}
	for _, et := range s.m.anyEv[dir] {
		if Match(t, et) {
			return true
		}
	}
	return false
}

// Close reports that side closed the connection; it is a violation when the
// server leaves a request unanswered whose reply is not none(). The client
// may close at any time. After Close every message is an AfterEnd
// violation.
func (s *Session) Close(side Side) *Violation {
	if s.m == nil || s.closed {
		return nil
	}
	s.closed = true
	if side != Server {
		return nil
	}
	for i := 0; i < s.n; i++ {
		e := &s.ring[(s.head+i)%len(s.ring)]
		ok := false
		var expected []contract.Type
		for _, c := range e.cands {
			if i == 0 && !hasState(s.cur, c.state) {
				continue
			}
			ri := s.rule(c)
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

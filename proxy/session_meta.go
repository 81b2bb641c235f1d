package proxy

import (
	"fmt"
	"log/slog"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// This file holds the ubf-specific parts of a session: the meta phase
// before {startSession, Name, Args}, and the reports of ubf's own contract
// checker.

// judgeStartSession (mu held, meta phase) recognises {startSession, Name,
// _}: start says it starts the guarded contract; b is the violation when
// it names another service.
func (s *session) judgeStartSession(req term.Term) (b *breach, start bool) {
	name, ok := startSessionName(req)
	if !ok {
		return nil, false
	}
	if name != s.user.c.Name {
		return &breach{side: wrappers.Client, kind: "bad-request", states: s.chk.States(), msg: req,
			expected:    []string{fmt.Sprintf("{startSession, %s, term()}", term.String(s.user.c.Name))},
			explanation: fmt.Sprintf("this proxy guards the service %s only, not %s", term.String(s.user.c.Name), term.String(name))}, false
	}
	return nil, true
}

// judgeStarted (mu held) checks the reply to {startSession, Name, _} and,
// when it is {ok, _}, switches the session to the guarded contract in the
// state the service announced. The announced state belongs to the
// contract being started, so the meta contract checks the reply alone.
func (s *session) judgeStarted(m wrappers.Message, head pendingCall) (*checker.Violation, *breach) {
	v := s.check(func() *checker.Violation { return s.chk.Reply(m.Term) })
	if v != nil || !isOK(m.Term) {
		return v, nil
	}
	next := m.NextState
	if next == "" {
		next = s.cfg.Initial
	}
	if next != "" && !s.user.m.HasState(next) {
		return nil, &breach{side: wrappers.Server, kind: "bad-next-state", states: s.chk.States(), msg: m.Term, request: head.req,
			explanation: fmt.Sprintf("the service started %s in state %s, which the contract does not define", s.user.c.Name, next)}
	}
	s.cur, s.meta = s.user, false
	s.curC.Store(s.user.c)
	s.chk = s.newChecker(s.user, next)
	s.log.Debug("contract started", slog.String("contract", s.user.c.Name), slog.Any("states", s.chk.States()))
	return nil, nil
}

// startSessionName returns Name of {startSession, Name, Args} when Name is
// a string.
func startSessionName(t term.Term) (string, bool) {
	tup, ok := t.(term.Tuple)
	if !ok || len(tup) != 3 || tup[0] != term.Term(term.Atom("startSession")) {
		return "", false
	}
	switch n := tup[1].(type) {
	case term.String:
		return string(n), true
	case term.Binary:
		return string(n), true
	}
	return "", false
}

// isOK reports whether t is {ok, _}.
func isOK(t term.Term) bool {
	tup, ok := t.(term.Tuple)
	return ok && len(tup) == 2 && tup[0] == term.Term(term.Atom("ok"))
}

// ubfSelfReport recognises the reports a ubf 2.x server's own contract
// manager sends in place of a reply: {clientBrokeContract, Req, Expected}
// when it refused Req under its contract, and {serverBrokeContract, {Req,
// Reply}, Expected} when its implementation answered Req off its contract
// (every ubf 2.x server does that for 'info'$ and 'description'$ in its
// meta service: its string() check fails on its own "..." replies). Both
// name the request they answer, which tells them from a service that
// merely replies a tuple of that shape.
func ubfSelfReport(reply, req term.Term) (breach, bool) {
	tup, ok := reply.(term.Tuple)
	if !ok || len(tup) != 3 {
		return breach{}, false
	}
	switch tup[0] {
	case term.Term(term.Atom("clientBrokeContract")):
		if !term.Equal(tup[1], req) {
			return breach{}, false
		}
		return breach{side: wrappers.Client, kind: "service-refused", msg: req,
			explanation: "the service's own contract checker refused the request (ubf clientBrokeContract); its report is forwarded"}, true
	case term.Term(term.Atom("serverBrokeContract")):
		inner, ok := tup[1].(term.Tuple)
		if !ok || len(inner) != 2 || !term.Equal(inner[0], req) {
			return breach{}, false
		}
		return breach{side: wrappers.Server, kind: "service-reported", msg: inner[1], request: req,
			explanation: "the service's own contract checker caught its reply (ubf serverBrokeContract) and sent its report instead; the report is forwarded"}, true
	}
	return breach{}, false
}

// selfReported (mu held) decides about a service's self-report b: it is
// forwarded and recorded, and the session goes on in the state the
// service announces with it, or in the session's state when it announces
// none. ok is false when the session cannot tell the state to go on from;
// the reply is then judged as the illegal reply it is.
func (s *session) selfReported(m wrappers.Message, b breach) (d delivery, ok bool) {
	b.states = s.chk.States()
	next := ""
	switch {
	case m.NextState != "" && s.cur.m.HasState(m.NextState):
		next = m.NextState
	case m.NextState == "" && len(b.states) == 1:
		next = b.states[0]
	}
	if next == "" || s.inflight != 1 {
		return delivery{}, false
	}
	_, queued := s.pop()
	s.resync(next)
	done := s.chk.Done()
	s.setOver(done)
	s.countNow(serviceToClient, verdictUnchecked)
	return delivery{raw: m.Raw, queued: queued, b: &b, act: decide(s.cfg.Mode, selfReported, false), done: done,
		last: s.clientDone && s.inflight == 0}, true
}

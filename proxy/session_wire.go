package proxy

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/violation"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// This file holds what a session does for the optional interfaces of its
// wire: the prelude phase before the guarded contract (wrappers.Prelude,
// ubf's meta service) and the service's own violation reports
// (wrappers.SelfReporter, ubf's clientBrokeContract and
// serverBrokeContract).

// prelude is a wire's prelude as the proxy uses it.
type prelude struct {
	p wrappers.Prelude
	v *version // its contract
}

// newPrelude compiles the prelude of w, if it has one (nil otherwise).
func newPrelude(w wrappers.Wire) (*prelude, error) {
	p, ok := w.(wrappers.Prelude)
	if !ok {
		return nil, nil
	}
	file, src, ok := p.PreludeContract()
	if !ok {
		return nil, nil
	}
	c, diags := contract.Compile(file, src, contract.Options{})
	if c == nil || diags.HasErrors() {
		var msgs []string
		for _, d := range diags {
			msgs = append(msgs, d.Error())
		}
		return nil, fmt.Errorf("proxy: the prelude contract of the %s wire does not compile: %s", w.Name(), strings.Join(msgs, "; "))
	}
	return &prelude{p: p, v: newVersion(c)}, nil
}

// judgeStartSession (mu held, prelude phase) recognises the request that
// starts a service: start says it starts the guarded contract; b is the
// violation when it names another service.
func (s *session) judgeStartSession(req term.Term) (b *breach, start bool) {
	p := s.srv.prelude.p
	name, ok := p.StartRequest(req)
	if !ok {
		return nil, false
	}
	if name != s.user.c.Name {
		return &breach{side: wrappers.Client, kind: violation.BadRequest, states: s.chk.States(), msg: req,
			expected:    []string{p.StartExpected(s.user.c.Name)},
			explanation: fmt.Sprintf("this proxy guards the service %s only, not %s", term.String(s.user.c.Name), term.String(name))}, false
	}
	return nil, true
}

// judgeStarted (mu held) checks the reply to the request that starts the
// guarded service and, when it started it, switches the session to the
// guarded contract in the state the service announced. The announced state
// belongs to the contract being started, so the prelude's contract checks
// the reply alone.
func (s *session) judgeStarted(m wrappers.Message, head pendingCall) (*checker.Violation, *breach) {
	v := s.check(func() *checker.Violation { return s.chk.Reply(m.Term) })
	if v != nil || !s.srv.prelude.p.Started(m.Term) {
		return v, nil
	}
	next := m.NextState
	if next == "" {
		next = s.cfg.Initial
	}
	if next != "" && !s.user.m.HasState(next) {
		return nil, &breach{side: wrappers.Server, kind: violation.BadNextState, states: s.chk.States(), msg: m.Term, request: head.req,
			explanation: fmt.Sprintf("the service started %s in state %s, which the contract does not define", s.user.c.Name, next)}
	}
	s.cur, s.inPrelude = s.user, false
	s.curC.Store(s.user.c)
	s.chk = s.newChecker(s.user, next)
	s.log.Debug("contract started", slog.String("contract", s.user.c.Name), slog.Any("states", s.chk.States()))
	return nil, nil
}

// selfReport returns the service's own report of a violation that reply,
// answering req, is, when the wire knows such reports.
func (s *session) selfReport(reply, req term.Term) (breach, bool) {
	if s.srv.reporter == nil {
		return breach{}, false
	}
	v, ok := s.srv.reporter.SelfReport(reply, req)
	if !ok {
		return breach{}, false
	}
	kind := violation.ServiceReported
	if v.Side == wrappers.Client {
		kind = violation.ServiceRefused
	}
	return breach{side: v.Side, kind: kind, msg: v.Message, request: v.Request, explanation: v.Explanation}, true
}

// selfReported (mu held) decides about a service's self-report b: it is
// forwarded and recorded, and the session goes on in the state the
// service announces with it, or in the session's state when it announces
// none. In kill mode the session ends once the report is out: the report
// is the error reply, and the record names the side it names. The prelude
// is spared: a ubf 2.x server's meta service reports its own answers to
// info and description every time (docs/wires/ubf.md), which no client can
// avoid. ok is false when the session cannot tell the state to go on from;
// the reply is then judged as the illegal reply it is.
func (s *session) selfReported(m wrappers.Message, b breach) (d delivery, ok bool) {
	if s.cfg.Mode == Kill && !s.inPrelude {
		_, queued := s.pop()
		b.states = s.chk.States()
		b.explanation += "; kill mode ends the session after it"
		s.countNow(serviceToClient, verdictUnchecked)
		return delivery{raw: m.Raw, queued: queued, b: &b, act: actionKilled, kill: true}, true
	}
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

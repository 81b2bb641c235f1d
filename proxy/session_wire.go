package proxy

import (
	"fmt"
	"log/slog"
	"sort"
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

// startReq is what a request of the prelude starts: the service name (""
// when it starts none) and its contract (nil when no contract is for it).
type startReq struct {
	name string
	v    *version
}

// ref returns st in a pendingCall's start: nil when the request starts no
// service.
func (st startReq) ref() *startReq {
	if st.name == "" {
		return nil
	}
	p := new(startReq) // made here, so that the usual nil costs nothing
	*p = st
	return p
}

// judgeStartSession (mu held, prelude phase) recognises a request that
// starts a service, and finds the contract of that service. A service no
// contract is for is forwarded (ForwardUnguarded), or refused: b is then
// the violation.
func (s *session) judgeStartSession(req term.Term) (b *breach, st startReq) {
	p := s.srv.prelude.p
	name, ok := p.StartRequest(req)
	if !ok {
		return nil, startReq{}
	}
	v := s.guard.byName[name]
	if v == nil && s.cfg.Unguarded == RefuseUnguarded {
		names := make([]string, 0, len(s.guard.byName))
		for n := range s.guard.byName {
			names = append(names, n)
		}
		sort.Strings(names)
		expected := make([]string, len(names))
		quoted := make([]string, len(names))
		for i, n := range names {
			expected[i], quoted[i] = p.StartExpected(n), term.String(n).String()
		}
		return &breach{side: wrappers.Client, kind: violation.BadRequest, states: s.chk.States(), msg: req, expected: expected,
			explanation: fmt.Sprintf("this proxy guards the services %s only, not %s, and refuses the others (--unguarded refuse)",
				strings.Join(quoted, ", "), term.String(name))}, startReq{}
	}
	return nil, startReq{name: name, v: v}
}

// judgeStarted (mu held) checks the reply to a request that starts a
// service and, when it started it, leaves the prelude: for a guarded
// service, the session goes on in its contract, in the state the service
// announced; for another, everything passes unchecked. A refusal (ubf's
// {error, noSuchService}) leaves the session in the prelude. The announced
// state belongs to the service being started, so the prelude's contract
// checks the reply alone.
func (s *session) judgeStarted(m wrappers.Message, head pendingCall) (*checker.Violation, *breach) {
	t0 := s.startCheck()
	v := s.chk.Reply(m.Term)
	s.endCheck(t0)
	if v != nil || !s.srv.prelude.p.Started(m.Term) {
		return v, nil
	}
	start := head.start.v
	if start == nil {
		s.inPrelude, s.unguarded = false, true
		s.resync("")
		s.logAttrs(slog.LevelInfo, "unguarded service started; its traffic passes unchecked", slog.String("service", head.start.name))
		return nil, nil
	}
	next := m.NextState
	if next == "" {
		next = s.initialOf(start)
	}
	if next != "" && !start.m.HasState(next) {
		return nil, &breach{side: wrappers.Server, kind: violation.BadNextState, states: s.chk.States(), msg: m.Term, request: head.req,
			explanation: fmt.Sprintf("the service started %s in state %s, which the contract does not define", start.c.Name, next)}
	}
	s.enter(start, next)
	return nil, nil
}

// initialOf is the state v starts in when the service does not say:
// Config.Initial for Config.Contract, the contract's own otherwise.
func (s *session) initialOf(v *version) string {
	if v == s.guard.first {
		return s.cfg.Initial
	}
	return ""
}

// enter (mu held) leaves the prelude for the contract v, in state next ("":
// its own initial state).
func (s *session) enter(v *version, next string) {
	s.user, s.cur, s.inPrelude = v, v, false
	s.curV.Store(v)
	s.chk = s.newChecker(v, next)
	s.logAttrs(slog.LevelDebug, "contract started", slog.String("contract", v.c.Name), slog.Any("states", s.chk.States()))
}

// greeted (mu held) follows a greeting: one that names a service a
// contract is for (ubf's startplugin servers) means the session is inside
// that service already, in its initial state; any other (ubf's
// serverhello, naming the meta server) leaves the session in the prelude.
func (s *session) greeted(m wrappers.Message) {
	if !s.inPrelude || s.inflight > 0 {
		return
	}
	name, ok := s.srv.prelude.p.GreetingService(m.Term)
	if v := s.guard.byName[name]; ok && v != nil {
		s.enter(v, s.initialOf(v))
	}
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
		queued := s.pop()
		b.states = s.chk.States()
		b.explanation += "; kill mode ends the session after it"
		s.countNow(serviceToClient, verdictUnchecked)
		return delivery{raw: m.Raw, queued: queued, b: &b, act: actionKilled, kill: true}, true
	}
	b.states = s.chk.States()
	announced := m.NextState
	if s.inPrelude {
		announced = "" // the prelude's announced states are not followed
	}
	next := ""
	switch {
	case announced != "" && s.cur.m.HasState(announced):
		next = announced
	case announced == "" && len(b.states) == 1:
		next = b.states[0]
	}
	if next == "" || s.inflight != 1 {
		return delivery{}, false
	}
	queued := s.pop()
	s.resync(next)
	done := s.chk.Done()
	s.setOver(done)
	s.countNow(serviceToClient, verdictUnchecked)
	return delivery{raw: m.Raw, queued: queued, b: &b, act: decide(s.cfg.Mode, selfReported, false), done: done,
		last: s.clientDone && s.inflight == 0}, true
}

package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/internal/violation"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// This file is the client reader: it judges what the client sends and
// forwards it to the service, or does what the mode says about it.

func (s *session) clientLoop() {
	var m wrappers.Message
	for {
		if !s.next(clientToService, &m) {
			return
		}
		if !s.fromClient(&m) {
			return
		}
		if s.overA.Load() {
			// The conversation is over: the reply that ended it came
			// while this message was handled (a message sent after the
			// end, which reject or monitor mode let live, or the last
			// request, answered before this reader got here). That
			// reply may still be on its way to the client.
			s.flushService()
			s.awaitDelivery()
			s.finish(endInfo{reason: reasonFinished})
			return
		}
	}
}

func (s *session) fromClient(m *wrappers.Message) bool {
	switch m.Kind {
	case wrappers.Filler:
		s.count(clientToService, verdictUnchecked)
		return s.toService(m.Raw)
	case wrappers.Call, wrappers.Unknown:
		// A message whose wire does not say what it is goes the way of
		// a request: the contract decides whether it is one (judgeCall).
		return s.clientCall(m)
	case wrappers.Event:
		return s.clientEvent(*m)
	default:
		s.lock(roleClient)
		b := breach{side: wrappers.Client, kind: violation.BadMessage, states: s.chk.States(), msg: m.Term,
			explanation: fmt.Sprintf("the client sent a %s; a client sends requests and events", m.Kind)}
		s.unlock()
		return s.clientEventViolation(*m, b)
	}
}

func (s *session) clientCall(m *wrappers.Message) bool {
	s.lock(roleClient)
	if len(s.freed) > 0 {
		s.recycle()
	}
	if s.serviceHeld && !s.ended && len(s.pending) >= s.maxPending {
		// The requests held back must reach the service before this one
		// waits for their replies. Nothing else adds to what is held.
		s.unlock()
		if !s.flushService() {
			return false
		}
		s.lock(roleClient)
	}
	// Rejected requests waiting for their place among the replies count:
	// a client that floods illegal requests behind a slow one is read no
	// faster than the service answers.
	if !s.ended && len(s.pending) >= s.maxPending {
		if !s.pendingFull {
			// Once per session, so that a stall has a cause in the log
			// (a service that never answers what the contract calls a
			// call, where it should be an in transition) without a
			// record per request of a busy pipelining client.
			s.pendingFull = true
			s.logAttrs(slog.LevelWarn, "the session reached --max-pending: reading the client waits for replies",
				slog.Int("max_pending", s.maxPending), slog.String("oldest", term.Truncated(s.redact(s.pending[0].req), s.cfg.MaxLogMessage)))
		}
		s.holdUntil(func() bool { return len(s.pending) < s.maxPending })
	}
	foreseen := false // the checker foresaw m and checked nothing since
	if !s.ended && !s.unsynced && s.inflight > 0 {
		var hold bool
		if hold, foreseen = s.mustHold(m); hold {
			// A request the pending replies may make illegal never
			// reaches the service before they have settled the state.
			foreseen = false
			s.unlock()
			if !s.flushService() {
				return false
			}
			s.lock(roleClient)
			s.holdUntil(func() bool { return s.inflight == 0 })
		}
	}
	if s.ended {
		s.unlock()
		return false
	}
	sent := s.clientAt
	if s.unsynced {
		if m.Kind == wrappers.Call {
			// Without a state the contract cannot say whether a message
			// of unknown kind awaits a reply: only requests are queued.
			s.push(pendingCall{req: m.Term, sent: sent, unchecked: true})
		}
		s.unlock()
		s.count(clientToService, verdictUnchecked)
		return s.toService(m.Raw)
	}
	b, st, call := s.judgeCall(m, foreseen)
	if b == nil {
		if call {
			// The reply time-out does not apply to a call whose reply
			// may be none(): the service need never answer it.
			s.push(pendingCall{req: m.Term, sent: sent, start: st.ref(),
				noDeadline: s.cfg.Limits.ReplyTimeout < 0 || !s.chk.ReplyDue(s.chk.Pending()-1)})
		}
		s.unlock()
		s.count(clientToService, verdictOK)
		return s.toService(m.Raw)
	}
	s.countNow(clientToService, verdictViolation)
	act := decide(s.cfg.Mode, illegalRequest, false)
	var reply []byte
	queued := false
	switch act {
	case actionForwarded:
		s.push(pendingCall{req: m.Term, sent: sent, unchecked: true})
	case actionRejected:
		reply = s.wire.ErrorReply(s.hide(*b).wire(s.cfg.Explain))
		if s.dropper != nil {
			s.flushCalls()
			s.dropper.Dropped(wrappers.Client, *m)
		}
		if len(s.pending) > 0 {
			// Earlier replies are still to come: the error reply takes
			// this request's place among them.
			s.push(pendingCall{req: m.Term, errReply: reply, rejected: true})
			queued = true
		}
	}
	s.unlock()
	return s.illegalCall(*m, *b, act, reply, queued)
}

// illegalCall carries out act, decided about the illegal request m: reply
// is its error reply, queued says it waits for its place among the
// replies. What was held back goes to the service first, and before the
// report, which may end the session (Limits.MaxViolations).
func (s *session) illegalCall(m wrappers.Message, b breach, act action, reply []byte, queued bool) bool {
	flushed := s.flushService() // the legal requests before it reach the service
	switch {
	case act == actionKilled:
		s.kill(b, reasonViolation)
		return false
	case !flushed:
		return false
	case act == actionForwarded:
		s.report(b, act)
		return s.toService(m.Raw)
	case queued:
		s.report(b, act)
		return true
	}
	// Nothing in flight: the error reply goes out now. (A service event
	// written since the decision would have raced with it anyway.)
	s.lockW(roleClient)
	s.report(b, act)
	err := s.writeClientLocked(reply)
	s.unlockW()
	if err != nil {
		s.finish(endInfo{reason: reasonClientLeft, err: err})
		return false
	}
	return true
}

// mustHold reports whether the request m, read while others are in flight,
// must wait for their replies (mu held), and whether it asked the checker
// to foresee m (see judgeCall). Forwarding it now is safe only
// when it is legal in every state those replies may lead to. Kill mode
// holds an illegal request too, so that the replies to the legal requests
// the service already executed reach the client before the error reply;
// reject mode answers it at once, its error reply queued in its place
// among the replies. Monitor mode never alters the traffic for the
// contract's sake, so it never holds.
func (s *session) mustHold(m *wrappers.Message) (hold, foreseen bool) {
	if s.cfg.Mode == Monitor || s.inPrelude {
		return false, false
	}
	switch s.chk.Foresee(m.Term) {
	case checker.Legal:
		return false, true
	case checker.Illegal:
		return s.cfg.Mode == Kill, true
	}
	return true, true
}

// holdUntil waits (mu held) until ready reports true or the session ends.
// The client reader reads nothing meanwhile: what a session holds back is
// the one request and what its decoder had already read (Limits.MaxFrame,
// and the memory budget). The request is sent when the wait ends, not when
// it was read.
func (s *session) holdUntil(ready func() bool) {
	if s.ended || ready() {
		return
	}
	s.waiting = true
	for !s.ended && !ready() {
		s.wait(roleClient)
	}
	s.waiting = false
	s.clientAt = s.now()
}

// countRules counts in ubfproxy_transitions_total the rules, transitions
// and events the checker took the message it accepted last by (mu held,
// right after the check; nothing when RuleMetrics is off).
func (s *session) countRules() {
	if s.cfg.RuleMetrics && s.cur != nil {
		s.srv.metrics.exercised(s.cur, s.chk)
	}
}

// judgeCall checks the request m (mu held): it returns the violation, or
// nil, what m starts (in the prelude: the service it names and its
// contract), and whether it is a call awaiting a reply: a message of
// unknown kind is classified by the contract, and may be an in transition
// or event instead. foreseen: the checker foresaw m and has checked
// nothing since, so the check takes the match Foresee made.
func (s *session) judgeCall(m *wrappers.Message, foreseen bool) (b *breach, st startReq, call bool) {
	if s.inPrelude {
		if b, st = s.judgeStartSession(m.Term); b != nil {
			return b, startReq{}, true
		}
	}
	role := checker.RoleCall
	var v *checker.Violation
	t0 := s.startCheck()
	switch {
	case m.Kind != wrappers.Unknown && foreseen:
		v = s.chk.CallForeseen()
	case m.Kind != wrappers.Unknown:
		v = s.chk.Call(m.Term)
	case foreseen:
		role, v = s.chk.ClientForeseen()
	default:
		role, v = s.chk.Client(m.Term)
	}
	s.endCheck(t0)
	if v != nil {
		bb := fromChecker(v)
		return &bb, startReq{}, true
	}
	s.countRules()
	return nil, st, role == checker.RoleCall
}

func (s *session) clientEvent(m wrappers.Message) bool {
	s.lock(roleClient)
	s.waiting = true
	for s.lockstep && !s.ended && s.inflight > 0 {
		// Never let an event share a read with a request at a ubf server.
		s.wait(roleClient)
	}
	s.waiting = false
	if s.ended {
		s.unlock()
		return false
	}
	if s.unsynced {
		s.unlock()
		s.count(clientToService, verdictUnchecked)
		return s.toService(m.Raw)
	}
	t0 := s.startCheck()
	v := s.chk.EventIn(m.Term)
	s.endCheck(t0)
	if v == nil {
		s.countRules()
	}
	s.unlock()
	if v == nil {
		s.count(clientToService, verdictOK)
		return s.toService(m.Raw)
	}
	s.countNow(clientToService, verdictViolation)
	return s.clientEventViolation(m, fromChecker(v))
}

// clientEventViolation handles an illegal client message that is not a
// request: forwarded in monitor mode, dropped in reject mode.
func (s *session) clientEventViolation(m wrappers.Message, b breach) bool {
	if !s.flushService() {
		return false
	}
	switch act := decide(s.cfg.Mode, illegalMessage, false); act {
	case actionForwarded:
		s.report(b, act)
		return s.toService(m.Raw)
	case actionDropped:
		if s.dropper != nil {
			s.flushCalls()
			s.dropper.Dropped(wrappers.Client, m)
		}
		s.report(b, act)
		return true
	default:
		s.kill(b, reasonViolation)
		return false
	}
}

// toService forwards raw, the message the client reader just decoded. While
// the client's decoder holds more bytes (a pipelined batch), raw is held
// back to go out with the messages after it in one write; anything that
// must not wait — a read that may block, a wait for replies, a violation,
// the end of the session — calls flushService first. Towards a lock-step
// (ubf) service every message goes out on its own.
func (s *session) toService(raw []byte) bool {
	if len(raw) == 0 {
		return true
	}
	text := s.client.lastText()
	var err error
	if !s.lockstep && s.up.more {
		if s.service.queue(raw, text) {
			s.serviceHeld = true
			return true
		}
		s.beforeServiceSend()
		s.serviceHeld, err = makeRoom(s.service, raw, text)
	} else {
		s.beforeServiceSend()
		s.serviceHeld = false // write sends what is held first
		err = s.service.write(raw, text)
	}
	if err != nil {
		s.serviceWriteFailed(err)
		return false
	}
	return true
}

// beforeServiceSend runs before any byte goes to the service (client
// reader only): the counts of the messages read so far are published (see
// flow.held), and the service's decoder is told of their calls
// (flushCalls).
func (s *session) beforeServiceSend() {
	s.up.publish()
	s.flushCalls()
}

// flushCalls has the client's decoder tell the service's what it held
// back about the messages it returned (wrappers.Batcher): before any byte
// goes to the service, and before a request is dropped (client reader
// only).
func (s *session) flushCalls() {
	if !s.batching {
		return // no assertion per message for a wire without a Batcher
	}
	if b, ok := s.decs[clientToService].(wrappers.Batcher); ok {
		b.Flush()
	}
}

// awaitDelivery waits until the reply the service reader is delivering to
// the client, if any, is out (client reader only): ending the session
// before would shut the client's connection in front of it. The service
// reader takes the client's turn with mu held, in the same hold in which
// it judged the reply (serviceReply), and gives the turn up once the reply
// is written; so taking mu and then the turn waits for that write.
func (s *session) awaitDelivery() {
	s.lock(roleClient)
	s.unlock()
	s.lockW(roleClient)
	s.unlockW()
}

// flushService sends what toService held back (client reader only).
func (s *session) flushService() bool {
	if !s.serviceHeld {
		return true
	}
	s.serviceHeld = false
	s.beforeServiceSend()
	if err := s.service.flush(); err != nil {
		s.serviceWriteFailed(err)
		return false
	}
	return true
}

func (s *session) serviceWriteFailed(err error) {
	s.serviceGone(reasonServiceLeft, fmt.Errorf("writing to the service: %w", err))
}

func (s *session) clientReadError(err error) {
	// The messages before the error (or the end) reach the service before
	// it is half-closed or the session ends.
	if !s.flushService() {
		return
	}
	var fe *wrappers.FrameError
	switch {
	case errors.Is(err, io.EOF):
		s.lock(roleClient)
		s.clientDone = true
		waiting := s.inflight > 0 && !s.ended
		over := s.over
		s.unlock()
		if over {
			// The client left after the last request (having read its
			// reply, or half-closing): the session ends once that reply
			// is out, as the service reader would end it.
			s.awaitDelivery()
			s.finish(endInfo{reason: reasonFinished})
			return
		}
		if waiting && s.service.closeWrite() {
			return // the service loop ends the session after the last reply
		}
		code, text := peerCloseOf(s.client)
		s.finish(endInfo{reason: reasonClientLeft, code: code, text: text})
	case errors.As(err, &fe) && fe.Truncated:
		// The client hung up in the middle of a frame: it left; it broke
		// no contract (nothing of the frame reached the service).
		s.finish(endInfo{reason: reasonClientLeft, err: fmt.Errorf("the client left in the middle of a frame: %w", fe)})
	case errors.As(err, &fe):
		s.frameError(wrappers.Client, fe)
	default:
		s.finish(endInfo{reason: reasonClientLeft, err: err})
	}
}

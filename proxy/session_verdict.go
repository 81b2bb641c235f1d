package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/internal/violation"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// breach is a violation as the proxy reports it.
type breach struct {
	side        wrappers.Side
	kind        violation.Kind
	states      []string
	msg         term.Term
	request     term.Term // for a bad reply: the request it answered
	expected    []string
	explanation string
}

func fromChecker(v *checker.Violation) breach {
	explanation := v.Explanation
	if len(v.Bindings) > 0 {
		// The values the variables were bound to, in words: "H is bound
		// to 7 by the reply".
		explanation += "; " + v.BindingsText(func(int) string { return "" })
	}
	return breach{side: v.Side, kind: v.Kind, states: v.States, msg: v.Message, request: v.Request,
		expected: v.ExpectedStrings(), explanation: explanation}
}

// wire is b as the client's error reply shows it, which ex trims: the
// records keep everything.
func (b breach) wire(ex Explain) wrappers.Violation {
	v := wrappers.Violation{Side: b.side, Message: b.msg, States: b.states, Expected: b.expected, Explanation: b.explanation, Request: b.request,
		Event: b.kind.Event()}
	switch ex {
	case ExplainBrief:
		// The rule broken (the explanation names the closest one), not
		// every alternative the state allows. When no rule is close (no
		// rule shares the message's tag and size), the explanation lists
		// them all; it says so instead.
		v.Expected = nil
		if strings.HasPrefix(v.Explanation, "expected ") && strings.Contains(v.Explanation, " | ") {
			v.Explanation = "no rule of this state accepts this message"
		}
	case ExplainNone:
		v.Expected, v.Explanation = nil, ""
	}
	return v
}

// lostSuffix ends the explanation of a violation after which the session
// cannot follow the conversation.
const lostSuffix = "; the session cannot follow the conversation after this reply"

// action is what the proxy did about a violation, as the record names it.
type action string

// The actions.
const (
	actionKilled    action = "killed"    // error reply sent, session closed
	actionRejected  action = "rejected"  // not forwarded, error reply in its place
	actionDropped   action = "dropped"   // not forwarded, nothing in its place (events in reject mode)
	actionForwarded action = "forwarded" // monitor mode: forwarded anyway
	actionReported  action = "reported"  // monitor mode: nothing to forward (a reply time-out)
	actionEnded     action = "ended"     // the session ended anyway (a service that left a request unanswered)
)

// offence is a violation as far as what can be done about it goes.
type offence uint8

// The offences.
const (
	// illegalRequest: a request not yet forwarded; it can be answered in
	// its place.
	illegalRequest offence = iota
	// illegalMessage: an event, an unsolicited reply or a message of the
	// wrong kind; it can be dropped.
	illegalMessage
	// illegalReply: a reply; it can be replaced by the error reply.
	illegalReply
	// illegalPipelined: a request the client pipelined, made illegal by
	// the reply before it; it is at the service already.
	illegalPipelined
	// selfReported: the service's own report of a violation, sent in the
	// place of a reply; it is the service's answer.
	selfReported
	// brokenStream: a malformed frame, or the service closing with
	// requests unanswered; the conversation cannot go on.
	brokenStream
	// lateReply: the service did not reply in time; there is no message.
	lateReply
)

// decide is what mode m does about offence o. lost says the session cannot
// follow the conversation after it (which matters to reject mode only: it
// goes on after a violation but never forwards one blind).
func decide(m Mode, o offence, lost bool) action {
	if o == selfReported {
		return actionForwarded
	}
	switch m {
	case Monitor:
		switch o {
		case brokenStream:
			return actionEnded
		case lateReply:
			return actionReported
		}
		return actionForwarded
	case Reject:
		switch o {
		case illegalRequest:
			return actionRejected
		case illegalMessage:
			return actionDropped
		case illegalReply:
			if !lost {
				return actionRejected
			}
		case illegalPipelined:
			if !lost {
				return actionForwarded
			}
		}
	}
	return actionKilled
}

// frameError ends the session after a malformed or over-limit frame from
// side: the stream cannot be read further in any mode.
func (s *session) frameError(side wrappers.Side, fe *wrappers.FrameError) {
	d := directionFrom(side)
	r := roleClient
	if d == serviceToClient {
		r = roleService
	}
	s.lock(r)
	b := breach{side: side, kind: violation.MalformedFrame, states: s.chk.States(), explanation: fe.Error()}
	s.unlock()
	reason, code := reasonViolation, closePolicy
	switch {
	case fe.Limit:
		b.kind, reason, code = violation.OverLimit, reasonLimit, closeTooBig
	case fe.Msg == invalidTextMsg:
		code = closeInvalidData
	}
	s.countNow(d, verdictViolation)
	if act := decide(s.cfg.Mode, brokenStream, true); act != actionKilled {
		s.report(b, act)
		s.finish(endInfo{reason: reason, err: fe, code: code, text: fe.Msg})
		return
	}
	s.killCode(b, reason, code)
}

// onReplyTimeout is the reply timer's callback: the service has broken the
// contract when the request at the head of pending waited past
// Limits.ReplyTimeout; otherwise the timer is re-armed for that request.
func (s *session) onReplyTimeout() {
	rt := s.cfg.Limits.ReplyTimeout
	s.lock(roleTimer)
	s.rtArmed = false
	if s.ended || s.inflight == 0 || s.pending[0].timedOut || s.pending[0].noDeadline {
		s.unlock()
		return
	}
	head := &s.pending[0]
	if wait := head.sent + rt - s.now(); wait > 0 {
		s.resetReplyTimer(wait)
		s.rtArmed = true
		s.unlock()
		return
	}
	b := breach{side: wrappers.Server, kind: violation.ReplyTimeout, states: s.chk.States(), request: head.req,
		explanation: fmt.Sprintf("the service did not reply within %s to %s", rt, term.Truncated(s.redact(head.req), s.cfg.MaxLogMessage))}
	act := decide(s.cfg.Mode, lateReply, false)
	// Set in every mode: the record below is made after mu is let go,
	// and reads head.req, which a late reply accepted meanwhile must not
	// give back to the decoder (free).
	head.timedOut = true
	s.unlock()
	s.countNow(serviceToClient, verdictViolation)
	if act != actionKilled {
		s.report(b, act)
		return
	}
	s.killCode(b, reasonTimeout, closePolicy)
}

// kill reports b, sends the error reply to the client and ends the session.
func (s *session) kill(b breach, reason endReason) { s.killCode(b, reason, closePolicy) }

func (s *session) killCode(b breach, reason endReason, code int) {
	s.report(b, actionKilled)
	s.sendErrorReply(b)
	s.finish(endInfo{reason: reason, err: errors.New(b.explanation), code: code, text: b.explanation})
}

// hide is b with the values of the contract's secret types written
// <secret>: records and error replies never show a password. The
// checker's violations come hidden already; the proxy's own (a frame the
// sender never sends, a reply timeout) are hidden here.
func (s *session) hide(b breach) breach {
	b.msg = s.redact(b.msg)
	b.request = s.redact(b.request)
	return b
}

// redact is t with the values of the current contract's secret types
// written <secret>. It does not take mu: the contract is read through
// curV, not the checker session, which the service reader replaces under
// mu (resync).
func (s *session) redact(t term.Term) term.Term { return s.curV.Load().m.Redact(t) }

// sendErrorReply writes the wire format's error reply for b to the client,
// bounded in time: a client that does not read cannot hold the session.
func (s *session) sendErrorReply(b breach) {
	reply := s.wire.ErrorReply(s.hide(b).wire(s.cfg.Explain))
	s.client.setWriteDeadline(time.Now().Add(linger))
	s.acquire(&s.clientW) // the service reader may be writing to a client that does not read
	defer s.clientW.Unlock()
	if s.isEnded() {
		return
	}
	// Replies the service reader held back go first, in the same write.
	_ = s.writeClientLocked(reply)
}

// report logs the violation record and counts it.
func (s *session) report(b breach, act action) {
	b = s.hide(b)
	cur := s.curV.Load().c
	s.srv.metrics.violation(cur.Name, b.side.String())
	n := s.violations.Add(1)
	if max := int64(s.cfg.Limits.MaxViolations); n > max {
		// Reject and monitor modes let a session go on after a violation;
		// a party that keeps breaking the contract must not flood the log.
		if n == max+1 {
			s.logAttrs(slog.LevelWarn, "too many violations; ending the session", slog.String("client", s.clientAddr),
				slog.String("service", s.serviceAddr), slog.String("contract", cur.Name), slog.Int64("max_violations", max))
			s.finish(endInfo{reason: reasonLimit, err: fmt.Errorf("more than %d violations", max), code: closePolicy, text: "too many violations"})
		}
		return
	}
	s.srv.violations.Add(1)
	attrs := []slog.Attr{
		slog.String("client", s.clientAddr),
		slog.String("service", s.serviceAddr),
		slog.String("contract", cur.Name),
		slog.String("vsn", cur.Vsn),
		slog.String("side", b.side.String()),
		slog.String("kind", b.kind.String()),
		slog.Any("states", nonNil(b.states)),
	}
	if b.msg != nil {
		attrs = append(attrs, slog.String("message", term.Truncated(b.msg, s.cfg.MaxLogMessage)))
	}
	if b.request != nil {
		attrs = append(attrs, slog.String("request", term.Truncated(b.request, s.cfg.MaxLogMessage)))
	}
	attrs = append(attrs,
		slog.Any("expected", nonNil(b.expected)),
		slog.String("explanation", b.explanation),
		slog.String("action", string(act)),
		slog.String("mode", s.cfg.Mode.String()),
	)
	s.logAttrs(slog.LevelWarn, "contract violation", attrs...)
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/internal/violation"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// This file is the service reader: it judges what the service sends and
// delivers it to the client, or does what the mode says about it. A reply
// is judged with mu held (judgeReply), which decides what the client gets
// (a delivery); it is delivered after mu is let go (deliver).

func (s *session) serviceLoop() {
	var m wrappers.Message
	for {
		if !s.next(serviceToClient, &m) || !s.fromService(&m) {
			s.dropTurn()
			return
		}
	}
}

func (s *session) fromService(m *wrappers.Message) bool {
	switch m.Kind {
	case wrappers.Filler:
		s.count(serviceToClient, verdictUnchecked)
		return s.toClient(m.Raw, nil, true)
	case wrappers.Greeting:
		s.lock(roleService)
		s.greeted(*m)
		s.unlock()
		s.count(serviceToClient, verdictUnchecked)
		return s.toClient(m.Raw, nil, true)
	case wrappers.Reply:
		return s.serviceReply(m)
	case wrappers.Event, wrappers.Unknown:
		s.lock(roleService)
		if s.ended {
			s.unlock()
			return false
		}
		if m.Kind == wrappers.Unknown && s.inflight > 0 {
			// The contract decides whether it is the reply (judgeReply).
			// Only this reader lowers inflight, so it is still > 0 there.
			s.unlock()
			return s.serviceReply(m)
		}
		var v *checker.Violation
		if !s.unsynced {
			t0 := s.startCheck()
			if m.Kind == wrappers.Unknown {
				_, v = s.chk.Server(m.Term)
			} else {
				v = s.chk.EventOut(m.Term)
			}
			s.endCheck(t0)
			if v == nil {
				s.countRules()
			}
		}
		if v == nil {
			w := s.takeTurn()
			s.unlock()
			s.count(serviceToClient, verdictOK)
			return s.writeClient(w, m.Raw, nil, true)
		}
		s.unlock()
		s.countNow(serviceToClient, verdictViolation)
		return s.serviceEventViolation(*m, fromChecker(v))
	default:
		s.lock(roleService)
		b := breach{side: wrappers.Server, kind: violation.BadMessage, states: s.chk.States(), msg: m.Term,
			explanation: fmt.Sprintf("the service sent a %s; a service sends replies and events", m.Kind)}
		s.unlock()
		s.countNow(serviceToClient, verdictViolation)
		return s.serviceEventViolation(*m, b)
	}
}

func (s *session) serviceEventViolation(m wrappers.Message, b breach) bool {
	// What was held back reaches the client before the report, which may
	// end the session.
	if !s.flushClient() {
		return false
	}
	switch act := decide(s.cfg.Mode, illegalMessage, false); act {
	case actionForwarded:
		s.report(b, act)
		return s.toClient(m.Raw, nil, true)
	case actionDropped:
		if s.dropper != nil {
			s.dropper.Dropped(wrappers.Server, m)
		}
		s.report(b, act)
		return true
	default:
		s.kill(b, reasonViolation)
		return false
	}
}

// replyStep is what the service reader does with a reply once judged.
type replyStep uint8

const (
	stepDeliver     replyStep = iota // deliver, then go on or end the session
	stepStop                         // the session has ended: stop reading
	stepUnsolicited                  // no request in flight: handle the reply as an illegal event
	stepKill                         // deliver raw, if any, then kill the session
)

// delivery is what the service reader sends the client for one reply:
// decided with mu held (judgeReply), sent after it (deliver).
type delivery struct {
	raw    []byte   // the reply, or the error reply in its place
	queued [][]byte // the error replies of rejected requests queued behind it
	b      *breach  // the violation to report before raw goes, if any
	act    action   // what was done about b
	done   bool     // the conversation is over: end the session once raw is out
	last   bool     // the client left and nothing is in flight: end once raw is out
	// held: the client reader holds a message read before the end; it
	// judges that message and ends the session.
	held bool
	// kill: raw is the service's own report of a violation (kill mode);
	// the session ends for b once it is out, with no error reply of ours.
	kill bool
}

func (s *session) serviceReply(m *wrappers.Message) bool {
	s.lock(roleService)
	var d delivery
	step := s.judgeReply(m, &d)
	if step != stepDeliver {
		s.dropTurn() // what follows may take clientW, or stop
	}
	switch step {
	case stepStop:
		s.unlock()
		return false
	case stepUnsolicited:
		s.unlock()
		return s.serviceEventViolation(*m, *d.b)
	case stepKill:
		s.unlock()
		if d.raw != nil && !s.toClient(d.raw, d.queued, false) {
			return false
		}
		s.kill(*d.b, reasonViolation)
		return false
	}
	w := s.takeTurn()
	s.unlock()
	return s.deliver(w, &d)
}

// deliver sends d with the turn w, which it releases, and then ends the
// session when the conversation is done or the client has left. It reports
// whether the service reader goes on.
func (s *session) deliver(w clientTurn, d *delivery) bool {
	if d.b != nil {
		// What was held back goes before the report, which may end the
		// session (Limits.MaxViolations).
		if err := s.flushClientLocked(); err != nil {
			w.release()
			s.clientWriteFailed(err)
			return false
		}
		s.report(*d.b, d.act)
	}
	if !s.writeClient(w, d.raw, d.queued, !d.done && !d.last && !d.kill) {
		return false
	}
	switch {
	case d.kill:
		s.finish(endInfo{reason: reasonViolation, err: errors.New(d.b.explanation), code: closePolicy, text: d.b.explanation})
		return false
	case d.done && d.held:
		// The client reader judges the message it holds (a message after
		// the end) and then ends the session; wait for that rather than
		// race it with the service's close.
		s.lock(roleService)
		for !s.ended {
			s.wait(roleService)
		}
		s.unlock()
		return false
	case d.done:
		s.finish(endInfo{reason: reasonFinished})
		return false
	case d.last:
		s.finish(endInfo{reason: reasonClientLeft})
		return false
	}
	return true
}

// judgeReply judges the reply m (mu held) and decides what to do with it,
// in *d, which is zero: filled in place, since a delivery is 12 words and
// this runs for every reply.
func (s *session) judgeReply(m *wrappers.Message, d *delivery) (step replyStep) {
	if s.ended {
		return stepStop
	}
	if s.inflight == 0 {
		b := breach{side: wrappers.Server, kind: violation.UnexpectedReply, states: s.chk.States(), msg: m.Term,
			explanation: "a reply with no request outstanding"}
		s.countNow(serviceToClient, verdictViolation)
		d.b = &b
		return stepUnsolicited
	}
	head := &s.pending[0] // read before pop
	if head.unchecked {
		*d = s.uncheckedReply(*m)
		return stepDeliver
	}
	var v *checker.Violation
	var b *breach
	role := checker.RoleReply
	if s.inPrelude && head.start != nil {
		v, b = s.judgeStarted(*m, *head)
	} else {
		t0 := s.startCheck()
		switch {
		case m.NextState != "" && !s.inPrelude:
			// The state a reply of the prelude announces is not
			// followed: ubf's meta service announces start, or none
			// when stateless.
			v = s.chk.ReplyState(m.Term, m.NextState)
		case m.Kind == wrappers.Unknown:
			// The reply, or else a transition or event of the
			// server's while the call is pending.
			role, v = s.chk.Server(m.Term)
		default:
			v = s.chk.Reply(m.Term)
		}
		s.endCheck(t0)
	}
	if v != nil && b == nil {
		if sb, ok := s.selfReport(m.Term, head.req); ok {
			if sd, ok := s.selfReported(*m, sb); ok {
				*d = sd
				return stepDeliver
			}
		}
	}
	switch {
	case v != nil && v.Kind == checker.PipelinedRequest:
		step, *d = s.pipelined(*m, fromChecker(v))
		return step
	case v != nil:
		step, *d = s.badReply(*m, fromChecker(v))
		return step
	case b != nil:
		step, *d = s.badReply(*m, *b)
		return step
	}
	if role != checker.RoleReply {
		// A transition or event: the call is still pending.
		done := s.chk.Done()
		s.setOver(done)
		s.count(serviceToClient, verdictOK)
		d.raw, d.done = m.Raw, done
		return stepDeliver
	}
	held := s.waiting // read before pop wakes the client reader
	s.free(head, m.Term)
	queued := s.pop()
	done := s.chk.Done()
	s.setOver(done)
	s.count(serviceToClient, verdictOK)
	d.raw, d.queued, d.done, d.last, d.held = m.Raw, queued, done, s.clientDone && s.inflight == 0, held
	return stepDeliver
}

// uncheckedReply (mu held) lets through the reply to a request that was
// forwarded although illegal (monitor mode, or a pipelined request an
// earlier reply made illegal): it says nothing the checker could follow,
// except the state the service announces with it.
func (s *session) uncheckedReply(m wrappers.Message) delivery {
	queued := s.pop()
	if m.NextState != "" && s.inflight == 0 && !s.unguarded && s.cur.m.HasState(m.NextState) {
		s.resync(m.NextState)
	}
	done := s.inflight == 0 && !s.unsynced && s.chk.Done()
	s.setOver(s.over || done)
	s.count(serviceToClient, verdictUnchecked)
	return delivery{raw: m.Raw, queued: queued, done: done, last: s.clientDone && s.inflight == 0}
}

// badReply (mu held) decides about an illegal reply. The checker left its
// request pending: reject and monitor mode follow the state the service
// announced, or stay where the session was, which needs no other request
// in flight.
func (s *session) badReply(m wrappers.Message, b breach) (replyStep, delivery) {
	s.countNow(serviceToClient, verdictViolation)
	states := s.chk.States()
	next := ""
	switch {
	case m.NextState != "" && s.cur.m.HasState(m.NextState):
		next = m.NextState
	case len(states) == 1:
		next = states[0]
	}
	act := decide(s.cfg.Mode, illegalReply, s.inflight > 1 || next == "")
	if act == actionKilled {
		if decide(s.cfg.Mode, illegalReply, false) != actionKilled {
			b.explanation += lostSuffix
		}
		return stepKill, delivery{b: &b}
	}
	queued := s.pop()
	if act == actionForwarded {
		return stepDeliver, s.monitorBadReply(m, b, next, queued)
	}
	s.chk = s.newChecker(s.cur, next)
	if s.dropper != nil {
		s.dropper.Dropped(wrappers.Server, m)
	}
	return stepDeliver, delivery{raw: s.wire.ErrorReply(s.hide(b).wire(s.cfg.Explain)), queued: queued, b: &b, act: act,
		last: s.clientDone && s.inflight == 0}
}

// monitorBadReply (mu held) forwards an illegal reply in monitor mode,
// which never alters traffic for a violation. The session goes on from
// next, the state the service announced or the only one it was in; the
// replies to the requests still in flight are forwarded unchecked (the
// checker's view of them went with the bad reply). With no state to go on
// from, the session is unsynced: messages are forwarded unchecked until a
// reply announces a state with nothing in flight.
func (s *session) monitorBadReply(m wrappers.Message, b breach, next string, queued [][]byte) delivery {
	if s.inflight > 0 {
		s.markUnchecked()
		b.explanation += "; the replies to the requests still in flight are forwarded unchecked"
	}
	s.resync(next)
	if next == "" {
		b.explanation += "; the session's state is unknown, so checking resumes when the service announces one"
	}
	done := next != "" && s.inflight == 0 && s.chk.Done()
	s.setOver(s.over || done)
	return delivery{raw: m.Raw, queued: queued, b: &b, act: actionForwarded, done: done, last: s.clientDone && s.inflight == 0}
}

// pipelined (mu held) decides about a reply after which a request the
// client pipelined behind it is not legal. The reply itself is delivered.
// The request has reached the service already, so it cannot be rejected:
// Kill ends the session; Reject and Monitor report it, let the replies to
// the requests in flight through unchecked, and go on from the state this
// reply led to, when there is one.
func (s *session) pipelined(m wrappers.Message, b breach) (replyStep, delivery) {
	s.countNow(serviceToClient, verdictOK)
	s.countNow(clientToService, verdictViolation)
	queued := s.pop()
	states := s.chk.States()
	done := s.chk.Done()
	act := decide(s.cfg.Mode, illegalPipelined, len(states) != 1 && !done)
	if act == actionKilled {
		if decide(s.cfg.Mode, illegalPipelined, false) != actionKilled {
			b.explanation += lostSuffix
		}
		return stepKill, delivery{raw: m.Raw, queued: queued, b: &b}
	}
	switch {
	case done:
	case len(states) == 1:
		s.resync(states[0])
	default: // monitor mode
		s.resync("")
		b.explanation += "; the session's state is unknown, so checking resumes when the service announces one"
	}
	s.markUnchecked()
	return stepDeliver, delivery{raw: m.Raw, queued: queued, b: &b, act: act, done: done, last: s.clientDone && s.inflight == 0}
}

// toClient writes raw and then the queued error replies to the client (see
// writeClient).
func (s *session) toClient(raw []byte, queued [][]byte, hold bool) bool {
	return s.writeClient(s.takeTurn(), raw, queued, hold)
}

// writeClient writes raw and then the queued error replies to the client
// with the turn w, and releases it. Only the service reader passes hold,
// and only when the session goes on after this write: while the service's
// decoder holds more bytes (pipelined replies), the bytes are held back to
// go out with the replies after them in one write. Whatever must not wait
// — a read that may block, a violation, an end — sends them first
// (flushClient, or any write to the client).
func (s *session) writeClient(w clientTurn, raw []byte, queued [][]byte, hold bool) bool {
	var err error
	if hold && s.down.more {
		s.clientHeld = true
		err = s.queueClientLocked(raw)
		for _, q := range queued {
			if err == nil {
				err = s.queueClientLocked(q)
			}
		}
		if err == nil {
			w.keep()
			return true
		}
	} else {
		// The reply and the error replies behind it go out in one write.
		last := raw
		if n := len(queued); n > 0 {
			err = s.queueClientLocked(raw)
			for _, q := range queued[:n-1] {
				if err == nil {
					err = s.queueClientLocked(q)
				}
			}
			last = queued[n-1]
		}
		if err == nil {
			err = s.writeClientLocked(last)
		}
	}
	w.release()
	if err != nil {
		s.clientWriteFailed(err)
		return false
	}
	return true
}

func (s *session) writeClientLocked(raw []byte) error {
	if len(raw) == 0 {
		return s.client.flush()
	}
	return s.client.write(raw, s.service.lastText())
}

func (s *session) queueClientLocked(raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	text := s.service.lastText()
	if s.client.queue(raw, text) {
		return nil
	}
	_, err := makeRoom(s.client, raw, text)
	return err
}

// flushClient sends what the service reader held back for the client. It
// is the service reader's beforeRead hook, and runs before anything it
// does that may end the session.
func (s *session) flushClient() bool {
	if !s.clientHeld {
		return true // and no turn is kept (turnKept)
	}
	w := s.takeTurn()
	err := s.flushClientLocked()
	w.release()
	if err != nil {
		s.clientWriteFailed(err)
		return false
	}
	return true
}

// flushClientLocked is flushClient with clientW held (service reader only).
func (s *session) flushClientLocked() error {
	s.clientHeld = false
	return s.client.flush()
}

func (s *session) clientWriteFailed(err error) {
	s.finish(endInfo{reason: reasonClientLeft, err: fmt.Errorf("writing to the client: %w", err)})
}

func (s *session) serviceReadError(err error) {
	if !s.flushClient() {
		return
	}
	var fe *wrappers.FrameError
	switch {
	case errors.Is(err, io.EOF):
		s.lock(roleService)
		var v *checker.Violation
		clientGone, unanswered := s.clientDone, s.inflight
		if s.inflight > 0 && !s.pending[0].unchecked && !clientGone {
			v = s.chk.Close(checker.Server)
		}
		s.unlock()
		if clientGone && unanswered > 0 {
			// The client ended its input with requests in flight and the
			// service then closed rather than answer them: a ubf 2.x
			// server does that at every end of input (it knows no
			// half-close). The client ended this conversation.
			s.logAttrs(slog.LevelInfo, "the service closed after the client's end of input", slog.Int("unanswered", unanswered))
			s.finish(endInfo{reason: reasonClientLeft})
			return
		}
		if v != nil {
			b := fromChecker(v)
			s.countNow(serviceToClient, verdictViolation)
			act := decide(s.cfg.Mode, brokenStream, true)
			s.report(b, act)
			if act == actionKilled {
				s.sendErrorReply(b)
			}
			s.finish(endInfo{reason: reasonServiceLeft, err: errors.New(v.Explanation), code: closePolicy, text: v.Explanation})
			return
		}
		code, text := peerCloseOf(s.service)
		s.finish(endInfo{reason: reasonServiceLeft, code: code, text: text})
	case errors.As(err, &fe) && fe.Truncated:
		s.serviceGone(reasonServiceLeft, fmt.Errorf("the service left in the middle of a frame: %w", fe))
	case errors.As(err, &fe):
		s.frameError(wrappers.Server, fe)
	default:
		if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
			s.finish(endInfo{reason: reasonServiceLeft, err: err})
			return
		}
		s.serviceGone(reasonServiceLeft, fmt.Errorf("the service connection was lost: %w", err))
	}
}

// serviceGone ends the session after the service failed it (it could not
// be reached, or its connection broke): the client gets the wire's error
// reply, where the wire has one, saying so, rather than a bare close. It
// is no contract violation: nothing is recorded but the session's end.
func (s *session) serviceGone(reason endReason, err error) {
	s.lock(roleService)
	states := s.chk.States()
	s.unlock()
	s.sendErrorReply(breach{side: wrappers.Server, states: states, explanation: err.Error()})
	s.finish(endInfo{reason: reason, err: err, code: closeGoingAway, text: "service unavailable"})
}

// dialFailed is the reason a failed dial of the service ends a session
// with: the proxy's own lack of file descriptors is local_limit, anything
// else service_unreachable.
func dialFailed(err error) endReason {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return reasonLocalLimit
	}
	return reasonServiceUnreachable
}

package proxy

import (
	"time"

	"github.com/ubfproxy/ubfproxy/term"
)

// This file holds what both readers do to the conversation state with mu
// held: check a message, queue a request, take its reply off the queue,
// restart the checker.

// startCheck counts a checker call about to be made (mu held) and returns
// the time it starts when it is one of those timed for the checkLatency
// histogram (every checkSample-th), else -1; endCheck, after the call,
// observes it. A pair rather than a function taking the call as a
// closure: the calls made for every request and reply allocate nothing
// and stay direct.
func (s *session) startCheck() time.Duration {
	s.checks++
	if s.checks%checkSample != 1 {
		return -1
	}
	return s.now()
}

// endCheck observes the duration of a checker call that startCheck timed
// from t0.
func (s *session) endCheck(t0 time.Duration) {
	if t0 >= 0 {
		s.observeCheck(t0)
	}
}

// observeCheck is endCheck for a timed call; apart, so that endCheck is
// inlined.
func (s *session) observeCheck(t0 time.Duration) {
	s.srv.metrics.checkLatency.Observe((s.now() - t0).Seconds())
}

// push appends p to the pending requests (mu held) and arms the reply
// timer when p is the only one in flight and the timer is not set already
// (for an earlier deadline: it re-arms itself when it fires).
func (s *session) push(p pendingCall) {
	if len(s.pending) == 0 {
		s.pending = s.pendBuf[:0] // back to the start of the array
	}
	c := cap(s.pending)
	s.pending = append(s.pending, p)
	if cap(s.pending) != c {
		s.pendBuf = s.pending[:0] // a new array, which the slice starts
	}
	if p.errReply == nil && !p.rejected {
		s.inflight++
		if s.inflight == 1 && !s.rtArmed && !p.noDeadline {
			s.resetReplyTimer(s.cfg.Limits.ReplyTimeout) // p.sent is now, near enough
			s.rtArmed = true
		}
	}
}

// pop removes the oldest request in flight (mu held), re-arms the reply
// timer for the next one, wakes the readers waiting for a reply, and
// returns the error replies of rejected requests that were queued behind
// it.
func (s *session) pop() (queued [][]byte) {
	s.shift()
	s.inflight--
	for len(s.pending) > 0 && s.pending[0].rejected {
		if r := s.pending[0].errReply; r != nil {
			queued = append(queued, r)
		}
		s.shift()
	}
	s.armReplyTimer()
	if s.waiters > 0 {
		s.cond.Broadcast()
	}
	return queued
}

// maxFreed bounds session.freed: a client reader that reads nothing for a
// while leaves the rest to the garbage collector.
const maxFreed = 64

// free (mu held, the service reader) lets the decoders reuse the memory
// of the request p and of reply, its reply, which was accepted, when
// nothing holds them any more: the checker keeps no part of a message (it
// has no variables to bind), p is an ordinary request (not of the
// prelude, which the session keeps for the service it starts), and its
// reply time-out was not reported (the record is made outside mu). The reply
// goes back to its decoder at once; the request waits in freed for the
// client reader.
func (s *session) free(p *pendingCall, reply term.Term) {
	if s.chk.KeepsTerms() || p.start != nil || p.timedOut {
		return
	}
	if s.recycles[clientToService] && len(s.freed) < maxFreed {
		s.freed = append(s.freed, p.req)
	}
	if r := s.down.rec; r != nil {
		r.Recycle(reply)
	}
}

// recycle (mu held, the client reader only) gives the requests in freed
// back to the client's decoder.
func (s *session) recycle() {
	r := s.up.rec // set: free fills freed only where the client's decoder recycles
	for i, t := range s.freed {
		r.Recycle(t)
		s.freed[i] = nil
	}
	s.freed = s.freed[:0]
}

// shift drops the head of pending in O(1): the slice moves along its
// array, and push starts it again at the array's start once it is empty,
// or gets a new array when it reaches the end.
func (s *session) shift() {
	s.pending[0] = pendingCall{}
	s.pending = s.pending[1:]
}

// armReplyTimer (mu held) makes sure the reply timer fires by the
// deadline of the oldest request in flight. A timer still set (for an
// earlier request) is left alone: it fires sooner, and onReplyTimeout
// re-arms it for the request at the head then. With nothing in flight it is
// left to fire once for nothing, rather than stopped after every reply.
func (s *session) armReplyTimer() {
	if s.rtArmed || s.inflight == 0 || s.pending[0].timedOut || s.pending[0].noDeadline {
		return
	}
	s.resetReplyTimer(s.pending[0].sent + s.cfg.Limits.ReplyTimeout - s.now())
	s.rtArmed = true
}

// markUnchecked (mu held) lets the replies to the requests in flight
// through unchecked.
func (s *session) markUnchecked() {
	for i := range s.pending {
		if !s.pending[i].rejected {
			s.pending[i].unchecked = true
		}
	}
}

// resync (mu held) restarts the checker in state next, or, for "",
// leaves the session unsynced (monitor mode only): it cannot tell the
// state, so it checks nothing until a reply announces one.
func (s *session) resync(next string) {
	if next == "" {
		s.unsynced = true
		return
	}
	s.unsynced = false
	s.chk = s.newChecker(s.cur, next)
}

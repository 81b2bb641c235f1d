package checker

import (
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Outlook is what Foresee says of a client message sent while calls await
// their reply.
type Outlook uint8

// The outlooks.
const (
	// Legal: the message is legal in every state the pending replies may
	// lead to, with every binding they may make: it may go to the service
	// now.
	Legal Outlook = iota + 1
	// Illegal: the message is legal in none of those states, whatever
	// the replies bind (or the session has ended): checking it now
	// (Client, Call, EventIn) reports the violation.
	Illegal
	// Undecided: the message is legal after some replies and not after
	// others, or hangs on values the replies may bind. Hold it until
	// Pending is 0, then check it.
	Undecided
)

var outlookNames = [...]string{Legal: "legal", Illegal: "illegal", Undecided: "undecided"}

func (o Outlook) String() string {
	if int(o) < len(outlookNames) && outlookNames[o] != "" {
		return outlookNames[o]
	}
	return "unknown"
}

// Foresee says, without checking it or changing the session, whether the
// client message t, sent now, will be legal once the pending replies have
// arrived, whatever they turn out to be (as a call or an in transition,
// classified as Client does). With nothing pending it says whether t is
// legal now. A proxy that must never let an illegal request reach the
// service forwards a pipelined request only when this is Legal.
//
// The states the pending replies may lead to are taken from the contract
// (every reply a pending call's rules allow, every transition queued
// behind it), and a variable that a pending message's rules may bind (or
// any variable, while the session is in several states) is taken as
// unknown, so Legal is sure; Undecided may be said of a message that the
// actual replies would have allowed.
//
// Foresee remembers t for CallForeseen and ClientForeseen, which check it
// without matching it again when nothing was checked in between.
func (s *Session) Foresee(t term.Term) Outlook {
	s.fore = foresight{msg: t, has: true, seq: s.seq}
	if s.foreseePlain(t) {
		return Legal
	}
	if s.Done() {
		// Ended, or in terminal states (which a server transition may
		// reach while calls are pending): every check says AfterEnd.
		return Illegal
	}
	return s.foresee(t)
}

// foresee is Foresee's general way, once the foresight is set and the
// session found not ended.
func (s *Session) foresee(t term.Term) Outlook {
	if s.n == 0 {
		ok, _, dir := s.wouldAccept(t, &s.cur, false)
		s.fore.left, s.fore.dir = ok, dir
		if !ok {
			return Illegal
		}
		return Legal
	}
	states := s.afterPending()
	s.prepareKnown()
	legal, illegal := 0, 0
	x := s.scr()
	one := configSet{states: x.one[:]}
	for _, st := range states {
		x.one[0] = st
		if s.m.states[st].terminal {
			illegal++
			continue
		}
		ok, unknown, dir := s.wouldAccept(t, &one, true)
		switch {
		case !ok:
			illegal++
		case !unknown:
			legal++
		}
		// Otherwise legal here only if values not known yet allow it.
		// With one state, the candidates it left are the check's.
		s.fore.left, s.fore.dir, s.fore.state = ok && len(states) == 1, dir, st
	}
	switch {
	case legal == len(states) && legal > 0:
		return Legal
	case illegal == len(states):
		return Illegal
	}
	return Undecided
}

// foreseePlain is Foresee's short way, for the usual case: a contract
// without variables, the session in one state that is not terminal (not
// Done), and the pending messages (if any) leading to one state that a
// look at the last of them tells (see afterOne), where a call rule of that
// state, or else a +anystate one, accepts t. It leaves what Foresee's
// general way would (the candidates in the ring's free slot, the
// foresight) and reports true, or reports false, and Foresee's general
// way decides.
func (s *Session) foreseePlain(t term.Term) bool {
	// One state: the session started (s.m is set).
	if s.nv != 0 || len(s.cur.states) != 1 || s.closed {
		return false
	}
	st := s.cur.states[0]
	if s.n > 0 {
		var ok bool
		if s.m.states[st].terminal { // Done, the calls pending
			return false
		}
		if st, ok = s.afterOne(); !ok {
			return false
		}
	}
	si := &s.m.states[st]
	if si.terminal { // Done, or a message that no rule takes
		return false
	}
	// What wouldAccept finds, with no variables nothing being unknown.
	// The ring's free slot is reset as slot does, but for its message,
	// which wouldAccept would set only to clear it: nil in a free slot.
	if int(s.n) == len(s.ring) {
		s.grow()
	}
	e := s.at(int(s.n))
	e.seq, e.call, e.spec, e.alone = 0, false, false, -1
	e.cands = e.cands[:0]
	s.tryPlain(e, t, st, &si.rules, &s.m.any)
	if len(e.cands) == 0 {
		return false
	}
	s.fore.left, s.fore.dir, s.fore.state = true, dirCall, st
	return true
}

// afterOne is afterPending when it is one state that the last pending
// message tells without a search: it was accepted by one candidate, a
// transition or a rule whose replies all lead to one state
// (ruleInfo.after). ok is false otherwise.
func (s *Session) afterOne() (st int32, ok bool) {
	last := s.at(int(s.n) - 1)
	if len(last.cands) != 1 || last.cands[0].info.after == noAfter {
		return 0, false
	}
	return nextState(last.cands[0].info.after, last.cands[0].state), true
}

// wouldAccept reports whether a call or an in transition of set accepts t,
// whether that took a value not known yet (spec), and which kind of rule
// did (dirCall first), using the ring's free slot as scratch: its
// candidates stay there.
func (s *Session) wouldAccept(t term.Term, set *configSet, spec bool) (ok, unknown bool, dir contract.Direction) {
	e := s.slot(t)
	for _, dir := range [...]contract.Direction{dirCall, contract.In} {
		e.reset(t, 0, s.nv)
		unknown = s.collect(e, t, set, spec, dir)
		if len(e.cands) > 0 {
			e.msg = nil
			return true, unknown, dir
		}
	}
	e.msg = nil
	return false, false, 0
}

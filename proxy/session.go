package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// endReason says why a session ended; it is the reason field of the
// session-end record and the label of ubfproxy_sessions_total.
type endReason string

// The end reasons.
const (
	reasonFinished    endReason = "finished"     // the conversation reached a terminal state
	reasonClientLeft  endReason = "client_left"  // the client closed (or reset) its connection
	reasonServiceLeft endReason = "service_left" // the service closed, reset, or could not be reached
	reasonViolation   endReason = "violation"    // a party broke the contract and the mode ended the session
	reasonTimeout     endReason = "timeout"      // idle time-out, or the service did not reply in time
	reasonLimit       endReason = "limit"        // a frame over a limit, or the session limit
	reasonShutdown    endReason = "shutdown"     // the proxy stopped and the grace period ran out
	reasonError       endReason = "error"        // a panic or another internal error
)

var allReasons = []endReason{reasonFinished, reasonClientLeft, reasonServiceLeft, reasonViolation,
	reasonTimeout, reasonLimit, reasonShutdown, reasonError}

// Actions taken on a violation, as the violation record names them.
const (
	actionKilled    = "killed"    // error reply sent, session closed
	actionRejected  = "rejected"  // not forwarded, error reply in its place
	actionDropped   = "dropped"   // not forwarded, nothing in its place (events in reject mode)
	actionForwarded = "forwarded" // monitor mode: forwarded anyway
	actionReported  = "reported"  // monitor mode: nothing to forward (a reply time-out)
	actionEnded     = "ended"     // the session ended anyway (a service that left a request unanswered)
)

// linger bounds how long a session that is ending waits for the client to
// read the last reply and close, and for the last writes.
const linger = 2 * time.Second

// endInfo is how a session ended.
type endInfo struct {
	reason endReason
	err    error  // the cause, when there is one worth logging
	code   int    // WebSocket close code for the client
	text   string // WebSocket close reason
}

// breach is a violation as the proxy reports it.
type breach struct {
	side        wrappers.Side
	kind        string // the checker's violation kind, or what the proxy saw
	states      []string
	msg         term.Term
	request     term.Term // for a bad reply: the request it answered
	expected    []string
	explanation string
}

func fromChecker(v *checker.Violation) breach {
	side := wrappers.Client
	if v.Side == checker.Server {
		side = wrappers.Server
	}
	return breach{side: side, kind: v.Kind.String(), states: v.States, msg: v.Message, request: v.Request,
		expected: v.ExpectedStrings(), explanation: v.Explanation}
}

func (b breach) wire() wrappers.Violation {
	return wrappers.Violation{Side: b.side, Message: b.msg, States: b.states, Expected: b.expected, Explanation: b.explanation, Request: b.request,
		Event: b.kind == checker.BadEvent.String() || b.kind == checker.WrongDirection.String()}
}

// pendingCall is a request forwarded to the service and awaiting its reply,
// or (errReply != nil) a rejected request whose error reply must reach the
// client in the place of its reply.
type pendingCall struct {
	req          term.Term
	sent         time.Duration // session clock (session.now)
	unchecked    bool          // monitor: forwarded although illegal; its reply is not checked
	startSession bool          // meta phase: {startSession, Name, _} for the guarded contract
	timedOut     bool          // monitor: the reply time-out was reported
	errReply     []byte
	rejected     bool // a rejected request (errReply may be nil when the wire has none)
}

// version is a contract as sessions use it.
type version struct {
	c       *contract.Contract
	m       *checker.Machine
	records map[string][]string // record fields by record name, for the wire
}

func newVersion(c *contract.Contract) *version {
	return &version{c: c, m: checker.Prepare(c), records: recordFields(c)}
}

// recordFields implements wrappers.Options.RecordFields.
func (v *version) recordFields(name string) []string { return v.records[name] }

// session is one client connection and its connection to the service.
type session struct {
	srv     *Server
	id      uint64
	cfg     *Config
	log     *slog.Logger
	user    *version // the contract this session enforces, fixed at its start
	wire    wrappers.Session
	dropper wrappers.Dropper
	client  endpoint
	service endpoint
	// clientAddr and serviceAddr are fixed for the records.
	clientAddr, serviceAddr string
	maxPending              int
	lockstep                bool
	started                 time.Time // also the epoch of the session clock (now)

	mu   sync.Mutex
	cond sync.Cond
	cur  *version // the contract in effect: the meta contract, then user
	chk  *checker.Session
	meta bool
	// pending: the requests forwarded and awaiting their reply, and the
	// rejected ones whose error reply takes its place among the replies,
	// oldest first; pendBuf is the array it lives in (see shift).
	pending, pendBuf []pendingCall
	inflight         int  // entries of pending sent to the service
	clientDone       bool // the client closed its side; end when nothing is in flight
	over             bool // the conversation reached a terminal state; the last reply is on its way
	// waiting: the client reader holds a message read before the reply
	// that ended the conversation, and waits for lock-step or MaxPending;
	// that message is judged (a message after the end) rather than lost.
	waiting bool
	ended   bool
	// unsynced (monitor mode): after an illegal reply the session could
	// not tell its state; messages go through unchecked until a reply
	// with nothing else in flight announces the state (see resync).
	unsynced bool
	// rtArmed: replyTimer is set. It is left set when its request is
	// answered and re-armed only when it fires (onReplyTimeout checks the
	// request then at the head), so that a reply costs no timer update;
	// it never fires later than the head's deadline, since requests are
	// sent in order.
	rtArmed bool
	// endedA mirrors ended for the readers' check after every message.
	endedA atomic.Bool

	clientW sync.Mutex // orders and serialises writes to the client
	// muBy and clientWBy: the role holding mu and clientW (roleNone when
	// free or held by code that cannot panic), see guarded.
	muBy, clientWBy atomic.Int32
	// curC is cur.c, for the records: report must not take mu, since it
	// runs with clientW held and the service reader takes clientW under mu.
	curC atomic.Pointer[contract.Contract]
	// clientHeld (service reader only): the service reader queued bytes
	// for the client that may not have been sent yet.
	clientHeld bool
	// serviceHeld (client reader only): toService queued bytes for the
	// service that may not have been sent yet.
	serviceHeld bool
	// read (each direction's reader only; 0 from the client, 1 from the
	// service): the reader read from the connection since its last
	// message (see fresh).
	read [2]bool

	endOnce sync.Once
	end     endInfo
	endCh   chan struct{} // closed by finish

	// msgs and bytes count what each direction carried, for the record of
	// the session's end (0 from the client, 1 from the service).
	msgs, bytes      [2]atomic.Int64
	violations       atomic.Int64 // records of this session
	last             atomic.Int64 // session clock (now) at the last message either way
	idle, replyTimer *time.Timer
	// tallies: each reader's counts for the Prometheus counters, by
	// direction (see tally).
	tallies [2]tally
	// checks (mu held): checks made, for sampling checkLatency.
	checks uint32
	// clientAt (client reader only): the session clock when the client
	// reader last read, or last waited for room; it stands for the time a
	// request is sent (pendingCall.sent), so that a request costs no clock
	// read of its own.
	clientAt time.Duration
	// overA mirrors over for the client reader's check after every message.
	overA atomic.Bool
}

func (s *Server) newSession(id uint64, v *version, clientAddr string) *session {
	cfg := &s.cfg
	ss := &session{
		srv: s, id: id, cfg: cfg, user: v, clientAddr: clientAddr, serviceAddr: cfg.Upstream,
		maxPending: cfg.Limits.MaxPending, started: time.Now(), endCh: make(chan struct{}),
	}
	ss.cond.L = &ss.mu
	ss.wire = cfg.Wire.NewSession(wrappers.Options{
		Limits:    wrappers.Limits{MaxFrame: cfg.Limits.MaxFrame, MaxDepth: cfg.Limits.MaxDepth, MaxBinary: cfg.Limits.MaxFrame, MaxFrameMemory: cfg.Limits.MaxFrameMemory}.WithDefaults(),
		SimpleRPC: cfg.SimpleRPC,
		// The meta phase has no records; the guarded contract's are the
		// ones on the wire after it.
		RecordFields: v.recordFields,
	})
	ss.dropper, _ = ss.wire.(wrappers.Dropper)
	if ls, ok := cfg.Wire.(wrappers.LockStepper); ok && ls.LockStep() {
		ss.lockstep, ss.maxPending = true, 1
	}
	ss.cur = v
	if cfg.Meta {
		ss.cur, ss.meta = s.meta, true
	}
	ss.curC.Store(ss.cur.c)
	ss.chk = ss.newChecker(ss.cur, ss.initialState())
	ss.log = cfg.Logger.With(slog.Uint64("session", id))
	ss.touch()
	return ss
}

func (s *session) initialState() string {
	if s.meta {
		return ""
	}
	return s.cfg.Initial
}

// newChecker starts a checker session on v in state initial ("" for the
// contract's own). It only fails for a state v does not define, which the
// callers have ruled out; a failure still gives a session whose every check
// is a violation, never a nil pointer.
func (s *session) newChecker(v *version, initial string) *checker.Session {
	// On error the session is still usable: every check of it is a
	// violation.
	c, _ := v.m.NewSession(checker.Options{Initial: initial, MaxPending: s.maxPending})
	return c
}

// run drives the session until it has ended. The service connection is
// already established. The client's reader may outlive run by up to linger,
// draining what the client still sends so that it reads the last reply
// rather than a reset; Server tracks it in lingers.
func (s *session) run() {
	// Both timers exist before either is armed: a callback (which may call
	// finish, which stops both) happens after the Reset that armed it.
	rt := time.AfterFunc(time.Hour, s.guarded(roleTimer, s.onReplyTimeout))
	rt.Stop()
	idle := time.AfterFunc(time.Hour, s.guarded(roleIdle, s.onIdle))
	idle.Stop()
	s.mu.Lock()
	s.replyTimer, s.idle = rt, idle
	ended := s.ended
	s.mu.Unlock()
	if ended {
		s.client.close()
		s.service.close()
		return
	}
	idle.Reset(s.cfg.Limits.IdleTimeout)
	s.srv.lingers.Add(1)
	go func() {
		defer s.srv.lingers.Done()
		s.guarded(roleClient, s.clientLoop)()
		<-s.endCh // a client that half-closed still gets its replies
		s.client.drain()
		s.client.close()
	}()
	// Every way out of serviceLoop ends the session first.
	s.guarded(roleService, s.serviceLoop)()
	s.finish(endInfo{reason: reasonError, err: errors.New("service reader stopped without a reason")}) // no-op normally
	s.service.close()
}

// attach gives the session its endpoints (either may be nil for now). It
// reports false when the session has already ended (a shutdown while the
// service was being dialled); the caller then closes what it attached.
func (s *session) attach(client, service endpoint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client, s.service = client, service
	return !s.ended
}

// role names the goroutine of a session that holds one of its locks, so
// that a goroutine that panics knows whether it holds the lock and must
// release it before ending the session (finish takes mu; a lock that stays
// held would freeze the session's other goroutine and Serve with it).
type role int32

const (
	roleNone    role = iota
	roleClient       // the client reader
	roleService      // the service reader
	roleTimer        // the reply timer's callback
	roleIdle         // the idle timer's callback (it holds no lock)
)

func sideRole(side wrappers.Side) role {
	if side == wrappers.Server {
		return roleService
	}
	return roleClient
}

// lock takes mu for r; unlock releases it; wait is cond.Wait for r. Every
// goroutine that may panic while holding mu takes it this way.
func (s *session) lock(r role) {
	s.mu.Lock()
	s.muBy.Store(int32(r))
}

func (s *session) unlock() {
	s.muBy.Store(int32(roleNone))
	s.mu.Unlock()
}

func (s *session) wait(r role) {
	s.muBy.Store(int32(roleNone))
	s.cond.Wait()
	s.muBy.Store(int32(r))
}

// lockW and unlockW are lock and unlock for clientW.
func (s *session) lockW(r role) {
	s.clientW.Lock()
	s.clientWBy.Store(int32(r))
}

func (s *session) unlockW() {
	s.clientWBy.Store(int32(roleNone))
	s.clientW.Unlock()
}

// guarded runs f on the goroutine r, turning a panic into the end of this
// session only: the locks r holds are released first, the panic is logged
// with its stack and counted, and the session ends with reason error.
func (s *session) guarded(r role, f func()) func() {
	return func() {
		defer func() {
			if p := recover(); p != nil {
				stack := debug.Stack()
				if s.clientWBy.Load() == int32(r) {
					s.unlockW()
				}
				if s.muBy.Load() == int32(r) {
					s.unlock()
				}
				s.srv.panics.Add(1)
				s.srv.metrics.panics.Inc()
				s.log.Error("panic in session", slog.Any("panic", p), slog.String("stack", string(stack)))
				s.finish(endInfo{reason: reasonError, err: fmt.Errorf("panic: %v", p), code: closeInternal, text: "internal error"})
			}
		}()
		f()
	}
}

func (s *session) isEnded() bool { return s.endedA.Load() }

// now is the session clock: monotonic time since the session started. It
// is cheaper than time.Now, which also reads the wall clock. It is read
// once for every read from a connection (touch), not for every message: a
// pipelined batch of requests shares one reading (see clientAt, check).
func (s *session) now() time.Duration { return time.Since(s.started) }

// touch records activity now for the idle timer and returns the time.
func (s *session) touch() time.Duration {
	t := s.now()
	s.last.Store(int64(t))
	return t
}

// setOver sets over (mu held).
func (s *session) setOver(v bool) {
	s.over = v
	s.overA.Store(v)
}

// count counts one message of direction dir (0 client to service, 1
// service to client) with verdict v (0 ok, 1 violation, 2 unchecked) in
// that direction's tally. Only that direction's reader calls it.
func (s *session) count(dir, v int) {
	t := &s.tallies[dir]
	t.msg[v].Add(1)
	if t.n++; t.n >= tallyFlush {
		s.flushTally(dir)
	}
}

// flushTally adds direction dir's tally to the Prometheus counters.
func (s *session) flushTally(dir int) {
	s.tallies[dir].n = 0
	s.srv.metrics.add(dir, &s.tallies[dir])
}

// flushTallies adds both tallies to the counters, for the end of the
// session; it must not touch the owners' n, since a reader may still run.
func (s *session) flushTallies() {
	s.srv.metrics.add(0, &s.tallies[0])
	s.srv.metrics.add(1, &s.tallies[1])
}

// fresh reports whether a message needs touch: whether its last bytes came
// from a read (*read, set by the endpoint's beforeRead hook) or the decoder
// held none before it (so it read; the only way on transports without the
// hook). A message decoded wholly from bytes read for an earlier one
// arrived with it, and that one touched after the read; so a pipelined
// batch reads the clock once.
func fresh(buffered bool, read *bool) bool {
	r := *read
	*read = false
	return r || !buffered
}

// finish ends the session once: the service connection is closed at once,
// the client's is shut down so that it can still read what was written to
// it, and both readers stop.
func (s *session) finish(e endInfo) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.ended = true
		s.endedA.Store(true)
		s.end = e
		s.cond.Broadcast()
		client, service, idle, rt := s.client, s.service, s.idle, s.replyTimer
		s.mu.Unlock()
		close(s.endCh)
		if idle != nil {
			idle.Stop()
		}
		if rt != nil {
			rt.Stop()
		}
		code, text := e.code, e.text
		if code == 0 {
			code = closeNormal
		}
		svcCode := closeNormal
		switch {
		case e.reason == reasonClientLeft:
			svcCode, text = code, e.text
		case code == closePolicy || code == closeTooBig:
			svcCode = closeGoingAway
		case e.reason == reasonShutdown || e.reason == reasonTimeout || e.reason == reasonError:
			svcCode = closeGoingAway
		}
		// Before run, an endpoint may not be there yet; whoever attaches
		// it then sees the session ended and closes it.
		if service != nil {
			service.abort(svcCode, text)
		}
		if client != nil {
			client.shutdown(code, text, time.Now().Add(linger))
		}
	})
}

// ---- client to service ----

// next reads the next message for the reader of direction dir (0 from the
// client, 1 from the service): it brings /metrics up to date before a read
// that may wait, reads the clock only for a message that came from a fresh
// read, and counts the message. ok is false when the reader must stop (the
// session ended, or the read failed and was dealt with).
func (s *session) next(dir int) (m wrappers.Message, ok bool) {
	ep := s.client
	if dir == 1 {
		ep = s.service
	}
	buffered := ep.more()
	if !buffered {
		s.flushTally(dir) // the read may wait: /metrics must not
	}
	m, err := ep.next()
	if s.isEnded() {
		return m, false
	}
	if err != nil {
		if dir == 0 {
			s.clientReadError(err)
		} else {
			s.serviceReadError(err)
		}
		return m, false
	}
	if fresh(buffered, &s.read[dir]) {
		at := s.touch()
		if dir == 0 {
			s.clientAt = at
		}
	}
	s.msgs[dir].Add(1)
	s.bytes[dir].Add(int64(len(m.Raw)))
	s.tallies[dir].bytes.Add(uint64(len(m.Raw)))
	if h := s.srv.testHook; h != nil {
		h(s.id, [2]wrappers.Side{wrappers.Client, wrappers.Server}[dir], m)
	}
	return m, true
}

func (s *session) clientLoop() {
	defer s.flushTally(0)
	for {
		m, ok := s.next(0)
		if !ok {
			return
		}
		if !s.fromClient(m) {
			return
		}
		if s.overA.Load() {
			// Reject or monitor mode handled a message sent after the
			// end; the conversation is still over.
			s.flushService()
			s.finish(endInfo{reason: reasonFinished})
			return
		}
	}
}

func (s *session) fromClient(m wrappers.Message) bool {
	switch m.Kind {
	case wrappers.Filler:
		s.count(0, 2)
		return s.toService(m.Raw)
	case wrappers.Call:
		return s.clientCall(m)
	case wrappers.Event:
		return s.clientEvent(m)
	default:
		s.lock(roleClient)
		b := breach{side: wrappers.Client, kind: "bad-message", states: s.chk.States(), msg: m.Term,
			explanation: fmt.Sprintf("the client sent a %s; a client sends requests and events", m.Kind)}
		s.unlock()
		return s.clientEventViolation(m, b)
	}
}

// check makes one checker call (mu held), timing every checkSample-th
// for the checkLatency histogram.
func (s *session) check(f func() *checker.Violation) *checker.Violation {
	s.checks++
	if s.checks%checkSample != 1 {
		return f()
	}
	t0 := s.now()
	v := f()
	s.srv.metrics.checkLatency.Observe((s.now() - t0).Seconds())
	return v
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
		if s.inflight == 1 && !s.rtArmed {
			s.replyTimer.Reset(s.cfg.Limits.ReplyTimeout) // p.sent is now, near enough
			s.rtArmed = true
		}
	}
}

// pop removes the oldest request in flight (mu held), re-arms the reply
// timer for the next one, and returns the error replies of rejected
// requests that were queued behind it.
func (s *session) pop() (head pendingCall, queued [][]byte) {
	head = s.pending[0]
	s.shift()
	s.inflight--
	for len(s.pending) > 0 && s.pending[0].rejected {
		if r := s.pending[0].errReply; r != nil {
			queued = append(queued, r)
		}
		s.shift()
	}
	s.armReplyTimer()
	s.cond.Broadcast()
	return head, queued
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
	if s.rtArmed || s.inflight == 0 || s.pending[0].timedOut {
		return
	}
	s.replyTimer.Reset(s.pending[0].sent + s.cfg.Limits.ReplyTimeout - s.now())
	s.rtArmed = true
}

func (s *session) clientCall(m wrappers.Message) bool {
	s.lock(roleClient)
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
		s.waiting = true
		s.flushTally(0) // counts stay fresh while the reader waits
		for !s.ended && len(s.pending) >= s.maxPending {
			s.wait(roleClient)
		}
		s.waiting = false
		s.clientAt = s.now() // the request is sent now, not when it was read
	}
	if s.ended {
		s.unlock()
		return false
	}
	sent := s.clientAt
	if s.unsynced {
		s.push(pendingCall{req: m.Term, sent: sent, unchecked: true})
		s.unlock()
		s.count(0, 2)
		return s.toService(m.Raw)
	}
	var v *checker.Violation
	var b *breach
	startSession := false
	if s.meta {
		if name, ok := startSessionName(m.Term); ok {
			if name != s.user.c.Name {
				b = &breach{side: wrappers.Client, kind: "bad-request", states: s.chk.States(), msg: m.Term,
					expected:    []string{fmt.Sprintf("{startSession, %s, term()}", term.String(s.user.c.Name))},
					explanation: fmt.Sprintf("this proxy guards the service %s only, not %s", term.String(s.user.c.Name), term.String(name))}
			} else {
				startSession = true
			}
		}
	}
	if b == nil {
		v = s.check(func() *checker.Violation { return s.chk.Call(m.Term) })
		if v != nil {
			bb := fromChecker(v)
			b = &bb
		}
	}
	if b == nil {
		s.push(pendingCall{req: m.Term, sent: sent, startSession: startSession})
		s.unlock()
		s.count(0, 0)
		return s.toService(m.Raw)
	}
	s.srv.metrics.msg[0][1].Inc()
	switch s.cfg.Mode {
	case Monitor:
		s.push(pendingCall{req: m.Term, sent: sent, unchecked: true})
		s.unlock()
		// What was held back goes out before the report, which may end
		// the session (Limits.MaxViolations).
		if !s.flushService() {
			return false
		}
		s.report(*b, actionForwarded)
		return s.toService(m.Raw)
	case Reject:
		reply := s.wire.ErrorReply(b.wire())
		if s.dropper != nil {
			s.dropper.Dropped(wrappers.Client, m)
		}
		if len(s.pending) > 0 {
			// Earlier replies are still to come: the error reply takes
			// this request's place among them.
			s.push(pendingCall{req: m.Term, errReply: reply, rejected: true})
			s.unlock()
			if !s.flushService() {
				return false
			}
			s.report(*b, actionRejected)
			return true
		}
		// Nothing in flight: the error reply goes out now. (A service
		// event written between the unlocks would have raced with it
		// anyway.)
		s.unlock()
		if !s.flushService() {
			return false
		}
		s.lockW(roleClient)
		s.report(*b, actionRejected)
		err := s.writeClientLocked(reply)
		s.unlockW()
		if err != nil {
			s.finish(endInfo{reason: reasonClientLeft, err: err})
			return false
		}
		return true
	default:
		s.unlock()
		s.flushService() // the legal requests before it reach the service
		s.kill(*b, reasonViolation)
		return false
	}
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
		s.count(0, 2)
		return s.toService(m.Raw)
	}
	v := s.check(func() *checker.Violation { return s.chk.EventIn(m.Term) })
	s.unlock()
	if v == nil {
		s.count(0, 0)
		return s.toService(m.Raw)
	}
	s.srv.metrics.msg[0][1].Inc()
	return s.clientEventViolation(m, fromChecker(v))
}

// clientEventViolation handles an illegal client message that is not a
// request: forwarded in monitor mode, dropped in reject mode.
func (s *session) clientEventViolation(m wrappers.Message, b breach) bool {
	if !s.flushService() {
		return false
	}
	switch s.cfg.Mode {
	case Monitor:
		s.report(b, actionForwarded)
		return s.toService(m.Raw)
	case Reject:
		if s.dropper != nil {
			s.dropper.Dropped(wrappers.Client, m)
		}
		s.report(b, actionDropped)
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
	var err error
	if !s.lockstep && s.client.more() {
		s.serviceHeld = true
		err = s.service.queue(raw, s.client.lastText())
	} else {
		err = s.service.write(raw, s.client.lastText())
	}
	if err != nil {
		s.serviceWriteFailed(err)
		return false
	}
	return true
}

// flushService sends what toService held back (client reader only).
func (s *session) flushService() bool {
	if !s.serviceHeld {
		return true
	}
	s.serviceHeld = false
	if err := s.service.flush(); err != nil {
		s.serviceWriteFailed(err)
		return false
	}
	return true
}

func (s *session) serviceWriteFailed(err error) {
	s.finish(endInfo{reason: reasonServiceLeft, err: fmt.Errorf("writing to the service: %w", err), code: closeGoingAway, text: "service unavailable"})
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
			// The client read the last reply and left before the
			// service reader got round to ending the session.
			s.finish(endInfo{reason: reasonFinished})
			return
		}
		if waiting && s.service.closeWrite() {
			return // the service loop ends the session after the last reply
		}
		code, text := closeNormal, ""
		if pc, ok := s.client.(interface{ peerClose() (int, string, bool) }); ok {
			if c, t, ok := pc.peerClose(); ok {
				code, text = c, t
			}
		}
		s.finish(endInfo{reason: reasonClientLeft, code: code, text: text})
	case errors.As(err, &fe):
		s.frameError(wrappers.Client, fe)
	default:
		s.finish(endInfo{reason: reasonClientLeft, err: err})
	}
}

// frameError ends the session after a malformed or over-limit frame: the
// stream cannot be read further in any mode.
func (s *session) frameError(side wrappers.Side, fe *wrappers.FrameError) {
	s.lock(sideRole(side))
	b := breach{side: side, kind: "malformed-frame", states: s.chk.States(), explanation: fe.Error()}
	s.unlock()
	reason, code := reasonViolation, closePolicy
	if fe.Limit {
		b.kind, reason, code = "limit", reasonLimit, closeTooBig
	}
	s.srv.metrics.msg[dirIndex(side)][1].Inc()
	if s.cfg.Mode == Monitor {
		s.report(b, actionEnded)
		s.finish(endInfo{reason: reason, err: fe, code: code, text: fe.Msg})
		return
	}
	s.killCode(b, reason, code)
}

func dirIndex(side wrappers.Side) int {
	if side == wrappers.Server {
		return 1
	}
	return 0
}

// ---- service to client ----

func (s *session) serviceLoop() {
	defer s.flushTally(1)
	for {
		m, ok := s.next(1)
		if !ok {
			return
		}
		if !s.fromService(m) {
			return
		}
	}
}

func (s *session) fromService(m wrappers.Message) bool {
	switch m.Kind {
	case wrappers.Filler, wrappers.Greeting:
		s.count(1, 2)
		return s.toClient(m.Raw, nil, true)
	case wrappers.Reply:
		return s.serviceReply(m)
	case wrappers.Event:
		s.lock(roleService)
		if s.ended {
			s.unlock()
			return false
		}
		var v *checker.Violation
		if !s.unsynced {
			v = s.check(func() *checker.Violation { return s.chk.EventOut(m.Term) })
		}
		if v == nil {
			s.lockW(roleService)
			s.unlock()
			s.count(1, 0)
			return s.writeClientUnlock(m.Raw, nil, true)
		}
		s.unlock()
		s.srv.metrics.msg[1][1].Inc()
		return s.serviceEventViolation(m, fromChecker(v))
	default:
		s.lock(roleService)
		b := breach{side: wrappers.Server, kind: "bad-message", states: s.chk.States(), msg: m.Term,
			explanation: fmt.Sprintf("the service sent a %s; a service sends replies and events", m.Kind)}
		s.unlock()
		s.srv.metrics.msg[1][1].Inc()
		return s.serviceEventViolation(m, b)
	}
}

func (s *session) serviceEventViolation(m wrappers.Message, b breach) bool {
	// What was held back reaches the client before the report, which may
	// end the session.
	if !s.flushClient() {
		return false
	}
	switch s.cfg.Mode {
	case Monitor:
		s.report(b, actionForwarded)
		return s.toClient(m.Raw, nil, true)
	case Reject:
		if s.dropper != nil {
			s.dropper.Dropped(wrappers.Server, m)
		}
		s.report(b, actionDropped)
		return true
	default:
		s.kill(b, reasonViolation)
		return false
	}
}

func (s *session) serviceReply(m wrappers.Message) bool {
	s.lock(roleService)
	if s.ended {
		s.unlock()
		return false
	}
	if s.inflight == 0 {
		b := breach{side: wrappers.Server, kind: "unexpected-reply", states: s.chk.States(), msg: m.Term,
			explanation: "a reply with no request outstanding"}
		s.unlock()
		s.srv.metrics.msg[1][1].Inc()
		return s.serviceEventViolation(m, b)
	}
	head := s.pending[0]
	var v *checker.Violation
	var b *breach
	switch {
	case head.unchecked:
		// The request was forwarded although illegal (monitor mode, or a
		// pipelined request an earlier reply made illegal): its reply says
		// nothing the checker could follow, except the state the service
		// announces with it.
		_, queued := s.pop()
		if m.NextState != "" && s.inflight == 0 && s.cur.m.HasState(m.NextState) {
			s.resync(m.NextState)
		}
		done := s.inflight == 0 && !s.unsynced && s.chk.Done()
		s.setOver(s.over || done)
		last := s.clientDone && s.inflight == 0
		s.lockW(roleService)
		s.unlock()
		s.count(1, 2)
		if !s.writeClientUnlock(m.Raw, queued, !done && !last) {
			return false
		}
		switch {
		case done:
			s.finish(endInfo{reason: reasonFinished})
			return false
		case last:
			s.finish(endInfo{reason: reasonClientLeft})
			return false
		}
		return true
	case s.meta && head.startSession:
		// The announced state belongs to the contract being started, so
		// the meta contract checks the reply alone.
		v = s.check(func() *checker.Violation { return s.chk.Reply(m.Term) })
		if v == nil && isOK(m.Term) {
			next := m.NextState
			if next == "" {
				next = s.cfg.Initial
			}
			if next != "" && !s.user.m.HasState(next) {
				b = &breach{side: wrappers.Server, kind: "bad-next-state", states: s.chk.States(), msg: m.Term, request: head.req,
					explanation: fmt.Sprintf("the service started %s in state %s, which the contract does not define", s.user.c.Name, next)}
			} else {
				s.cur, s.meta = s.user, false
				s.curC.Store(s.user.c)
				s.chk = s.newChecker(s.user, next)
				s.log.Debug("contract started", slog.String("contract", s.user.c.Name), slog.Any("states", s.chk.States()))
			}
		}
	case m.NextState != "":
		v = s.check(func() *checker.Violation { return s.chk.ReplyState(m.Term, m.NextState) })
	default:
		v = s.check(func() *checker.Violation { return s.chk.Reply(m.Term) })
	}
	if v != nil && b == nil && s.lockstep {
		if sb, ok := ubfSelfReport(m.Term, head.req); ok {
			if handled, keep := s.serviceSelfReport(m, sb); handled {
				return keep
			}
		}
	}
	if v != nil {
		bb := fromChecker(v)
		b = &bb
	}
	if b == nil {
		held := s.waiting // read before pop wakes the client reader
		_, queued := s.pop()
		done := s.chk.Done()
		s.setOver(done)
		last := s.clientDone && s.inflight == 0
		s.lockW(roleService)
		s.unlock()
		s.count(1, 0)
		if !s.writeClientUnlock(m.Raw, queued, !done && !last) {
			return false
		}
		switch {
		case done && held:
			// The client reader judges the message it holds (a message
			// after the end) and then ends the session; wait for that
			// rather than race it with the service's close.
			s.lock(roleService)
			for !s.ended {
				s.wait(roleService)
			}
			s.unlock()
			return false
		case done:
			s.finish(endInfo{reason: reasonFinished})
			return false
		case last:
			s.finish(endInfo{reason: reasonClientLeft})
			return false
		}
		return true
	}
	if v != nil && v.Kind == checker.PipelinedRequest {
		return s.pipelinedViolation(m, *b)
	}
	s.srv.metrics.msg[1][1].Inc()
	if s.cfg.Mode == Kill {
		s.unlock()
		s.kill(*b, reasonViolation)
		return false
	}
	// Reject and monitor go on: the checker left the request pending, so
	// follow the state the service announced, or stay where the session
	// was; that needs no other request in flight.
	states := s.chk.States()
	_, queued := s.pop()
	next := ""
	switch {
	case m.NextState != "" && s.cur.m.HasState(m.NextState):
		next = m.NextState
	case len(states) == 1:
		next = states[0]
	}
	if s.cfg.Mode == Monitor {
		return s.monitorBadReply(m, *b, next, queued)
	}
	if s.inflight > 0 || next == "" {
		s.unlock()
		b.explanation += "; the session cannot follow the conversation after this reply"
		s.kill(*b, reasonViolation)
		return false
	}
	s.chk = s.newChecker(s.cur, next)
	last := s.clientDone && s.inflight == 0
	s.lockW(roleService)
	s.unlock()
	raw, action := m.Raw, actionForwarded
	if s.cfg.Mode == Reject {
		raw, action = s.wire.ErrorReply(b.wire()), actionRejected
		if s.dropper != nil {
			s.dropper.Dropped(wrappers.Server, m)
		}
	}
	if err := s.flushClientLocked(); err != nil {
		s.unlockW()
		s.clientWriteFailed(err)
		return false
	}
	s.report(*b, action)
	if !s.writeClientUnlock(raw, queued, !last) {
		return false
	}
	if last {
		s.finish(endInfo{reason: reasonClientLeft})
		return false
	}
	return true
}

// monitorBadReply forwards an illegal reply in monitor mode (mu held;
// released here), which never alters traffic for a violation. The session
// goes on from next, the state the service announced or the only one it
// was in; the replies to the requests still in flight are forwarded
// unchecked (the checker's view of them went with the bad reply). With no
// state to go on from, the session is unsynced: messages are forwarded
// unchecked until a reply announces a state with nothing in flight.
func (s *session) monitorBadReply(m wrappers.Message, b breach, next string, queued [][]byte) bool {
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
	return s.forwardReported(m, b, queued, done)
}

// forwardReported (mu held; released here) reports b, delivers the reply
// m that came with it and the queued error replies, then ends the session
// when the conversation is done or the client has left.
func (s *session) forwardReported(m wrappers.Message, b breach, queued [][]byte, done bool) bool {
	last := s.clientDone && s.inflight == 0
	s.lockW(roleService)
	s.unlock()
	if err := s.flushClientLocked(); err != nil {
		s.unlockW()
		s.clientWriteFailed(err)
		return false
	}
	s.report(b, actionForwarded)
	if !s.writeClientUnlock(m.Raw, queued, !done && !last) {
		return false
	}
	switch {
	case done:
		s.finish(endInfo{reason: reasonFinished})
		return false
	case last:
		s.finish(endInfo{reason: reasonClientLeft})
		return false
	}
	return true
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

// pipelinedViolation handles a reply after which a request the client
// pipelined behind it is not legal (mu held; released here). The reply
// itself is delivered. The request has reached the service already, so it
// cannot be rejected: Kill ends the session; Reject and Monitor report it,
// let the replies to the requests in flight through unchecked, and go on
// from the state this reply led to, when there is one.
func (s *session) pipelinedViolation(m wrappers.Message, b breach) bool {
	s.srv.metrics.msg[1][0].Inc()
	s.srv.metrics.msg[0][1].Inc()
	_, queued := s.pop()
	states := s.chk.States()
	done := s.chk.Done()
	if s.cfg.Mode == Kill || (s.cfg.Mode == Reject && len(states) != 1 && !done) {
		s.unlock()
		if !s.toClient(m.Raw, queued, false) {
			return false
		}
		if s.cfg.Mode != Kill {
			b.explanation += "; the session cannot follow the conversation after this reply"
		}
		s.kill(b, reasonViolation)
		return false
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
	return s.forwardReported(m, b, queued, done)
}

// toClient writes raw and then the queued error replies to the client (see
// writeClientUnlock).
func (s *session) toClient(raw []byte, queued [][]byte, hold bool) bool {
	s.lockW(roleService)
	return s.writeClientUnlock(raw, queued, hold)
}

// writeClientUnlock writes raw and then the queued error replies to the
// client with clientW held, and releases it. Only the service reader passes
// hold, and only when the session goes on after this write: while the
// service's decoder holds more bytes (pipelined replies), the bytes are
// held back to go out with the replies after them in one write. Whatever
// must not wait — a read that may block, a violation, an end — sends them
// first (flushClient, or any write to the client).
func (s *session) writeClientUnlock(raw []byte, queued [][]byte, hold bool) bool {
	var err error
	if hold && s.service.more() {
		s.clientHeld = true
		err = s.queueClientLocked(raw)
		for _, q := range queued {
			if err == nil {
				err = s.queueClientLocked(q)
			}
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
	s.unlockW()
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
	return s.client.queue(raw, s.service.lastText())
}

// flushClient sends what the service reader held back for the client. It
// is the service reader's beforeRead hook, and runs before anything it
// does that may end the session.
func (s *session) flushClient() bool {
	if !s.clientHeld {
		return true
	}
	s.lockW(roleService)
	err := s.flushClientLocked()
	s.unlockW()
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
			s.log.Info("the service closed after the client's end of input", slog.Int("unanswered", unanswered))
			s.finish(endInfo{reason: reasonClientLeft})
			return
		}
		code, text := closeNormal, ""
		if pc, ok := s.service.(interface{ peerClose() (int, string, bool) }); ok {
			if c, t, ok := pc.peerClose(); ok {
				code, text = c, t
			}
		}
		if v != nil {
			b := fromChecker(v)
			s.srv.metrics.msg[1][1].Inc()
			if s.cfg.Mode != Monitor {
				s.report(b, actionKilled)
				s.sendErrorReply(b)
			} else {
				s.report(b, actionEnded)
			}
			s.finish(endInfo{reason: reasonServiceLeft, err: errors.New(v.Explanation), code: closePolicy, text: v.Explanation})
			return
		}
		s.finish(endInfo{reason: reasonServiceLeft, code: code, text: text})
	case errors.As(err, &fe):
		s.frameError(wrappers.Server, fe)
	default:
		if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
			s.finish(endInfo{reason: reasonServiceLeft, err: err})
			return
		}
		s.finish(endInfo{reason: reasonServiceLeft, err: err, code: closeGoingAway, text: "service connection lost"})
	}
}

// ---- violations and timers ----

// kill reports b, sends the error reply to the client and ends the session.
func (s *session) kill(b breach, reason endReason) { s.killCode(b, reason, closePolicy) }

func (s *session) killCode(b breach, reason endReason, code int) {
	s.report(b, actionKilled)
	s.sendErrorReply(b)
	s.finish(endInfo{reason: reason, err: errors.New(b.explanation), code: code, text: b.explanation})
}

// sendErrorReply writes the wire format's error reply for b to the client,
// bounded in time: a client that does not read cannot hold the session.
func (s *session) sendErrorReply(b breach) {
	reply := s.wire.ErrorReply(b.wire())
	s.client.setWriteDeadline(time.Now().Add(linger))
	s.clientW.Lock()
	defer s.clientW.Unlock()
	if s.isEnded() {
		return
	}
	// Replies the service reader held back go first, in the same write.
	_ = s.writeClientLocked(reply)
}

// report logs the violation record and counts it.
func (s *session) report(b breach, action string) {
	cur := s.curC.Load()
	s.srv.metrics.violation(cur.Name, b.side.String())
	n := s.violations.Add(1)
	if max := int64(s.cfg.Limits.MaxViolations); n > max {
		// Reject and monitor modes let a session go on after a violation;
		// a party that keeps breaking the contract must not flood the log.
		if n == max+1 {
			s.log.Warn("too many violations; ending the session", slog.String("client", s.clientAddr),
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
		slog.String("kind", b.kind),
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
		slog.String("action", action),
		slog.String("mode", s.cfg.Mode.String()),
	)
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "contract violation", attrs...)
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func (s *session) onIdle() {
	idle := s.cfg.Limits.IdleTimeout
	since := s.now() - time.Duration(s.last.Load())
	if since < idle {
		s.idle.Reset(idle - since)
		return
	}
	s.finish(endInfo{reason: reasonTimeout, err: fmt.Errorf("no message either way for %s", idle), code: closeGoingAway, text: "idle time-out"})
}

func (s *session) onReplyTimeout() {
	rt := s.cfg.Limits.ReplyTimeout
	s.lock(roleTimer)
	s.rtArmed = false
	if s.ended || s.inflight == 0 || s.pending[0].timedOut {
		s.unlock()
		return
	}
	head := &s.pending[0]
	if wait := head.sent + rt - s.now(); wait > 0 {
		s.replyTimer.Reset(wait)
		s.rtArmed = true
		s.unlock()
		return
	}
	b := breach{side: wrappers.Server, kind: "reply-timeout", states: s.chk.States(), request: head.req,
		explanation: fmt.Sprintf("the service did not reply within %s to %s", rt, term.Truncated(head.req, s.cfg.MaxLogMessage))}
	if s.cfg.Mode == Monitor {
		head.timedOut = true
		s.unlock()
		s.srv.metrics.msg[1][1].Inc()
		s.report(b, actionReported)
		return
	}
	s.unlock()
	s.srv.metrics.msg[1][1].Inc()
	s.killCode(b, reasonTimeout, closePolicy)
}

// ---- meta phase helpers ----

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

// serviceSelfReport forwards a ubf self-report (mu held; released when
// handled), records it, and goes on in the state the service announces
// with it, or in the session's state when it announces none. It is not
// handled when the session cannot tell the state to go on from.
func (s *session) serviceSelfReport(m wrappers.Message, b breach) (handled, keep bool) {
	b.states = s.chk.States()
	next := ""
	switch {
	case m.NextState != "" && s.cur.m.HasState(m.NextState):
		next = m.NextState
	case m.NextState == "" && len(b.states) == 1:
		next = b.states[0]
	}
	if next == "" || s.inflight != 1 {
		return false, false
	}
	_, queued := s.pop()
	s.resync(next)
	done := s.chk.Done()
	s.setOver(done)
	last := s.clientDone && s.inflight == 0
	s.lockW(roleService)
	s.unlock()
	s.srv.metrics.msg[1][2].Inc()
	if err := s.flushClientLocked(); err != nil {
		s.unlockW()
		s.clientWriteFailed(err)
		return true, false
	}
	s.report(b, actionForwarded)
	if !s.writeClientUnlock(m.Raw, queued, !done && !last) {
		return true, false
	}
	switch {
	case done:
		s.finish(endInfo{reason: reasonFinished})
		return true, false
	case last:
		s.finish(endInfo{reason: reasonClientLeft})
		return true, false
	}
	return true, true
}

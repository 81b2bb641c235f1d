package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/checker/coverage"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// This file holds a session's state and its life: start, run, end. The
// client reader's work is in session_client.go, the service reader's in
// session_service.go, what a violation leads to in session_verdict.go, the
// locks in session_locks.go and the per-direction counts in
// session_flow.go.

// endReason says why a session ended; it is the reason field of the
// session-end record and the label of ubfproxy_sessions_total.
type endReason string

// The end reasons.
const (
	reasonFinished    endReason = "finished"     // the conversation reached a terminal state
	reasonClientLeft  endReason = "client_left"  // the client closed (or reset) its connection
	reasonServiceLeft endReason = "service_left" // the service closed or reset its connection
	// reasonServiceUnreachable: the service could not be dialled.
	reasonServiceUnreachable endReason = "service_unreachable"
	// reasonLocalLimit: the proxy itself ran out of a resource (file
	// descriptors) dialling the service.
	reasonLocalLimit endReason = "local_limit"
	reasonViolation  endReason = "violation" // a party broke the contract and the mode ended the session
	reasonTimeout    endReason = "timeout"   // idle time-out, or the service did not reply in time
	reasonLimit      endReason = "limit"     // a frame over a limit, or the session limit
	reasonShutdown   endReason = "shutdown"  // the proxy stopped and the grace period ran out
	reasonError      endReason = "error"     // a panic or another internal error
)

var allReasons = []endReason{reasonFinished, reasonClientLeft, reasonServiceLeft, reasonServiceUnreachable, reasonLocalLimit, reasonViolation,
	reasonTimeout, reasonLimit, reasonShutdown, reasonError}

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

// pendingCall is a request forwarded to the service and awaiting its reply,
// or (errReply != nil) a rejected request whose error reply must reach the
// client in the place of its reply.
type pendingCall struct {
	req  term.Term
	sent time.Duration // session clock (session.now)
	// start (prelude): the request starts a service (see startReq); nil
	// for every other request, so that the entry stays small.
	start    *startReq
	errReply []byte
	// The flags last, packed into one word.
	unchecked  bool // monitor: forwarded although illegal; its reply is not checked
	timedOut   bool // the reply time-out was reported (the record may still be in the making, outside mu)
	noDeadline bool // its reply may be none(): no reply time-out
	rejected   bool // a rejected request (errReply may be nil when the wire has none)
}

// version is a contract as sessions use it.
type version struct {
	c       *contract.Contract
	m       *checker.Machine
	records map[string][]string // record fields by record name, for the wire
	cover   *coverage.Tracker   // the rules and transitions, for ubfproxy_transitions_total (read only)
	// counters are the children of ubfproxy_transitions_total by the
	// number of cover's item, made when first counted.
	counters []atomic.Pointer[ruleCounter]
}

// ruleCounter is a child of ubfproxy_transitions_total.
type ruleCounter struct{ prometheus.Counter }

func newVersion(c *contract.Contract) *version {
	m := checker.Prepare(c)
	cover := coverage.New(m)
	return &version{c: c, m: m, records: recordFields(c), cover: cover, counters: make([]atomic.Pointer[ruleCounter], cover.Len())}
}

// recordFields implements wrappers.Options.RecordFields.
func (v *version) recordFields(name string) []string { return v.records[name] }

// guard is the contracts a session may enforce, fixed at its start: first
// (Config.Contract) unless a prelude picks another by its name.
type guard struct {
	first  *version
	byName map[string]*version
}

func newGuard(first *contract.Contract, more []*contract.Contract) *guard {
	g := &guard{first: newVersion(first), byName: make(map[string]*version, 1+len(more))}
	g.byName[first.Name] = g.first
	for _, c := range more {
		g.byName[c.Name] = newVersion(c)
	}
	return g
}

// session is one client connection and its connection to the service.
type session struct {
	srv     *Server
	id      uint64
	cfg     *Config
	guard   *guard   // the contracts this session may enforce, fixed at its start
	user    *version // the contract it enforces: guard.first, or one the prelude picked
	wire    wrappers.Session
	dropper wrappers.Dropper
	client  endpoint
	service endpoint
	// decs are the decoders of the TCP endpoints by direction (nil for
	// the others): a message comes straight from one, not through
	// endpoint.next, a call and a copy of it fewer.
	decs [2]wrappers.Decoder
	// clientAddr and serviceAddr are fixed for the records.
	clientAddr, serviceAddr string
	maxPending              int
	// mem is the session's share of the memory budget, given back when
	// the session is released.
	mem     account
	started time.Time // also the epoch of the session clock (now)

	mu   sync.Mutex
	cond sync.Cond
	cur  *version // the contract in effect: the prelude's, then user
	chk  *checker.Session
	// pending: the requests forwarded and awaiting their reply, and the
	// rejected ones whose error reply takes its place among the replies,
	// oldest first; pendBuf is the array it lives in (see shift).
	pending, pendBuf []pendingCall
	// freed (mu held): requests whose replies were accepted, nothing
	// holding any part of them any more, for the client reader to give
	// to its decoder (wrappers.Recycler), which only it may call; see
	// recycle.
	freed      []term.Term
	inflight   int  // entries of pending sent to the service
	clientDone bool // the client closed its side; end when nothing is in flight
	over       bool // the conversation reached a terminal state; the last reply is on its way
	// waiting: the client reader holds a message read before the reply
	// that ended the conversation, and waits for lock-step or MaxPending;
	// that message is judged (a message after the end) rather than lost.
	waiting bool
	// pendingFull: the session reached MaxPending once (logged once).
	pendingFull bool
	ended       bool
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
	// waiters is the number of readers in wait, so that a reply wakes
	// readers only when one waits.
	waiters int
	// endedA mirrors ended for the readers' check after every message.
	endedA atomic.Bool

	clientW sync.Mutex // orders and serialises writes to the client
	// muBy and clientWBy (each guarded by its lock): the role holding mu
	// and clientW (roleNone when free or held by code that cannot panic);
	// holds: what each role holds, see guarded and holding.
	muBy, clientWBy role
	holds           [numRoles]holding
	// curV is cur, for the records and the secrets they hide: report
	// must not take mu, since it runs with clientW held and the service
	// reader takes clientW under mu.
	curV atomic.Pointer[version]
	// clientHeld (service reader only): the service reader queued bytes
	// for the client that may not have been sent yet.
	clientHeld bool
	// turnKept (service reader only): the service reader kept clientW
	// after a reply it held back, for the replies decoded after it
	// (clientTurn.keep). Only a write that holds bytes back keeps it, so
	// it implies clientHeld.
	turnKept bool
	// serviceHeld (client reader only): toService queued bytes for the
	// service that may not have been sent yet.
	serviceHeld bool
	// The flags below sit together so that the struct packs (a session
	// is one allocation per connection, its size class matters).
	lockstep bool
	// unguarded: the prelude started a service no contract is for
	// (ForwardUnguarded); its traffic passes unchecked (unsynced, for
	// good).
	unguarded bool
	// inPrelude: the session is in the wire's prelude (wrappers.Prelude),
	// checked against its contract, until the guarded service starts.
	inPrelude bool
	// running: run has started; the service reader lets the session go.
	running bool
	// looped: the event loop runs the readers (runOnLoop); set before
	// they start.
	looped bool
	// recycles: the decoder of each direction reuses the memory of the
	// messages given back (wrappers.Recycler), and no test hook keeps
	// messages.
	recycles [2]bool
	// batching: the client's decoder keeps what it tells the service's
	// decoder about each message until flushCalls (wrappers.Batcher).
	batching bool

	endOnce sync.Once
	end     endInfo

	// up and down are what each direction's reader owns and counts:
	// up from the client to the service, down the other way.
	up, down flow

	violations atomic.Int64 // records of this session
	last       atomic.Int64 // session clock (now) at the last message either way
	idle       *time.Timer
	// replyTimer (mu held) is made when first armed, and let go while the
	// session's readers park with nothing in flight (trimIdle).
	replyTimer *time.Timer
	// clientAt (client reader only): the session clock when the client
	// reader last read, or last waited for room; it stands for the time a
	// request is sent (pendingCall.sent), so that a request costs no clock
	// read of its own.
	clientAt time.Duration
	// checks (mu held): checks made, for sampling checkLatency.
	checks uint32
	// overA mirrors over for the client reader's check after every message.
	overA atomic.Bool
	// parks is the parking of each direction's reader (park.go).
	parks [2]dirPark
	// runs is the event loop's runner running one of the session's
	// readers now, if any (loop.go).
	runs loopRunner
}

func (s *Server) newSession(id uint64, g *guard, clientAddr string) *session {
	cfg := &s.cfg
	v := g.first
	ss := &session{
		srv: s, id: id, cfg: cfg, guard: g, user: v, clientAddr: clientAddr, serviceAddr: cfg.Upstream,
		maxPending: cfg.Limits.MaxPending, started: time.Now(),
	}
	ss.cond.L = &ss.mu
	ss.mem.b = s.budget
	ss.wire = cfg.Wire.NewSession(wrappers.Options{
		Limits: wrappers.Limits{MaxFrame: cfg.Limits.MaxFrame, MaxDepth: cfg.Limits.MaxDepth, MaxBinary: cfg.Limits.MaxFrame,
			MaxFrameMemory: cfg.Limits.MaxFrameMemory, Budget: &ss.mem}.WithDefaults(),
		// The prelude has no records; the guarded contract's are the
		// ones on the wire after it.
		RecordFields: v.recordFields,
	})
	ss.dropper, _ = ss.wire.(wrappers.Dropper)
	if ls, ok := cfg.Wire.(wrappers.LockStepper); ok && ls.LockStep() {
		ss.lockstep, ss.maxPending = true, 1
	}
	ss.cur = v
	if s.prelude != nil {
		ss.cur, ss.inPrelude = s.prelude.v, true
	}
	ss.curV.Store(ss.cur)
	ss.chk = ss.newChecker(ss.cur, ss.initialState())
	ss.touch()
	return ss
}

// logAttrs writes a record of this session: its id first, then attrs. The
// session keeps no logger of its own (Logger.With would hold a copy of the
// handler with the id formatted, a few hundred bytes, for the session's
// life): it pays one allocation a record instead.
func (s *session) logAttrs(level slog.Level, msg string, attrs ...slog.Attr) {
	l, ctx := s.cfg.Logger, context.Background()
	if !l.Enabled(ctx, level) {
		return
	}
	l.LogAttrs(ctx, level, msg, append([]slog.Attr{slog.Uint64("session", s.id)}, attrs...)...)
}

func (s *session) initialState() string {
	if s.inPrelude {
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

// run starts the session's readers, the service's on this goroutine (see
// read): it returns when the service reader parks or the session has
// ended and been let go. The service connection is already established.
func (s *session) run() {
	if !s.begin() {
		return
	}
	go s.read(clientToService)
	s.running = true // from here on the service reader lets the session go
	s.read(serviceToClient)
}

// runLooped is run for a session whose readers an event loop runs
// (loop.go): it returns once the loop has them.
func (s *session) runLooped(client, service *tcpEndpoint) {
	if !s.begin() {
		return
	}
	s.running = true // from here on the service reader lets the session go
	s.runOnLoop(client, service)
}

// begin arms the idle timer and counts the client reader among those
// that may linger, before the readers start; it reports false, having
// closed both connections, when the session has ended already.
func (s *session) begin() bool {
	// The idle timer exists before it is armed: its callback (which may
	// call finish, which stops it) happens after the Reset that armed it.
	// The reply timer is made when first armed (resetReplyTimer).
	idle := time.AfterFunc(time.Hour, s.idleFired)
	idle.Stop()
	s.mu.Lock()
	s.idle = idle
	ended := s.ended
	s.mu.Unlock()
	if ended {
		s.client.close()
		s.service.close()
		return false
	}
	idle.Reset(s.cfg.Limits.IdleTimeout)
	s.srv.lingers.Add(1)
	return true
}

// attach gives the session its endpoints (either may be nil for now). It
// reports false when the session has already ended (a shutdown while the
// service was being dialled); the caller then closes what it attached.
func (s *session) attach(client, service endpoint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client, s.service = client, service
	for d, ep := range [...]endpoint{clientToService: client, serviceToClient: service} {
		var dec wrappers.Decoder
		if e, ok := ep.(*tcpEndpoint); ok {
			dec = e.dec
		}
		_, ok := dec.(wrappers.Recycler)
		s.recycles[d] = ok && s.srv.testHook == nil
		s.useDecoder(direction(d), dec)
	}
	if b, ok := s.decs[clientToService].(wrappers.Batcher); ok {
		// Every byte the service is sent goes through toService and
		// flushService, on the client reader, which flush the batch
		// first (flushCalls).
		b.Batch()
		s.batching = true
	}
	return !s.ended
}

// useDecoder makes dec the decoder the reader of direction d reads (nil:
// none, or it parked), and, where the session recycles d's messages
// (recycles), the one that reader gives their terms back to.
func (s *session) useDecoder(d direction, dec wrappers.Decoder) {
	s.decs[d] = dec
	f := s.flow(d)
	f.rec = nil
	if r, ok := dec.(wrappers.Recycler); ok && s.recycles[d] {
		f.rec = r
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
	if s.over == v {
		return // an atomic store is a full barrier: not on every reply
	}
	s.over = v
	s.overA.Store(v)
}

// finish ends the session once: the service connection is closed at once,
// the client's is shut down so that it can still read what was written to
// it, and both readers stop.
func (s *session) finish(e endInfo) {
	s.endOnce.Do(func() {
		s.acquire(&s.mu) // a reader the event loop runs may end the session
		s.ended = true
		s.endedA.Store(true)
		s.end = e
		s.cond.Broadcast()
		client, service, idle, rt := s.client, s.service, s.idle, s.replyTimer
		s.mu.Unlock()
		if p := s.srv.parker; p != nil {
			// Before the connections close: the parker unregisters them.
			p.unpark(s)
		}
		s.unparkLoop(client, service)
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
		case code == closePolicy || code == closeTooBig || code == closeInvalidData:
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

// peerCloseOf returns the close code and reason the peer of ep sent, where
// the transport has them (WebSocket), or a normal close.
func peerCloseOf(ep endpoint) (int, string) {
	if pc, ok := ep.(interface{ peerClose() (int, string, bool) }); ok {
		if c, t, ok := pc.peerClose(); ok {
			return c, t
		}
	}
	return closeNormal, ""
}

// idleFired and replyTimerFired are the callbacks of the idle and reply
// timers, guarded (see guarded) when they fire: a timer made with a guarded
// callback would keep the guard's closure as long as the session.
func (s *session) idleFired()       { s.guarded(roleIdle, s.onIdle)() }
func (s *session) replyTimerFired() { s.guarded(roleTimer, s.onReplyTimeout)() }

// onIdle ends the session when no message passed either way for
// Limits.IdleTimeout, or re-arms the idle timer for the rest of it.
func (s *session) onIdle() {
	idle := s.cfg.Limits.IdleTimeout
	since := s.now() - time.Duration(s.last.Load())
	if since < idle {
		s.idle.Reset(idle - since)
		return
	}
	s.finish(endInfo{reason: reasonTimeout, err: fmt.Errorf("no message either way for %s", idle), code: closeGoingAway, text: "idle time-out"})
}

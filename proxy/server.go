package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// Server is a proxy enforcing one contract in front of one service. Create
// it with New; it is safe for concurrent use.
type Server struct {
	cfg     Config
	metrics *metrics
	// prelude is the wire's prelude (wrappers.Prelude), nil without one;
	// reporter is the wire as a wrappers.SelfReporter, nil when it is not.
	prelude  *prelude
	reporter wrappers.SelfReporter
	current  atomic.Pointer[guard]

	nextID   atomic.Uint64
	draining atomic.Bool
	served   atomic.Bool

	mu       sync.Mutex
	sessions map[uint64]*session
	wg       sync.WaitGroup // one per session handler
	lingers  sync.WaitGroup // client readers draining after their session ended

	refusedLogged time.Time // when the last "session refused" record was written
	refusedQuiet  int       // refusals since then

	// reads is how the sessions' TCP endpoints read, and lends their
	// decoders their read buffers.
	reads readers
	// budget is Limits.MaxMemory, shared by every session's decoders.
	budget *memBudget
	// parker holds the connections of idle sessions' parked readers
	// (park.go); nil when they do not park. Set before the first session.
	parker *parker
	// parked counts the readers the parker holds.
	parked atomic.Int64
	// loops are the event loops (Config.EventLoop) that run the TCP
	// sessions' readers, a session on loops[id % len(loops)]; none when
	// sessions have goroutines. Set before the first session.
	loops []*eventLoop
	// loopCounts counts what the loops did, for the metrics.
	loopCounts loopCounts

	total, violations, refused, panics atomic.Int64
	ends                               sync.Map // endReason -> *atomic.Int64

	// testHook, when set (by tests in this package), sees every message
	// before it is handled, on the goroutine that handles it.
	testHook func(session uint64, side wrappers.Side, m wrappers.Message)
}

// refusalLogEvery is the least time between two "session refused" records.
const refusalLogEvery = time.Second

// New checks cfg and returns a Server ready to Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, sessions: make(map[uint64]*session), budget: newMemBudget(cfg.Limits.MaxMemory)}
	s.reads.plain = cfg.PlainIO
	m, err := newMetrics(cfg.Registry, s.eachTally, s.budget, &s.parked, &s.loopCounts)
	if err != nil {
		return nil, fmt.Errorf("proxy: registering metrics: %w", err)
	}
	s.metrics = m
	if s.prelude, err = newPrelude(cfg.Wire); err != nil {
		return nil, err
	}
	if len(cfg.Services) > 0 && s.prelude == nil {
		return nil, fmt.Errorf("proxy: more than one contract needs a wire whose sessions start a service by name (ubf with its meta service); the %s wire, as configured, has none", cfg.Wire.Name())
	}
	s.reporter, _ = cfg.Wire.(wrappers.SelfReporter)
	s.current.Store(newGuard(cfg.Contract, cfg.Services))
	return s, nil
}

// Reload makes c, and services as Config.Services, the contracts of every
// session that starts from now on; open sessions keep the versions they
// started with. They must be compiled (contract.Compile or Load without
// errors). It fails when Config.Initial names a state c does not define,
// when two contracts have one name, or when services are given to a
// proxy whose wire has no prelude.
func (s *Server) Reload(c *contract.Contract, services ...*contract.Contract) error {
	if err := s.reload(c, services); err != nil {
		s.ReloadFailed()
		return err
	}
	s.metrics.reloads.WithLabelValues(reloadOK).Inc()
	s.cfg.Logger.Info("contract loaded", slog.String("contract", c.Name), slog.String("vsn", c.Vsn), slog.String("file", c.File))
	return nil
}

// ReloadFailed counts a reload that failed before Reload could be called
// (a contract that does not compile) in ubfproxy_reloads_total{result="failed"};
// Reload counts its own failures.
func (s *Server) ReloadFailed() { s.metrics.reloads.WithLabelValues(reloadFailed).Inc() }

func (s *Server) reload(c *contract.Contract, services []*contract.Contract) error {
	if c == nil {
		return errors.New("proxy: reload: no contract")
	}
	if s.cfg.Initial != "" && c.State(s.cfg.Initial) == nil {
		return fmt.Errorf("proxy: reload: initial state %q is not a state of contract %s", s.cfg.Initial, c.Name)
	}
	if err := distinctNames(c, services); err != nil {
		return fmt.Errorf("proxy: reload: %w", err)
	}
	if len(services) > 0 && s.prelude == nil {
		return errors.New("proxy: reload: more than one contract needs a wire with a prelude")
	}
	s.current.Store(newGuard(c, services))
	return nil
}

// Contract returns the contract new sessions use.
func (s *Server) Contract() *contract.Contract { return s.current.Load().first.c }

// Stats are a Server's counters since it was created.
type Stats struct {
	Open       int              // sessions open now
	Total      int64            // sessions ended
	Ends       map[string]int64 // sessions ended, by reason
	Violations int64            // violation records
	Refused    int64            // connections refused over MaxSessions or the memory budget's high-water mark
	// MemoryInUse is what the sessions hold of the memory budget now
	// (Limits.MaxMemory).
	MemoryInUse int64
	Panics      int64 // panics recovered
	// Parked is how many readers of idle sessions are parked now: they
	// hold no goroutine (Limits.ParkDelay).
	Parked int
}

// Stats returns the Server's counters.
func (s *Server) Stats() Stats {
	// With mu held, a session is either open or counted as ended
	// (release moves it under mu), never neither.
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Open: len(s.sessions), Total: s.total.Load(), Violations: s.violations.Load(),
		Refused: s.refused.Load(), Panics: s.panics.Load(), Ends: map[string]int64{}, MemoryInUse: s.budget.used.Load()}
	st.Parked = int(s.parked.Load())
	s.ends.Range(func(k, v any) bool {
		st.Ends[string(k.(endReason))] = v.(*atomic.Int64).Load()
		return true
	})
	return st
}

// MemoryInUse returns what the sessions hold of the memory budget
// (Limits.MaxMemory) now.
func (s *Server) MemoryInUse() int64 { return s.budget.used.Load() }

// EventLoops is how many event loops Serve runs the TCP sessions on
// (Config.EventLoop, with Config.EventLoops or DefaultEventLoops), or 0
// when goroutines serve them. Should the loops fail to start, Serve logs
// a warning and the sessions keep their goroutines.
func (s *Server) EventLoops() int {
	switch {
	case !s.cfg.EventLoop:
		return 0
	case s.cfg.EventLoops > 0:
		return s.cfg.EventLoops
	default:
		return DefaultEventLoops()
	}
}

// OpenSessions returns how many sessions are open.
func (s *Server) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Serve accepts connections on ln until ctx is cancelled, then stops
// accepting, lets the open sessions finish for Limits.Grace, closes the
// ones left (reason shutdown) and returns nil once every session has ended.
// It closes ln. An error from ln other than its closing is returned after
// the same drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("proxy: Serve called twice")
	}
	var err error
	if s.cfg.Transport == WebSocket {
		err = s.serveWS(ctx, ln)
	} else {
		stopParking := s.startParking()
		defer stopParking() // once every session has ended (drain)
		stopLoops := s.startLoops()
		defer stopLoops()
		err = s.serveTCP(ctx, ln)
	}
	s.drain()
	return err
}

func (s *Server) serveTCP(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("proxy: accept: %w", err)
			}
			// Out of file descriptors and the like: back off as net/http
			// does rather than spin, and go on serving the open sessions.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.cfg.Logger.Warn("accept failed; retrying", slog.String("error", err.Error()), slog.Duration("delay", delay))
			select {
			case <-time.After(delay):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		delay = 0
		ss, ok := s.admit(conn.RemoteAddr().String())
		if !ok {
			_ = conn.Close()
			continue
		}
		// A session accepted before shutdown began may still be set up:
		// the dial time-out bounds it, and the grace period the session.
		go s.handleTCP(context.WithoutCancel(ctx), ss, conn)
	}
}

// admit registers a new session, or refuses it over the session limit or
// while the memory budget is used past its high-water mark.
func (s *Server) admit(clientAddr string) (*session, bool) {
	s.mu.Lock()
	if len(s.sessions) >= s.cfg.Limits.MaxSessions || s.draining.Load() || s.budget.overHigh() {
		n := len(s.sessions)
		// A flood of connections must not become a flood of records: at
		// most one per refusalLogEvery, counting the ones it stands for.
		now := time.Now()
		s.refusedQuiet++
		logIt := now.Sub(s.refusedLogged) >= refusalLogEvery
		count := s.refusedQuiet
		if logIt {
			s.refusedLogged, s.refusedQuiet = now, 0
		}
		s.mu.Unlock()
		s.refused.Add(1)
		s.metrics.refused.Inc()
		s.metrics.sessionsTotal.WithLabelValues(string(reasonLimit)).Inc()
		s.countEnd(reasonLimit)
		if logIt {
			s.cfg.Logger.Warn("session refused", slog.String("client", clientAddr), slog.String("reason", string(reasonLimit)),
				slog.Int("open", n), slog.Int("max_sessions", s.cfg.Limits.MaxSessions),
				slog.Int64("memory_in_use", s.budget.used.Load()), slog.Int64("max_memory", s.budget.max), slog.Int("refused", count))
		}
		return nil, false
	}
	id := s.nextID.Add(1)
	ss := s.newSession(id, s.current.Load(), clientAddr)
	s.sessions[id] = ss
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.sessionsOpen.Inc()
	return ss, true
}

func (s *Server) handleTCP(ctx context.Context, ss *session, conn net.Conn) {
	defer s.releaseUnlessRunning(ss)
	defer s.recoverPanic(ss)
	conn = s.forLoop(ss, conn)
	client := newTCPEndpoint(conn, ss.wire.ClientDecoder, &s.reads)
	if !ss.attach(client, nil) {
		client.close()
		return
	}
	up, err := s.dial(ctx, "tcp", s.cfg.Upstream)
	if err != nil {
		ss.attach(client, deadEndpoint{})
		ss.serviceGone(dialFailed(err), fmt.Errorf("the service cannot be reached: %w", err))
		client.close()
		return
	}
	ss.serviceAddr = up.RemoteAddr().String()
	if looped(conn) {
		up = s.forLoop(ss, up)
	}
	service := newTCPEndpoint(up, ss.wire.ServerDecoder, &s.reads)
	client.beforeRead, service.beforeRead = ss.beforeRead(clientToService), ss.beforeRead(serviceToClient)
	if !ss.attach(client, service) {
		service.close()
		client.close()
		return
	}
	ss.logAttrs(slog.LevelDebug, "session start", slog.String("client", ss.clientAddr), slog.String("service", ss.serviceAddr))
	if onLoop(client, service) {
		ss.runLooped(client, service)
		return
	}
	ss.enablePark(client, service)
	ss.run()
}

// dial connects to the service within DialTimeout.
func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.DialTimeout)
	defer cancel()
	if s.cfg.Dial != nil {
		return s.cfg.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// recoverPanic, deferred by a session's goroutine outside its readers
// (which have their own, see guarded), turns a panic into the end of that
// session only.
func (s *Server) recoverPanic(ss *session) {
	if r := recover(); r != nil {
		s.panics.Add(1)
		s.metrics.panics.Inc()
		ss.logAttrs(slog.LevelError, "panic in session", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		ss.finish(endInfo{reason: reasonError, err: fmt.Errorf("panic: %v", r), code: closeInternal, text: "internal error"})
	}
}

// releaseUnlessRunning, deferred by the goroutine that sets a session up,
// lets it go unless run started it: its service reader does then.
func (s *Server) releaseUnlessRunning(ss *session) {
	if !ss.running {
		s.release(ss)
	}
}

// release unregisters an ended session and writes its record.
func (s *Server) release(ss *session) {
	ss.finish(endInfo{reason: reasonError, err: errors.New("session ended without a reason")}) // no-op when it has one
	s.mu.Lock()
	delete(s.sessions, ss.id)
	ss.flushTallies() // with mu held: a scrape sees the counts in the session or in the totals
	s.total.Add(1)    // and Stats sees the session open or ended
	s.countEnd(ss.end.reason)
	s.mu.Unlock()
	ss.mem.close()
	s.metrics.sessionsOpen.Dec()
	s.metrics.sessionsTotal.WithLabelValues(string(ss.end.reason)).Inc()
	ss.logEnd()
	s.wg.Done()
}

// eachTally calls f with the tallies of every open session and then with
// the totals of the flows, all with mu held: a tally moves to the totals
// with mu held (flushTally, release), so f sees every count once. Reading
// the totals after letting mu go would count twice a tally moved between
// the two, and the next scrape would see the counter go back.
func (s *Server) eachTally(f func(up, down *tally)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		f(&ss.up.tally, &ss.down.tally)
	}
	f(&s.metrics.flows.up, &s.metrics.flows.down)
}

func (s *Server) countEnd(r endReason) {
	v, _ := s.ends.LoadOrStore(r, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// drain lets open sessions finish for Grace, then ends them.
func (s *Server) drain() {
	s.draining.Store(true)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(s.cfg.Limits.Grace)
	defer t.Stop()
	select {
	case <-done:
		s.lingers.Wait()
		return
	case <-t.C:
	}
	s.mu.Lock()
	open := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		open = append(open, ss)
	}
	s.mu.Unlock()
	s.cfg.Logger.Info("grace period over; closing sessions", slog.Int("open", len(open)))
	for _, ss := range open {
		ss.finish(endInfo{reason: reasonShutdown, code: closeGoingAway, text: "proxy shutting down"})
	}
	<-done
	s.lingers.Wait()
}

func (ss *session) logEnd() {
	e := ss.end
	level := slog.LevelInfo
	if e.reason == reasonError || e.reason == reasonLimit {
		level = slog.LevelWarn
	}
	ss.mu.Lock()
	cur := ss.cur.c
	ss.mu.Unlock()
	attrs := []slog.Attr{
		slog.String("client", ss.clientAddr),
		slog.String("service", ss.serviceAddr),
		slog.String("contract", cur.Name),
		slog.String("vsn", cur.Vsn),
		slog.String("reason", string(e.reason)),
		slog.Int64("client_messages", ss.up.msgs.Load()),
		slog.Int64("client_bytes", ss.up.bytes.Load()),
		slog.Int64("server_messages", ss.down.msgs.Load()),
		slog.Int64("server_bytes", ss.down.bytes.Load()),
		slog.Float64("duration_ms", float64(time.Since(ss.started).Microseconds())/1000),
	}
	if e.err != nil {
		attrs = append(attrs, slog.String("error", e.err.Error()))
	}
	ss.logAttrs(level, "session end", attrs...)
}

// deadEndpoint stands for a service that could not be reached.
type deadEndpoint struct{}

func (deadEndpoint) next() (wrappers.Message, error) { return wrappers.Message{}, net.ErrClosed }
func (deadEndpoint) write([]byte, bool) error        { return net.ErrClosed }
func (deadEndpoint) queue([]byte, bool) bool         { return false }
func (deadEndpoint) flush() error                    { return nil }
func (deadEndpoint) more() bool                      { return false }
func (deadEndpoint) lastText() bool                  { return true }
func (deadEndpoint) closeWrite() bool                { return false }
func (deadEndpoint) shutdown(int, string, time.Time) {}
func (deadEndpoint) abort(int, string)               {}
func (deadEndpoint) drain()                          {}
func (deadEndpoint) setWriteDeadline(time.Time)      {}
func (deadEndpoint) close()                          {}
func (deadEndpoint) addr() string                    { return "" }

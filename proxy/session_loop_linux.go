//go:build linux && !386

package proxy

import (
	"log/slog"
	"net"
)

// startLoops starts the Server's event loops (Config.EventLoop), as many
// as EventLoops says, and returns
// what stops them, to be called once every session has ended. When they
// cannot start, sessions keep their goroutines.
func (s *Server) startLoops() (stop func()) {
	n := s.EventLoops()
	if n == 0 {
		return func() {}
	}
	loops := make([]*eventLoop, 0, n)
	for range n {
		lp, err := newEventLoop(&s.loopCounts, func(err error) {
			s.cfg.Logger.Error("an event loop stopped: its sessions hear nothing more from their sockets and end at their idle time-out", "error", err.Error())
		})
		if err != nil {
			s.cfg.Logger.Warn("sessions keep their goroutines: the event loop cannot start", "error", err.Error())
			for _, lp := range loops {
				lp.closeFDs()
			}
			return func() {}
		}
		lp.warn = func(err error) {
			s.cfg.Logger.Warn("an event loop cannot wait through the runtime's poller again: it waits in epoll_wait, which gathers fewer events per wake-up under load; it tries again later", "error", err.Error())
		}
		loops = append(loops, lp)
	}
	for _, lp := range loops {
		lp.start()
	}
	s.loops = loops
	return func() {
		for _, lp := range loops {
			lp.close()
		}
	}
}

// forLoop returns conn taken over by the event loop of ss, when the Server
// has loops and conn is a TCP connection; otherwise conn itself. A
// connection the loop cannot take (no descriptor left to duplicate, an
// epoll instance full) stays the runtime's, and its session runs on
// goroutines: a loop connection and a net one serve together as well.
func (s *Server) forLoop(ss *session, conn net.Conn) net.Conn {
	tc, ok := conn.(*net.TCPConn)
	if len(s.loops) == 0 || !ok {
		return conn
	}
	lp := s.loops[ss.id%uint64(len(s.loops))]
	if lp.broken.Load() {
		return conn
	}
	c, err := newLoopConn(tc, &ss.runs)
	if err == nil {
		if err = lp.add(c); err != nil {
			_ = c.Close()
		}
	}
	if err != nil {
		ss.logAttrs(slog.LevelWarn, "the event loop cannot take a connection; its session runs on goroutines",
			slog.String("peer", conn.RemoteAddr().String()), slog.String("error", err.Error()))
		return conn
	}
	// The descriptors share one open file, non-blocking since the net
	// package made it so: closing conn's takes it out of the runtime's
	// poller and leaves the socket open.
	_ = conn.Close()
	return c
}

// looped reports whether conn is one the event loop took (forLoop).
func looped(conn net.Conn) bool {
	_, ok := conn.(*loopConn)
	return ok
}

// onLoop reports whether both endpoints' readers can run on the event
// loop: both are loop connections read inside the loop (TCP_INQ).
func onLoop(client, service *tcpEndpoint) bool {
	for _, e := range [...]*tcpEndpoint{client, service} {
		if _, ok := e.conn.(*loopConn); !ok || e.lr == nil || !e.lr.canInline {
			return false
		}
	}
	return true
}

// runOnLoop is run for a session whose readers the event loop runs: it
// gives each connection its reader and parks it, so that the loop runs
// it at the next bytes. A connection that had bytes before is read here
// first, on the goroutine that set the session up.
//
// A reader the loop runs holds no goroutine between its reads, but its
// decoder and what the session keeps for the next request stay, until the
// sweeper finds the session idle for Limits.ParkDelay: it then lets them
// go as a reader that parks does (kickLooped), and the reader counts as
// parked until its next bytes.
func (s *session) runOnLoop(client, service *tcpEndpoint) {
	s.looped = true // before enablePark's stores, which the sweeper loads first
	s.enablePark(client, service)
	for d, e := range [...]*tcpEndpoint{clientToService: client, serviceToClient: service} {
		c := e.conn.(*loopConn)
		dir := direction(d)
		loop := s.readerLoop(dir)
		c.reader = func(r *runner) bool { return s.loopRead(dir, c, e.lr, loop, r) }
	}
	for _, d := range [...]direction{serviceToClient, clientToService} {
		c := s.endpointOf(d).(*tcpEndpoint).conn.(*loopConn)
		if !s.parkOnLoop(d, c) {
			c.reader(nil)
		}
	}
}

// parkOnLoop parks the reader of direction d, which the caller holds, on
// c's loop, and reports false when an event came meanwhile: the caller
// then runs it on. finish unparks the parked readers; one that parks
// after finish looked takes itself back here and does its end.
func (s *session) parkOnLoop(d direction, c *loopConn) bool {
	if !c.rd.park() {
		return false
	}
	if s.isEnded() && c.rd.unpark() {
		go s.afterLoopRead(d)
	}
	return true
}

// loopRead runs loop, the reader of direction d, which reads c through
// lr, until the socket is drained or the reader stops, on runner r (nil
// when the caller is not a loop's runner), and reports whether r is still
// its loop's runner. A reader that stopped for good (the session ended, or
// its connection failed) does what follows on a goroutine of its own.
func (s *session) loopRead(d direction, c *loopConn, lr *lendingReader, loop func(), r *runner) bool {
	if r != nil {
		s.runs.on.Store(r)
	}
	if p := &s.parks[d]; p.state.Load() == parkParked {
		s.resumeDecoder(d, p)
		p.state.Store(parkReading)
		s.srv.parked.Add(-1)
	}
	stopped, released := true, false // stopped: the reader ends here
	budgeted := r != nil             // a reader the loop no longer runs reads on without one
	if c.incref() {
		in := &lr.in
		for {
			in.inside, in.fd, in.drained = true, c.fd, false
			if budgeted {
				in.budget = loopReadBudget
			}
			loop()
			in.inside, in.budget = false, 0
			if !lr.waits() {
				break
			}
			if in.spent {
				// The socket may hold more: the reader goes after the
				// events the runner already has, if it is still the
				// runner (the slot taken, nobody hands it over
				// meanwhile); otherwise it reads on alone.
				in.spent = false
				if r == nil || !s.runs.on.CompareAndSwap(r, nil) {
					budgeted = false // handed over: the loop has other readers to run
					continue
				}
				if !s.parkOnLoop(d, c) {
					s.runs.on.Store(r) // an event came: read on
					continue
				}
				stopped, released = false, true
				r.requeue(c)
				break
			}
			if s.parkOnLoop(d, c) {
				stopped = false
				break
			}
		}
		c.decref()
	}
	if stopped {
		go s.afterLoopRead(d)
	}
	return r == nil || released || s.runs.on.CompareAndSwap(r, nil)
}

// loopReadBudget is how many reads (of up to readBufferSize bytes) one run
// of a reader on an event loop makes before the loop's other sessions get
// a turn: a peer that keeps its socket full (a service pushing without
// end) would otherwise hold the loop.
const loopReadBudget = 16

// afterLoopRead does, for the reader of direction d that the loop ran,
// what follows the end of a reader on its side (see afterRead).
func (s *session) afterLoopRead(d direction) {
	if p := &s.parks[d]; p.state.Swap(parkOff) == parkParked {
		s.srv.parked.Add(-1)
	}
	s.flushTally(d)
	if d == clientToService {
		s.afterRead(d)
		return
	}
	defer s.srv.release(s)
	defer s.srv.recoverPanic(s)
	s.afterRead(d)
}

// kickLooped parks the reader of direction d, for the sweeper (kick),
// when the event loop runs it: if it waits for bytes (parked on the loop)
// between frames, its decoder and what the session keeps for the next
// request are let go, as a reader that parks lets them go (readOn), and it
// counts as parked; the loop's next run of it takes them back. One that
// holds part of a frame keeps it and declines, as a goroutine reader
// kicked in the middle of a frame does. It reports whether the loop runs
// the reader, so that kick has nothing more to do; last is the session's
// last activity as the sweeper saw it.
//
// The sweeper serves every session: it never waits for a session's locks
// here (the other reader may hold clientW across a write to a client that
// does not read). When they are busy, what they guard (the pending array,
// the held write buffer) stays until the reader next runs and goes idle
// again: a parked reader is not kicked again.
func (s *session) kickLooped(d direction, p *dirPark, last int64) bool {
	// The state first: enablePark sets it after lr, and a reader
	// without a lending reader never leaves parkOff.
	st := p.state.Load()
	if st != parkReading && st != parkDeclined {
		return false // kick has nothing to do either
	}
	if !s.looped {
		return false // goroutine readers, on loop connections or not
	}
	c := p.lr.e.conn.(*loopConn)
	if st == parkDeclined && last == p.kickedAt {
		return true // in the middle of a frame since the last kick
	}
	if !c.rd.unpark() {
		return true // reading now, or ended
	}
	// The reader is this goroutine's until it parks again.
	p.kickedAt = last
	if p.lr.e.more() {
		p.state.Store(parkDeclined)
	} else {
		s.parkDecoder(d, p)
		if s.mu.TryLock() {
			s.trimIdleLocked(d)
			s.mu.Unlock()
		}
		s.releaseHeldNow(d)
		p.state.Store(parkParked)
		s.srv.parked.Add(1)
	}
	if !s.parkOnLoop(d, c) {
		go c.reader(nil) // bytes came meanwhile
	}
	return true
}

// releaseHeldNow is releaseHeld for the sweeper: the client's held
// buffer is let go only if clientW is free.
func (s *session) releaseHeldNow(d direction) {
	if d == clientToService {
		dropHeld(s.service) // the client's reader, which the sweeper holds, alone writes there
		return
	}
	if s.clientW.TryLock() {
		dropHeld(s.client)
		s.clientW.Unlock()
	}
}

// unparkLoop takes back the readers of s, which has ended, that wait on
// the event loop, and has them do what follows the end on their side.
func (s *session) unparkLoop(client, service endpoint) {
	for d, ep := range [...]endpoint{clientToService: client, serviceToClient: service} {
		e, ok := ep.(*tcpEndpoint)
		if !ok {
			continue
		}
		// Only a reader the loop runs parks (runOnLoop).
		if c, ok := e.conn.(*loopConn); ok && c.rd.unpark() {
			go s.afterLoopRead(direction(d))
		}
	}
}

// EventLoopAvailable reports whether Config.EventLoop works on this
// system: Linux, but for 32-bit x86. The ubfproxy command turns the loop
// on by default where it is.
const EventLoopAvailable = true

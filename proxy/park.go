package proxy

import (
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// An idle session holds no goroutine. Each direction of a session has a
// reader goroutine, blocked in a read while its peer says nothing; its
// stack (8 KiB once a message has been handled) is most of what an idle
// session costs. So a reader that has waited for longer than
// Limits.ParkDelay with nothing buffered parks: it hands its connection to
// the Server's parker (one goroutine waiting on every parked connection at
// once, see parker_linux.go) and ends; the parker starts a new reader for
// that direction when the connection has bytes to read (or hangs up), and
// the session's end starts one to do what follows the end on that side.
//
// Nothing is added to the path of a message: the Server's sweeper looks at
// the session's last activity (session.last, which the readers keep
// anyway) every half park delay and kicks the readers of a session idle
// that long by setting a read deadline in the past on their connections.
// A reader kicked while it waits between frames (lendingReader.ReadLent,
// with nothing buffered) gets wrappers.ErrParked from its decoder, which
// keeps nothing, and parks, letting go of its decoder too (parkDecoder:
// the next reader resumes it); one kicked in the middle of a frame clears
// the deadline and reads on (it is not kicked again until the session
// moves).
// Parking needs a socket the lending reader waits on and the parker, so
// WebSocket endpoints, connections without a socket (a Config.Dial that
// returns none) and systems without the parker keep their goroutines.

// The park states of one direction's reader (dirPark.state).
const (
	parkOff      int32 = iota // the reader cannot park (no socket, no parker), has not started or has ended
	parkReading               // the reader runs; the sweeper may kick it
	parkKicked                // its connection has a read deadline in the past: it parks at its next read between frames
	parkDeclined              // kicked in the middle of a frame, it read on: not kicked again until the session moves
	parkParked                // the parker holds its connection; no goroutine reads it
)

// dirPark is the parking of one direction's reader.
type dirPark struct {
	state atomic.Int32
	// parking (the reader only): the reader stopped for a park, not for
	// the end of the session.
	parking bool
	// lr reads the direction's connection; nil when it cannot park.
	lr *lendingReader
	// kickedAt (the sweeper only): session.last when the sweeper kicked.
	kickedAt int64
	// dec (the reader only) is what the decoder of a parked reader kept
	// of itself (wrappers.Parker), nil while the decoder is there.
	dec wrappers.Parked
}

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// enablePark tells the lending readers of the session's TCP endpoints of
// its end, and lets those that can park (set before they start).
func (s *session) enablePark(client, service *tcpEndpoint) {
	for d, e := range [...]*tcpEndpoint{clientToService: client, serviceToClient: service} {
		if e.lr == nil {
			continue
		}
		e.lr.ended = &s.endedA
		if s.srv.parker == nil {
			continue
		}
		p := &s.parks[d]
		p.lr, e.lr.park = e.lr, p
		p.state.Store(parkReading)
	}
}

// parkedErr reports whether err, from a read of p's connection, is the
// sweeper's kick rather than a real deadline or failure.
func (p *dirPark) parkedErr(err error) bool {
	return p != nil && p.state.Load() == parkKicked && errors.Is(err, os.ErrDeadlineExceeded)
}

// kick asks the reader of direction d to park (the sweeper only): last is
// the session's last activity as the sweeper saw it.
func (s *session) kick(d direction, last int64) {
	p := &s.parks[d]
	if s.kickLooped(d, p, last) {
		return
	}
	st := p.state.Load()
	if st == parkDeclined && last == p.kickedAt {
		return // in the middle of a frame since the last kick
	}
	if (st != parkReading && st != parkDeclined) || !p.state.CompareAndSwap(st, parkKicked) {
		return
	}
	p.kickedAt = last
	p.lr.setReadDeadline(aLongTimeAgo)
}

// readOn runs loop, the reader of direction d, until the session ends or
// the reader parks, and reports whether it parked. A reader that stopped
// for a park (next reports it) hands its connection to the parker; when
// the parker cannot take it, it reads on.
func (s *session) readOn(d direction, loop func()) (parked bool) {
	p := &s.parks[d]
	for !s.isEnded() {
		s.resumeDecoder(d, p)
		s.runLoop(d, loop)
		// The reader stopped: what it counted goes to the totals, since
		// it may count no more before the session is let go.
		s.flushTally(d)
		if !p.parking {
			return false
		}
		p.parking = false
		p.lr.setReadDeadline(time.Time{})
		s.parkDecoder(d, p)
		s.trimIdle(d)
		s.releaseHeld(d)
		if s.srv.parker.park(s, d, p.lr.raw) {
			return true
		}
		p.state.Store(parkReading)
	}
	return false
}

// parkDecoder lets go of the decoder of a reader about to park: of all
// of it where it can (wrappers.Parker), else of its scratch
// (wrappers.Trimmer). A parked session then holds a few words per
// direction, not the few hundred bytes of a decoder.
func (s *session) parkDecoder(d direction, p *dirPark) {
	e := p.lr.e
	if pk, ok := e.dec.(wrappers.Parker); ok {
		if p.dec = pk.Park(); p.dec != nil {
			e.dec, e.buf = nil, nil
			s.useDecoder(d, nil)
			return
		}
	}
	e.trim()
}

// resumeDecoder gives the reader of direction d, about to run, the
// decoder that goes on from the one that parked, if it did.
func (s *session) resumeDecoder(d direction, p *dirPark) {
	if p.dec == nil {
		return
	}
	e := p.lr.e
	e.dec = p.dec.Resume(p.lr)
	e.buf, _ = e.dec.(wrappers.Bufferer)
	s.useDecoder(d, e.dec)
	p.dec = nil
}

// runLoop runs loop, the reader of direction d, until it stops: inside
// the poller's callback where the connection allows it (runInline), else
// on its own.
func (s *session) runLoop(d direction, loop func()) {
	if e, ok := s.endpointOf(d).(*tcpEndpoint); ok && e.lr != nil && e.lr.canInline {
		e.lr.runInline(loop)
		return
	}
	loop()
}

// trimIdle lets go, for the reader of direction d that parks, of what the
// session keeps for the requests to come, when none is pending: the array
// of the pending requests, what the checker keeps to check them faster,
// and the reply timer. Either reader may park last (the client's may park
// before the reply to its request came), so both ask. The next request
// makes them again. The client's reader also drops the requests kept for
// its decoder to reuse: the decoder let its memory go (parkDecoder).
func (s *session) trimIdle(d direction) {
	s.mu.Lock()
	s.trimIdleLocked(d)
	s.mu.Unlock()
}

// trimIdleLocked is trimIdle with mu held.
func (s *session) trimIdleLocked(d direction) {
	if len(s.pending) == 0 {
		s.pending, s.pendBuf = nil, nil
		s.chk.Trim()
		if s.replyTimer != nil {
			// Nothing in flight: if it fires meanwhile (its callback
			// waits for mu), it finds nothing to time.
			s.replyTimer.Stop()
			s.replyTimer, s.rtArmed = nil, false
		}
	}
	if d == clientToService {
		s.freed = nil
	}
}

// releaseHeld lets go of the buffer in which the endpoint that the reader
// of direction d writes to holds bytes back (tcpEndpoint.out, empty
// between batches, kept up to keepHeld), for that reader as it parks: a
// session that pipelined would keep it while idle. The client's reader
// alone writes to the service (toService); writes to the client take
// clientW.
func (s *session) releaseHeld(d direction) {
	if d == clientToService {
		dropHeld(s.service)
		return
	}
	w := s.takeTurn()
	dropHeld(s.client)
	w.release()
}

// dropHeld lets go of ep's held-back buffer when it holds nothing.
func dropHeld(ep endpoint) {
	if e, ok := ep.(*tcpEndpoint); ok && len(e.out) == 0 {
		e.out = nil
	}
}

// resetReplyTimer (mu held) arms the reply timer to fire in d, making it
// when there is none: the session's first request, or the first since a
// park let it go. An ended session gets none (finish has stopped the
// timers already).
func (s *session) resetReplyTimer(d time.Duration) {
	if s.replyTimer != nil {
		s.replyTimer.Reset(d)
		return
	}
	if !s.ended {
		s.replyTimer = time.AfterFunc(d, s.replyTimerFired)
	}
}

// waitEnd waits until the session has ended.
func (s *session) waitEnd() {
	s.mu.Lock()
	for !s.ended {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

// parkedReader is the direction of a session a parker holds.
type parkedReader struct {
	s *session
	d direction
}

// parkKey names the reader of direction d of s among the parker's: session
// ids are never reused, where file descriptors are.
func parkKey(s *session, d direction) uint64 { return s.id<<1 | uint64(d) }

// parkedAt is the reader of s whose parkKey is key.
func parkedAt(key uint64, s *session) parkedReader { return parkedReader{s: s, d: direction(key & 1)} }

// resume starts a reader for a direction the parker let go of: it reads on
// or, after the session's end, does what follows the end on its side.
func (r parkedReader) resume(ended bool) {
	r.s.srv.parked.Add(-1)
	st := parkReading
	if ended {
		st = parkOff
	}
	r.s.parks[r.d].state.Store(st)
	go r.s.read(r.d)
}

// read runs the reader of direction d on this goroutine until the session
// ends or the reader parks; once it stopped, it does what follows on its
// side: the client's reader drains the client after the end (so that it
// reads the last reply rather than a reset) and closes it, the service's
// closes the service and lets the session go. The client's reader may
// outlive the session by up to linger; Server tracks it in lingers.
func (s *session) read(d direction) {
	if d == clientToService {
		if !s.readOn(d, s.readerLoop(d)) {
			s.afterRead(d)
		}
		return
	}
	parked := false
	defer func() {
		if !parked {
			s.srv.release(s)
		}
	}()
	defer s.srv.recoverPanic(s)
	if parked = s.readOn(d, s.readerLoop(d)); !parked {
		s.afterRead(d)
	}
}

// readerLoop is the loop of messages of direction d's reader, guarded.
func (s *session) readerLoop(d direction) func() {
	if d == clientToService {
		return s.guarded(roleClient, s.clientLoop)
	}
	return s.guarded(roleService, s.serviceLoop)
}

// afterRead does what follows the end of direction d's reader on its
// side: the client's waits for the session's end, drains the client and
// closes it; the service's closes the service (the caller then lets the
// session go).
func (s *session) afterRead(d direction) {
	if d == clientToService {
		s.waitEnd() // a client that half-closed still gets its replies
		s.client.drain()
		s.client.close()
		s.srv.lingers.Done()
		return
	}
	// Every way out of serviceLoop ends the session first.
	s.finish(endInfo{reason: reasonError, err: errors.New("service reader stopped without a reason")}) // no-op normally
	s.service.close()
}

// sweep kicks the readers of the sessions idle for delay or longer, every
// half delay, until stop is closed.
func (s *Server) sweep(delay time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(max(delay/2, time.Millisecond))
	defer t.Stop()
	var idle []*session
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		s.mu.Lock()
		for _, ss := range s.sessions {
			if now.Sub(ss.started)-time.Duration(ss.last.Load()) >= delay && ss.mayPark() {
				idle = append(idle, ss)
			}
		}
		s.mu.Unlock()
		for i, ss := range idle {
			last := ss.last.Load()
			ss.kick(clientToService, last)
			ss.kick(serviceToClient, last)
			idle[i] = nil
		}
		idle = idle[:0]
	}
}

// mayPark reports whether a reader of the session may be kicked.
func (s *session) mayPark() bool {
	if s.isEnded() {
		return false
	}
	for d := range s.parks {
		if st := s.parks[d].state.Load(); st == parkReading || st == parkDeclined {
			return true
		}
	}
	return false
}

// startParking starts the parker and the sweeper, when the configuration
// and the system allow, and returns what stops them, to be called once
// every session has ended.
func (s *Server) startParking() (stop func()) {
	delay := s.cfg.Limits.ParkDelay
	if delay < 0 {
		return func() {}
	}
	p, err := newParker(func(err error) {
		s.cfg.Logger.Error("the parker stopped: idle sessions keep their goroutines from now on", "error", err.Error())
	})
	if err != nil {
		s.cfg.Logger.Warn("idle sessions keep their goroutines: the parker cannot start", "error", err.Error())
		return func() {}
	}
	if p == nil {
		return func() {} // no parker on this system
	}
	s.parker = p
	done := make(chan struct{})
	swept := make(chan struct{})
	go p.run()
	go func() {
		defer close(swept)
		s.sweep(delay, done)
	}()
	return func() {
		close(done)
		<-swept
		p.close()
	}
}

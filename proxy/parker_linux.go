package proxy

import (
	"fmt"
	"sync"
	"syscall"
)

// parker waits, with one goroutine and an epoll instance of its own, on
// the connections of the readers that parked (see park.go), and starts a
// reader again for each connection that becomes readable or hangs up.
//
// A connection is registered level-triggered and one-shot: one that
// already has bytes when it parks fires at once, so no wake-up is lost,
// and each registration fires once. The event carries the reader's key
// (parkKey), never the file descriptor, which the system reuses once a
// connection is closed; a key the parker no longer holds (its session
// ended and unparked it) is ignored. The runtime's own poller keeps the
// descriptor registered too; the two do not interfere.
type parker struct {
	// wakeableEpoll's key 0 is no reader's (session ids start at 1): its
	// wake-up stops run.
	wakeableEpoll
	done chan struct{} // closed when run returns

	// failed is told why run stopped early, when its epoll instance
	// broke (the Server logs it).
	failed func(error)

	mu sync.Mutex
	// parked holds the session of each parked reader by its parkKey,
	// which tells the direction (parkedAt): a map entry is paid by every
	// parked reader.
	parked map[uint64]*session
	// broken: run stopped early; no reader parks any more.
	broken bool
}

// parkEvents is what a parked connection is waited for: bytes, the peer's
// end of input, or (always reported) a hang-up or error.
const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// newParker makes a parker; failed is told if its epoll instance breaks.
func newParker(failed func(error)) (*parker, error) {
	w, err := newWakeableEpoll()
	if err != nil {
		return nil, err
	}
	return &parker{wakeableEpoll: w, done: make(chan struct{}), parked: make(map[uint64]*session), failed: failed}, nil
}

// park registers the connection raw of direction d of s, whose reader is
// about to end, and reports whether it did: not when the session has
// ended (checked under mu, which unpark takes after the session is marked
// ended, so that a reader never parks after its session's unpark), nor
// when the connection is closed or cannot be registered.
func (p *parker) park(s *session, d direction, raw syscall.RawConn) bool {
	key := parkKey(s, d)
	ev := keyedEvent(parkEvents, key)
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.isEnded() || p.broken {
		return false
	}
	var err error
	// Control keeps the descriptor from being closed (and reused) while
	// it is registered.
	cerr := raw.Control(func(fd uintptr) {
		// A descriptor that parked before is still registered, disabled
		// since it fired.
		if err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev); err == syscall.ENOENT {
			err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if cerr != nil || err != nil {
		return false
	}
	s.parks[d].state.Store(parkParked)
	p.parked[key] = s
	s.srv.parked.Add(1)
	return true
}

// unpark takes back the parked readers of s, which has ended, and starts
// them to do what follows the end on their side.
func (p *parker) unpark(s *session) {
	var rs [2]parkedReader
	n := 0
	p.mu.Lock()
	for d := range 2 {
		key := parkKey(s, direction(d))
		if _, ok := p.parked[key]; ok {
			delete(p.parked, key)
			rs[n] = parkedReader{s: s, d: direction(d)}
			n++
		}
	}
	p.mu.Unlock()
	for _, r := range rs[:n] {
		// Unregistered so that its end (a close by the peer) does not
		// wake the parker for nothing; a closed connection is gone from
		// epoll already.
		_ = r.s.parks[r.d].lr.raw.Control(func(fd uintptr) {
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
		r.resume(true)
	}
}

// run waits for parked connections to become readable and starts their
// readers again, until close.
func (p *parker) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 64)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			// Only a broken epoll instance fails. No reader may stay
			// parked on it: they all read again, on goroutines, and no
			// other parks.
			p.fail(err)
			return
		}
		for _, ev := range events[:n] {
			key := eventKey(ev)
			if key == 0 {
				return
			}
			p.mu.Lock()
			s, ok := p.parked[key]
			delete(p.parked, key)
			p.mu.Unlock()
			if ok {
				parkedAt(key, s).resume(false)
			}
		}
	}
}

// fail marks the parker broken and starts again every reader parked on it.
func (p *parker) fail(err error) {
	p.mu.Lock()
	p.broken = true
	parked := p.parked
	p.parked = make(map[uint64]*session)
	p.mu.Unlock()
	if p.failed != nil {
		p.failed(fmt.Errorf("epoll_wait: %w", err))
	}
	for key, s := range parked {
		parkedAt(key, s).resume(false)
	}
}

// close stops run and releases the parker's descriptors. Every session
// has ended: no reader is parked.
func (p *parker) close() {
	p.wakeUp()
	<-p.done
	p.closeFDs()
}

//go:build linux && !386

package proxy

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// loopEvents is what a session's socket is registered for: bytes, room to
// write, the peer's end of input, edge-triggered (a drained reader knows
// the next bytes raise a new edge, see recvINQ). Hang-ups and errors are
// always reported.
const loopEvents = syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | (syscall.EPOLLET & 0xffffffff)

// eventLoop is one epoll instance and the goroutine that runs it (the
// runner, which changes when a reader hands the loop over).
type eventLoop struct {
	// wakeableEpoll's key 0 is no connection's (slots count from 1): its
	// wake-up, by close only, stops the runner.
	wakeableEpoll
	// file is epfd as an *os.File, and poll its syscall.RawConn: the
	// runtime's poller waits for epfd to have events (waiter.wait).
	file *os.File
	poll syscall.RawConn
	// broken: the epoll instance failed (fail); no session joins it.
	broken atomic.Bool
	done   chan struct{} // closed by the runner that stops

	// failed is told why the loop stopped early (a broken epoll instance).
	failed func(error)
	// counts are the Server's counts of what its loops did.
	counts *loopCounts

	// conns maps a registration's key to its connection: slot key&0xffffffff
	// - 1, with key>>32 the slot's generation, so that an event already
	// read for a connection since closed, whose slot was reused, is known
	// stale. Readers load the table without a lock; mu serialises
	// changes.
	mu        sync.Mutex
	conns     atomic.Pointer[[]*loopSlot]
	freeSlots []uint32
	gens      []uint32
}

// loopSlot is one entry of an eventLoop's table.
type loopSlot struct{ c atomic.Pointer[loopConn] }

// runner is one goroutine's turn at running an eventLoop: rest is what
// remains of the events its last epoll_wait returned, which a hand-over
// passes on.
type runner struct {
	lp   *eventLoop
	rest []syscall.EpollEvent
	// again are the readers requeued to run after the next poll of the
	// epoll instance, which then does not wait (requeue).
	again []syscall.EpollEvent
}

// handOff starts a new runner for r's loop, with the events r had left.
// r's goroutine is the one about to wait, or one that has started waiting
// for the session r runs a reader of: r's run ends when that reader
// returns (session.loopRead reports it no longer the runner).
func (r *runner) handOff() {
	r.lp.counts.handOffs.Add(1)
	next := &runner{lp: r.lp}
	if len(r.rest)+len(r.again) > 0 {
		next.rest = append(append([]syscall.EpollEvent(nil), r.rest...), r.again...)
	}
	r.rest, r.again = nil, nil
	go next.run()
}

// requeue has r run c's reader again after the events it has and those
// the next poll brings (again): its run stopped for the others' turn with
// bytes perhaps left, which raise no new edge. c's reader is parked, so
// the event finds it as any other would (and finds nothing if the
// session's end took the reader back meanwhile).
func (r *runner) requeue(c *loopConn) {
	r.lp.counts.requeues.Add(1)
	r.again = append(r.again, keyedEvent(syscall.EPOLLIN, c.key))
}

// newEventLoop makes an event loop that counts in counts; failed is told
// if it breaks.
func newEventLoop(counts *loopCounts, failed func(error)) (*eventLoop, error) {
	w, err := newWakeableEpoll()
	if err != nil {
		return nil, err
	}
	lp := &eventLoop{wakeableEpoll: w, done: make(chan struct{}), counts: counts, failed: failed}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller.
	if err := syscall.SetNonblock(lp.epfd, true); err != nil {
		lp.closeFDs()
		return nil, fmt.Errorf("epoll instance: %w", err)
	}
	lp.file = os.NewFile(uintptr(lp.epfd), "epoll")
	if lp.poll, err = lp.file.SyscallConn(); err != nil {
		lp.closeFDs()
		return nil, fmt.Errorf("epoll instance: %w", err)
	}
	empty := []*loopSlot{}
	lp.conns.Store(&empty)
	return lp, nil
}

// start starts the loop's first runner.
func (lp *eventLoop) start() { go (&runner{lp: lp}).run() }

// close stops the loop and releases its descriptors. Every session has
// ended: no connection is registered.
func (lp *eventLoop) close() {
	lp.wakeUp()
	<-lp.done
	lp.closeFDs()
}

func (lp *eventLoop) closeFDs() {
	if lp.file != nil {
		lp.closeWake()
		lp.file.Close() // and epfd with it
		return
	}
	lp.wakeableEpoll.closeFDs()
}

// loopEventBatch is how many events one epoll_wait returns at most.
const loopEventBatch = 128

// run waits for events and handles them until the loop stops or a reader
// it runs hands the loop over.
func (r *runner) run() {
	lp := r.lp
	w := newWaiter(lp)
	for {
		for len(r.rest) > 0 {
			ev := r.rest[0]
			r.rest = r.rest[1:]
			if !lp.handle(r, ev) {
				return // stopped, or handed over: another runner has the rest
			}
		}
		var n int
		var err error
		if len(r.again) > 0 {
			w.try(0) // readers wait their turn: poll, but do not wait
			n, err = w.n, w.err
		} else {
			n, err = w.wait()
		}
		if err != nil {
			lp.fail(err)
			return
		}
		r.rest = append(w.events[:n], r.again...)
		r.again = r.again[:0]
	}
}

// wait waits for events: it polls the epoll instance without
// blocking and, when nothing is ready, lets the runtime's poller wait for
// the instance to have events (an epoll descriptor is readable then). A
// runner blocked in epoll_wait instead would hold its processor in a
// system call, which the runtime's monitor then checks on every 20
// microseconds, a nanosleep each time.
func (w *waiter) wait() (int, error) {
	w.n, w.err = 0, nil
	if err := w.lp.poll.Read(w.poll); err != nil && w.err == nil {
		w.err = err
	}
	return w.n, w.err
}

// waiter is a runner's wait for events: the callback of poll.Read, made
// once (a closure given to it would allocate at every wait), and its
// results.
type waiter struct {
	lp     *eventLoop
	events []syscall.EpollEvent
	poll   func(uintptr) bool
	n      int
	err    error
}

func newWaiter(lp *eventLoop) *waiter {
	w := &waiter{lp: lp, events: make([]syscall.EpollEvent, loopEventBatch)}
	w.poll = w.try
	return w
}

// try polls the epoll instance without blocking; false has poll.Read
// wait for it to have events.
func (w *waiter) try(uintptr) bool {
	for {
		// A direct call: with a zero time-out it never blocks, so the
		// runtime's bookkeeping for calls that may (syscall.EpollWait's)
		// is not needed. epoll_pwait with no signal mask is epoll_wait,
		// and every Linux architecture has it (arm64 and riscv64 have
		// no epoll_wait).
		n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(w.lp.epfd), uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		w.n, w.err = int(n), nil
		if e != 0 {
			w.n, w.err = 0, e
		}
		return w.err != nil || w.n > 0
	}
}

// handle delivers one event to its connection, and reports whether r is
// still the loop's runner: not once a reader it ran handed the loop over,
// nor when the event is close's wake-up (key 0), which stops the loop.
func (lp *eventLoop) handle(r *runner, ev syscall.EpollEvent) bool {
	key := eventKey(ev)
	if key == 0 {
		close(lp.done)
		return false
	}
	c := lp.lookup(key)
	if c == nil {
		return true // a connection closed since
	}
	if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		c.wr.notify()
	}
	if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && c.rd.notify() {
		return c.reader(r)
	}
	return true
}

// lookup returns the connection registered with key, nil if none is.
func (lp *eventLoop) lookup(key uint64) *loopConn {
	i := uint32(key) - 1
	tab := *lp.conns.Load()
	if int(i) >= len(tab) {
		return nil
	}
	c := tab[i].c.Load()
	if c == nil || c.key != key {
		return nil
	}
	return c
}

// add registers c, whose reader runs on the loop when it has bytes.
func (lp *eventLoop) add(c *loopConn) error {
	lp.mu.Lock()
	var i uint32
	if n := len(lp.freeSlots); n > 0 {
		i = lp.freeSlots[n-1]
		lp.freeSlots = lp.freeSlots[:n-1]
	} else {
		// Runners index only below the length of the table they loaded:
		// an append that reuses the array writes past it.
		old := *lp.conns.Load()
		i = uint32(len(old))
		tab := append(old, new(loopSlot))
		lp.conns.Store(&tab)
		lp.gens = append(lp.gens, 0)
	}
	lp.gens[i]++
	c.key = uint64(i+1) | uint64(lp.gens[i])<<32
	(*lp.conns.Load())[i].c.Store(c)
	lp.mu.Unlock()
	ev := keyedEvent(loopEvents, c.key)
	if err := syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		lp.free(c)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	c.lp = lp // Close unregisters it from here on
	return nil
}

// remove unregisters c, whose descriptor is still open.
func (lp *eventLoop) remove(c *loopConn) {
	_ = syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	lp.free(c)
}

// free gives c's slot back, if c still holds it.
func (lp *eventLoop) free(c *loopConn) {
	lp.mu.Lock()
	i := uint32(c.key) - 1
	if (*lp.conns.Load())[i].c.CompareAndSwap(c, nil) {
		lp.freeSlots = append(lp.freeSlots, i)
	}
	lp.mu.Unlock()
}

// fail reports a broken epoll instance. Its sessions stop hearing of
// their sockets: each is ended by its idle time-out; the Server logs it,
// and new sessions keep their goroutines rather than join it (forLoop).
func (lp *eventLoop) fail(err error) {
	lp.broken.Store(true)
	if lp.failed != nil {
		lp.failed(fmt.Errorf("epoll_wait: %w", err))
	}
	close(lp.done)
}

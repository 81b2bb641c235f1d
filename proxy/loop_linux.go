//go:build linux && !386

package proxy

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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
	// file is a duplicate of epfd as an *os.File, and poll its
	// syscall.RawConn, while the loop waits through the runtime's poller;
	// nil while it waits in epoll_wait (quiet). See waiter.wait. Only the
	// runner uses them and the fields up to warn.
	file  *os.File
	poll  syscall.RawConn
	quiet bool
	// load is a running average of the events a wait brings (loadUnit).
	load int
	// procs is GOMAXPROCS, read again every procsEvery waits (reading
	// it takes the scheduler's lock), for how many loops may be quiet.
	procs, procsAge int
	// pollerRetry counts the waits left before a loop that could not
	// go back to the runtime's poller tries again.
	pollerRetry int
	// warn, if set, is told once when the loop cannot go back to the
	// runtime's poller.
	warn   func(error)
	warned bool
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
	lp := &eventLoop{wakeableEpoll: w, done: make(chan struct{}), counts: counts, failed: failed, load: loadBusy}
	// Non-blocking, so that os.NewFile hands its duplicates to the
	// runtime's poller.
	if err := syscall.SetNonblock(lp.epfd, true); err != nil {
		lp.closeFDs()
		return nil, fmt.Errorf("epoll instance: %w", err)
	}
	// The loop starts busy, which tries the runtime's poller here, where
	// the Server can still keep its sessions on goroutines.
	if err := lp.openPoller(); err != nil {
		lp.closeFDs()
		return nil, err
	}
	empty := []*loopSlot{}
	lp.conns.Store(&empty)
	return lp, nil
}

// openPoller hands a duplicate of the epoll descriptor to the runtime's
// poller (file and poll), for a busy loop's waits.
func (lp *eventLoop) openPoller() error {
	fd, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(lp.epfd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return fmt.Errorf("epoll instance: dup: %w", e)
	}
	f := os.NewFile(fd, "epoll")
	// os.NewFile keeps a descriptor the runtime's poller refused (epoll_ctl
	// failing with ENOSPC past fs.epoll.max_user_watches, or ENOMEM) as a
	// blocking file, which Read would then refuse for good. Only such a
	// file has no deadlines: ask for one.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return fmt.Errorf("epoll instance: the runtime's poller refused it: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return fmt.Errorf("epoll instance: %w", err)
	}
	lp.file, lp.poll = f, rc
	return nil
}

// closePoller takes the epoll instance out of the runtime's poller, for a
// quiet loop's waits in epoll_wait: a thread of the runtime waiting in its
// poller would otherwise wake for every event too.
func (lp *eventLoop) closePoller() {
	lp.file.Close() // the duplicate: epfd stays open
	lp.file, lp.poll = nil, nil
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
		lp.closePoller()
	}
	lp.leaveQuiet()
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

// wait waits for events, one of two ways by how busy the loop is.
//
// Busy, it polls the epoll instance without blocking and, when nothing is
// ready, lets the runtime's poller wait for the instance to have events
// (an epoll descriptor is readable then). That wake-up goes through the
// runtime, and takes long enough for more events to come: each wake-up of
// a busy loop finds more of them than a thread blocked in epoll_wait,
// woken at the first, would (such a loop made 1.13 polls per request at 50
// clients against 0.73, and had 12% less throughput).
//
// Quiet, where a wake-up brings one event anyway, that detour is all
// cost: a second epoll instance woken, a poll to learn what woke it, the
// goroutine scheduled. There the runner waits in epoll_wait itself, with
// the instance out of the runtime's poller (closePoller), so that nothing
// else wakes: a single client's round trip cost 13% less CPU than through
// the runtime's poller, as little as on a goroutine per direction
// (docs/performance.md). The thread blocked in the system call holds its
// processor until the runtime's monitor takes it back, up to 10 ms later,
// so one processor is always left to the runtime's poller, which accepts
// connections and runs timers (enterQuiet).
func (w *waiter) wait() (int, error) {
	lp := w.lp
	lp.settle()
	w.n, w.err, w.polls = 0, nil, 0
	if lp.quiet {
		w.block()
	} else if err := lp.poll.Read(w.poll); err != nil && w.err == nil {
		w.err = err
	}
	if w.n > 0 {
		lp.load = loadAfter(lp.load, w.n, lp.quiet, w.polls)
	}
	return w.n, w.err
}

// settle makes the loop quiet or busy for its next wait, as its load and
// the processors say.
func (lp *eventLoop) settle() {
	want := waitQuiet(lp.load, lp.quiet)
	switch {
	case want && !lp.quiet:
		if lp.enterQuiet() {
			lp.closePoller()
			lp.quiet = true
			lp.counts.quieted.Add(1)
		}
	case lp.quiet && (!want || int(lp.counts.quietLoops.Load()) >= lp.maxProcs()):
		if lp.pollerRetry > 0 {
			lp.pollerRetry--
			return
		}
		if err := lp.openPoller(); err != nil {
			// Waiting in epoll_wait is slower under load, not wrong.
			lp.pollerRetry = pollerRetryWaits
			if lp.warn != nil && !lp.warned {
				lp.warned = true
				lp.warn(err)
			}
			return
		}
		lp.leaveQuiet()
		lp.counts.busied.Add(1)
	}
}

// pollerRetryWaits is how many waits a loop that could not go back to the
// runtime's poller makes before it tries again.
const pollerRetryWaits = 4096

// enterQuiet reports whether the loop may wait in epoll_wait, and counts
// it among the Server's quiet loops if so: while they are fewer than
// GOMAXPROCS less one, a processor is left to the runtime's poller.
// (Not counted: the parker, blocked in epoll_wait too, which holds a
// processor for a while after each parked reader it wakes; and other
// Servers' loops in the same process.)
func (lp *eventLoop) enterQuiet() bool {
	for {
		q := lp.counts.quietLoops.Load()
		if int(q) >= lp.maxProcs()-1 {
			return false
		}
		if lp.counts.quietLoops.CompareAndSwap(q, q+1) {
			return true
		}
	}
}

// leaveQuiet takes the loop out of the Server's quiet loops, if it was
// quiet.
func (lp *eventLoop) leaveQuiet() {
	if lp.quiet {
		lp.quiet = false
		lp.counts.quietLoops.Add(-1)
	}
}

// maxProcs is GOMAXPROCS, read again every procsEvery calls.
func (lp *eventLoop) maxProcs() int {
	if lp.procsAge--; lp.procsAge < 0 {
		lp.procs, lp.procsAge = runtime.GOMAXPROCS(0), procsEvery
	}
	return lp.procs
}

// procsEvery is how many waits a loop trusts its reading of GOMAXPROCS
// for (it changes at run time only where a program sets it, or where the
// runtime follows a container's CPU limit).
const procsEvery = 1024

// loadAfter is a loop's load after a wait that brought n events (n > 0)
// in polls polls: a wait in the runtime's poller (not quiet) that found
// its events with its first poll had them before it could wait, and
// counts one more, as the loop is busier than one poll shows.
func loadAfter(load, n int, quiet bool, polls int) int {
	if !quiet && polls == 1 {
		n++
	}
	return load + (n*loadUnit-load)/loadWeight
}

// waitQuiet reports whether a loop with this load should wait in
// epoll_wait next, given whether it waited there last: the two
// thresholds keep a load near one of them from switching at every wait.
func waitQuiet(load int, wasQuiet bool) bool {
	if wasQuiet {
		return load <= loadBusy
	}
	return load < loadQuiet
}

// The load of a loop (eventLoop.load) is a running average of the events
// its waits bring, in loadUnit parts of one: each wait moves it
// 1/loadWeight of the way to what it brought (loadAfter). Above loadBusy
// the loop waits in the runtime's poller, below loadQuiet in epoll_wait,
// and in between the way it waited last: at 50 clients a loop waiting in
// epoll_wait gets about 1.8 events a wait, in the poller 3 or more; a
// single client's gets exactly one.
const (
	loadUnit   = 256 // fine enough that each step moves it: (n*loadUnit-load)/loadWeight is 0 only within 1/32 of n
	loadWeight = 8
	loadBusy   = 3 * loadUnit / 2 // 1.5 events a wait
	loadQuiet  = 9 * loadUnit / 8 // 1.125
)

// block waits in epoll_wait, a blocking system call.
func (w *waiter) block() {
	for {
		n, err := syscall.EpollWait(w.lp.epfd, w.events, -1)
		if err == syscall.EINTR {
			continue
		}
		w.n, w.err = n, err
		return
	}
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
	// polls counts the polls of a wait in the runtime's poller: one when
	// events were there already, and it did not wait.
	polls int
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
		w.polls++
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
	lp.leaveQuiet() // its thread no longer holds a processor
	if lp.failed != nil {
		lp.failed(fmt.Errorf("epoll_wait: %w", err))
	}
	close(lp.done)
}

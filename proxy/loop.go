package proxy

import (
	"runtime"
	"sync/atomic"
)

// An event loop (Config.EventLoop) serves the TCP sessions of a Server
// without a goroutine per reader. A session's two sockets are taken out of
// the runtime's poller (loopConn) and registered, edge-triggered, with one
// of the Server's loops, chosen by session id; the loop's goroutine waits
// in epoll_wait and, when a socket has bytes, runs that direction's reader
// on its own stack, as a parked reader's goroutine would run it inside the
// poller's callback (runInline): the reader reads with TCP_INQ, checks and
// forwards what it read, and stops when the socket is drained. Nothing is
// scheduled between a readable socket and its reader, and a session with
// nothing to read holds no goroutine.
//
// A reader that must wait for anything but bytes to read (room in a full
// socket, the other reader's lock, a lock-step turn) would stall every
// session of its loop. So before it waits it hands the loop over
// (runner.handOff): a fresh goroutine becomes the loop's runner, taking the
// rest of the events the old one had, and the old one waits for the
// session alone, finishes the reader's run and ends. Where a reader may
// wait is known to the session (its locks, its condition variable, the
// socket writes): each asks mayBlock first.

// loopRunner is where a session notes the runner running one of its
// readers now, so that whoever in the session is about to wait can hand
// that runner's loop over first (mayBlock).
type loopRunner struct{ on atomic.Pointer[runner] }

// mayBlock hands the loop over when the caller may be a loop's runner
// running this session's reader: it is about to wait. It may be another
// goroutine of the session (a reader the loop no longer runs, a timer), in
// which case the runner is handed over for nothing; that is rare (two of a
// session's goroutines busy at once), and costs a goroutine.
func (l *loopRunner) mayBlock() {
	if r := l.on.Swap(nil); r != nil {
		r.handOff()
	}
}

// mayBlock is loopRunner.mayBlock for the session's runner.
func (s *session) mayBlock() { s.runs.mayBlock() }

// loopCounts counts, for the metrics, what the event loops of a Server
// did.
type loopCounts struct {
	// handOffs are the times a reader the loop ran handed the loop to a
	// new goroutine before it waited for something else than bytes.
	handOffs atomic.Int64
	// requeues are the times a reader the loop ran used up its budget of
	// reads and went to the back of the queue (loopReadBudget).
	requeues atomic.Int64
	// quieted and busied are the times a loop went from waiting in the
	// runtime's poller to waiting in epoll_wait, and back (settle).
	// Tests read them; the metrics do not.
	quieted, busied atomic.Int64
	// quietLoops are the loops waiting in epoll_wait now (enterQuiet).
	quietLoops atomic.Int32
}

// DefaultEventLoops is how many event loops serve when Config.EventLoops
// is 0: one fewer than the processors Go may use (GOMAXPROCS), and at
// least one. On the 2-processor machine measured, one loop took 3-11%
// less CPU per request than two and gave 1-10% more throughput, because a
// loop that has more of the events finds more of them at each wake-up; the
// processor left over runs the runtime's own work, the sessions that
// handed a loop over, and, where the proxy shares its machine, the
// service. On a machine with many processors, a busy proxy keeps nearly
// all of them.
func DefaultEventLoops() int { return max(1, runtime.GOMAXPROCS(0)-1) }

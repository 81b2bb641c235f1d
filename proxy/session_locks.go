package proxy

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// A session has two locks. mu guards its conversation state (the checker,
// the pending requests, the flags); clientW orders and serialises the
// writes to the client, which both readers make. Every function that takes
// one releases it, with one exception, named by its type: the service
// reader takes clientW while it still holds mu (a clientTurn), so that the
// reply it decided on reaches the client before anything the client reader
// decides after it, and the write that uses the turn releases it, or
// keeps it for the next reply (clientTurn.keep).
//
// The order is mu, then clientW, for everyone but the service reader with
// a kept turn, which takes mu while it holds clientW: no goroutine waits
// for clientW while it holds mu (the client reader, the timers and the
// kill paths let mu go first), so the two orders cannot meet.

// role names the goroutine of a session that holds one of its locks, so
// that a goroutine that panics knows whether it holds the lock and must
// release it before ending the session (finish takes mu; a lock that stays
// held would freeze the session's other goroutine and Serve with it).
type role uint8

const (
	roleNone    role = iota
	roleClient       // the client reader
	roleService      // the service reader
	roleTimer        // the reply timer's callback
	roleIdle         // the idle timer's callback (it holds no lock)
	numRoles
)

// holding is what locks a role holds, for its own goroutine to read when
// it panics. A role's entry is written only with the lock in question
// held, and by the role's goroutine, so that goroutine reads it without a
// lock and without an atomic: the bookkeeping of a lock is two plain
// stores, not two atomic exchanges.
type holding struct{ mu, clientW bool }

// lock takes mu for r; unlock releases it; wait is cond.Wait for r. Every
// goroutine that may panic while holding mu takes it this way.
//
// A lock held elsewhere may be held for long (clientW across a write to a
// client that does not read; mu by a reader waiting for clientW), so a
// reader the event loop runs hands the loop over before it waits for one
// (mayBlock).
func (s *session) lock(r role) {
	s.acquire(&s.mu)
	s.muBy = r
	s.holds[r].mu = true
}

func (s *session) unlock() {
	s.holds[s.muBy].mu = false
	s.muBy = roleNone
	s.mu.Unlock()
}

// acquire takes m, one of the session's locks, handing the event loop
// over first when it must wait for it (mayBlock).
func (s *session) acquire(m *sync.Mutex) {
	if !m.TryLock() {
		s.mayBlock()
		m.Lock()
	}
}

// wait leaves r's holding alone: r holds mu again when it can run again.
func (s *session) wait(r role) {
	s.muBy = roleNone
	s.waiters++
	s.mayBlock()
	s.cond.Wait()
	s.waiters--
	s.muBy = r
}

// lockW and unlockW are lock and unlock for clientW.
func (s *session) lockW(r role) {
	s.acquire(&s.clientW)
	s.clientWBy = r
	s.holds[r].clientW = true
}

func (s *session) unlockW() {
	s.holds[s.clientWBy].clientW = false
	s.clientWBy = roleNone
	s.clientW.Unlock()
}

// clientTurn is clientW held by the service reader: taken (takeTurn) while
// mu is held, before mu is let go, and released by the write that uses it
// (writeClient, deliver). It is the one lock a session passes from the
// function that takes it to another.
type clientTurn struct{ s *session }

// takeTurn takes clientW for the service reader (mu held), or the turn
// it kept.
func (s *session) takeTurn() clientTurn {
	if s.turnKept {
		s.turnKept = false
	} else {
		s.lockW(roleService)
	}
	return clientTurn{s}
}

// release gives the turn up.
func (w clientTurn) release() { w.s.unlockW() }

// keep keeps the turn for the service reader's next reply, rather than
// giving it up: its write held the reply back because the service's
// decoder holds more bytes, which are most often the next replies. A
// pipelined batch then takes and gives up clientW once, not once per
// reply, two locked instructions on a line both readers use. The turn
// kept is given up before the reader does anything but decode and judge
// the next message and deliver it: before every read and after a read
// failed (flushClient), when a reply is not one to deliver (serviceReply),
// on every return of the reader's loop (serviceLoop), and on a panic
// (guarded). Messages of other kinds use it, or give it up through
// flushClient before they report.
// Meanwhile the client reader, a timer or a kill waits for the turn as it
// would wait for the write, bounded by what the decoder holds.
func (w clientTurn) keep() { w.s.turnKept = true }

// dropTurn gives up the turn the service reader kept, if any.
func (s *session) dropTurn() {
	if s.turnKept {
		s.turnKept = false
		s.unlockW()
	}
}

// guarded runs f on the goroutine r, turning a panic into the end of this
// session only: the locks r holds are released first, the panic is logged
// with its stack and counted, and the session ends with reason error.
func (s *session) guarded(r role, f func()) func() {
	return func() {
		defer func() {
			if p := recover(); p != nil {
				stack := debug.Stack()
				if s.holds[r].clientW {
					if r == roleService {
						s.turnKept = false
					}
					s.unlockW()
				}
				if s.holds[r].mu {
					s.unlock()
				}
				s.srv.panics.Add(1)
				s.srv.metrics.panics.Inc()
				s.logAttrs(slog.LevelError, "panic in session", slog.Any("panic", p), slog.String("stack", string(stack)))
				s.finish(endInfo{reason: reasonError, err: fmt.Errorf("panic: %v", p), code: closeInternal, text: "internal error"})
			}
		}()
		f()
	}
}

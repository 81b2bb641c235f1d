package proxy

import (
	"sync"
	"sync/atomic"
)

// The memory budget (a share of Limits.MaxMemory, see sessionShare) is
// shared by every session's read buffers and decoding state: the decoders ask it before they hold more
// than wrappers.BudgetFree, through their session's account, and give back
// what they took when a frame ends. A session whose decoder is refused ends
// with reason limit (the frame is refused as over a limit); no other
// session is touched. Over the high-water mark, new connections are
// refused.

// highWater is the share of the sessions' budget in use past which new
// connections are refused, in percent.
const highWater = 90

// sessionShare is the part of Limits.MaxMemory, in eighths, that the
// sessions' buffers and decoding state may take between them. The rest is
// headroom for what their accounting cannot see: the garbage a growing
// frame leaves (each doubling of a slice or buffer), allocation size
// classes, and a garbage collector that runs behind a fast allocator.
// Measured under the attack of 22 connections each holding an unfinished
// 14.7 MB UBF(A) frame, the process's RSS stays at about 1.2 times what
// the sessions hold, and peaks at about 1.6 times.
const sessionShare = 4

// memBudget is the process-wide budget.
type memBudget struct {
	max, high int64 // the sessions' share of MaxMemory, and its high-water mark
	used      atomic.Int64
}

func newMemBudget(maxMemory int64) *memBudget {
	max := maxMemory / 8 * sessionShare
	return &memBudget{max: max, high: max / 100 * highWater}
}

// Take implements wrappers.Budget.
func (b *memBudget) Take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// Give implements wrappers.Budget.
func (b *memBudget) Give(n int64) { b.used.Add(-n) }

// overHigh reports whether the budget is used past its high-water mark.
func (b *memBudget) overHigh() bool { return b.used.Load() > b.high }

// account is one session's share of the budget: what its decoders took and
// did not give back yet, given back all at once when the session ends
// (close), whatever its decoders were doing. It is a wrappers.Budget.
type account struct {
	b      *memBudget
	mu     sync.Mutex
	used   int64
	closed bool
}

// Take implements wrappers.Budget: after close it refuses everything.
func (a *account) Take(n int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || !a.b.Take(n) {
		return false
	}
	a.used += n
	return true
}

// Give implements wrappers.Budget: after close there is nothing to give.
func (a *account) Give(n int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n = min(n, a.used)
	a.used -= n
	a.b.Give(n)
}

// close gives back everything the session still holds.
func (a *account) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	a.b.Give(a.used)
	a.used = 0
}

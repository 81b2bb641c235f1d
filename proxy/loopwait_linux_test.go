//go:build linux && !386

package proxy

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestLoopLoad: a loop's load follows the events its waits bring, and
// decides where it waits: in epoll_wait when a wait brings about one
// event, in the runtime's poller when more come, with a band between
// where it keeps the way it waited last, so that a load near the edge
// does not flip it at every wait.
func TestLoopLoad(t *testing.T) {
	type wait struct {
		n     int
		polls int // in the runtime's poller: 1 when the events were there before it could wait
	}
	repeat := func(w wait, k int) []wait {
		ws := make([]wait, k)
		for i := range ws {
			ws[i] = w
		}
		return ws
	}
	cases := []struct {
		name  string
		waits []wait
		quiet bool // where the loop waits after them, starting busy
	}{
		{"nothing yet", nil, false},
		{"a few single events", repeat(wait{1, 2}, 3), false},
		{"single events", repeat(wait{1, 2}, 30), true},
		{"single events, each there before the wait", repeat(wait{1, 1}, 30), false},
		{"two events a wait", repeat(wait{2, 2}, 30), false},
		{"single events, then a burst", append(repeat(wait{1, 2}, 30), repeat(wait{8, 2}, 2)...), false},
		{"single events, then one pair", append(repeat(wait{1, 2}, 30), wait{2, 2}), true},
		{"a burst, then single events", append(repeat(wait{8, 2}, 5), repeat(wait{1, 2}, 40)...), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			load, quiet := loadBusy, false // as newEventLoop starts
			for _, w := range c.waits {
				quiet = waitQuiet(load, quiet)
				load = loadAfter(load, w.n, quiet, w.polls)
			}
			if got := waitQuiet(load, quiet); got != c.quiet {
				t.Errorf("after %d waits the load is %d/%d and the loop waits quiet=%v, want %v", len(c.waits), load, loadUnit, got, c.quiet)
			}
		})
	}
	// A steady single event settles within the quiet band, not on its
	// edge: integer steps still reach it.
	load := loadBusy
	for range 100 {
		load = loadAfter(load, 1, true, 1)
	}
	if load >= loadQuiet || load < loadUnit {
		t.Errorf("one event a wait settles at a load of %d/%d, want in [%d, %d)", load, loadUnit, loadUnit, loadQuiet)
	}
}

// TestQuietLoopsLeaveAProcessor: at most GOMAXPROCS less one of a
// Server's loops wait in epoll_wait, so that one processor is left to the
// runtime's poller; a loop that stops (fail) frees its place.
func TestQuietLoopsLeaveAProcessor(t *testing.T) {
	counts := new(loopCounts)
	const procs = 3
	var loops []*eventLoop
	for range 4 {
		lp, err := newEventLoop(counts, func(error) {})
		if err != nil {
			t.Fatal(err)
		}
		defer lp.closeFDs() // never started
		lp.procs, lp.procsAge = procs, procsEvery
		lp.load = loadUnit // one event a wait
		loops = append(loops, lp)
	}
	for _, lp := range loops {
		lp.settle()
	}
	quiet := 0
	for _, lp := range loops {
		if lp.quiet {
			quiet++
		}
	}
	if quiet != procs-1 || counts.quietLoops.Load() != procs-1 {
		t.Fatalf("%d loops quiet (counted %d), want %d of GOMAXPROCS %d", quiet, counts.quietLoops.Load(), procs-1, procs)
	}
	for _, lp := range loops {
		if lp.quiet {
			if lp.file != nil {
				t.Error("a quiet loop's epoll instance is still in the runtime's poller")
			}
			lp.fail(syscall.EBADF)
			break
		}
	}
	if counts.quietLoops.Load() != procs-2 {
		t.Fatalf("a quiet loop that stopped still counts: %d quiet", counts.quietLoops.Load())
	}
	loops[len(loops)-1].settle()
	if !loops[len(loops)-1].quiet {
		t.Error("the place a stopped loop left was not taken")
	}
	// Busy again: back to the runtime's poller, and out of the count.
	lp := loops[len(loops)-1]
	lp.load = 4 * loadUnit
	lp.settle()
	if lp.quiet || lp.file == nil || counts.quietLoops.Load() != procs-2 {
		t.Errorf("a busy loop: quiet=%v, in the poller=%v, %d counted quiet", lp.quiet, lp.file != nil, counts.quietLoops.Load())
	}
}

// TestLoopWaitsByLoad: a loop serving one client in lock-step goes to
// epoll_wait, and back to the runtime's poller when many clients pipeline
// at once, and both ways deliver every reply in order.
func TestLoopWaitsByLoad(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("GOMAXPROCS 1: a loop waits in the runtime's poller only, so that it keeps a processor for the rest")
	}
	k := jsonKit
	svc := startService(t, TCP, k, counterService(k, false))
	p := startProxy(t, svc, Config{EventLoop: true, EventLoops: 1}, nil)
	counts := &p.srv.loopCounts
	c := p.dial(t)
	for i := range 50 {
		wantReply(t, call(t, c, k, fmt.Sprintf("{add, %d}", i)), fmt.Sprintf("{ok, %d}", i+1))
	}
	if counts.quieted.Load() == 0 {
		t.Fatal("a loop serving one client in lock-step never went to epoll_wait")
	}

	// Many clients pipelining at once: waits bring several events.
	deadline := time.Now().Add(ioTimeout)
	for counts.busied.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a loop serving many pipelining clients never went back to the runtime's poller")
		}
		var wg sync.WaitGroup
		for range 20 {
			cc := p.dial(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var batch []byte
				for i := range 100 {
					batch = append(batch, k.frame(T(fmt.Sprintf("{add, %d}", i)))...)
				}
				if err := cc.send(batch); err != nil {
					t.Error(err)
					return
				}
				for i := range 100 {
					m, err := cc.next()
					if err != nil {
						t.Error(err)
						return
					}
					if got, want := m.Term.String(), fmt.Sprintf("{ok, %d}", i+1); got != want {
						t.Errorf("reply %d is %s, want %s", i, got, want)
						return
					}
				}
				cc.nc.Close()
			}()
		}
		wg.Wait()
	}
	// And quiet again (it started busy: quiet now when it went quiet once
	// more than it went busy).
	waitFor(t, "the loop to go back to epoll_wait once one client was left", func() bool {
		wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
		return counts.quieted.Load() == counts.busied.Load()+1
	})
}

// TestLoopStaysQuietWithoutPoller: a quiet loop that turns busy but cannot
// give its epoll instance to the runtime's poller again (here the
// duplicate cannot be made) waits on in epoll_wait, which serves as well,
// warns once, and tries again only after pollerRetryWaits waits.
func TestLoopStaysQuietWithoutPoller(t *testing.T) {
	counts := new(loopCounts)
	lp, err := newEventLoop(counts, func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	defer lp.closeFDs() // never started
	var warned []error
	lp.warn = func(err error) { warned = append(warned, err) }
	lp.procs, lp.procsAge = 2, procsEvery
	lp.load = loadUnit
	lp.settle()
	if !lp.quiet {
		t.Fatal("a loop with one event a wait did not go quiet")
	}
	epfd := lp.epfd
	lp.epfd = -1 // the duplicate fails with EBADF
	lp.load = 4 * loadUnit
	for range 3 {
		lp.settle()
	}
	lp.epfd = epfd
	if !lp.quiet || lp.file != nil || counts.busied.Load() != 0 {
		t.Fatalf("quiet=%v, in the poller=%v, busied %d: want quiet, out of the poller", lp.quiet, lp.file != nil, counts.busied.Load())
	}
	if len(warned) != 1 || !errors.Is(warned[0], syscall.EBADF) {
		t.Fatalf("warned %v, want once, with EBADF", warned)
	}
	if lp.pollerRetry != pollerRetryWaits-2 {
		t.Errorf("%d waits left before trying again, want %d", lp.pollerRetry, pollerRetryWaits-2)
	}
	// Once the wait is over, the poller is tried again, and taken.
	lp.pollerRetry = 0
	lp.settle()
	if lp.quiet || lp.file == nil || counts.busied.Load() != 1 || counts.quietLoops.Load() != 0 {
		t.Errorf("after the retry: quiet=%v, in the poller=%v, busied %d, %d quiet loops", lp.quiet, lp.file != nil, counts.busied.Load(), counts.quietLoops.Load())
	}
	if len(warned) != 1 {
		t.Errorf("warned %d times, want once", len(warned))
	}
}

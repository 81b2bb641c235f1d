package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/term"
)

// eachIOModel runs f with sessions on goroutines and, where the system has
// it, on the event loop (Config.EventLoop). With UBFPROXY_TEST_EVENT_LOOP
// set (testIO) both run on the loop.
func eachIOModel(t *testing.T, f func(t *testing.T, loop bool)) {
	t.Run("goroutines", func(t *testing.T) { f(t, false) })
	t.Run("event-loop", func(t *testing.T) {
		if !EventLoopAvailable {
			t.Skip("no event loop on this system")
		}
		f(t, true)
	})
}

// TestEventLoopServes: with Config.EventLoop the sessions' sockets are the
// loop's (loopConn), and a conversation goes as it does on goroutines,
// pipelined calls included, to its end.
func TestEventLoopServes(t *testing.T) {
	if !EventLoopAvailable {
		t.Skip("no event loop on this system")
	}
	for _, k := range kits {
		t.Run(k.name, func(t *testing.T) {
			svc := startService(t, TCP, k, counterService(k, false))
			p := startProxy(t, svc, Config{EventLoop: true}, nil)
			c := p.dial(t)
			wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
			var batch []byte
			for i := range 50 {
				batch = append(batch, k.frame(T(fmt.Sprintf("{add, %d}", i)))...)
			}
			if err := c.send(batch); err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				m, err := c.next()
				if err != nil {
					t.Fatal(err)
				}
				wantReply(t, m, fmt.Sprintf("{ok, %d}", i+1))
			}
			p.srv.mu.Lock()
			if n := len(p.srv.sessions); n != 1 {
				t.Errorf("%d sessions open, want 1", n)
			}
			for _, s := range p.srv.sessions {
				s.mu.Lock() // attach sets the endpoints under it
				eps := []endpoint{s.client, s.service}
				s.mu.Unlock()
				for _, ep := range eps {
					if e, ok := ep.(*tcpEndpoint); !ok || !looped(e.conn) {
						t.Errorf("session %d: an endpoint %T is not the event loop's", s.id, ep)
					}
				}
			}
			p.srv.mu.Unlock()
			wantReply(t, call(t, c, k, "bye"), "bye")
			if got := p.endReason(t); got != "finished" {
				t.Errorf("the session ended with reason %s, want finished", got)
			}
		})
	}
}

// TestStalledClientIsolated: a client that asks for much and reads
// nothing fills its socket, and the proxy's write to it waits; the other
// sessions, on the same event loop or not, go on meanwhile. On the event
// loop the stalled session's reader hands its loop over before it waits.
func TestStalledClientIsolated(t *testing.T) {
	eachIOModel(t, func(t *testing.T, loop bool) {
		k := jsonKit
		svc := startService(t, TCP, k, counterService(k, false))
		p := startProxy(t, svc, Config{EventLoop: loop}, nil)
		loop = p.srv.cfg.EventLoop // UBFPROXY_TEST_EVENT_LOOP puts both on the loop
		stalled := dialSmallWindow(t, p.addr)
		// Some megabytes of events for a client that reads none.
		const events = 200000
		if _, err := stalled.Write(k.frame(T(fmt.Sprintf("{events, %d}", events)))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the proxy to stall writing to the client", func() bool { return p.stalledWriting(events) })
		// Session ids go round the loops: as many sessions as loops
		// share the stalled one's, whatever their count.
		for i := range max(4, p.srv.EventLoops()) {
			c := p.dial(t)
			for j := range 3 {
				wantReply(t, call(t, c, k, fmt.Sprintf("{add, %d}", i*10+j)), fmt.Sprintf("{ok, %d}", i*10+j+1))
			}
		}
		if loop && p.srv.loopCounts.handOffs.Load() == 0 {
			t.Error("the stalled session's reader never handed its loop over")
		}
		body := p.scrape(t)
		none := strings.Contains(body, "ubfproxy_event_loop_handoffs_total 0\n")
		if none == loop || !strings.Contains(body, "ubfproxy_event_loop_handoffs_total ") {
			t.Errorf("with the event loop %v, the metrics say:\n%s", loop, grepLines(body, "handoffs"))
		}
		stalled.Close()
	})
}

// scrape returns what the proxy's /metrics says now.
func (p *testProxy) scrape(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	p.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// stalledWriting reports whether a session's service reader is stuck in a
// write to its client: its flow stopped moving while events are still to
// come (it counted some, and no more for a while).
func (p *testProxy) stalledWriting(events int64) bool {
	p.srv.mu.Lock()
	var flows []*flow
	for _, s := range p.srv.sessions {
		flows = append(flows, &s.down)
	}
	p.srv.mu.Unlock()
	for _, f := range flows {
		if n := f.msgs.Load(); n > 0 && n < events {
			time.Sleep(50 * time.Millisecond) // not holding the server's lock
			return f.msgs.Load() == n
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test after ioTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// opaqueConn hides its connection's socket: it is no syscall.Conn.
type opaqueConn struct{ net.Conn }

// TestParkWithoutSocket: a session whose service connection gives no
// socket (a Config.Dial returning a wrapper) has a reader that cannot
// park; the sweeper kicking its session idle past the park delay leaves it
// alone, and the session goes on.
func TestParkWithoutSocket(t *testing.T) {
	eachIOModel(t, func(t *testing.T, loop bool) {
		k := jsonKit
		svc := startService(t, TCP, k, counterService(k, false))
		p := startProxy(t, svc, Config{EventLoop: loop, Limits: Limits{ParkDelay: testParkDelay},
			Dial: dialWrapped(func(c net.Conn) net.Conn { return opaqueConn{c} })}, nil)
		c := p.dial(t)
		wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
		// The client's reader parks; several sweeps more, and the
		// service's has not.
		p.waitParked(t, 1)
		time.Sleep(10 * testParkDelay)
		p.srv.mu.Lock()
		for _, s := range p.srv.sessions {
			if st := s.parks[serviceToClient].state.Load(); st != parkOff {
				t.Errorf("the service reader, which has no socket, is in park state %d, want parkOff", st)
			}
		}
		p.srv.mu.Unlock()
		if n := p.srv.Stats().Parked; n != 1 {
			t.Errorf("%d readers parked, want the client's alone", n)
		}
		wantReply(t, call(t, c, k, "{add, 2}"), "{ok, 3}")
		if st := p.srv.Stats(); st.Panics != 0 || st.Open != 1 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// TestLoopTurnKept: a service that keeps its socket full (it writes
// events as fast as the socket takes them, to a client that reads as fast
// as the proxy sends) never lets its reader drain the socket, so without
// the budget of reads that reader would hold its loop for as long as the
// flood lasts. With one loop, a session that shares it is answered while
// the flood goes on, because the flooded reader went to the back of the
// queue meanwhile, not because it handed the loop over; /metrics counts
// those turns.
func TestLoopTurnKept(t *testing.T) {
	if !EventLoopAvailable {
		t.Skip("no event loop on this system")
	}
	k := jsonKit
	var flood []byte
	for i := 0; len(flood) < 256<<10; i++ {
		flood = append(flood, k.frame(k.eventOut(T(fmt.Sprintf("{tick, %d}", i))))...)
	}
	svc := startService(t, TCP, k, func(c *wconn) {
		for {
			m, err := c.next()
			if err != nil {
				return
			}
			tup, _ := m.Term.(term.Tuple)
			if len(tup) != 2 {
				return
			}
			n, _ := tup[1].(term.Integer)
			if term.Equal(tup[0], term.Atom("events")) {
				// Straight to the socket, until the test ends and the
				// proxy closes: c.send would keep a copy of every byte.
				for {
					_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
					if _, err := c.nc.Write(flood); err != nil {
						return
					}
				}
			}
			if c.send(k.frame(k.reply(term.Tuple{term.Atom("ok"), term.Int(n.Int64() + 1)}, "start"))) != nil {
				return
			}
		}
	})
	p := startProxy(t, svc, Config{EventLoop: true, EventLoops: 1}, nil)
	other := p.dial(t)
	wantReply(t, call(t, other, k, "{add, 1}"), "{ok, 2}")

	flooded := p.dial(t)
	if err := flooded.send(k.frame(T("{events, 1}"))); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	go func() { // faster than the proxy sends: its writes never wait
		buf := make([]byte, 256<<10)
		for {
			n, err := flooded.nc.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	waitFor(t, "the flood to reach the client", func() bool { return got.Load() > 4<<20 })
	before := got.Load()
	requeues, handOffs := p.srv.loopCounts.requeues.Load(), p.srv.loopCounts.handOffs.Load()
	start := time.Now()
	wantReply(t, call(t, other, k, "{add, 2}"), "{ok, 3}")
	if p.srv.loopCounts.handOffs.Load() != handOffs {
		// A flooded reader whose write to the client waited handed the
		// loop over: the answer came that way, and says nothing of turns.
		t.Skip("the flooded reader's writes waited (the client fell behind): the loop was handed over, not shared")
	}
	if p.srv.loopCounts.requeues.Load() == requeues {
		t.Error("the other session was answered without the flooded reader going to the back of the queue")
	}
	// Its turn comes in milliseconds (150-300 under the race detector
	// here); a reader that held the loop would let it go only when its
	// socket drained, which this flood never lets happen. With a budget of
	// 32,767 reads instead of 16 the answer came after 4 to 19 s.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the session sharing the flooded loop was answered after %v", took)
	} else {
		t.Logf("answered in %v with the flood going on", took)
	}
	waitFor(t, "the flood to go on after the other session's turn", func() bool { return got.Load() > before+4<<20 })
	if body := p.scrape(t); !strings.Contains(body, "ubfproxy_event_loop_requeues_total ") ||
		strings.Contains(body, "ubfproxy_event_loop_requeues_total 0\n") {
		t.Errorf("the metrics do not show the flooded reader's turns:\n%s", grepLines(body, "requeues"))
	}
}

// TestEventLoopCount: Config.EventLoops sets how many loops serve (0:
// DefaultEventLoops), Server.EventLoops says so, and sessions are spread
// over all of them; a negative count, or a count
// without EventLoop, is refused.
func TestEventLoopCount(t *testing.T) {
	if !EventLoopAvailable {
		t.Skip("no event loop on this system")
	}
	k := jsonKit
	for _, count := range []int{0, 1, 3} {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			n := count
			if n == 0 {
				n = DefaultEventLoops()
			}
			svc := startService(t, TCP, k, counterService(k, false))
			p := startProxy(t, svc, Config{EventLoop: true, EventLoops: count}, nil)
			for range 2 * n {
				wantReply(t, call(t, p.dial(t), k, "{add, 1}"), "{ok, 2}")
			}
			if got := p.srv.EventLoops(); got != n {
				t.Errorf("EventLoops() = %d, want %d", got, n)
			}
			loops := map[any]bool{}
			p.srv.mu.Lock()
			for _, s := range p.srv.sessions {
				s.mu.Lock() // attach sets the endpoints under it
				for _, ep := range []endpoint{s.client, s.service} {
					if e, ok := ep.(*tcpEndpoint); ok {
						loops[loopOf(e.conn)] = true
					}
				}
				s.mu.Unlock()
			}
			p.srv.mu.Unlock()
			delete(loops, nil)
			if len(loops) != n {
				t.Errorf("%d sessions are served by %d loops, want %d", 2*n, len(loops), n)
			}
		})
	}
	base := Config{Contract: compile(t, counterCon), Wire: k.wire, Upstream: "127.0.0.1:1"}
	for _, tc := range []struct {
		loop  bool
		loops int
		want  string
	}{
		{true, -1, "must not be negative"},
		{false, 2, "EventLoop, which is off"},
	} {
		cfg := base
		cfg.EventLoop, cfg.EventLoops = tc.loop, tc.loops
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("EventLoop %v, EventLoops %d: %v, want an error saying %q", tc.loop, tc.loops, err, tc.want)
		}
	}
}

package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// eachIOModel runs f with sessions on goroutines and, where the system has
// it, on the event loop (Config.EventLoop). With UBFPROXY_TEST_EVENT_LOOP
// set (testIO) both run on the loop.
func eachIOModel(t *testing.T, f func(t *testing.T, loop bool)) {
	t.Run("goroutines", func(t *testing.T) { f(t, false) })
	t.Run("event-loop", func(t *testing.T) {
		if !eventLoopAvailable {
			t.Skip("no event loop on this system")
		}
		f(t, true)
	})
}

// TestEventLoopServes: with Config.EventLoop the sessions' sockets are the
// loop's (loopConn), and a conversation goes as it does on goroutines,
// pipelined calls included, to its end.
func TestEventLoopServes(t *testing.T) {
	if !eventLoopAvailable {
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
		if _, err := stalled.Write(k.frame(T("{events, 200000}"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the proxy to stall writing to the client", func() bool { return p.stalledWriting() })
		// Sessions ids go round the loops: enough of them share the
		// stalled one's.
		for i := range 4 {
			c := p.dial(t)
			for j := range 3 {
				wantReply(t, call(t, c, k, fmt.Sprintf("{add, %d}", i*10+j)), fmt.Sprintf("{ok, %d}", i*10+j+1))
			}
		}
		if loop && p.srv.handOffs.Load() == 0 {
			t.Error("the stalled session's reader never handed its loop over")
		}
		rec := httptest.NewRecorder()
		p.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		none := strings.Contains(rec.Body.String(), "ubfproxy_event_loop_handoffs_total 0\n")
		if none == loop || !strings.Contains(rec.Body.String(), "ubfproxy_event_loop_handoffs_total ") {
			t.Errorf("with the event loop %v, the metrics say:\n%s", loop, grepLines(rec.Body.String(), "handoffs"))
		}
		stalled.Close()
	})
}

// dialSmallWindow connects to addr with a receive buffer as small as the
// system allows, so that little fills it.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout, Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stalledWriting reports whether a session's service reader is stuck in a
// write to its client: its flow stopped moving while events are still to
// come (it counted some, and no more for a while).
func (p *testProxy) stalledWriting() bool {
	p.srv.mu.Lock()
	defer p.srv.mu.Unlock()
	for _, s := range p.srv.sessions {
		if n := s.down.msgs.Load(); n > 0 && n < 200000 {
			time.Sleep(50 * time.Millisecond)
			return s.down.msgs.Load() == n
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
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return opaqueConn{c}, nil
			}}, nil)
		c := p.dial(t)
		wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
		// Several sweeps: the client's reader parks, the service's cannot.
		time.Sleep(10 * testParkDelay)
		wantReply(t, call(t, c, k, "{add, 2}"), "{ok, 3}")
		if st := p.srv.Stats(); st.Panics != 0 || st.Open != 1 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// TestLoopFairness: a service that keeps its socket full (a flood of
// events its client reads as fast as they come) does not hold its event
// loop: its reader lets the loop's other sessions go first after a
// budget of reads (loopReadBudget), and they are answered meanwhile.
func TestLoopFairness(t *testing.T) {
	if !eventLoopAvailable {
		t.Skip("no event loop on this system")
	}
	k := jsonKit
	svc := startService(t, TCP, k, counterService(k, false))
	p := startProxy(t, svc, Config{EventLoop: true}, nil)
	flooded := p.dial(t)
	if err := flooded.send(k.frame(T("{events, 1000000}"))); err != nil {
		t.Fatal(err)
	}
	go func() { // read as fast as the proxy sends, until the test closes it
		for {
			if _, err := flooded.next(); err != nil {
				return
			}
		}
	}()
	waitFor(t, "the flood to start", func() bool { return p.srv.requeues.Load() > 0 })
	for i := range 4 { // session ids go round the loops
		c := p.dial(t)
		wantReply(t, call(t, c, k, fmt.Sprintf("{add, %d}", i)), fmt.Sprintf("{ok, %d}", i+1))
	}
	rec := httptest.NewRecorder()
	p.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if body := rec.Body.String(); !strings.Contains(body, "ubfproxy_event_loop_requeues_total ") ||
		strings.Contains(body, "ubfproxy_event_loop_requeues_total 0\n") {
		t.Errorf("the metrics do not show the flooded reader's turns:\n%s", grepLines(body, "requeues"))
	}
}

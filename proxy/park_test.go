package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// testParkDelay is the park delay of the tests: short, so that they wait
// little, and yet many sweeps longer than a request takes.
const testParkDelay = 30 * time.Millisecond

// waitParked waits until p has n readers parked.
func (p *testProxy) waitParked(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for p.srv.Stats().Parked != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers parked, want %d", p.srv.Stats().Parked, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// endReason waits for the session end record and returns its reason.
func (p *testProxy) endReason(t testing.TB) string {
	t.Helper()
	return field(p.logs.wait(t, "session end", 1)[0], "reason")
}

// TestParkedSessions: a session idle past the park delay holds no
// goroutine (both its readers park), and goes on as if nothing happened
// whichever side speaks first, or ends as it would have: its peer closes,
// the idle time-out, the reply time-out, a violation, the proxy's
// shutdown.
func TestParkedSessions(t *testing.T) {
	type env struct {
		t   *testing.T
		k   kit
		p   *testProxy
		c   *wconn // the client, after {add, 1} was answered and both readers parked
		svc *wconn // the service's end of the session
	}
	tests := []struct {
		name string
		cfg  Config
		// run plays the rest of the session; it returns the end reason
		// it wants, "" when the session must still be open.
		run func(e env) string
	}{
		{"client speaks first", Config{}, func(e env) string {
			wantReply(e.t, call(e.t, e.c, e.k, "{add, 2}"), "{ok, 3}")
			e.p.waitParked(e.t, 2) // and parks again
			wantReply(e.t, call(e.t, e.c, e.k, "{add, 3}"), "{ok, 4}")
			wantReply(e.t, call(e.t, e.c, e.k, "bye"), "bye")
			return "finished"
		}},
		{"service speaks first", Config{}, func(e env) string {
			if err := e.svc.send(e.k.frame(e.k.eventOut(T("{tick, 7}")))); err != nil {
				e.t.Fatal(err)
			}
			m, err := e.c.next()
			if err != nil || m.Kind != wrappers.Event || !term.Equal(m.Term, T("{tick, 7}")) {
				e.t.Fatalf("got %s %v (%v), want the event {tick, 7}", m.Kind, m.Term, err)
			}
			e.p.waitParked(e.t, 2)
			wantReply(e.t, call(e.t, e.c, e.k, "{add, 5}"), "{ok, 6}")
			return ""
		}},
		{"client closes", Config{}, func(e env) string {
			e.c.close()
			return "client_left"
		}},
		{"service closes", Config{}, func(e env) string {
			e.svc.close()
			if err := notClosed(e.c); err != nil {
				e.t.Errorf("the client's connection: %v", err)
			}
			return "service_left"
		}},
		{"idle time-out", Config{Limits: Limits{IdleTimeout: 300 * time.Millisecond}}, func(e env) string {
			if err := notClosed(e.c); err != nil {
				e.t.Errorf("the client's connection: %v", err)
			}
			return "timeout"
		}},
		{"service breaks the contract", Config{}, func(e env) string {
			if err := e.svc.send(e.k.frame(e.k.eventOut(T("{tock, 1}")))); err != nil {
				e.t.Fatal(err)
			}
			m, err := e.c.next()
			if err != nil || !isErrorReply(m, e.k.errServer) {
				e.t.Fatalf("got %s %v (%v), want the error reply", m.Kind, m.Term, err)
			}
			if err := notClosed(e.c); err != nil {
				e.t.Errorf("the client's connection: %v", err)
			}
			return "violation"
		}},
		{"reply time-out", Config{Limits: Limits{ReplyTimeout: 300 * time.Millisecond}}, func(e env) string {
			// The service holds its answer: both readers park waiting,
			// and the reply timer ends the session.
			if err := e.c.send(e.k.frame(T("{hold, 1}"))); err != nil {
				e.t.Fatal(err)
			}
			m, err := e.c.next()
			if err != nil || !isErrorReply(m, e.k.errServer) {
				e.t.Fatalf("got %s %v (%v), want the error reply", m.Kind, m.Term, err)
			}
			return "timeout"
		}},
		{"client breaks the contract, reject mode", Config{Mode: Reject}, func(e env) string {
			m := call(e.t, e.c, e.k, "{mul, 2}")
			if !isErrorReply(m, e.k.errClient) {
				e.t.Fatalf("got %s %v, want the error reply", m.Kind, m.Term)
			}
			e.p.waitParked(e.t, 2)
			wantReply(e.t, call(e.t, e.c, e.k, "{add, 2}"), "{ok, 3}")
			return ""
		}},
		{"reload", Config{}, func(e env) string {
			// The session keeps the contract it started with, which
			// allows add; a session started after the reload may not.
			if err := e.p.srv.Reload(compile(e.t, counterV2)); err != nil {
				e.t.Fatal(err)
			}
			wantReply(e.t, call(e.t, e.c, e.k, "{add, 2}"), "{ok, 3}")
			if m := call(e.t, e.p.dial(e.t), e.k, "{add, 1}"); !isErrorReply(m, e.k.errClient) {
				e.t.Fatalf("a new session's add: got %s %v, want the error reply", m.Kind, m.Term)
			}
			return ""
		}},
		{"shutdown", Config{Limits: Limits{Grace: 50 * time.Millisecond}}, func(e env) string {
			e.p.Shutdown()
			if !e.p.Wait(ioTimeout) {
				e.t.Fatal("Serve did not return with a parked session")
			}
			return "shutdown"
		}},
	}
	EachReadMode(t, func(t *testing.T, plain bool) {
		for _, tt := range tests {
			for _, k := range kits {
				if plain && k.name != jsonKit.name {
					continue // one wire is enough for the plain way (eachComboRead)
				}
				t.Run(tt.name+"/"+k.name, func(t *testing.T) {
					t.Parallel()
					svc := startService(t, TCP, k, heldCounterService(k, false, nil))
					cfg := tt.cfg
					cfg.Limits.ParkDelay = testParkDelay
					cfg.PlainIO = plain
					p := startProxy(t, svc, cfg, nil)
					c := p.dial(t)
					wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
					p.waitParked(t, 2)
					p.wantParkedLetGo(t)
					want := tt.run(env{t: t, k: k, p: p, c: c, svc: svc.conn(t, 0)})
					if want == "" {
						if ends := p.logs.find("session end"); len(ends) != 0 && field(ends[0], "session") == "1" {
							t.Fatalf("the session ended: %s", p.logs)
						}
						return
					}
					if got := p.endReason(t); got != want {
						t.Errorf("the session ended with reason %s, want %s; log:\n%s", got, want, p.logs)
					}
					p.waitParked(t, 0)
					if !p.Wait(0) {
						p.Shutdown()
						if !p.Wait(ioTimeout) {
							t.Fatal("Serve did not return")
						}
					}
					if st := p.srv.Stats(); st.Open != 0 || st.Panics != 0 {
						t.Errorf("stats after the end: %+v", st)
					}
				})
			}
		}
	})
}

// TestParkMidFrame: a reader kicked in the middle of a frame does not park
// (its decoder holds bytes); it reads on, and the frame, finished later,
// is handled as any other.
func TestParkMidFrame(t *testing.T) {
	EachReadMode(t, func(t *testing.T, plain bool) {
		for _, k := range kits {
			t.Run(k.name, func(t *testing.T) {
				t.Parallel()
				svc := startService(t, TCP, k, counterService(k, false))
				p := startProxy(t, svc, Config{PlainIO: plain, Limits: Limits{ParkDelay: testParkDelay}}, nil)
				c := p.dial(t)
				wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
				p.waitParked(t, 2)
				frame := k.frame(T("{add, 41}"))
				if err := c.send(frame[:3]); err != nil {
					t.Fatal(err)
				}
				// The client reader wakes for the first bytes, is kicked
				// again (several sweeps pass) and must not park: only the
				// service reader is parked. A deliberate pause of ten park
				// delays: not parking cannot be waited for.
				time.Sleep(10 * testParkDelay)
				if n := p.srv.Stats().Parked; n != 1 {
					t.Errorf("%d readers parked with a frame half read, want 1 (the service's)", n)
				}
				if err := c.send(frame[3:]); err != nil {
					t.Fatal(err)
				}
				m, err := c.next()
				if err != nil {
					t.Fatal(err)
				}
				wantReply(t, m, "{ok, 42}")
				p.waitParked(t, 2)
				if ends := p.logs.find("session end"); len(ends) != 0 {
					t.Fatalf("the session ended: %v", ends)
				}
			})
		}
	})
}

// TestParkedGoroutines: idle sessions past the park delay hold no
// goroutine of the proxy's, and all of them go on when their clients speak.
// WebSocket sessions keep theirs.
func TestParkedGoroutines(t *testing.T) {
	const n = 40
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			p := startProxy(t, svc, Config{Limits: Limits{ParkDelay: testParkDelay}}, nil)
			before := settledGoroutines()
			clients := make([]*wconn, n)
			for i := range clients {
				clients[i] = p.dial(t)
				wantReply(t, call(t, clients[i], jsonKit, "{add, 1}"), "{ok, 2}")
			}
			wantParked := 2 * n
			if tr == WebSocket {
				// WebSocket readers never park: a deliberate pause of
				// many park delays, in which they would have parked,
				// since no parking cannot be waited for.
				wantParked = 0
				time.Sleep(10 * testParkDelay)
			}
			p.waitParked(t, wantParked)
			rec := httptest.NewRecorder()
			p.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if want := fmt.Sprintf("ubfproxy_readers_parked %d\n", wantParked); !strings.Contains(rec.Body.String(), want) {
				t.Errorf("/metrics lacks %q", want)
			}
			// The service has a goroutine for each connection; the proxy
			// none when its readers have parked, two a session otherwise.
			added := settledGoroutines() - before - n
			perSession := 0
			if tr == WebSocket {
				perSession = 2
			}
			if added < perSession*n-n/10 || added > perSession*n+n/10 {
				t.Errorf("%d goroutines added for %d idle sessions besides the service's, want about %d", added, n, perSession*n)
			}
			for i, c := range clients {
				wantReply(t, call(t, c, jsonKit, "{add, 2}"), "{ok, 3}")
				if i%10 == 0 {
					t.Logf("%d goroutines with %d sessions idle, %d readers parked", runtime.NumGoroutine(), n, p.srv.Stats().Parked)
				}
			}
		})
	}
}

// settledGoroutines returns the number of goroutines once it has stayed
// the same for a while. A count taken at once is off by the goroutines
// still on their way out (those of the test before, whose connections
// were closed but which a busy machine has not yet run to their end) or
// just started (the parker's); a count steady for settleFor is not.
// Bounded by ioTimeout: past it, the count as it is.
func settledGoroutines() int {
	const settleFor, every = 200 * time.Millisecond, 5 * time.Millisecond
	deadline := time.Now().Add(ioTimeout)
	n, since := runtime.NumGoroutine(), time.Now()
	for time.Since(since) < settleFor && time.Now().Before(deadline) {
		time.Sleep(every)
		if m := runtime.NumGoroutine(); m != n {
			n, since = m, time.Now()
		}
	}
	return n
}

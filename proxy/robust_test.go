package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestHundredSessionsOneOffSpec: 100 concurrent sessions, one of which
// breaks the contract; the 99 others finish untouched.
func TestHundredSessionsOneOffSpec(t *testing.T) {
	eachCombo(t, func(t *testing.T, tr Transport, k kit) {
		svc := startService(t, tr, k, counterService(k, false))
		// The four combinations set up their 400 sessions at once: the
		// proxy's dial of the service (a WebSocket handshake for ws) and
		// its read of a client's upgrade request get the harness's bound,
		// not DialTimeout's default 5 s, which a loaded machine under the
		// race detector can use up.
		p := startProxy(t, svc, Config{Limits: Limits{DialTimeout: ioTimeout}}, nil)
		const n, bad = 100, 37
		var wg sync.WaitGroup
		errs := make(chan error, 2*n) // the off-spec session can report two
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				c, err := p.tryDial()
				if err != nil {
					errs <- err
					return
				}
				defer c.close()
				<-start
				for j := 0; j < 3; j++ {
					req := fmt.Sprintf("{add, %d}", i*10+j)
					if i == bad && j == 1 {
						req = "{sub, 1}"
					}
					if err := c.send(k.frame(T(req))); err != nil {
						errs <- fmt.Errorf("session %d: %v", i, err)
						return
					}
					m, err := c.next()
					if err != nil {
						errs <- fmt.Errorf("session %d: %v", i, err)
						return
					}
					if i == bad && j == 1 {
						if !isErrorReply(m, k.errClient) {
							errs <- fmt.Errorf("off-spec session got %v, want the error reply", m.Term)
						}
						if err := notClosed(c); err != nil {
							errs <- fmt.Errorf("off-spec session: %w", err)
						}
						return
					}
					want := term.Tuple{term.Atom("ok"), term.Int(int64(i*10 + j + 1))}
					if m.Kind != wrappers.Reply || !term.Equal(m.Term, want) {
						errs <- fmt.Errorf("session %d got %v, want %v", i, m.Term, want)
						return
					}
				}
				if err := c.send(k.frame(T("bye"))); err != nil {
					errs <- err
					return
				}
				if m, err := c.next(); err != nil || !term.Equal(m.Term, T("bye")) {
					errs <- fmt.Errorf("session %d: bye: %v %v", i, m.Term, err)
				}
			}(i)
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		ends := p.logs.wait(t, "session end", n)
		reasons := map[string]int{}
		for _, r := range ends {
			reasons[field(r, "reason")]++
		}
		if reasons["finished"] != n-1 || reasons["violation"] != 1 {
			t.Errorf("end reasons %v, want %d finished and 1 violation", reasons, n-1)
		}
		if v := p.logs.find("contract violation"); len(v) != 1 || !strings.Contains(field(v[0], "message"), "sub") {
			t.Errorf("violation records: %v", v)
		}
		if st := p.srv.Stats(); st.Open != 0 || st.Total != n {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestServiceRefuses: a service that refuses the connection ends each
// session with a clear record (reason service_unreachable); a TCP client
// gets the wire's error reply saying so (a WebSocket client HTTP 502); the
// proxy goes on.
func TestServiceRefuses(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			up := refusingAddr(t)
			if tr == WebSocket {
				up = "ws://" + up + "/"
			}
			p := startProxy(t, svc, Config{Upstream: up}, nil)
			for i := 0; i < 3; i++ {
				c, err := p.tryDial()
				if tr == WebSocket {
					if err == nil || !strings.Contains(err.Error(), "502") {
						t.Fatalf("want HTTP 502, got %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if m, err := c.next(); err != nil || !isErrorReply(m, jsonKit.errServer) || !strings.Contains(string(m.Raw), "cannot be reached") {
					t.Fatalf("got %q (%v), want the error reply saying the service cannot be reached", m.Raw, err)
				}
				wantClosed(t, c)
				c.close()
			}
			ends := p.logs.wait(t, "session end", 3)
			for _, r := range ends {
				if field(r, "reason") != "service_unreachable" || !strings.Contains(field(r, "error"), "cannot be reached") ||
					!strings.Contains(field(r, "error"), "refused") {
					t.Errorf("session end record %v", r)
				}
			}
			if p.srv.OpenSessions() != 0 {
				t.Errorf("%d sessions open", p.srv.OpenSessions())
			}
		})
	}
}

// TestServiceDies: a service that closes with a request unanswered has
// broken the contract; the session ends with both records.
func TestServiceDies(t *testing.T) {
	eachCombo(t, func(t *testing.T, tr Transport, k kit) {
		for _, mode := range modes {
			t.Run(mode.String(), func(t *testing.T) {
				svc := startService(t, tr, k, counterService(k, false))
				p := startProxy(t, svc, Config{Mode: mode}, nil)
				c := p.dial(t)
				wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
				if err := c.send(k.frame(T("{crash, 1}"))); err != nil {
					t.Fatal(err)
				}
				if mode != Monitor {
					m, err := c.next()
					if err != nil || !isErrorReply(m, k.errServer) {
						t.Fatalf("want the server error reply, got %v %v", m.Term, err)
					}
				}
				wantClosed(t, c)
				v := p.logs.wait(t, "contract violation", 1)[0]
				if field(v, "side") != "server" || field(v, "kind") != "unanswered" || !strings.Contains(field(v, "message"), "crash") {
					t.Errorf("violation record %v", v)
				}
				end := p.logs.wait(t, "session end", 1)[0]
				if field(end, "reason") != "service_left" {
					t.Errorf("session end record %v", end)
				}
			})
		}
	})
}

// TestReplyTimeout: a service that does not answer in time has broken the
// contract.
func TestReplyTimeout(t *testing.T) {
	// The time-out is long beside the 10ms reply that must pass (a loaded
	// machine delays it), and the late reply is held by the service until
	// the proxy has acted, rather than timed against the time-out.
	const rt = 500 * time.Millisecond
	eachComboRead(t, func(t *testing.T, tr Transport, k kit, plain bool) {
		for _, mode := range modes {
			t.Run(mode.String(), func(t *testing.T) {
				release := make(chan struct{})
				var once sync.Once
				letGo := func() { once.Do(func() { close(release) }) }
				t.Cleanup(letGo)
				svc := startService(t, tr, k, heldCounterService(k, false, release))
				p := startProxy(t, svc, Config{Mode: mode, PlainIO: plain, Limits: Limits{ReplyTimeout: rt}}, nil)
				c := p.dial(t)
				wantReply(t, call(t, c, k, "{slow, 10}"), "{ok, 10}")
				begin := time.Now()
				if err := c.send(k.frame(T("{hold, 1}"))); err != nil {
					t.Fatal(err)
				}
				if mode == Monitor {
					// Reported while the service still holds its reply,
					// and the late reply still forwarded.
					p.logs.wait(t, "contract violation", 1)
					if d := time.Since(begin); d < rt {
						t.Errorf("the time-out was reported after %v; it is %v", d, rt)
					}
					letGo()
					m, err := c.next()
					if err != nil {
						t.Fatal(err)
					}
					wantReply(t, m, "{ok, 1}")
					wantReply(t, call(t, c, k, "bye"), "bye")
				} else {
					// The error reply comes while the service holds its
					// reply: from the time-out, not after the service.
					m, err := c.next()
					if err != nil {
						t.Fatal(err)
					}
					if !isErrorReply(m, k.errServer) {
						t.Fatalf("want the server error reply, got %v", m.Term)
					}
					if d := time.Since(begin); d < rt || d > rt+3*time.Second {
						t.Errorf("the error reply came after %v; the time-out is %v", d, rt)
					}
					wantClosed(t, c)
				}
				v := p.logs.wait(t, "contract violation", 1)[0]
				if field(v, "kind") != "reply-timeout" || field(v, "side") != "server" || !strings.Contains(field(v, "request"), "hold") {
					t.Errorf("violation record %v", v)
				}
				want := map[Mode]string{Kill: "timeout", Reject: "timeout", Monitor: "finished"}[mode]
				if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != want {
					t.Errorf("session end %v, want reason %s", end, want)
				}
			})
		}
	})
}

// TestIdleTimeout: a session where nothing passes for IdleTimeout ends.
func TestIdleTimeout(t *testing.T) {
	const idle = time.Second
	eachWay(t, func(t *testing.T, tr Transport, plain bool) {
		svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
		p := startProxy(t, svc, Config{PlainIO: plain, Limits: Limits{IdleTimeout: idle}}, nil)
		c := p.dial(t)
		wantReply(t, call(t, c, jsonKit, "{add, 1}"), "{ok, 2}")
		// Activity postpones the time-out: the session outlives it
		// twice over with pings a tenth of it apart, a margin a busy
		// machine does not eat up (pings a quarter of it apart left
		// too little under load).
		for begin := time.Now(); time.Since(begin) < 2*idle; {
			time.Sleep(idle / 10)
			wantReply(t, call(t, c, jsonKit, "ping"), "pong")
		}
		begin := time.Now()
		if err := notClosed(c); err != nil {
			t.Fatalf("after %v of silence (the time-out is %v): %v", time.Since(begin), idle, err)
		}
		if d := time.Since(begin); d > idle+3*time.Second {
			t.Errorf("closed after %v of silence; the time-out is %v", d, idle)
		}
		if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "timeout" {
			t.Errorf("session end %v", end)
		}
	})
}

// TestDialTimeout: a service that does not accept in time ends the session.
func TestDialTimeout(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			hang := func(ctx context.Context, _, _ string) (net.Conn, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			p := startProxy(t, svc, Config{Dial: hang, Limits: Limits{DialTimeout: 100 * time.Millisecond}}, nil)
			begin := time.Now()
			c, err := p.tryDial()
			if err != nil && tr == TCP {
				t.Fatal(err)
			}
			if err == nil {
				// Over TCP the session is refused with an error reply
				// (over WebSocket the handshake fails).
				t.Cleanup(c.close)
				if m, err := c.next(); err != nil || !isErrorReply(m, jsonKit.errServer) || !strings.Contains(string(m.Raw), "cannot be reached") {
					t.Fatalf("got %q (%v), want the error reply saying the service cannot be reached", m.Raw, err)
				}
				wantClosed(t, c)
			}
			if d := time.Since(begin); d > 3*time.Second {
				t.Errorf("gave up after %v; the dial time-out is 100ms", d)
			}
			end := p.logs.wait(t, "session end", 1)[0]
			if field(end, "reason") != "service_unreachable" || !strings.Contains(field(end, "error"), "deadline") {
				t.Errorf("session end %v", end)
			}
		})
	}
}

// TestReload: sessions open under the old contract keep it; new sessions
// get the new one.
func TestReload(t *testing.T) {
	eachCombo(t, func(t *testing.T, tr Transport, k kit) {
		svc := startService(t, tr, k, counterService(k, false))
		p := startProxy(t, svc, Config{}, nil)
		old := p.dial(t)
		wantReply(t, call(t, old, k, "{add, 1}"), "{ok, 2}")
		if err := p.srv.Reload(compile(t, counterV2)); err != nil {
			t.Fatal(err)
		}
		if p.srv.Contract().Vsn != "2.0" {
			t.Fatal("Contract() does not return the new contract")
		}
		// The old session still may add (version 1.0).
		wantReply(t, call(t, old, k, "{add, 2}"), "{ok, 3}")
		// A new one may not.
		fresh := p.dial(t)
		if m := call(t, fresh, k, "{add, 1}"); !isErrorReply(m, k.errClient) {
			t.Fatalf("a new session under 2.0 was allowed to add: %v", m.Term)
		}
		v := p.logs.wait(t, "contract violation", 1)[0]
		if field(v, "vsn") != "2.0" {
			t.Errorf("violation record %v, want vsn 2.0", v)
		}
		wantReply(t, call(t, old, k, "bye"), "bye")
		ends := p.logs.wait(t, "session end", 2)
		for _, e := range ends {
			want := map[string]string{"finished": "1.0", "violation": "2.0"}[field(e, "reason")]
			if field(e, "vsn") != want {
				t.Errorf("session end %v, want vsn %s", e, want)
			}
		}
	})
}

// TestPanicIsolated: a panic while handling one session's message ends
// that session only; it is logged with its stack and counted.
func TestPanicIsolated(t *testing.T) {
	for _, side := range []wrappers.Side{wrappers.Client, wrappers.Server} {
		t.Run(side.String(), func(t *testing.T) {
			eachCombo(t, func(t *testing.T, tr Transport, k kit) {
				trigger := T("{add, 666}")
				if side == wrappers.Server {
					trigger = T("{ok, 667}")
				}
				hook := func(_ uint64, s wrappers.Side, m wrappers.Message) {
					if s == side && m.Term != nil && term.Equal(m.Term, trigger) {
						panic("injected for the test")
					}
				}
				svc := startService(t, tr, k, counterService(k, false))
				p := startProxy(t, svc, Config{}, hook)
				other, victim := p.dialPair(t)
				if err := victim.send(k.frame(T("{add, 666}"))); err != nil {
					t.Fatal(err)
				}
				wantClosed(t, victim)
				rec := p.logs.wait(t, "panic in session", 1)[0]
				if !strings.Contains(field(rec, "stack"), "robust_test.go") || field(rec, "panic") != "injected for the test" {
					t.Errorf("panic record %v", rec)
				}
				// The other session goes on.
				wantReply(t, call(t, other, k, "{add, 7}"), "{ok, 8}")
				wantReply(t, call(t, other, k, "bye"), "bye")
				ends := p.logs.wait(t, "session end", 2)
				reasons := map[string]int{}
				for _, e := range ends {
					reasons[field(e, "reason")]++
				}
				if reasons["error"] != 1 || reasons["finished"] != 1 {
					t.Errorf("end reasons %v", reasons)
				}
				if st := p.srv.Stats(); st.Panics != 1 {
					t.Errorf("stats %+v", st)
				}
			})
		})
	}
}

// TestMetrics: /metrics shows sessions, messages, violations, bytes and
// check latency; /healthz answers ok, then draining.
func TestMetrics(t *testing.T) {
	svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
	p := startProxy(t, svc, Config{}, nil)
	c := p.dial(t)
	wantReply(t, call(t, c, jsonKit, "{add, 1}"), "{ok, 2}")
	wantReply(t, call(t, c, jsonKit, "bye"), "bye")
	c2 := p.dial(t)
	if m := call(t, c2, jsonKit, "{sub, 1}"); !isErrorReply(m, jsonKit.errClient) {
		t.Fatal(m.Term)
	}
	p.logs.wait(t, "session end", 2)
	h := p.srv.MetricsHandler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`ubfproxy_sessions_open 0`,
		`ubfproxy_sessions_total{reason="finished"} 1`,
		`ubfproxy_sessions_total{reason="violation"} 1`,
		`ubfproxy_messages_total{direction="client_to_server",verdict="ok"} 2`,
		`ubfproxy_messages_total{direction="client_to_server",verdict="violation"} 1`,
		`ubfproxy_messages_total{direction="server_to_client",verdict="ok"} 2`,
		`ubfproxy_violations_total{contract="counter",side="client"} 1`,
		// Five checks, but a session times only its 1st, 17th, ...
		// (checkSample): one in each session.
		`ubfproxy_check_duration_seconds_count 2`,
		`ubfproxy_bytes_total{direction="client_to_server"}`,
		`ubfproxy_panics_total 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	p.Shutdown()
	if !p.Wait(ioTimeout) {
		t.Fatal("Serve did not return")
	}
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz after shutdown: %d", code)
	}
}

// TestReplyTimeoutOff: with a negative ReplyTimeout (run --reply-timeout
// 0) a service may take any time to answer; and a session that reaches
// MaxPending says so once in the log, however many requests wait.
func TestReplyTimeoutOff(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	svc := startService(t, TCP, jsonKit, heldCounterService(jsonKit, false, release))
	p := startProxy(t, svc, Config{Limits: Limits{ReplyTimeout: -1, MaxPending: 1}}, nil)
	c := p.dial(t)
	// The second and third wait for the first's reply: MaxPending 1.
	for _, req := range []string{"{hold, 1}", "{add, 1}", "{add, 2}"} {
		if err := c.send(jsonKit.frame(T(req))); err != nil {
			t.Fatal(err)
		}
	}
	p.logs.wait(t, "the session reached --max-pending: reading the client waits for replies", 1)
	// Three times the default would be too long for a test; what matters
	// is that no time-out is armed at all, which a second shows as well
	// as a minute (the default would be 30 s, a 100 ms one fires at once).
	time.Sleep(time.Second)
	if v := p.logs.find("contract violation"); len(v) > 0 {
		t.Fatalf("a violation with the time-out off: %v", v)
	}
	letGo()
	for _, want := range []string{"{ok, 1}", "{ok, 2}", "{ok, 3}"} {
		m, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		wantReply(t, m, want)
	}
	if n := len(p.logs.find("the session reached --max-pending: reading the client waits for replies")); n != 1 {
		t.Errorf("max-pending logged %d times, want once", n)
	}
}

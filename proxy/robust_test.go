package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// TestHundredSessionsOneOffSpec: 100 concurrent sessions, one of which
// breaks the contract; the 99 others finish untouched.
func TestHundredSessionsOneOffSpec(t *testing.T) {
	eachCombo(t, func(t *testing.T, tr Transport, k kit) {
		svc := startService(t, tr, k, counterService(k, false))
		p := startProxy(t, svc, Config{}, nil)
		const n, bad = 100, 37
		var wg sync.WaitGroup
		errs := make(chan error, n)
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

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServiceRefuses: a service that refuses the connection ends each
// session with a clear record; the proxy goes on.
func TestServiceRefuses(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			up := freeAddr(t)
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
				if err := c.closed(); err == nil {
					t.Fatal("the client connection was not closed")
				}
				c.close()
			}
			ends := p.logs.wait(t, "session end", 3)
			for _, r := range ends {
				if field(r, "reason") != "service_left" || !strings.Contains(field(r, "error"), "dialing the service") ||
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
				if err := c.closed(); err == nil {
					t.Fatal("not closed")
				}
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
	eachCombo(t, func(t *testing.T, tr Transport, k kit) {
		for _, mode := range modes {
			t.Run(mode.String(), func(t *testing.T) {
				svc := startService(t, tr, k, counterService(k, false))
				p := startProxy(t, svc, Config{Mode: mode, Limits: Limits{ReplyTimeout: 100 * time.Millisecond}}, nil)
				c := p.dial(t)
				wantReply(t, call(t, c, k, "{slow, 10}"), "{ok, 10}")
				begin := time.Now()
				m := call(t, c, k, "{slow, 1500}")
				if mode == Monitor {
					// Reported, and the late reply still forwarded.
					wantReply(t, m, "{ok, 1500}")
					wantReply(t, call(t, c, k, "bye"), "bye")
				} else {
					if !isErrorReply(m, k.errServer) {
						t.Fatalf("want the server error reply, got %v", m.Term)
					}
					if d := time.Since(begin); d > 1400*time.Millisecond {
						t.Errorf("the error reply came after %v; the time-out is 100ms", d)
					}
					if err := c.closed(); err == nil {
						t.Fatal("not closed")
					}
				}
				v := p.logs.wait(t, "contract violation", 1)[0]
				if field(v, "kind") != "reply-timeout" || field(v, "side") != "server" || !strings.Contains(field(v, "request"), "slow") {
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
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			p := startProxy(t, svc, Config{Limits: Limits{IdleTimeout: 400 * time.Millisecond}}, nil)
			c := p.dial(t)
			wantReply(t, call(t, c, jsonKit, "{add, 1}"), "{ok, 2}")
			// Activity postpones the time-out.
			for i := 0; i < 3; i++ {
				time.Sleep(100 * time.Millisecond)
				wantReply(t, call(t, c, jsonKit, "ping"), "pong")
			}
			begin := time.Now()
			if err := c.closed(); err == nil {
				t.Fatal("not closed")
			}
			if d := time.Since(begin); d > 3*time.Second {
				t.Errorf("closed after %v of silence; the time-out is 400ms", d)
			}
			if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "timeout" {
				t.Errorf("session end %v", end)
			}
		})
	}
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
			if err == nil {
				err = c.closed()
				c.close()
			}
			if err == nil {
				t.Fatal("the session was not refused")
			}
			if d := time.Since(begin); d > 3*time.Second {
				t.Errorf("gave up after %v; the dial time-out is 100ms", d)
			}
			end := p.logs.wait(t, "session end", 1)[0]
			if field(end, "reason") != "service_left" || !strings.Contains(field(end, "error"), "deadline") {
				t.Errorf("session end %v", end)
			}
		})
	}
}

// TestSessionLimit: over MaxSessions, new connections are refused at once
// with a record; once a session ends, a new one is admitted.
func TestSessionLimit(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			p := startProxy(t, svc, Config{Limits: Limits{MaxSessions: 2}}, nil)
			c1, c2 := p.dial(t), p.dial(t)
			wantReply(t, call(t, c1, jsonKit, "{add, 1}"), "{ok, 2}")
			wantReply(t, call(t, c2, jsonKit, "{add, 2}"), "{ok, 3}")
			c3, err := p.tryDial()
			if tr == WebSocket {
				if err == nil || !strings.Contains(err.Error(), "503") {
					t.Fatalf("want HTTP 503, got %v", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if err := c3.closed(); err == nil {
					t.Fatal("the third connection was not closed")
				}
				c3.close()
			}
			r := p.logs.wait(t, "session refused", 1)[0]
			if field(r, "reason") != "limit" || field(r, "max_sessions") != "2" {
				t.Errorf("refusal record %v", r)
			}
			wantReply(t, call(t, c1, jsonKit, "bye"), "bye")
			p.logs.wait(t, "session end", 1)
			c4 := p.dial(t)
			wantReply(t, call(t, c4, jsonKit, "{add, 4}"), "{ok, 5}")
			if st := p.srv.Stats(); st.Refused != 1 {
				t.Errorf("stats %+v", st)
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
				other := p.dial(t)
				wantReply(t, call(t, other, k, "{add, 1}"), "{ok, 2}")
				victim := p.dial(t)
				wantReply(t, call(t, victim, k, "{add, 1}"), "{ok, 2}")
				if err := victim.send(k.frame(T("{add, 666}"))); err != nil {
					t.Fatal(err)
				}
				if err := victim.closed(); err == nil {
					t.Fatal("the panicking session was not closed")
				}
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

// TestMetaPhase: with ubf.Wire.Meta, a session is checked against ubf's meta
// contract until startSession for the guarded contract is accepted.
func TestMetaPhase(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			k := ubfKit
			t.Run("conforming", func(t *testing.T) {
				svc := startService(t, tr, k, counterService(k, true))
				p := startProxy(t, svc, Config{Wire: ubf.Wire{Meta: true}}, nil)
				c := p.dial(t)
				g, err := c.next()
				if err != nil || g.Kind != wrappers.Greeting {
					t.Fatalf("want the greeting, got %s %v %v", g.Kind, g.Term, err)
				}
				wantReply(t, call(t, c, k, "info"), `{serverBrokeContract, {info, "I am a meta server"}, [{prim, 1, 1, string}]}`)
				wantReply(t, call(t, c, k, "contract"), `{contract, {{name, "counter"}, {vsn, "1.0"}}}`)
				wantReply(t, call(t, c, k, "help"), `<<"help text">>`)
				wantReply(t, call(t, c, k, "services"), `["counter"]`)
				m := call(t, c, k, `{startSession, "counter", []}`)
				wantReply(t, m, "{ok, ok}")
				if m.NextState != "start" {
					t.Errorf("announced state %q", m.NextState)
				}
				wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
				wantReply(t, call(t, c, k, "bye"), "bye")
				if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "finished" || field(end, "contract") != "counter" {
					t.Errorf("session end %v", end)
				}
				// ubf's own report on its info reply is forwarded and
				// recorded, not blamed on the service.
				if v := p.logs.find("contract violation"); len(v) != 1 || field(v[0], "kind") != "service-reported" || field(v[0], "action") != string(actionForwarded) {
					t.Errorf("violations: %v", v)
				}
			})
			t.Run("request before startSession", func(t *testing.T) {
				svc := startService(t, tr, k, counterService(k, true))
				p := startProxy(t, svc, Config{Wire: ubf.Wire{Meta: true}}, nil)
				c := p.dial(t)
				if g, err := c.next(); err != nil || g.Kind != wrappers.Greeting {
					t.Fatalf("want the greeting, got %v %v", g.Term, err)
				}
				if m := call(t, c, k, "{add, 1}"); !isErrorReply(m, k.errClient) {
					t.Fatalf("got %v", m.Term)
				}
				v := p.logs.wait(t, "contract violation", 1)[0]
				if field(v, "contract") != "ubf_meta" || field(v, "side") != "client" {
					t.Errorf("violation record %v", v)
				}
			})
			t.Run("another service", func(t *testing.T) {
				svc := startService(t, tr, k, counterService(k, true))
				p := startProxy(t, svc, Config{Wire: ubf.Wire{Meta: true}}, nil)
				c := p.dial(t)
				if g, err := c.next(); err != nil || g.Kind != wrappers.Greeting {
					t.Fatalf("want the greeting, got %v %v", g.Term, err)
				}
				if m := call(t, c, k, `{startSession, "irc", []}`); !isErrorReply(m, k.errClient) {
					t.Fatalf("got %v", m.Term)
				}
				v := p.logs.wait(t, "contract violation", 1)[0]
				if !strings.Contains(field(v, "explanation"), `guards the service "counter" only`) {
					t.Errorf("violation record %v", v)
				}
				_, got := svc.conn(t, 0).transcript()
				if strings.Contains(got, "irc") {
					t.Errorf("the service got the refused startSession: %q", got)
				}
			})
		})
	}
}

// TestUBFLockStep: a client that pipelines requests, and sends an event
// right behind a request, in one write; a ubf service must see each in a
// read of its own (docs/wires/ubf.md, "How the real ubf 2.x server behaves").
func TestUBFLockStep(t *testing.T) {
	var overlaps, reads atomic.Int32 // reads holding two requests; reads
	handle := func(c *wconn) {
		buf := make([]byte, 4096)
		for {
			_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
			n, err := c.nc.Read(buf)
			if err != nil {
				return
			}
			reads.Add(1)
			chunk := buf[:n]
			d := ubf.NewDecoder(bytes.NewReader(chunk), wrappers.DefaultLimits())
			requests := 0
			for {
				tm, _, err := d.Frame()
				if err != nil || tm == nil {
					break
				}
				tup, _ := tm.(term.Tuple)
				if len(tup) == 0 || tup[0] != term.Term(term.Atom("event_in")) {
					requests++
				}
				if requests > 1 {
					overlaps.Add(1)
				}
				if len(tup) == 2 && tup[0] == term.Term(term.Atom("add")) {
					i, _ := tup[1].(term.Integer)
					time.Sleep(2 * time.Millisecond) // let more bytes arrive if they were sent
					_, _ = c.nc.Write(ubfKit.frame(ubfKit.reply(term.Tuple{term.Atom("ok"), term.Int(i.Int64() + 1)}, "start")))
				}
			}
		}
	}
	svc := startService(t, TCP, ubfKit, handle)
	p := startProxy(t, svc, Config{}, nil)
	c := p.dial(t)
	var batch []byte
	for i := 1; i <= 5; i++ {
		batch = append(batch, ubfKit.frame(T(fmt.Sprintf("{add, %d}", i)))...)
		batch = append(batch, ubfKit.frame(ubfKit.eventIn(T(`{note, "x"}`)))...)
	}
	if err := c.send(batch); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		m, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		wantReply(t, m, fmt.Sprintf("{ok, %d}", i+1))
	}
	// Events may share a read with the request after them (they are
	// written separately; TCP may join them), requests never do.
	if overlaps.Load() != 0 || reads.Load() < 5 {
		t.Errorf("the service read %d times, %d of them holding two requests", reads.Load(), overlaps.Load())
	}
}

// TestPipelining: the json wire lets requests overlap (up to MaxPending);
// replies come back in order, and in reject mode an error reply takes the
// rejected request's place among them.
func TestPipelining(t *testing.T) {
	for _, mode := range []Mode{Kill, Reject} {
		t.Run(mode.String(), func(t *testing.T) {
			svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
			p := startProxy(t, svc, Config{Mode: mode, Limits: Limits{MaxPending: 4}}, nil)
			c := p.dial(t)
			var batch []byte
			want := []string{}
			for i := 0; i < 20; i++ {
				req := fmt.Sprintf("{add, %d}", i)
				w := fmt.Sprintf("{ok, %d}", i+1)
				if mode == Reject && i%7 == 3 {
					req, w = "{sub, 1}", "error"
				}
				batch = append(batch, jsonKit.frame(T(req))...)
				want = append(want, w)
			}
			if err := c.send(batch); err != nil {
				t.Fatal(err)
			}
			for i, w := range want {
				m, err := c.next()
				if err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				if w == "error" {
					if !isErrorReply(m, jsonKit.errClient) {
						t.Fatalf("reply %d: got %v, want the error reply", i, m.Term)
					}
					continue
				}
				wantReply(t, m, w)
			}
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
	p.cancel()
	select {
	case <-p.done:
		p.done <- nil
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return")
	}
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz after shutdown: %d", code)
	}
}

// TestShutdown: cancelling Serve's context stops accepting, lets sessions
// finish for Grace, then closes the rest with reason shutdown.
func TestShutdown(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			p := startProxy(t, svc, Config{Limits: Limits{Grace: 300 * time.Millisecond}}, nil)
			finisher, lingerer := p.dial(t), p.dial(t)
			wantReply(t, call(t, finisher, jsonKit, "{add, 1}"), "{ok, 2}")
			wantReply(t, call(t, lingerer, jsonKit, "{add, 1}"), "{ok, 2}")
			begin := time.Now()
			p.cancel()
			time.Sleep(50 * time.Millisecond)
			// Open sessions go on during the grace period.
			wantReply(t, call(t, finisher, jsonKit, "bye"), "bye")
			if _, err := p.tryDial(); err == nil {
				t.Error("a new connection was accepted after shutdown began")
			}
			if err := lingerer.closed(); err == nil {
				t.Fatal("not closed")
			}
			if d := time.Since(begin); d < 250*time.Millisecond || d > 4*time.Second {
				t.Errorf("closed after %v; the grace period is 300ms", d)
			}
			select {
			case err := <-p.done:
				p.done <- err
			case <-time.After(ioTimeout):
				t.Fatal("Serve did not return")
			}
			reasons := map[string]int{}
			for _, e := range p.logs.find("session end") {
				reasons[field(e, "reason")]++
			}
			if reasons["finished"] != 1 || reasons["shutdown"] != 1 {
				t.Errorf("end reasons %v", reasons)
			}
		})
	}
}

// TestFrameLimits: a frame over MaxFrame or nested over MaxDepth ends the
// session with reason limit.
func TestFrameLimits(t *testing.T) {
	eachCombo(t, func(t *testing.T, tr Transport, k kit) {
		for _, tc := range []struct {
			name string
			req  term.Term
		}{
			{"frame", term.Tuple{term.Atom("add"), term.String(strings.Repeat("x", 300))}},
			{"depth", func() term.Term {
				var t term.Term = term.Int(1)
				for i := 0; i < 20; i++ {
					t = term.List{t}
				}
				return term.Tuple{term.Atom("add"), t}
			}()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				svc := startService(t, tr, k, counterService(k, false))
				p := startProxy(t, svc, Config{Limits: Limits{MaxFrame: 200, MaxDepth: 10}}, nil)
				c := p.dial(t)
				wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
				if err := c.send(k.frame(tc.req)); err != nil {
					t.Fatal(err)
				}
				// The error reply (naming the limit) where the wire has one,
				// then the end of the session.
				if m, err := c.next(); err == nil {
					if !isErrorReply(m, k.errClient) {
						t.Fatalf("got %s %v, want the error reply", m.Kind, m.Term)
					}
					wantClosed(t, c)
				}
				if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "limit" {
					t.Errorf("session end %v", end)
				}
				if v := p.logs.wait(t, "contract violation", 1)[0]; field(v, "kind") != "limit" {
					t.Errorf("violation %v", v)
				}
			})
		}
	})
}

// TestFrameMemoryLimit: Limits.MaxFrameMemory reaches the UBF(A) decoder:
// a frame well under MaxFrame whose decoding would take more memory than
// allowed ends the session with reason limit, where the default allowance
// lets it through to the checker.
func TestFrameMemoryLimit(t *testing.T) {
	ones := make(term.List, 20000)
	for i := range ones {
		ones[i] = term.Int(1)
	}
	req := term.Tuple{term.Atom("add"), ones} // about 40 KB of UBF(A)
	for _, tc := range []struct {
		name      string
		memory    int
		wantKind  string
		wantEnded string
	}{
		{"bounded", 64 << 10, "limit", "limit"},
		{"default", 0, "bad-request", "violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := startService(t, TCP, ubfKit, counterService(ubfKit, false))
			p := startProxy(t, svc, Config{Limits: Limits{MaxFrame: 1 << 20, MaxFrameMemory: tc.memory}}, nil)
			c := p.dial(t)
			wantReply(t, call(t, c, ubfKit, "{add, 1}"), "{ok, 2}")
			if err := c.send(ubfKit.frame(req)); err != nil {
				t.Fatal(err)
			}
			if v := p.logs.wait(t, "contract violation", 1)[0]; field(v, "kind") != tc.wantKind {
				t.Errorf("violation kind %v, want %s: %v", field(v, "kind"), tc.wantKind, v)
			}
			if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != tc.wantEnded {
				t.Errorf("session end reason %v, want %s: %v", field(end, "reason"), tc.wantEnded, end)
			}
		})
	}
}

// TestHalfClose: a client that closes its side after a request still gets
// the reply.
func TestHalfClose(t *testing.T) {
	svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
	p := startProxy(t, svc, Config{}, nil)
	c := p.dial(t)
	if err := c.send(jsonKit.frame(T("{slow, 100}"))); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	m, err := c.next()
	if err != nil {
		t.Fatal(err)
	}
	wantReply(t, m, "{ok, 100}")
	if err := c.closed(); err == nil {
		t.Fatal("not closed")
	}
	if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "client_left" {
		t.Errorf("session end %v", end)
	}
}

// TestWebSocketControl: pings, pongs and close frames are forwarded.
func TestWebSocketControl(t *testing.T) {
	closeSeen := make(chan error, 1)
	pingSeen := make(chan string, 1)
	handle := func(c *wconn) {
		c.ws.SetPingHandler(func(data string) error {
			pingSeen <- data
			return c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		for {
			_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
			if _, _, err := c.ws.ReadMessage(); err != nil {
				closeSeen <- err
				return
			}
			_ = c.ws.WriteMessage(websocket.TextMessage, jsonKit.frame(T("pong")))
		}
	}
	svc := startService(t, WebSocket, jsonKit, handle)
	p := startProxy(t, svc, Config{}, nil)
	c := p.dial(t)
	pong := make(chan string, 1)
	c.ws.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantReply(t, call(t, c, jsonKit, "ping"), "pong") // reading lets the pong handler run
	select {
	case d := <-pingSeen:
		if d != "are you there" {
			t.Errorf("the service got ping %q", d)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the ping did not reach the service")
	}
	select {
	case d := <-pong:
		if d != "are you there" {
			t.Errorf("the client got pong %q", d)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the pong did not reach the client")
	}
	if err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "done for today"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closeSeen:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4000 || ce.Text != "done for today" {
			t.Errorf("the service saw %v, want close 4000 \"done for today\"", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the close did not reach the service")
	}
	_, _, err := c.ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 {
		t.Errorf("the client's close was answered with %v", err)
	}
	if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "client_left" {
		t.Errorf("session end %v", end)
	}
}

// TestShutdownWhileDialing: a session still dialling the service when the
// grace period ends is ended cleanly (no endpoint yet) and Serve returns.
func TestShutdownWhileDialing(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			dialing := make(chan struct{}, 1)
			hang := func(ctx context.Context, _, _ string) (net.Conn, error) {
				dialing <- struct{}{}
				<-ctx.Done()
				return nil, ctx.Err()
			}
			p := startProxy(t, svc, Config{Dial: hang, Limits: Limits{DialTimeout: 400 * time.Millisecond, Grace: 50 * time.Millisecond}}, nil)
			go func() {
				if c, err := p.tryDial(); err == nil {
					_ = c.closed()
					c.close()
				}
			}()
			select {
			case <-dialing:
			case <-time.After(ioTimeout):
				t.Fatal("no dial")
			}
			p.cancel()
			select {
			case err := <-p.done:
				p.done <- err
			case <-time.After(ioTimeout):
				t.Fatal("Serve did not return")
			}
			if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "shutdown" {
				t.Errorf("session end %v", end)
			}
		})
	}
}

// TestSimpleRPC: with Wire.SimpleRPC the ubf wire carries bare replies.
func TestSimpleRPC(t *testing.T) {
	k := ubfKit
	k.wire = ubf.Wire{SimpleRPC: true}
	k.reply = func(r term.Term, _ string) term.Term { return r }
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, k, counterService(k, false))
			p := startProxy(t, svc, Config{}, nil)
			c := p.dial(t)
			wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
			if m := call(t, c, k, "{bad, 1}"); !isErrorReply(m, k.errServer) {
				t.Fatalf("got %v", m.Term)
			}
			if v := p.logs.wait(t, "contract violation", 1)[0]; field(v, "kind") != "bad-reply" {
				t.Errorf("violation %v", v)
			}
		})
	}
}

// TestBadNextState: a ubf service that announces a state the contract
// does not allow after its reply has broken the contract.
func TestBadNextState(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, ubfKit, counterService(ubfKit, false))
			p := startProxy(t, svc, Config{}, nil)
			c := p.dial(t)
			if m := call(t, c, ubfKit, "{add, 999}"); !isErrorReply(m, ubfKit.errServer) {
				t.Fatalf("got %v", m.Term)
			}
			v := p.logs.wait(t, "contract violation", 1)[0]
			if field(v, "kind") != "bad-next-state" || !strings.Contains(field(v, "explanation"), "nowhere") {
				t.Errorf("violation %v", v)
			}
		})
	}
}

// TestWebSocketHandshake: the client's path, query, subprotocols and Origin
// reach the service when Upstream has no path, and the client gets the
// subprotocol the service chose.
func TestWebSocketHandshake(t *testing.T) {
	type seen struct{ path, query, proto, origin string }
	got := make(chan seen, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{Subprotocols: []string{"ubf", "json"}, CheckOrigin: func(*http.Request) bool { return true }}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		got <- seen{r.URL.Path, r.URL.RawQuery, ws.Subprotocol(), r.Header.Get("Origin")}
		_ = ws.SetReadDeadline(time.Now().Add(ioTimeout))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			_ = ws.WriteMessage(websocket.TextMessage, jsonKit.frame(T("pong")))
		}
	})}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	svc := &service{kit: jsonKit, tr: WebSocket}
	p := startProxy(t, svc, Config{Upstream: "ws://" + ln.Addr().String()}, nil)
	d := websocket.Dialer{HandshakeTimeout: ioTimeout, Subprotocols: []string{"json", "ubf"}}
	hdr := http.Header{"Origin": {"http://example.test"}}
	ws, _, err := d.Dial("ws://"+p.addr+"/chat?room=1", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ws.Subprotocol() != "ubf" {
		t.Errorf("the client got subprotocol %q, want ubf (the service's choice)", ws.Subprotocol())
	}
	select {
	case s := <-got:
		if s != (seen{"/chat", "room=1", "ubf", "http://example.test"}) {
			t.Errorf("the service saw %+v", s)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the service got no connection")
	}
	c := newWConn(WebSocket, nil, ws, jsonKit.wire.NewSession(wrappers.Options{}).ServerDecoder)
	wantReply(t, call(t, c, jsonKit, "ping"), "pong")
}

// TestPipelinedRequestMadeIllegal: a request pipelined behind one whose
// reply leads where it is not legal has reached the service already. Kill
// ends the session after the reply; reject and monitor report it, forward
// its reply unchecked and go on.
func TestPipelinedRequestMadeIllegal(t *testing.T) {
	const loginCon = `+name("login").
+state start x login -> ok x ready | denied x start.
+state ready x {add, integer()} -> {ok, integer()} x ready.
`
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			svc := startService(t, TCP, jsonKit, func(c *wconn) {
				for {
					m, err := c.next()
					if err != nil {
						return
					}
					if term.Equal(m.Term, T("login")) {
						time.Sleep(20 * time.Millisecond) // let the pipelined request arrive first
						_ = c.send(jsonKit.frame(T("denied")))
						continue
					}
					_ = c.send(jsonKit.frame(T("{ok, 1}")))
				}
			})
			p := startProxy(t, svc, Config{Mode: mode, Contract: compile(t, loginCon)}, nil)
			c := p.dial(t)
			if err := c.send(append(jsonKit.frame(T("login")), jsonKit.frame(T("{add, 1}"))...)); err != nil {
				t.Fatal(err)
			}
			m, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			wantReply(t, m, "denied")
			if mode == Kill {
				if m, err := c.next(); err != nil || !isErrorReply(m, jsonKit.errClient) {
					t.Fatalf("want the error reply, got %v %v", m.Term, err)
				}
				wantClosed(t, c)
			} else {
				m, err := c.next()
				if err != nil {
					t.Fatal(err)
				}
				wantReply(t, m, "{ok, 1}") // the service's answer, unchecked
				// Back in start, where login is legal again.
				if err := c.send(jsonKit.frame(T("login"))); err != nil {
					t.Fatal(err)
				}
				m, err = c.next()
				if err != nil {
					t.Fatal(err)
				}
				wantReply(t, m, "denied")
			}
			v := p.logs.wait(t, "contract violation", 1)[0]
			want := map[Mode]action{Kill: actionKilled, Reject: actionForwarded, Monitor: actionForwarded}[mode]
			if field(v, "kind") != "pipelined-request" || field(v, "side") != "client" || field(v, "message") != "{add, 1}" || field(v, "action") != string(want) {
				t.Errorf("violation %v", v)
			}
			if n := len(p.logs.find("contract violation")); n != 1 {
				t.Errorf("%d violation records:\n%s", n, p.logs)
			}
		})
	}
}

// TestMaxViolations: in reject mode a client that keeps breaking the
// contract is cut off after MaxViolations records.
func TestMaxViolations(t *testing.T) {
	svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
	p := startProxy(t, svc, Config{Mode: Reject, Limits: Limits{MaxViolations: 3}}, nil)
	c := p.dial(t)
	for i := 0; i < 3; i++ {
		if m := call(t, c, jsonKit, "{sub, 1}"); !isErrorReply(m, jsonKit.errClient) {
			t.Fatalf("got %v", m.Term)
		}
	}
	if err := c.send(jsonKit.frame(T("{sub, 1}"))); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, c)
	p.logs.wait(t, "too many violations; ending the session", 1)
	if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "limit" {
		t.Errorf("session end %v", end)
	}
	if n := len(p.logs.find("contract violation")); n != 3 {
		t.Errorf("%d violation records, want 3", n)
	}
}

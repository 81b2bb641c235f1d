package proxy

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

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
				wantClosed(t, c3)
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

// TestFrameLimits: a frame over MaxFrame or nested over MaxDepth ends the
// session with reason limit.
func TestFrameLimits(t *testing.T) {
	eachComboRead(t, func(t *testing.T, tr Transport, k kit, plain bool) {
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
				p := startProxy(t, svc, Config{PlainIO: plain, Limits: Limits{MaxFrame: 200, MaxDepth: 10}}, nil)
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

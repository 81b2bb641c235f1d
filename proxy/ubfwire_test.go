package proxy

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

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
				// Forwarded: the service answers, and the session stays
				// in the meta phase (TestUBFUnguardedService has more).
				wantReply(t, call(t, c, k, `{startSession, "irc", []}`), "{error, noSuchService}")
				wantReply(t, call(t, c, k, `{startSession, "counter", []}`), "{ok, ok}")
				if v := p.logs.find("contract violation"); len(v) != 0 {
					t.Errorf("violations: %v", v)
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
					// A deliberate pause before the reply: a proxy that
					// sent the next request without waiting for this
					// reply would have it arrive meanwhile, and the next
					// read would hold two requests.
					time.Sleep(2 * time.Millisecond)
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

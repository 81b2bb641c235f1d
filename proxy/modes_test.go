package proxy

import (
	"errors"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

var modes = []Mode{Kill, Reject, Monitor}

// TestConformingConversation: in every mode, over both transports and both
// wires, a conversation that keeps the contract passes byte for byte, ends
// when it reaches stop, and leaves one session-end record and no violation.
func TestConformingConversation(t *testing.T) {
	eachCombo(t, func(t *testing.T, tr Transport, k kit) {
		for _, mode := range modes {
			t.Run(mode.String(), func(t *testing.T) {
				svc := startService(t, tr, k, counterService(k, false))
				p := startProxy(t, svc, Config{Mode: mode}, nil)
				c := p.dial(t)

				if err := c.send(k.handmade); err != nil {
					t.Fatal(err)
				}
				m, err := c.next()
				if err != nil {
					t.Fatal(err)
				}
				wantReply(t, m, "{ok, 2}")
				if err := c.send(k.frame(T("{events, 2}"))); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 2; i++ {
					m, err := c.next()
					if err != nil {
						t.Fatal(err)
					}
					if m.Kind != wrappers.Event || !term.Equal(m.Term, term.Tuple{term.Atom("tick"), term.Int(int64(i))}) {
						t.Fatalf("got %s %v, want event {tick, %d}", m.Kind, m.Term, i)
					}
				}
				m, _ = c.next()
				wantReply(t, m, "ok")
				if err := c.send(k.frame(k.eventIn(T(`{note, "hi"}`)))); err != nil {
					t.Fatal(err)
				}
				wantReply(t, call(t, c, k, "ping"), "pong")
				wantReply(t, call(t, c, k, "bye"), "bye")
				wantClosed(t, c)

				ends := p.logs.wait(t, "session end", 1)
				if r := ends[0]; field(r, "reason") != "finished" || field(r, "contract") != "counter" || field(r, "vsn") != "1.0" {
					t.Errorf("session end record: %v", r)
				}
				if v := p.logs.find("contract violation"); len(v) != 0 {
					t.Errorf("violations in a conforming conversation: %v", v)
				}
				cs, cg := c.transcript()
				ss, sg := svc.conn(t, 0).transcript()
				if cs != sg {
					t.Errorf("the service got other bytes than the client sent:\nclient sent %q\nservice got %q", cs, sg)
				}
				if ss != cg {
					t.Errorf("the client got other bytes than the service sent:\nservice sent %q\nclient got  %q", ss, cg)
				}
				r := ends[0]
				if field(r, "client_messages") != "5" || field(r, "server_messages") != "6" {
					t.Errorf("message counts in %v: want 5 from the client, 6 from the service", r)
				}
			})
		}
	})
}

// violationCase is one way of breaking the contract and what each mode
// must make of it.
type violationCase struct {
	name    string
	side    string
	send    func(k kit) []byte
	kind    string
	forward string // a fragment of the message as the violation record shows it
	// raw is the frame that must (monitor) or must not (kill, reject)
	// reach the other side.
	raw func(k kit) []byte
	// after the violation, in reject and monitor modes: what the client
	// receives next (a reply, or "" when nothing comes before the next call)
	rejectNext, monitorNext string
	// action in reject mode
	rejectAction action
}

var violationCases = []violationCase{
	{
		name: "client request", side: "client", kind: "bad-request", forward: "sub",
		send:       func(k kit) []byte { return k.frame(T("{sub, 1}")) },
		raw:        func(k kit) []byte { return k.frame(T("{sub, 1}")) },
		rejectNext: "error-reply", monitorNext: `{error, "unknown request"}`, rejectAction: actionRejected,
	},
	{
		name: "server reply", side: "server", kind: "bad-reply", forward: "oops",
		send:       func(k kit) []byte { return k.frame(T("{bad, 1}")) },
		raw:        func(k kit) []byte { return k.frame(k.reply(T(`{ok, "oops"}`), "start")) },
		rejectNext: "error-reply", monitorNext: `{ok, "oops"}`, rejectAction: actionRejected,
	},
	{
		name: "client event", side: "client", kind: "bad-event", forward: "noise",
		send:       func(k kit) []byte { return k.frame(k.eventIn(T("{noise, 1}"))) },
		raw:        func(k kit) []byte { return k.frame(k.eventIn(T("{noise, 1}"))) },
		rejectNext: "", monitorNext: "", rejectAction: actionDropped,
	},
	{
		name: "server event", side: "server", kind: "bad-event", forward: "tock",
		send:       func(k kit) []byte { return k.frame(T("{badevent, 1}")) },
		raw:        func(k kit) []byte { return k.frame(k.eventOut(T("{tock, 1}"))) },
		rejectNext: "ok", monitorNext: "event:{tock, 1}", rejectAction: actionDropped,
	},
}

// TestViolations: each way of breaking the contract, in each mode, over
// both transports and both wires, ends or continues the session as the
// mode says, with one violation record.
func TestViolations(t *testing.T) {
	eachComboRead(t, func(t *testing.T, tr Transport, k kit, plain bool) {
		for _, vc := range violationCases {
			for _, mode := range modes {
				t.Run(vc.name+"/"+mode.String(), func(t *testing.T) {
					testViolation(t, tr, k, vc, mode, plain)
				})
			}
		}
	})
}

func testViolation(t *testing.T, tr Transport, k kit, vc violationCase, mode Mode, plain bool) {
	svc := startService(t, tr, k, counterService(k, false))
	p := startProxy(t, svc, Config{Mode: mode, PlainIO: plain}, nil)
	c := p.dial(t)
	wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
	if err := c.send(vc.send(k)); err != nil {
		t.Fatal(err)
	}
	errTag := k.errClient
	if vc.side == "server" {
		errTag = k.errServer
	}
	switch mode {
	case Kill:
		// An event that ends the session is answered as a request is
		// (the client may be waiting for a reply), on every wire.
		m, err := c.next()
		if err != nil {
			t.Fatalf("want the error reply, got %v", err)
		}
		if !isErrorReply(m, errTag) {
			t.Fatalf("want the %s error reply, got %s %v", errTag, m.Kind, m.Term)
		}
		err = c.closed()
		if e := closeFailure(err); e != nil {
			t.Fatal(e)
		}
		if tr == WebSocket {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text == "" {
				t.Errorf("want close 1008 with a reason, got %v", err)
			}
		}
	case Reject, Monitor:
		next := vc.rejectNext
		if mode == Monitor {
			next = vc.monitorNext
		}
		switch {
		case next == "error-reply":
			m, err := c.next()
			if err != nil || !isErrorReply(m, errTag) {
				t.Fatalf("want the %s error reply, got %v %v", errTag, m.Term, err)
			}
		case strings.HasPrefix(next, "event:"):
			m, err := c.next()
			if err != nil || m.Kind != wrappers.Event || !term.Equal(m.Term, T(strings.TrimPrefix(next, "event:"))) {
				t.Fatalf("want event %s, got %s %v %v", next, m.Kind, m.Term, err)
			}
			m, _ = c.next()
			wantReply(t, m, "ok")
		case next != "":
			m, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			wantReply(t, m, next)
		}
		// The session goes on in the state it was in.
		wantReply(t, call(t, c, k, "{add, 5}"), "{ok, 6}")
		wantReply(t, call(t, c, k, "bye"), "bye")
	}

	recs := p.logs.wait(t, "contract violation", 1)
	r := recs[0]
	wantAction := map[Mode]action{Kill: actionKilled, Reject: vc.rejectAction, Monitor: actionForwarded}[mode]
	if field(r, "side") != vc.side || field(r, "kind") != vc.kind || field(r, "action") != string(wantAction) ||
		field(r, "contract") != "counter" || field(r, "vsn") != "1.0" || field(r, "states") != `["start"]` ||
		field(r, "explanation") == "" || field(r, "session") == "" || field(r, "client") == "" || field(r, "service") == "" {
		t.Errorf("violation record %v: want side %s, kind %s, action %s, states [start]", r, vc.side, vc.kind, wantAction)
	}
	if !strings.Contains(field(r, "message"), vc.forward) {
		t.Errorf("violation record message %q does not show %q", field(r, "message"), vc.forward)
	}
	if vc.kind != "bad-event" && field(r, "expected") == "[]" {
		t.Errorf("violation record without expected types: %v", r)
	}
	ends := p.logs.wait(t, "session end", 1)
	wantReason := "finished"
	if mode == Kill {
		wantReason = "violation"
	}
	if got := field(ends[0], "reason"); got != wantReason {
		t.Errorf("session end reason %s, want %s", got, wantReason)
	}
	if n := len(p.logs.find("contract violation")); n != 1 {
		t.Errorf("%d violation records, want 1:\n%s", n, p.logs)
	}

	// What reached the other side.
	var other string
	if vc.side == "client" {
		_, other = svc.conn(t, 0).transcript()
	} else {
		_, other = c.transcript()
	}
	reached := strings.Contains(other, string(vc.raw(k)))
	if mode == Monitor && !reached {
		t.Errorf("monitor mode did not forward the message: other side got %q", other)
	}
	if mode != Monitor && reached {
		t.Errorf("%s mode let the illegal message through: other side got %q", mode, other)
	}
}

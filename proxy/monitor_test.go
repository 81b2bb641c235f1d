package proxy

import (
	"bytes"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

// TestMonitorPipelinedBadReply: in monitor mode an illegal reply while
// another request is in flight (ordinary pipelining) is forwarded and
// reported; the reply behind it is forwarded unchecked, and checking goes
// on afterwards. It used to end the session with the error reply in place
// of the service's reply.
func TestMonitorPipelinedBadReply(t *testing.T) {
	k := jsonKit
	svc := startService(t, TCP, k, counterService(k, false))
	p := startProxy(t, svc, Config{Mode: Monitor}, nil)
	c := p.dial(t)
	batch := append(k.frame(T("{bad, 1}")), k.frame(T("{add, 1}"))...)
	if err := c.send(batch); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{ok, "oops"}`, "{ok, 2}"} {
		m, err := c.next()
		if err != nil {
			t.Fatalf("want %s, got %v", want, err)
		}
		wantReply(t, m, want)
	}
	wantReply(t, call(t, c, k, "{add, 5}"), "{ok, 6}")
	// Checking resumed: an illegal request is reported (and forwarded).
	wantReply(t, call(t, c, k, "{nope, 1}"), `{error, "unknown request"}`)
	recs := p.logs.wait(t, "contract violation", 2)
	if len(recs) != 2 || field(recs[0], "kind") != "bad-reply" || field(recs[1], "kind") != "bad-request" {
		t.Fatalf("violations %v", recs)
	}
	for _, r := range recs {
		if field(r, "action") != string(actionForwarded) {
			t.Errorf("record %v, want action forwarded", r)
		}
	}
	if ends := p.logs.find("session end"); len(ends) != 0 {
		t.Errorf("the session ended: %v", ends)
	}
	if _, got := c.transcript(); bytes.Contains([]byte(got), []byte("BrokeContract")) {
		t.Errorf("monitor mode altered the traffic: %q", got)
	}
}

// ambiguousCon leaves a session in two states after go.
const ambiguousCon = `+name("amb").
+state start x go -> ok x one | ok x two.
+state one x ping -> pong x one.
+state two x ping -> pong x two.
`

// TestMonitorUnsyncedBadReply: after an illegal reply in monitor mode
// with no way to tell the next state (two possible states, a wire that
// announces none), the session goes on unchecked rather than ending.
func TestMonitorUnsyncedBadReply(t *testing.T) {
	k := jsonKit
	svc := startService(t, TCP, k, func(c *wconn) {
		for {
			m, err := c.next()
			if err != nil {
				return
			}
			r := map[string]string{"go": "ok", "ping": "bang"}[m.Term.String()]
			if r == "" {
				r = "whatever"
			}
			if c.send(k.frame(term.Atom(r))) != nil {
				return
			}
		}
	})
	p := startProxy(t, svc, Config{Mode: Monitor, Contract: compile(t, ambiguousCon)}, nil)
	c := p.dial(t)
	wantReply(t, call(t, c, k, "go"), "ok")
	wantReply(t, call(t, c, k, "ping"), "bang")
	wantReply(t, call(t, c, k, "{anything, 1}"), "whatever")
	wantReply(t, call(t, c, k, "ping"), "bang")
	recs := p.logs.wait(t, "contract violation", 1)
	if len(recs) != 1 || field(recs[0], "kind") != "bad-reply" || field(recs[0], "action") != string(actionForwarded) {
		t.Fatalf("violations %v, want the one bad reply, forwarded", recs)
	}
	if ends := p.logs.find("session end"); len(ends) != 0 {
		t.Errorf("the session ended: %v", ends)
	}
}

package proxy

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// realMetaService plays a ubf 2.x server as it really behaves on the wire
// (observed against ubf's Erlang server, /work/ubf-real): its contract
// manager answers 'info'$ in the meta service with its own report
// {{serverBrokeContract, {info, "..."}, [{prim,1,1,string}]}, start}$, and
// refuses a request its contract does not allow with
// {{clientBrokeContract, Req, Expected}, State}$ (here {add, 7}); for
// {add, 8} it sends a report naming another request than the one it
// answers, which is no self-report.
func realMetaService(k kit) func(c *wconn) {
	return func(c *wconn) {
		out := func(t term.Term) { _ = c.send(k.frame(t)) }
		out(T(`{'ubf1.0', "meta_server", "type 'info'$\n"}`))
		for {
			m, err := c.next()
			if err != nil {
				return
			}
			req := m.Term
			switch {
			case term.Equal(req, T("info")):
				out(T(`{{serverBrokeContract, {info, "I am a meta server"}, [{prim, 1, 1, string}]}, start}`))
			case term.Equal(req, T(`{startSession, "counter", []}`)):
				out(T(`{{ok, ok}, start}`))
			case term.Equal(req, T("{add, 7}")):
				out(T(`{{clientBrokeContract, {add, 7}, []}, start}`))
			case term.Equal(req, T("{add, 8}")):
				out(T(`{{clientBrokeContract, {add, 9}, []}, start}`))
			case term.Equal(req, T("ping")):
				out(T(`{pong, start}`))
			default:
				return
			}
		}
	}
}

// TestUBFSelfReports: a ubf server's own reports in place of a reply are
// forwarded and recorded. In reject and monitor modes the session goes on;
// in kill mode it ends once the report is out, with a record naming the
// side the report names, except in the meta phase, where every ubf 2.x
// server reports its own info reply.
func TestUBFSelfReports(t *testing.T) {
	k := ubfKit
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			svc := startService(t, TCP, k, realMetaService(k))
			p := startProxy(t, svc, Config{Wire: ubf.Wire{Meta: true}, Mode: mode}, nil)
			c := p.dial(t)
			if g, err := c.next(); err != nil || g.Kind != wrappers.Greeting {
				t.Fatalf("want the greeting, got %v %v", g.Term, err)
			}
			wantReply(t, call(t, c, k, "info"), `{serverBrokeContract, {info, "I am a meta server"}, [{prim, 1, 1, string}]}`)
			wantReply(t, call(t, c, k, `{startSession, "counter", []}`), "{ok, ok}")
			wantReply(t, call(t, c, k, "{add, 7}"), `{clientBrokeContract, {add, 7}, []}`)
			action := string(actionForwarded)
			if mode == Kill {
				action = string(actionKilled)
				wantClosed(t, c)
				if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "violation" {
					t.Errorf("session end %v", end)
				}
				// The service's report was the error reply: no other.
				if _, got := c.transcript(); strings.Count(got, "clientBrokeContract") != 1 {
					t.Errorf("the client got %q", got)
				}
			} else {
				wantReply(t, call(t, c, k, "ping"), "pong")
			}
			recs := p.logs.wait(t, "contract violation", 2)
			for i, want := range []struct{ side, kind, contract, action string }{
				{"server", "service-reported", "ubf_meta", string(actionForwarded)},
				{"client", "service-refused", "counter", action}} {
				if field(recs[i], "side") != want.side || field(recs[i], "kind") != want.kind || field(recs[i], "action") != want.action ||
					field(recs[i], "contract") != want.contract {
					t.Errorf("record %d: %v", i, recs[i])
				}
			}
		})
	}
}

// TestUBFNotASelfReport: a report naming another request than the one it
// answers is the service's reply like any other, and breaks the contract.
func TestUBFNotASelfReport(t *testing.T) {
	k := ubfKit
	svc := startService(t, TCP, k, realMetaService(k))
	p := startProxy(t, svc, Config{Wire: ubf.Wire{Meta: true}}, nil)
	c := p.dial(t)
	if g, err := c.next(); err != nil || g.Kind != wrappers.Greeting {
		t.Fatalf("want the greeting, got %v %v", g.Term, err)
	}
	wantReply(t, call(t, c, k, `{startSession, "counter", []}`), "{ok, ok}")
	m := call(t, c, k, "{add, 8}")
	if !isErrorReply(m, k.errServer) {
		t.Fatalf("got %v", m.Term)
	}
	// ubf's shape: {serverBrokeContract, {Req, Reply}, Expects}.
	if tup, ok := m.Term.(term.Tuple); !ok || len(tup) != 3 || !term.Equal(tup[1], T(`{{add, 8}, {clientBrokeContract, {add, 9}, []}}`)) {
		t.Errorf("error reply %v, want {serverBrokeContract, {Req, Reply}, _}", m.Term)
	}
	if v := p.logs.wait(t, "contract violation", 1)[0]; field(v, "kind") != "bad-reply" || field(v, "action") != string(actionKilled) {
		t.Errorf("record %v", v)
	}
}

// TestClientLeavesFirst: a ubf 2.x server ends the session at the end of
// its input, so a client that sends a request and closes at once (the
// real ubf_client does when it crashes) gets no reply; that is the
// client's leaving, not the service breaking the contract.
func TestClientLeavesFirst(t *testing.T) {
	for _, k := range kits {
		t.Run(k.name, func(t *testing.T) {
			svc := startService(t, TCP, k, func(c *wconn) {
				for {
					if _, err := c.next(); err != nil {
						return // no half-close: end at the end of input, unanswered
					}
				}
			})
			p := startProxy(t, svc, Config{}, nil)
			c := p.dial(t)
			if err := c.send(k.frame(T("{add, 1}"))); err != nil {
				t.Fatal(err)
			}
			if err := c.nc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			end := p.logs.wait(t, "session end", 1)[0]
			if field(end, "reason") != "client_left" {
				t.Errorf("session end %v", end)
			}
			if v := p.logs.find("contract violation"); len(v) != 0 {
				t.Errorf("violations: %v", v)
			}
			wantClosed(t, c)
		})
	}
}

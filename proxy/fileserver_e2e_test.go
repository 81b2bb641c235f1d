package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/contracts"
	"github.com/ubfproxy/ubfproxy/proxy/fileserver"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// TestFileServerOfTheTalk puts the proxy, with contracts/file.con, in front
// of the built-in file server of Joe Armstrong's talk (a ubf service): the
// talk's conversation passes, and the "silly" one (reading after close) is
// killed before the server sees the read.
func TestFileServerOfTheTalk(t *testing.T) {
	c := fileContract(t)
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) { testFileServer(t, c, mode) })
	}
}

// fileContract compiles contracts/file.con.
func fileContract(t *testing.T) *contract.Contract {
	t.Helper()
	src, err := contracts.FS.ReadFile("file.con")
	if err != nil {
		t.Fatal(err)
	}
	c, diags := contract.Compile("file.con", src, contract.Options{})
	if c == nil {
		t.Fatal(diags)
	}
	return c
}

func testFileServer(t *testing.T, c *contract.Contract, mode Mode) {
	var mu sync.Mutex
	var seen []string
	// holdClose is the proxy once the silly client's close is on its way.
	var holdClose atomic.Pointer[testProxy]
	addr, stop, err := fileserver.Listen(context.Background(), "127.0.0.1:0", fileserver.Config{
		OnRequest: func(req term.Term) {
			mu.Lock()
			seen = append(seen, req.String())
			mu.Unlock()
			// The server answers the silly client's close only once the
			// proxy has dealt with the read sent right behind it: else the
			// proxy may end the session at stop before it reads the read
			// (legal too, but not what this test is about). A fixed pause
			// here (50ms) was not always enough on a busy machine.
			if tag, _ := term.Tag(req); tag == "close" {
				if p := holdClose.Load(); p != nil {
					p.waitClientJudged()
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	svc := &service{kit: ubfKit, tr: TCP, addr: addr.String()}
	p := startProxy(t, svc, Config{Contract: c, Mode: mode}, nil)

	cl := p.dial(t)
	m := call(t, cl, ubfKit, `{open, "notes.txt", read}`)
	wantReply(t, m, "{ok, 1}")
	if m.NextState != "ready" {
		t.Errorf("announced state %q", m.NextState)
	}
	wantReply(t, call(t, cl, ubfKit, "{read_line, 1}"), `{ok, "Black boxes communicate with defined protocols."}`)
	wantReply(t, call(t, cl, ubfKit, "{close, 1}"), "true")
	wantClosed(t, cl) // the conversation reached stop
	p.logs.wait(t, "session end", 1)

	silly := p.dial(t)
	wantReply(t, call(t, silly, ubfKit, `{open, "notes.txt", read}`), "{ok, 1}")
	wantReply(t, call(t, silly, ubfKit, "{read_line, 1}"), `{ok, "Black boxes communicate with defined protocols."}`)
	// The talk's silly client: it closes, and reads without waiting for
	// the close's reply.
	holdClose.Store(p)
	if err := silly.send(append(ubfKit.frame(T("{close, 1}")), ubfKit.frame(T("{read_line, 1}"))...)); err != nil {
		t.Fatal(err)
	}
	m, err = silly.next()
	if err != nil {
		t.Fatal(err)
	}
	wantReply(t, m, "true")
	if mode != Monitor {
		if m, err := silly.next(); err != nil || !isErrorReply(m, "clientBrokeContract") {
			t.Fatalf("want clientBrokeContract, got %v %v", m.Term, err)
		}
	}
	wantClosed(t, silly)
	v := p.logs.wait(t, "contract violation", 1)[0]
	want := map[Mode]action{Kill: actionKilled, Reject: actionRejected, Monitor: actionForwarded}[mode]
	if field(v, "contract") != "file_server" || field(v, "states") != `["stop"]` || field(v, "message") != "{read_line, 1}" ||
		field(v, "kind") != "after-end" || field(v, "action") != string(want) {
		t.Errorf("violation record %v", v)
	}
	ends := p.logs.wait(t, "session end", 2)
	wantEnd := map[Mode]string{Kill: "violation", Reject: "finished", Monitor: "finished"}[mode]
	if field(ends[1], "reason") != wantEnd {
		t.Errorf("session end %v, want reason %s", ends[1], wantEnd)
	}
	if mode == Monitor {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	reads := 0
	for _, r := range seen {
		if r == "{read_line, 1}" {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("the file server saw %d reads (%v), want 2: the read after close must not reach it", reads, seen)
	}
}

// TestFileServerStartPlugin: the file server greeting with its service's
// name, as a ubf 2.x server started with startplugin does; the proxy, in
// ubf's meta mode, takes the greeting to mean the session is inside
// file_server already and checks the talk's conversation against
// contracts/file.con from the first request.
func TestFileServerStartPlugin(t *testing.T) {
	c := fileContract(t)
	addr, stop, err := fileserver.Listen(context.Background(), "127.0.0.1:0", fileserver.Config{Greeting: c.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	svc := &service{kit: ubfKit, tr: TCP, addr: addr.String()}
	p := startProxy(t, svc, Config{Contract: c, Wire: ubf.Wire{Meta: true}}, nil)
	cl := p.dial(t)
	if g, err := cl.next(); err != nil || g.Kind != wrappers.Greeting {
		t.Fatalf("want the greeting, got %v %v", g.Term, err)
	}
	wantReply(t, call(t, cl, ubfKit, `{open, "notes.txt", read}`), "{ok, 1}")
	wantReply(t, call(t, cl, ubfKit, "{read_line, 1}"), `{ok, "Black boxes communicate with defined protocols."}`)
	if v := p.logs.find("contract violation"); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
	// The file contract, not the meta one, judges a bad request.
	if m := call(t, cl, ubfKit, "{read_line, 9, 9}"); !isErrorReply(m, ubfKit.errClient) {
		t.Fatalf("got %v", m.Term)
	}
	if v := p.logs.wait(t, "contract violation", 1)[0]; field(v, "contract") != c.Name || field(v, "states") != `["ready"]` {
		t.Errorf("violation record %v", v)
	}
}

// waitClientJudged waits, for up to ioTimeout, until the client reader of
// the proxy's open session has dealt with a request read while another was
// in flight: it holds it for the reply (kill mode, and reject mode when the
// reply decides), or it reported it as a violation (monitor mode, and
// reject mode when every outcome makes it one).
func (p *testProxy) waitClientJudged() {
	for deadline := time.Now().Add(ioTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if len(p.logs.find("contract violation")) > 0 {
			return
		}
		p.srv.mu.Lock()
		open := make([]*session, 0, len(p.srv.sessions))
		for _, ss := range p.srv.sessions {
			open = append(open, ss)
		}
		p.srv.mu.Unlock()
		for _, ss := range open {
			ss.mu.Lock()
			holds := ss.waiting
			ss.mu.Unlock()
			if holds {
				return
			}
		}
	}
}

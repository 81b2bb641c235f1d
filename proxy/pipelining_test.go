package proxy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestPipelining: the json wire lets requests overlap (up to MaxPending);
// replies come back in order, and in reject mode an error reply takes the
// rejected request's place among them.
func TestPipelining(t *testing.T) {
	EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		for _, mode := range []Mode{Kill, Reject} {
			t.Run(mode.String(), func(t *testing.T) {
				svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
				p := startProxy(t, svc, Config{Mode: mode, PlainIO: plain, Limits: Limits{MaxPending: 4}}, nil)
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
	})
}

// TestPipelinedRequestMadeIllegal: a request pipelined behind one whose
// reply may lead where it is not legal is held until that reply has come:
// kill and reject modes then judge it in the state the reply led to, so it
// never reaches the service (kill: the reply, the error reply, the close;
// reject: the error reply in its place). Monitor mode never holds: it
// forwards it, reports it when the reply makes it illegal, and forwards its
// reply unchecked.
func TestPipelinedRequestMadeIllegal(t *testing.T) {
	const loginCon = `+name("login").
+state start x login -> ok x ready | denied x start.
+state ready x {add, integer()} -> {ok, integer()} x ready.
`
	EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		for _, mode := range modes {
			t.Run(mode.String(), func(t *testing.T) {
				var adds atomic.Int32
				// The reply to login must come after the proxy read the
				// request pipelined behind it. The hook sees that request
				// before the proxy handles it; monitor mode then forwards it,
				// and the service waits for it there, so that the reply finds
				// it handled. Kill and reject mode hold it, which nothing
				// outside shows; they judge it in start either way.
				pipelined := make(chan struct{})
				var seen sync.Once
				hook := func(_ uint64, side wrappers.Side, m wrappers.Message) {
					if side == wrappers.Client && term.Equal(m.Term, T("{add, 1}")) {
						seen.Do(func() { close(pipelined) })
					}
				}
				svc := startService(t, TCP, jsonKit, func(c *wconn) {
					first := true
					for {
						m, err := c.next()
						if err != nil {
							return
						}
						if !term.Equal(m.Term, T("login")) {
							adds.Add(1)
							_ = c.send(jsonKit.frame(T("{ok, 1}")))
							continue
						}
						select {
						case <-pipelined:
						case <-time.After(ioTimeout):
						}
						if first && mode == Monitor {
							if _, err := c.next(); err != nil { // {add, 1}, forwarded
								return
							}
							adds.Add(1)
							_ = c.send(append(jsonKit.frame(T("denied")), jsonKit.frame(T("{ok, 1}"))...))
						} else {
							_ = c.send(jsonKit.frame(T("denied")))
						}
						first = false
					}
				})
				p := startProxy(t, svc, Config{Mode: mode, PlainIO: plain, Contract: compile(t, loginCon)}, hook)
				c := p.dial(t)
				if err := c.send(append(jsonKit.frame(T("login")), jsonKit.frame(T("{add, 1}"))...)); err != nil {
					t.Fatal(err)
				}
				m, err := c.next()
				if err != nil {
					t.Fatal(err)
				}
				wantReply(t, m, "denied")
				m, err = c.next()
				if err != nil {
					t.Fatal(err)
				}
				if mode == Monitor {
					wantReply(t, m, "{ok, 1}") // the service's answer, unchecked
				} else if !isErrorReply(m, jsonKit.errClient) {
					t.Fatalf("want the error reply, got %v", m.Term)
				}
				if mode == Kill {
					wantClosed(t, c)
				} else {
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
				want := map[Mode]action{Kill: actionKilled, Reject: actionRejected, Monitor: actionForwarded}[mode]
				kind := map[Mode]string{Kill: "bad-request", Reject: "bad-request", Monitor: "pipelined-request"}[mode]
				if field(v, "kind") != kind || field(v, "side") != "client" || field(v, "message") != "{add, 1}" || field(v, "action") != string(want) {
					t.Errorf("violation %v", v)
				}
				if n := len(p.logs.find("contract violation")); n != 1 {
					t.Errorf("%d violation records:\n%s", n, p.logs)
				}
				if n, want := adds.Load(), map[Mode]int32{Monitor: 1}[mode]; n != want {
					t.Errorf("the service executed {add, 1} %d times, want %d", n, want)
				}
			})
		}
	})
}

package proxy_test

// Pipelining against the contract, end to end on loopback: a request the
// client pipelines behind one whose reply decides whether it is legal is
// held until that reply has come, so a request the contract makes illegal
// never reaches the service — shown for each wire with a service that
// captures what it executes, and with the reproduction against a
// real redis-server.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	wjson "github.com/ubfproxy/ubfproxy/wrappers/json"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// vaultCon is the shape in ubf and json terms: a login whose reply
// decides whether the session may write.
const vaultCon = `+name("vault").
+state start x {auth, string()} -> ok x ready | denied x start.
+state ready x {put, string()} -> ok x ready.
`

// capturing is a service that records every request it executes and
// answers each with answer(request).
type capturing struct {
	addr   string
	mu     sync.Mutex
	seen   []string
	answer func(term.Term) []byte
}

func startCapturing(t *testing.T, w wrappers.Wire, answer func(term.Term) []byte) *capturing {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &capturing{addr: ln.Addr().String(), answer: answer}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				dec := w.NewSession(wrappers.Options{}).ClientDecoder(c)
				for {
					m, err := dec.Next()
					if err != nil {
						return
					}
					s.mu.Lock()
					s.seen = append(s.seen, m.Term.String())
					s.mu.Unlock()
					if _, err := c.Write(s.answer(m.Term)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *capturing) executed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// pipelineWire is what the test needs of one wire: its contract, how a
// client writes the two requests, and how the service answers.
type pipelineWire struct {
	name     string
	wire     wrappers.Wire
	contract func(testing.TB) *contract.Contract
	// login and write are the two requests as the client sends them.
	login, write []byte
	answer       func(term.Term) []byte
	// denied is in the bytes of the reply to login; errTag in the error
	// reply's.
	denied, errTag string
}

func ubfFrame(t term.Term) []byte {
	b, err := ubf.AppendEncode(nil, t)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func jsonFrame(t term.Term) []byte {
	b, err := wjson.AppendEncode(nil, t)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// vaultAnswer denies every login, after a pause that lets the pipelined
// request reach the proxy first, and accepts every write. The pause is
// deliberate and no wait for a condition: a test outside the package sees
// nothing of the proxy holding a request. It makes the held path the one
// these tests take; if the reply came first they would still pass (the
// write is judged in start either way), and TestPipelinedRequestMadeIllegal
// waits for the proxy's own hook instead.
func vaultAnswer(frame func(term.Term) []byte, reply func(string) term.Term) func(term.Term) []byte {
	return func(req term.Term) []byte {
		if tu, ok := req.(term.Tuple); ok && len(tu) > 0 && term.Equal(tu[0], term.Atom("auth")) {
			time.Sleep(30 * time.Millisecond)
			return frame(reply("denied"))
		}
		return frame(reply("ok"))
	}
}

func vaultContract(tb testing.TB) *contract.Contract {
	c, diags := contract.Compile("vault.con", []byte(vaultCon), contract.Options{})
	if c == nil || diags.HasErrors() {
		tb.Fatalf("vault.con: %v", diags)
	}
	return c
}

var pipelineWires = []pipelineWire{
	{
		name: "ubf", wire: ubf.Wire{}, contract: vaultContract,
		login: ubfFrame(term.MustParse(`{auth, "wrong"}`)), write: ubfFrame(term.MustParse(`{put, "pwned"}`)),
		answer: vaultAnswer(ubfFrame, func(r string) term.Term {
			next := "ready"
			if r == "denied" {
				next = "start"
			}
			return term.Tuple{term.Atom(r), term.Atom(next)}
		}),
		denied: "denied", errTag: "clientBrokeContract",
	},
	{
		name: "json", wire: wjson.Wire{}, contract: vaultContract,
		login: jsonFrame(term.MustParse(`{auth, "wrong"}`)), write: jsonFrame(term.MustParse(`{put, "pwned"}`)),
		answer: vaultAnswer(jsonFrame, func(r string) term.Term { return term.Atom(r) }),
		denied: "denied", errTag: "clientBrokeContract",
	},
	{
		name: "resp", wire: resp.Wire{}, contract: redisContract,
		login: []byte(realservice.Command("AUTH", "wrongpassword")), write: []byte(realservice.Command("SET", "pwned", "yes")),
		answer: func(req term.Term) []byte {
			if tu, ok := req.(term.Tuple); ok && term.Equal(tu[0], term.Atom("auth")) {
				time.Sleep(30 * time.Millisecond) // as in vaultAnswer
				return []byte("-WRONGPASS invalid username-password pair or user is disabled.\r\n")
			}
			return []byte("+OK\r\n")
		},
		denied: "WRONGPASS", errTag: "ERR contract",
	},
}

// TestPipelinedIllegalNeverExecuted: a failed login and a write sent in
// one packet. The write is legal only if the login succeeds, so the proxy
// holds it until the login's reply, then judges it in the state that reply
// led to: it never reaches the service. Kill mode delivers the login's
// reply, then the error reply, then closes; reject mode answers the write
// with the error reply and goes on. The record says what happened.
func TestPipelinedIllegalNeverExecuted(t *testing.T) {
	proxy.EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		for _, pw := range pipelineWires {
			for _, mode := range []proxy.Mode{proxy.Kill, proxy.Reject} {
				t.Run(pw.name+"/"+mode.String(), func(t *testing.T) {
					t.Parallel()
					svc := startCapturing(t, pw.wire, pw.answer)
					log := &recordLog{}
					_, addr := serveProxy(t, proxy.Config{Contract: pw.contract(t), Upstream: svc.addr, Wire: pw.wire,
						Mode: mode, PlainIO: plain, Logger: jsonLogger(log)})
					c, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					if _, err := c.Write(append(bytes.Clone(pw.login), pw.write...)); err != nil {
						t.Fatal(err)
					}
					dec := pw.wire.NewSession(wrappers.Options{}).ServerDecoder(c)
					_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
					for i, want := range []string{pw.denied, pw.errTag} {
						m, err := dec.Next()
						if err != nil {
							t.Fatalf("reply %d: %v", i, err)
						}
						if got := string(m.Raw); !strings.Contains(got, want) {
							t.Fatalf("reply %d is %q, want it to hold %q", i, got, want)
						}
					}
					wantAction := "rejected"
					if mode == proxy.Kill {
						wantAction = "killed"
						if m, err := dec.Next(); !errors.Is(err, io.EOF) {
							t.Fatalf("after the error reply: %q %v, want the close", m.Raw, err)
						}
					}
					r := log.wait(t, "contract violation", c.LocalAddr().String(), ioTimeout)
					if r["kind"] != "bad-request" || r["action"] != wantAction || r["side"] != "client" {
						t.Errorf("record %v", r)
					}
					if got := svc.executed(); len(got) != 1 {
						t.Errorf("the service executed %q; want the login only", got)
					}
				})
			}
		}
	})
}

// TestPipelinedAuthAgainstRedis is the reproduction against a real
// redis-server: AUTH with a wrong password and SET in one write. Through
// the proxy the SET is never executed, in kill and in reject mode.
func TestPipelinedAuthAgainstRedis(t *testing.T) {
	proxy.EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		redis := realservice.Redis(t, e2eRedisPassword)
		for _, mode := range []proxy.Mode{proxy.Kill, proxy.Reject} {
			t.Run(mode.String(), func(t *testing.T) {
				var logs realservice.Output
				_, addr := serveProxy(t, proxy.Config{Contract: redisContract(t), Upstream: redis, Wire: resp.Wire{}, Mode: mode, PlainIO: plain,
					Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				key := fmt.Sprintf("pwned-%s-%v", mode, plain)
				if _, err := c.Write([]byte(realservice.Command("AUTH", "wrongpassword") + realservice.Command("SET", key, "yes"))); err != nil {
					t.Fatal(err)
				}
				dec := resp.Wire{}.NewSession(wrappers.Options{}).ServerDecoder(c)
				_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
				for i, want := range []string{"WRONGPASS", "ERR contract"} {
					m, err := dec.Next()
					if err != nil {
						t.Fatalf("reply %d: %v", i, err)
					}
					if !strings.Contains(string(m.Raw), want) {
						t.Fatalf("reply %d is %q, want %q in it", i, m.Raw, want)
					}
				}
				direct := realservice.DialRESP(t, redis)
				direct.Send(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("GET", key))
				direct.Await("\r\n", 2)
				if got := direct.Received(); got != "+OK\r\n$-1\r\n" {
					t.Fatalf("GET %s directly: %q; the SET reached Redis", key, got)
				}
				if !strings.Contains(logs.String(), `"action":"`+map[proxy.Mode]string{proxy.Kill: "killed", proxy.Reject: "rejected"}[mode]+`"`) {
					t.Errorf("no truthful record:\n%s", logs.String())
				}
			})
		}
	})
}

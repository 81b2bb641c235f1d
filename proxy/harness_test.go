package proxy

// The test harness: a scripted service and clients speaking the ubf or json
// wire over TCP or WebSocket on 127.0.0.1, the proxy between them, and the
// proxy's JSON log captured for assertions. Every wait is bounded.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/proxy/proxytest"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	wjson "github.com/ubfproxy/ubfproxy/wrappers/json"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// ioTimeout bounds every read and write of a test's client or service,
// and every wait of the harness. It is a bound for a test that went wrong,
// never what a passing test waits for, so it is generous: a test that
// bursts hundreds of sessions at once under -race on a starved machine
// saw single round trips take longer than the 5s this used to be.
const ioTimeout = 20 * time.Second

// counterCon is the contract of the scripted service. Its requests say what
// the service does: add answers correctly, bad breaks the contract, slow
// answers late, hold answers when the test lets it (heldCounterService),
// crash closes without answering, events sends events first, badevent
// sends an event the contract does not allow.
const counterCon = `+name("counter").
+vsn("1.0").

+state start x {add, integer()} -> {ok, integer()} x start.
+state start x {bad, integer()} -> {ok, integer()} x start.
+state start x {slow, integer()} -> {ok, integer()} x start.
+state start x {hold, integer()} -> {ok, integer()} x start.
+state start x {crash, integer()} -> {ok, integer()} x start.
+state start x {events, integer()} -> ok x start.
+state start x {badevent, integer()} -> ok x start.
+state start x bye -> bye x stop.
+anystate ping -> pong.
+event start out {tick, integer()}.
+event start in {note, string()}.
`

// counterV2 drops add: a session started under it may not add.
const counterV2 = `+name("counter").
+vsn("2.0").

+state start x {mul, integer()} -> {ok, integer()} x start.
+state start x bye -> bye x stop.
+anystate ping -> pong.
`

func compile(t testing.TB, src string) *contract.Contract {
	t.Helper()
	c, diags := contract.Compile("counter.con", []byte(src), contract.Options{})
	if c == nil || diags.HasErrors() {
		t.Fatalf("contract does not compile: %v", diags)
	}
	return c
}

// kit is what a test needs to speak one wire format.
type kit struct {
	name     string
	wire     wrappers.Wire
	frame    func(t term.Term) []byte
	reply    func(r term.Term, next string) term.Term
	eventOut func(e term.Term) term.Term
	eventIn  func(e term.Term) term.Term
	// handmade is a frame for {add, 1} written as no encoder would, to
	// show that the proxy forwards bytes rather than re-encoding terms.
	handmade []byte
	// errTag finds the error reply's marker in the bytes a client got.
	errClient, errServer string
}

var ubfKit = kit{
	name: "ubf",
	wire: ubf.Wire{},
	frame: func(t term.Term) []byte {
		b, err := ubf.AppendEncode(nil, t)
		if err != nil {
			panic(err)
		}
		return append(b, '\n')
	},
	reply:     func(r term.Term, next string) term.Term { return term.Tuple{r, term.Atom(next)} },
	eventOut:  func(e term.Term) term.Term { return term.Tuple{term.Atom("event_out"), e} },
	eventIn:   func(e term.Term) term.Term { return term.Tuple{term.Atom("event_in"), e} },
	handmade:  []byte("  { 'add' ,\t1 } %a comment% $\n"),
	errClient: "clientBrokeContract", errServer: "serverBrokeContract",
}

var jsonKit = kit{
	name: "json",
	wire: wjson.Wire{},
	frame: func(t term.Term) []byte {
		b, err := wjson.AppendEncode(nil, t)
		if err != nil {
			panic(err)
		}
		return append(b, '\n')
	},
	reply:     func(r term.Term, _ string) term.Term { return r },
	eventOut:  func(e term.Term) term.Term { return term.Map{{Key: term.String("$E"), Value: e}} },
	eventIn:   func(e term.Term) term.Term { return term.Map{{Key: term.String("$E"), Value: e}} },
	handmade:  []byte(`{ "$T" : [ {"$A": "add"},   1 ] }` + "\r\n"),
	errClient: "clientBrokeContract", errServer: "serverBrokeContract",
}

var kits = []kit{ubfKit, jsonKit}
var transports = []Transport{TCP, WebSocket}

func T(s string) term.Term { return term.MustParse(s) }

// wconn is a test's end of a connection: the client's, or the service's.
type wconn struct {
	tr     Transport
	nc     net.Conn
	ws     *websocket.Conn
	dec    wrappers.Decoder
	newDec func(io.Reader) wrappers.Decoder

	mu        sync.Mutex
	sent, got bytes.Buffer

	// done is closed by close, so that a service holding an answer
	// (heldCounterService) lets go when the test ends.
	done      chan struct{}
	closeOnce sync.Once
}

func newWConn(tr Transport, nc net.Conn, ws *websocket.Conn, newDec func(io.Reader) wrappers.Decoder) *wconn {
	c := &wconn{tr: tr, nc: nc, ws: ws, newDec: newDec, done: make(chan struct{})}
	if nc != nil {
		c.dec = newDec(nc)
	}
	return c
}

func (c *wconn) send(raw []byte) error {
	c.mu.Lock()
	c.sent.Write(raw)
	c.mu.Unlock()
	if c.tr == WebSocket {
		_ = c.ws.SetWriteDeadline(time.Now().Add(ioTimeout))
		return c.ws.WriteMessage(websocket.TextMessage, raw)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := c.nc.Write(raw)
	return err
}

// next returns the next message that is not filler.
func (c *wconn) next() (wrappers.Message, error) {
	if c.tr == WebSocket {
		_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return wrappers.Message{}, err
		}
		c.mu.Lock()
		c.got.Write(data)
		c.mu.Unlock()
		dec := c.newDec(bytes.NewReader(data))
		for {
			m, err := dec.Next()
			if err != nil {
				return wrappers.Message{}, fmt.Errorf("decoding %q: %w", data, err)
			}
			if m.Kind != wrappers.Filler {
				return m, nil
			}
		}
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		m, err := c.dec.Next()
		if err != nil {
			return m, err
		}
		c.mu.Lock()
		c.got.Write(m.Raw)
		c.mu.Unlock()
		if m.Kind != wrappers.Filler {
			return m, nil
		}
	}
}

// closed reports whether the peer closed the connection (next gives an
// error), within ioTimeout.
func (c *wconn) closed() error {
	for {
		m, err := c.next()
		if err != nil {
			return err
		}
		if m.Kind != wrappers.Filler {
			return fmt.Errorf("got %s %v, want the connection closed", m.Kind, m.Term)
		}
	}
}

func (c *wconn) close() {
	c.closeOnce.Do(func() { close(c.done) })
	if c.ws != nil {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = c.ws.Close()
		return
	}
	_ = c.nc.Close()
}

func (c *wconn) transcript() (sent, got string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent.String(), c.got.String()
}

// service is a scripted service on 127.0.0.1.
type service struct {
	t     testing.TB
	tr    Transport
	kit   kit
	addr  string // what Config.Upstream takes
	ln    net.Listener
	hs    *http.Server
	mu    sync.Mutex
	conns []*wconn
	n     atomic.Int32
	wg    sync.WaitGroup
}

func startService(t testing.TB, tr Transport, k kit, handle func(c *wconn)) *service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &service{t: t, tr: tr, kit: k, ln: ln}
	serve := func(c *wconn) {
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.n.Add(1)
		defer c.close()
		handle(c)
	}
	if tr == WebSocket {
		s.addr = "ws://" + ln.Addr().String() + "/svc"
		up := websocket.Upgrader{}
		s.hs = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			sess := k.wire.NewSession(wrappers.Options{})
			serve(newWConn(WebSocket, nil, ws, sess.ClientDecoder))
		})}
		go func() { _ = s.hs.Serve(ln) }()
	} else {
		s.addr = ln.Addr().String()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				sess := k.wire.NewSession(wrappers.Options{})
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					serve(newWConn(TCP, nc, nil, sess.ClientDecoder))
				}()
			}
		}()
	}
	t.Cleanup(s.stop)
	return s
}

func (s *service) stop() {
	if s.hs != nil {
		_ = s.hs.Close()
	}
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
}

// conn returns the i-th connection the service accepted, waiting for it.
func (s *service) conn(t testing.TB, i int) *wconn {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		if len(s.conns) > i {
			c := s.conns[i]
			s.mu.Unlock()
			return c
		}
		s.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the service never got connection %d", i)
	return nil
}

// counterService answers the requests of counterCon; with meta it first
// plays ubf's meta service until {startSession, "counter", _}.
func counterService(k kit, meta bool) func(c *wconn) { return heldCounterService(k, meta, nil) }

// heldCounterService is counterService whose answer to {hold, N} waits
// until release is closed (or ioTimeout passes), so that a test knows the
// service has not answered yet whatever the machine's load.
func heldCounterService(k kit, meta bool, release <-chan struct{}) func(c *wconn) {
	return func(c *wconn) {
		state := "start"
		out := func(t term.Term) bool { return c.send(k.frame(t)) == nil }
		rep := func(r term.Term, next string) bool { return out(k.reply(r, next)) }
		inMeta := meta
		if meta {
			// The greeting's help text holds '$' and a newline: framing
			// must use the decoder, not a split. It names the meta
			// server, as ubf's serverhello does.
			out(T(`{'ubf1.0', "meta_server", "type 'info'$\n to know more"}`))
		}
		for {
			m, err := c.next()
			if err != nil {
				return
			}
			if m.Kind == wrappers.Event {
				continue
			}
			req := m.Term
			if inMeta {
				switch {
				case term.Equal(req, T("info")), term.Equal(req, T("description")):
					// As a real ubf 2.x server does: its contract manager
					// checks its own "..." against string() (a ubfstring
					// only), fails it, and sends its report instead.
					rep(T(`{serverBrokeContract, {`+req.String()+`, "I am a meta server"}, [{prim, 1, 1, string}]}`), "start")
				case term.Equal(req, T("services")):
					rep(term.List{term.String("counter")}, "start")
				case term.Equal(req, T("help")):
					rep(term.Binary("help text"), "start")
				case term.Equal(req, T("contract")):
					// The contract manager answers without a state.
					out(T(`{contract, {{name, "counter"}, {vsn, "1.0"}}}`))
				default:
					if name, ok := (ubf.Wire{}).StartRequest(req); ok && name == "counter" {
						inMeta = false
						rep(T("{ok, ok}"), "start")
					} else {
						rep(T("{error, noSuchService}"), "start")
					}
				}
				continue
			}
			tup, _ := req.(term.Tuple)
			var n int64
			var op string
			if len(tup) == 2 {
				a, _ := tup[0].(term.Atom)
				op = string(a)
				if i, ok := tup[1].(term.Integer); ok {
					n = i.Int64()
				}
			} else if a, ok := req.(term.Atom); ok {
				op = string(a)
			}
			switch op {
			case "add":
				next := state
				if n == 999 {
					next = "nowhere" // a state the contract does not have
				}
				rep(term.Tuple{term.Atom("ok"), term.Int(n + 1)}, next)
			case "bad":
				rep(term.Tuple{term.Atom("ok"), term.String("oops")}, state)
			case "slow":
				time.Sleep(time.Duration(n) * time.Millisecond)
				rep(term.Tuple{term.Atom("ok"), term.Int(n)}, state)
			case "hold":
				select {
				case <-release:
				case <-c.done: // the test ended
				case <-time.After(ioTimeout):
				}
				rep(term.Tuple{term.Atom("ok"), term.Int(n)}, state)
			case "crash":
				return
			case "events":
				for i := int64(0); i < n; i++ {
					if !out(k.eventOut(term.Tuple{term.Atom("tick"), term.Int(i)})) {
						return // the proxy closed: no flood goes on past the test
					}
				}
				rep(term.Atom("ok"), state)
			case "badevent":
				out(k.eventOut(term.Tuple{term.Atom("tock"), term.Int(n)}))
				rep(term.Atom("ok"), state)
			case "ping":
				rep(term.Atom("pong"), state)
			case "bye":
				rep(term.Atom("bye"), "stop")
				// Wait for the proxy to close: the conversation is over.
				_, _ = c.next()
				return
			default:
				rep(T(`{error, "unknown request"}`), state)
			}
		}
	}
}

// logBuf captures the proxy's JSON records.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) records() []map[string]any {
	l.mu.Lock()
	data := append([]byte(nil), l.buf.Bytes()...)
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			panic(fmt.Sprintf("log line is not JSON: %q: %v", sc.Bytes(), err))
		}
		out = append(out, m)
	}
	return out
}

// find returns the records with message msg.
func (l *logBuf) find(msg string) []map[string]any {
	var out []map[string]any
	for _, r := range l.records() {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// wait waits until n records with message msg exist and returns them.
func (l *logBuf) wait(t testing.TB, msg string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		rs := l.find(msg)
		if len(rs) >= n {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d %q records, have %d; log:\n%s", n, msg, len(rs), l.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testProxy is a running Server.
type testProxy struct {
	*proxytest.Server
	srv  *Server
	addr string // host:port
	tr   Transport
	kit  kit
	logs *logBuf
	// reads counts the proxy's reads by the path they took (watchReads).
	reads *readCounts
}

// startProxy runs a Server for cfg (Wire, Transport, Upstream and Logger
// are filled in from the service when unset), whose reads are watched
// (watchReads).
func startProxy(t testing.TB, svc *service, cfg Config, hook func(uint64, wrappers.Side, wrappers.Message)) *testProxy {
	t.Helper()
	if cfg.Contract == nil {
		cfg.Contract = compile(t, counterCon)
	}
	if cfg.Wire == nil {
		cfg.Wire = svc.kit.wire
	}
	cfg.Transport = svc.tr
	if cfg.Upstream == "" {
		cfg.Upstream = svc.addr
	}
	logs := &logBuf{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(testIO(cfg))
	if err != nil {
		t.Fatal(err)
	}
	srv.testHook = hook
	reads := watchReads(t, srv)
	ps := proxytest.Start(t, srv)
	return &testProxy{Server: ps, srv: srv, addr: ps.Addr, tr: svc.tr, kit: svc.kit, logs: logs, reads: reads}
}

// dial connects a client to the proxy.
func (p *testProxy) dial(t testing.TB) *wconn {
	t.Helper()
	c, err := p.tryDial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// dialPair opens two sessions through p, each with one call answered: a
// victim for the test to end, and another that must go on meanwhile.
func (p *testProxy) dialPair(t testing.TB) (other, victim *wconn) {
	t.Helper()
	other = p.dial(t)
	wantReply(t, call(t, other, p.kit, "{add, 1}"), "{ok, 2}")
	victim = p.dial(t)
	wantReply(t, call(t, victim, p.kit, "{add, 1}"), "{ok, 2}")
	return other, victim
}

func (p *testProxy) tryDial() (*wconn, error) {
	sess := p.kit.wire.NewSession(wrappers.Options{})
	if p.tr == WebSocket {
		d := websocket.Dialer{HandshakeTimeout: ioTimeout}
		ws, resp, err := d.Dial("ws://"+p.addr+"/", nil)
		if err != nil {
			if resp != nil {
				return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
			}
			return nil, err
		}
		return newWConn(WebSocket, nil, ws, sess.ServerDecoder), nil
	}
	nc, err := net.DialTimeout("tcp", p.addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	return newWConn(TCP, nc, nil, sess.ServerDecoder), nil
}

// call sends req and returns the next message (reply or event).
func call(t testing.TB, c *wconn, k kit, req string) wrappers.Message {
	t.Helper()
	if err := c.send(k.frame(T(req))); err != nil {
		t.Fatalf("sending %s: %v", req, err)
	}
	m, err := c.next()
	if err != nil {
		t.Fatalf("reply to %s: %v", req, err)
	}
	return m
}

// wantReply checks that m is a reply equal to want.
func wantReply(t testing.TB, m wrappers.Message, want string) {
	t.Helper()
	if m.Kind != wrappers.Reply || !term.Equal(m.Term, T(want)) {
		t.Fatalf("got %s %v, want reply %s", m.Kind, m.Term, want)
	}
}

// isErrorReply reports whether the bytes of m are the wire's error reply
// with the tag.
func isErrorReply(m wrappers.Message, tag string) bool {
	return m.Term != nil && strings.Contains(m.Term.String(), tag)
}

func field(r map[string]any, k string) string {
	v, ok := r[k]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// way is a transport, and for TCP a read mode (Config.PlainIO).
type way struct {
	name  string
	tr    Transport
	plain bool
}

// ways are the transports, TCP once per read mode (ReadModes).
var ways = []way{{"tcp", TCP, false}, {"tcp/plain", TCP, true}, {"ws", WebSocket, false}}

// eachWay runs f once per way, as parallel subtests.
func eachWay(t *testing.T, f func(t *testing.T, tr Transport, plain bool)) {
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			f(t, w.tr, w.plain)
		})
	}
}

// eachCombo runs f for both transports and both wires, as parallel
// subtests.
func eachCombo(t *testing.T, f func(t *testing.T, tr Transport, k kit)) {
	combos(t, false, func(t *testing.T, tr Transport, k kit, _ bool) { f(t, tr, k) })
}

// eachComboRead is eachCombo and TCP read the plain way (plain is its
// Config.PlainIO) with the json wire, for the tests whose sessions
// exercise reading. One wire is enough for the plain way: what differs
// from inline is the reader's path, and the decoders meet it as they meet
// any blocking reader (their wrappers.ErrWouldBlock handling is inline's).
func eachComboRead(t *testing.T, f func(t *testing.T, tr Transport, k kit, plain bool)) {
	combos(t, true, f)
}

func combos(t *testing.T, withPlain bool, f func(t *testing.T, tr Transport, k kit, plain bool)) {
	for _, w := range ways {
		for _, k := range kits {
			if w.plain && (!withPlain || k.name != jsonKit.name) {
				continue
			}
			t.Run(w.name+"/"+k.name, func(t *testing.T) {
				t.Parallel()
				f(t, w.tr, k, w.plain)
			})
		}
	}
}

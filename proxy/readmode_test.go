package proxy

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// The two ways a TCP reader reads (Config.PlainIO): inside the
// runtime poller's callback where the kernel has TCP_INQ (inline), or
// with a blocking read outside it (plain). On Linux the plain way
// otherwise runs only after a failed wait, so the tests that exercise
// reading (pipelining, split frames, half-close, resets, parking, time-outs,
// hostile lengths) run once each way (EachReadMode, or eachWay and
// eachComboRead beside WebSocket), and every proxy the harness starts
// checks that its reads took its mode's path (WatchReads).

// ReadModes names the read modes, by their Config.PlainIO.
var ReadModes = []struct {
	Name  string
	Plain bool
}{{"inline", false}, {"plain", true}}

// EachReadMode runs f as one subtest per read mode, with the
// Config.PlainIO of that mode; f calls t.Parallel when it may run
// beside the other mode (a test that measures the process's memory or
// goroutines may not). It is exported for the tests of package proxy_test.
func EachReadMode(t *testing.T, f func(t *testing.T, plain bool)) {
	for _, m := range ReadModes {
		t.Run(m.Name, func(t *testing.T) { f(t, m.Plain) })
	}
}

// readCounts counts the reads of a Server's lending readers by the path
// they took.
type readCounts struct{ inline, plain atomic.Int64 }

// watchReads counts srv's reads (set before it serves) and checks, when
// tb ends, that they took the path srv's Config chose: with PlainIO
// none inside the poller's callback, and without it, where the kernel
// has TCP_INQ, some inside it whenever the proxy read at all (every
// session's first read is made there). So a test run once per read mode
// cannot test one path twice. Benchmarks read unwatched: the counters are
// shared by every session.
func watchReads(tb testing.TB, srv *Server) *readCounts {
	rc := &readCounts{}
	if _, ok := tb.(*testing.T); !ok {
		return rc
	}
	srv.reads.testHook = func(inline bool) {
		if inline {
			rc.inline.Add(1)
		} else {
			rc.plain.Add(1)
		}
	}
	tb.Cleanup(func() {
		in, pl := rc.inline.Load(), rc.plain.Load()
		switch {
		case srv.cfg.PlainIO && in > 0:
			tb.Errorf("with PlainIO, %d of %d reads were made inside the poller's callback", in, in+pl)
		case !srv.cfg.PlainIO && inlineReadsHere() && in == 0 && pl > 0:
			tb.Errorf("without PlainIO, on a kernel with TCP_INQ, none of %d reads was made inside the poller's callback", pl)
		}
	})
	return rc
}

// WatchReads is watchReads for the tests of package proxy_test.
func WatchReads(tb testing.TB, srv *Server) { watchReads(tb, srv) }

// WithTestIO is testIO for the tests of package proxy_test.
func WithTestIO(cfg Config) Config { return testIO(cfg) }

// testIO returns cfg with the way of serving sessions the environment asks
// the tests for: UBFPROXY_TEST_EVENT_LOOP=1 runs every TCP session the
// tests start on the event loop (Config.EventLoop), where the system has
// it and the test did not ask for PlainIO, so that the package's whole
// suite runs in both models (.ci/run runs it so too).
func testIO(cfg Config) Config {
	if os.Getenv("UBFPROXY_TEST_EVENT_LOOP") != "" && EventLoopAvailable && cfg.Transport == TCP && !cfg.PlainIO {
		cfg.EventLoop = true
	}
	return cfg
}

// inlineReadsHere reports whether readers here can read inside the
// poller's callback: the system reads sockets as file descriptors and the
// kernel has TCP_INQ. It asks the system, not newLendingReader, so that a
// reader that stopped reading inline is caught rather than excused.
var inlineReadsHere = sync.OnceValue(func() bool {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return false
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	return err == nil && canReadFD && enableINQ(raw)
})

// TestReadModes: each read mode reads the way it says, through a whole
// conversation: inline, where the kernel allows it, inside the poller's
// callback (and the plain way only after a failed wait, never here);
// plain, never inside it.
func TestReadModes(t *testing.T) {
	EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		if !plain && !inlineReadsHere() {
			t.Skip("this system has no TCP_INQ: readers read the plain way only")
		}
		svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
		// No parking: a kick would make an inline reader read once the plain way.
		p := startProxy(t, svc, Config{PlainIO: plain, Limits: Limits{ParkDelay: -1}}, nil)
		c := p.dial(t)
		for i := range 5 {
			wantReply(t, call(t, c, jsonKit, fmt.Sprintf("{add, %d}", i)), fmt.Sprintf("{ok, %d}", i+1))
		}
		in, pl := p.reads.inline.Load(), p.reads.plain.Load()
		if plain && (in != 0 || pl == 0) || !plain && (in == 0 || pl != 0) {
			t.Errorf("%d reads inside the poller's callback, %d the plain way", in, pl)
		}
	})
}

// unaskedWire's decoders return wrappers.ErrWouldBlock for {add, 13}
// instead of the message, although their reader never said a read would
// block: a decoder bug.
type unaskedWire struct{ wrappers.Wire }

type unaskedSession struct{ wrappers.Session }

type unaskedDecoder struct{ wrappers.Decoder }

func (w unaskedWire) NewSession(o wrappers.Options) wrappers.Session {
	return unaskedSession{w.Wire.NewSession(o)}
}

func (s unaskedSession) ClientDecoder(r io.Reader) wrappers.Decoder {
	return unaskedDecoder{s.Session.ClientDecoder(r)}
}

func (d unaskedDecoder) Next() (wrappers.Message, error) {
	m, err := d.Decoder.Next()
	if err == nil && term.Equal(m.Term, T("{add, 13}")) {
		return wrappers.Message{}, wrappers.ErrWouldBlock
	}
	return m, err
}

// TestUnaskedWouldBlock: a decoder that returns wrappers.ErrWouldBlock
// when its reader never answered a read with it ends its session with an
// internal error, in every read mode and over WebSocket, rather than stop
// the reader on a live session (the client would wait for its reply until
// the idle time-out) or wait for bytes that are already read; the other
// sessions go on.
func TestUnaskedWouldBlock(t *testing.T) {
	check := func(t *testing.T, tr Transport, plain bool) {
		svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
		p := startProxy(t, svc, Config{Wire: unaskedWire{jsonKit.wire}, PlainIO: plain}, nil)
		other, c := p.dialPair(t)
		if err := c.send(jsonKit.frame(T("{add, 13}"))); err != nil {
			t.Fatal(err)
		}
		wantClosed(t, c)
		var end map[string]any
		for _, e := range p.logs.wait(t, "session end", 1) {
			end = e
		}
		if field(end, "reason") != "error" || !strings.Contains(field(end, "error"), "returned wrappers.ErrWouldBlock, but its reader never answered a read with it") {
			t.Errorf("session end %v, want reason error naming the decoder's ErrWouldBlock", end)
		}
		wantReply(t, call(t, other, jsonKit, "{add, 7}"), "{ok, 8}")
	}
	EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		check(t, TCP, plain)
	})
	t.Run("ws", func(t *testing.T) {
		t.Parallel()
		check(t, WebSocket, false)
	})
}

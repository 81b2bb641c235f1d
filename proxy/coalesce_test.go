package proxy

// Tests of write coalescing: a pipelined batch read in one read leaves in
// one write, byte for byte, while a message with nothing behind it (or only
// part of a frame) is forwarded at once.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/proxy/proxytest"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// writeLog records the Write calls made on a connection.
type writeLog struct {
	mu     sync.Mutex
	writes [][]byte
}

func (l *writeLog) add(p []byte) {
	l.mu.Lock()
	l.writes = append(l.writes, bytes.Clone(p))
	l.mu.Unlock()
}

func (l *writeLog) get() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.writes...)
}

// loggedConn is a net.Conn whose writes are recorded (a vectored write
// as one write per buffer). It keeps CloseWrite, which the proxy uses for
// half-close.
type loggedConn struct {
	net.Conn
	log *writeLog
}

func (c loggedConn) Write(p []byte) (int, error) {
	c.log.add(p)
	return c.Conn.Write(p)
}

func (c loggedConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// loggedListener records the writes to every connection it accepts.
type loggedListener struct {
	net.Listener
	log *writeLog
}

func (l loggedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return loggedConn{c, l.log}, nil
}

// lineService is a service that answers the i-th line it reads (counting
// from 0) with reply(i), and writes the answers to the lines of one read in
// one write, so that its replies to a pipelined batch are a batch too. It
// records what it read and wrote.
type lineService struct {
	addr        string
	mu          sync.Mutex
	read, wrote bytes.Buffer
}

func startLineService(t *testing.T, reply func(i int) []byte) *lineService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lineService{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
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
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				lines := 0
				for {
					_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					var out []byte
					for _, b := range buf[:n] {
						if b == '\n' {
							out = append(out, reply(lines)...)
							lines++
						}
					}
					s.mu.Lock()
					s.read.Write(buf[:n])
					s.wrote.Write(out)
					s.mu.Unlock()
					if len(out) > 0 {
						if _, err := c.Write(out); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return s
}

func (s *lineService) transcript() (read, wrote []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.read.Bytes()), bytes.Clone(s.wrote.Bytes())
}

// coalesceProxy runs a proxy in front of svc (TCP, kit's wire) that records
// its writes to the service and to the client.
func coalesceProxy(t *testing.T, k kit, svc *lineService, mode Mode) (addr string, toService, toClient *writeLog) {
	t.Helper()
	toService, toClient = &writeLog{}, &writeLog{}
	srv, err := New(testIO(Config{
		Upstream: svc.addr, Wire: k.wire, Contract: compile(t, counterCon), Mode: mode,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Dial:   dialWrapped(func(c net.Conn) net.Conn { return loggedConn{c, toService} }),
	}))
	if err != nil {
		t.Fatal(err)
	}
	p := proxytest.NewUnstarted(t, srv)
	p.Listener = loggedListener{p.Listener, toClient}
	p.Start()
	return p.Addr, toService, toClient
}

// readLines reads from c until n lines have come, within timeout.
func readLines(t *testing.T, c net.Conn, n int, timeout time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var got []byte
	buf := make([]byte, 64<<10)
	for bytes.Count(got, []byte("\n")) < n {
		m, err := c.Read(buf)
		got = append(got, buf[:m]...)
		if err != nil {
			t.Fatalf("after %d of %d lines (%q): %v", bytes.Count(got, []byte("\n")), n, got, err)
		}
	}
	return got
}

func addFrame(k kit, i int) []byte   { return k.frame(T(fmt.Sprintf("{add, %d}", i))) }
func okFrame(k kit, i int) []byte    { return k.frame(k.reply(T(fmt.Sprintf("{ok, %d}", i)), "start")) }
func okReply(k kit) func(int) []byte { return func(i int) []byte { return okFrame(k, i+1) } }

// TestPipelinedBatchIsCoalesced: a batch of requests sent in one write
// reaches the service in a handful of writes rather than one per request,
// and so do the replies on their way back; both byte for byte.
func TestPipelinedBatchIsCoalesced(t *testing.T) {
	// Fewer than MaxPending (64 by default): past it the client reader
	// waits for replies and forwards what it reads as they free places,
	// in as many writes as the replies come in bits (14 for 100 requests
	// once at load 10), which is the limit's doing, not coalescing's.
	const n = 60
	svc := startLineService(t, okReply(jsonKit))
	addr, toService, toClient := coalesceProxy(t, jsonKit, svc, Kill)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var batch []byte
	for i := range n {
		batch = append(batch, addFrame(jsonKit, i)...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, c, n, ioTimeout)
	read, wrote := svc.transcript()
	if !bytes.Equal(read, batch) {
		t.Errorf("the service read\n%q\nwant\n%q", read, batch)
	}
	if !bytes.Equal(got, wrote) {
		t.Errorf("the client got\n%q\nthe service sent\n%q", got, wrote)
	}
	// One write each way when the batch is read in one read; every read
	// the kernel splits it into (more of them on a loaded machine) adds
	// one. One per message (100) means no coalescing.
	if w := len(toService.get()); w > n/10 {
		t.Errorf("%d requests reached the service in %d writes", n, w)
	}
	if w := len(toClient.get()); w > n/10 {
		t.Errorf("%d replies reached the client in %d writes", n, w)
	}
}

// TestPipelinedRejectKeepsOrder: in reject mode the error replies of
// illegal requests in a coalesced batch take their places among the
// replies, and only the legal requests reach the service, in order.
func TestPipelinedRejectKeepsOrder(t *testing.T) {
	const n = 60
	var legal []int
	var batch []byte
	for i := range n {
		if i%7 == 3 {
			batch = append(batch, jsonKit.frame(T("{sub, 1}"))...)
			continue
		}
		legal = append(legal, i)
		batch = append(batch, addFrame(jsonKit, i)...)
	}
	// The service's j-th request is {add, legal[j]}.
	svc := startLineService(t, func(j int) []byte { return okFrame(jsonKit, legal[j]+1) })
	addr, toService, _ := coalesceProxy(t, jsonKit, svc, Reject)
	c := sendBatch(t, addr, batch)
	got := readLines(t, c, n, ioTimeout)
	dec := jsonKit.wire.NewSession(wrappers.Options{}).ServerDecoder(bytes.NewReader(got))
	for i := range n {
		m, err := dec.Next()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if i%7 == 3 {
			if !isErrorReply(m, jsonKit.errClient) {
				t.Fatalf("reply %d: got %v, want the error reply", i, m.Term)
			}
			continue
		}
		wantReply(t, m, fmt.Sprintf("{ok, %d}", i+1))
	}
	var want []byte
	for _, i := range legal {
		want = append(want, addFrame(jsonKit, i)...)
	}
	if read, _ := svc.transcript(); !bytes.Equal(read, want) {
		t.Errorf("the service read\n%q\nwant the legal requests\n%q", read, want)
	}
	// A violation sends what was held back before it is reported (the
	// report may end the session): one write per rejected request, and
	// one for the rest, give or take a split read.
	if w, rejected := len(toService.get()), n-len(legal); w > rejected+4 {
		t.Errorf("%d legal requests reached the service in %d writes (%d rejected between them)", len(legal), w, rejected)
	}
}

// TestLoneMessageIsNotHeld: a request with nothing behind it is forwarded
// at once, and so is one followed by only part of the next frame (the rest
// may never come without the reply): each direction.
func TestLoneMessageIsNotHeld(t *testing.T) {
	// A generous bound: on loopback a round trip takes well under a
	// millisecond; a held message would wait for the read deadline.
	const prompt = 2 * time.Second
	t.Run("client", func(t *testing.T) {
		svc := startLineService(t, okReply(jsonKit))
		addr, _, _ := coalesceProxy(t, jsonKit, svc, Kill)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(addFrame(jsonKit, 0)); err != nil {
			t.Fatal(err)
		}
		if got := readLines(t, c, 1, prompt); !bytes.Equal(got, okFrame(jsonKit, 1)) {
			t.Fatalf("got %q", got)
		}
		// {add, 1} whole and the first half of {add, 2}.
		next := addFrame(jsonKit, 2)
		half := len(next) / 2
		if _, err := c.Write(append(addFrame(jsonKit, 1), next[:half]...)); err != nil {
			t.Fatal(err)
		}
		if got := readLines(t, c, 1, prompt); !bytes.Equal(got, okFrame(jsonKit, 2)) {
			t.Fatalf("with part of the next request buffered: got %q", got)
		}
		if _, err := c.Write(next[half:]); err != nil {
			t.Fatal(err)
		}
		if got := readLines(t, c, 1, prompt); !bytes.Equal(got, okFrame(jsonKit, 3)) {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("service", func(t *testing.T) {
		// The service answers the first request with its reply and the
		// first half of the next one's, and the second with the rest.
		second := okFrame(jsonKit, 2)
		half := len(second) / 2
		svc := startLineService(t, func(i int) []byte {
			if i == 0 {
				return append(okFrame(jsonKit, 1), second[:half]...)
			}
			return second[half:]
		})
		addr, _, _ := coalesceProxy(t, jsonKit, svc, Kill)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(addFrame(jsonKit, 0)); err != nil {
			t.Fatal(err)
		}
		if got := readLines(t, c, 1, prompt); !bytes.Equal(got, okFrame(jsonKit, 1)) {
			t.Fatalf("with part of the next reply buffered: got %q", got)
		}
		if _, err := c.Write(addFrame(jsonKit, 1)); err != nil {
			t.Fatal(err)
		}
		if got := readLines(t, c, 1, prompt); !bytes.Equal(got, second) {
			t.Fatalf("got %q", got)
		}
	})
}

// TestUBFLockStepIsNotCoalesced: towards a ubf service every request (and
// event) is its own write, however the client batched them.
func TestUBFLockStepIsNotCoalesced(t *testing.T) {
	svc := startLineService(t, func(i int) []byte {
		if i%2 == 1 {
			return nil // the event after each request
		}
		return okFrame(ubfKit, i/2+1)
	})
	addr, toService, _ := coalesceProxy(t, ubfKit, svc, Kill)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var batch []byte
	var frames [][]byte
	for i := range 4 {
		for _, f := range [][]byte{addFrame(ubfKit, i), ubfKit.frame(ubfKit.eventIn(T(`{note, "x"}`)))} {
			batch = append(batch, f...)
			frames = append(frames, f)
		}
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	readLines(t, c, 4, ioTimeout)
	// The last event may still be on its way.
	deadline := time.Now().Add(ioTimeout)
	for len(toService.get()) < len(frames) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	writes := toService.get()
	if len(writes) != len(frames) {
		t.Fatalf("%d frames reached the service in %d writes, want one each", len(frames), len(writes))
	}
	for i, w := range writes {
		if !bytes.Equal(w, frames[i]) {
			t.Errorf("write %d = %q, want %q", i, w, frames[i])
		}
	}
}

// TestHeldBytesBound: a batch larger than maxHeld goes out in pieces of
// about maxHeld, never more held than that plus one message.
func TestHeldBytesBound(t *testing.T) {
	const n = 6000 // about 150 KB of requests
	svc := startLineService(t, okReply(jsonKit))
	addr, toService, _ := coalesceProxy(t, jsonKit, svc, Kill)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var batch []byte
	for i := range n {
		batch = append(batch, addFrame(jsonKit, i)...)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(batch)
		errc <- err
	}()
	readLines(t, c, n, ioTimeout)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if read, _ := svc.transcript(); !bytes.Equal(read, batch) {
		t.Fatalf("the service read %d bytes, not the %d sent", len(read), len(batch))
	}
	writes := toService.get()
	for i, w := range writes {
		if len(w) > maxHeld {
			t.Errorf("write %d holds %d bytes, over maxHeld %d", i, len(w), maxHeld)
		}
	}
	if len(writes) > n/10 {
		t.Errorf("%d requests reached the service in %d writes", n, len(writes))
	}
}

// TestKillDeliversExecutedRepliesFirst: the legal requests of a batch
// before one that breaks the contract still reach the service, as they
// would have one by one; kill mode then delivers their replies, then the
// error reply, and only then closes. The illegal request and the one
// after it never reach the service.
func TestKillDeliversExecutedRepliesFirst(t *testing.T) {
	svc := startLineService(t, okReply(jsonKit))
	addr, _, _ := coalesceProxy(t, jsonKit, svc, Kill)
	var legal []byte
	for i := range 3 {
		legal = append(legal, addFrame(jsonKit, i)...)
	}
	batch := append(append(bytes.Clone(legal), jsonKit.frame(T("{sub, 1}"))...), addFrame(jsonKit, 3)...)
	dec := untilKilled(t, addr, batch, 3, jsonKit.errClient)
	if m, err := dec.Next(); err != io.EOF {
		t.Fatalf("after the error reply: %v (%v), want the end", m.Term, err)
	}
	if read, _ := svc.transcript(); !bytes.Equal(read, legal) {
		t.Fatalf("the service read\n%q\nwant the legal requests before the violation\n%q", read, legal)
	}
}

// TestCountsPublishedBeforeSend: every write to the service finds the
// client reader's counts published (flow.held empty): a request sent at
// once, a small batch held back and sent whole, a batch past MaxPending,
// which goes out in pieces (flushService), and a message longer than
// maxHeld in the middle of a batch, before which the requests held go out
// (makeRoom; the client's event there has no reply). That is
// what lets the record of the session's end, which the service reader
// writes, count a request whose reply ended the session, however soon the
// reply comes; no session ends here.
func TestCountsPublishedBeforeSend(t *testing.T) {
	batches := []int{40, 4000} // the second about 100 KB
	noteLine := batches[0] + batches[1] + 1
	svc := startLineService(t, func(i int) []byte {
		if i == noteLine {
			return nil // an event has no reply
		}
		return okFrame(jsonKit, i+1)
	})
	var (
		srv                  *Server
		checked, unpublished atomic.Int64
	)
	srv, err := New(testIO(Config{
		Upstream: svc.addr, Wire: jsonKit.wire, Contract: compile(t, counterCon), Mode: Kill,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Dial: dialWrapped(func(c net.Conn) net.Conn {
			return writeCheckedConn{c, func() {
				// On the client reader, which owns up.held.
				srv.mu.Lock()
				defer srv.mu.Unlock()
				for _, ss := range srv.sessions {
					checked.Add(1)
					if !ss.up.held.empty() {
						unpublished.Add(1)
					}
				}
			}}
		}),
	}))
	if err != nil {
		t.Fatal(err)
	}
	addr := proxytest.Start(t, srv).Addr
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := 0
	for _, n := range batches {
		var batch []byte
		for range n {
			batch = append(batch, addFrame(jsonKit, sent)...)
			sent++
		}
		errc := make(chan error, 1)
		go func() { // the replies are read meanwhile
			_, err := c.Write(batch)
			errc <- err
		}()
		readLines(t, c, n, ioTimeout)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	// A message longer than maxHeld in the middle of a batch: the
	// requests held before it go out first (makeRoom), counted.
	big := jsonKit.frame(jsonKit.eventIn(T(fmt.Sprintf("{note, %q}", strings.Repeat("x", maxHeld+1)))))
	batch := append(append(addFrame(jsonKit, sent), big...), addFrame(jsonKit, sent+1)...)
	sent += 3
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	readLines(t, c, 2, ioTimeout)
	n := sent
	for i := range 3 {
		if _, err := c.Write(addFrame(jsonKit, n+i)); err != nil {
			t.Fatal(err)
		}
		readLines(t, c, 1, ioTimeout)
	}
	if checked.Load() == 0 {
		t.Fatal("no write to the service was checked")
	}
	if k := unpublished.Load(); k > 0 {
		t.Errorf("%d of %d writes to the service went out with the client's counts unpublished", k, checked.Load())
	}
}

// dialWrapped is a Config.Dial that dials TCP and wraps the connection.
func dialWrapped(wrap func(net.Conn) net.Conn) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	}
}

// writeCheckedConn runs check before each write. It is a net.Conn only, so
// the proxy writes through Write.
type writeCheckedConn struct {
	net.Conn
	check func()
}

func (c writeCheckedConn) Write(p []byte) (int, error) {
	c.check()
	return c.Conn.Write(p)
}

// TestKeptTurnGivenUp: the service reader keeps the client's turn across
// the replies of a batch (clientTurn.keep), and must give it up before
// anything that writes to the client without it or stops the reader.
// Here the service answers a pipelined batch in one write whose last
// reply goes wrong in each way the reader has: a frame the decoder
// rejects, a reply no request is outstanding for, a reply the contract
// forbids, and an event it forbids. Each time the client gets the good
// replies, then the error reply, then the close, in time: a turn kept
// past any of them would leave the error reply waiting for a lock its
// own goroutine holds.
func TestKeptTurnGivenUp(t *testing.T) {
	const good = 3
	for _, tc := range []struct {
		name string
		// last is what the service answers the last request with; legal
		// says whether its first reply is legal, and delivered.
		last  []byte
		legal bool
	}{
		{"malformed frame", []byte("{not json\n"), false},
		{"reply with no request", append(okFrame(jsonKit, good+1), okFrame(jsonKit, good+2)...), true},
		{"illegal reply", jsonKit.frame(jsonKit.reply(T("{nope, 1}"), "start")), false},
		{"illegal event", jsonKit.frame(T("{event, {bogus, 1}}")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := startLineService(t, func(i int) []byte {
				if i < good {
					return okFrame(jsonKit, i+1)
				}
				return tc.last
			})
			addr, _, _ := coalesceProxy(t, jsonKit, svc, Kill)
			var batch []byte
			for i := range good + 1 {
				batch = append(batch, addFrame(jsonKit, i)...)
			}
			n := good
			if tc.legal {
				n++
			}
			untilKilled(t, addr, batch, n, jsonKit.errServer)
		})
	}
}

// sendBatch dials the proxy at addr and writes batch in one write; the
// connection closes with the test.
func sendBatch(t *testing.T, addr string, batch []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	return c
}

// untilKilled sends batch to the proxy at addr in one write, reads until
// the proxy closes, and checks that what came is the replies {ok, 1} to
// {ok, n}, then an error reply tagged tag. It returns the decoder of what
// came, for what follows.
func untilKilled(t *testing.T, addr string, batch []byte, n int, tag string) wrappers.Decoder {
	t.Helper()
	c := sendBatch(t, addr, batch)
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	got, err := io.ReadAll(c) // until the proxy closes
	if err != nil {
		t.Fatalf("reading until the close: %v (got %q)", err, got)
	}
	dec := jsonKit.wire.NewSession(wrappers.Options{}).ServerDecoder(bytes.NewReader(got))
	for i := range n {
		m, err := dec.Next()
		if err != nil {
			t.Fatalf("reply %d: %v (got %q)", i, err, got)
		}
		wantReply(t, m, fmt.Sprintf("{ok, %d}", i+1))
	}
	if m, err := dec.Next(); err != nil || !isErrorReply(m, tag) {
		t.Fatalf("after the replies: %v (%v), want the error reply %s; got %q", m.Term, err, tag, got)
	}
	return dec
}

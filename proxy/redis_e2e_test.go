package proxy_test

// End-to-end tests of ubfproxy in front of a real redis-server with
// contracts/redis.con: redis-cli and a Go RESP client through the proxy,
// pipelined and pub/sub traffic, and forbidden commands that must never
// reach Redis — checked with Redis's own MONITOR on a direct connection.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/contracts"
	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
)

const e2eRedisPassword = "e2e-pw"

// redisContract compiles the embedded contracts/redis.con.
func redisContract(tb testing.TB) *contract.Contract {
	tb.Helper()
	src, err := contracts.FS.ReadFile("redis.con")
	if err != nil {
		tb.Fatal(err)
	}
	c, diags := contract.Compile("contracts/redis.con", src, contract.Options{})
	if c == nil || diags.HasErrors() {
		tb.Fatalf("contracts/redis.con: %v", diags)
	}
	return c
}

// monitor watches every command Redis executes, on a direct connection.
type monitor struct {
	c    net.Conn
	mu   sync.Mutex
	seen bytes.Buffer
}

func startMonitor(t *testing.T, redis string) *monitor {
	t.Helper()
	c, err := net.DialTimeout("tcp", redis, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m := &monitor{c: c}
	if _, err := c.Write([]byte(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("MONITOR"))); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		r := bufio.NewReader(c)
		oks := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "+OK\r\n" && oks < 2 {
				if oks++; oks == 2 {
					close(ready)
				}
				continue
			}
			m.mu.Lock()
			m.seen.WriteString(line)
			m.mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("MONITOR did not start")
	}
	return m
}

// sync makes sure every command sent before it has been seen: it runs a
// marker command directly and waits for it in the feed.
func (m *monitor) sync(t *testing.T, redis string) string {
	t.Helper()
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	c := realservice.DialRESP(t, redis)
	c.Send(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("ECHO", marker))
	c.Await(marker, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m.mu.Lock()
		s := m.seen.String()
		m.mu.Unlock()
		if strings.Contains(s, marker) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("marker %s not seen by MONITOR", marker)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func redisCLI(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed (Debian package redis-tools)")
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, append([]string{"-h", host, "-p", port, "-a", e2eRedisPassword, "--no-auth-warning"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestRedisThroughProxy(t *testing.T) {
	proxy.EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		redis := realservice.Redis(t, e2eRedisPassword)
		mon := startMonitor(t, redis)
		var logs realservice.Output
		_, kill := serveProxy(t, proxy.Config{
			Contract: redisContract(t), Upstream: redis, Wire: resp.Wire{}, Mode: proxy.Kill, PlainIO: plain,
			Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		})
		_, reject := serveProxy(t, proxy.Config{
			Contract: redisContract(t), Upstream: redis, Wire: resp.Wire{}, Mode: proxy.Reject, PlainIO: plain,
			Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		})

		t.Run("redis-cli", func(t *testing.T) {
			if out, err := redisCLI(t, kill, "SET", "cli:k", "hello"); err != nil || out != "OK" {
				t.Fatalf("SET: %v %q", err, out)
			}
			if out, err := redisCLI(t, kill, "GET", "cli:k"); err != nil || out != "hello" {
				t.Fatalf("GET: %v %q", err, out)
			}
			if out, err := redisCLI(t, kill, "MGET", "cli:k", "cli:none"); err != nil || out != "hello" {
				t.Fatalf("MGET: %v %q", err, out)
			}
			out, _ := redisCLI(t, kill, "FLUSHALL")
			if !strings.Contains(out, "ERR contract: client broke the contract in state ready: sent flushall") {
				t.Errorf("FLUSHALL through the proxy: %q", out)
			}
			out, _ = redisCLI(t, kill, "CONFIG", "SET", "requirepass", "")
			if !strings.Contains(out, "ERR contract") {
				t.Errorf("CONFIG SET through the proxy: %q", out)
			}
			// The key is still there: FLUSHALL never ran.
			if out, err := redisCLI(t, kill, "GET", "cli:k"); err != nil || out != "hello" {
				t.Fatalf("GET after FLUSHALL was refused: %v %q", err, out)
			}
		})

		t.Run("pipelined Go client", func(t *testing.T) {
			c := realservice.DialRESP(t, kill)
			var batch strings.Builder
			batch.WriteString(realservice.Command("AUTH", e2eRedisPassword))
			const n = 500
			for i := range n {
				batch.WriteString(realservice.Command("SET", fmt.Sprintf("p:%d", i), strconv.Itoa(i)))
				batch.WriteString(realservice.Command("INCR", fmt.Sprintf("p:%d", i)))
			}
			batch.WriteString(realservice.Command("MULTI") + realservice.Command("INCR", "p:0") + realservice.Command("GET", "p:0") + realservice.Command("EXEC"))
			batch.WriteString(realservice.Command("DEL", "p:1", "p:2"))
			batch.WriteString(realservice.Command("QUIT"))
			c.Send(batch.String())
			got := c.Closed()
			want := "+OK\r\n"
			for i := range n {
				want += "+OK\r\n:" + strconv.Itoa(i+1) + "\r\n"
			}
			want += "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:2\r\n$1\r\n2\r\n:2\r\n+OK\r\n"
			if got != want {
				t.Errorf("replies differ from Redis's own:\n got %q\nwant %q", tail(got), tail(want))
			}
		})

		t.Run("pub/sub", func(t *testing.T) {
			sub := realservice.DialRESP(t, kill)
			sub.Send(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("SUBSCRIBE", "e2e:a", "e2e:b") + realservice.Command("PSUBSCRIBE", "e2e:p.*"))
			sub.Await("e2e:p.*\r\n:3\r\n", 1)
			pub := realservice.DialRESP(t, redis)
			pub.Send(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("PUBLISH", "e2e:a", "one") + realservice.Command("PUBLISH", "e2e:p.x", "two"))
			pub.Await(":1\r\n", 2)
			sub.Await("$3\r\ntwo\r\n", 1)
			// In the subscriber state only pub/sub commands are legal: GET
			// ends the session and never reaches Redis.
			sub.Send(realservice.Command("PING") + realservice.Command("UNSUBSCRIBE", "e2e:a") + realservice.Command("GET", "e2e:sneaky"))
			got := sub.Closed()
			for _, w := range []string{"*3\r\n$7\r\nmessage\r\n$5\r\ne2e:a\r\n$3\r\none\r\n", "$4\r\npong\r\n",
				"$11\r\nunsubscribe\r\n$5\r\ne2e:a\r\n:2\r\n", "-ERR contract: client broke the contract in state subscribed: sent {get, <<\"e2e:sneaky\">>}"} {
				if !strings.Contains(got, w) {
					t.Errorf("subscriber did not get %q; got %q", w, got)
				}
			}
		})

		t.Run("RESP3 with pushes", func(t *testing.T) {
			c := realservice.DialRESP(t, kill)
			c.Send(realservice.Command("HELLO", "3", "AUTH", "default", e2eRedisPassword) + realservice.Command("SET", "r3:k", "v3") +
				realservice.Command("GET", "r3:k") + realservice.Command("GET", "r3:none") + realservice.Command("SUBSCRIBE", "r3:chan"))
			c.Await(">3\r\n$9\r\nsubscribe\r\n$7\r\nr3:chan\r\n:1\r\n", 1)
			pub := realservice.DialRESP(t, redis)
			pub.Send(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("PUBLISH", "r3:chan", "pushed"))
			pub.Await(":1\r\n", 1)
			c.Await("$6\r\npushed\r\n", 1)
			c.Send(realservice.Command("UNSUBSCRIBE", "r3:chan") + realservice.Command("GET", "r3:k") + realservice.Command("QUIT"))
			got := c.Closed()
			for _, w := range []string{"+OK\r\n$2\r\nv3\r\n_\r\n>3", ">3\r\n$7\r\nmessage\r\n$7\r\nr3:chan\r\n$6\r\npushed\r\n",
				">3\r\n$11\r\nunsubscribe\r\n$7\r\nr3:chan\r\n:0\r\n$2\r\nv3\r\n+OK\r\n"} {
				if !strings.Contains(got, w) {
					t.Errorf("RESP3 client did not get %q; got %q", w, got)
				}
			}
			if strings.Contains(got, "contract") {
				t.Errorf("a conforming RESP3 session was refused: %q", got)
			}
			// redis-cli in RESP3: AUTH, then HELLO 3, then the command.
			if out, err := redisCLI(t, kill, "-3", "GET", "r3:k"); err != nil || out != "v3" {
				t.Errorf("redis-cli -3: %v %q", err, out)
			}
		})

		t.Run("AUTH first", func(t *testing.T) {
			c := realservice.DialRESP(t, kill)
			c.Send(realservice.Command("GET", "cli:k"))
			got := c.Closed()
			if !strings.HasPrefix(got, "-ERR contract: client broke the contract in state start: sent {get, <<\"cli:k\">>}") {
				t.Errorf("got %q", got)
			}
		})

		t.Run("reject mode goes on", func(t *testing.T) {
			c := realservice.DialRESP(t, reject)
			c.Send(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("KEYS", "*") + realservice.Command("DEBUG", "SLEEP", "0") + realservice.Command("GET", "cli:k") + realservice.Command("QUIT"))
			got := c.Closed()
			// AUTH's reply may still be pending when KEYS is checked, so the
			// session is in ready, or in "ready | start".
			if !strings.HasPrefix(got, "+OK\r\n-ERR contract: client broke the contract in state ready") ||
				!strings.Contains(got, `: sent {keys, <<"*">>}: no rule of this state accepts this message`) ||
				!strings.HasSuffix(got, "\r\n$5\r\nhello\r\n+OK\r\n") || strings.Count(got, "-ERR contract") != 2 {
				t.Errorf("got %q", got)
			}
		})

		// Nothing forbidden reached Redis, and the allowed commands did.
		seen := strings.ToLower(mon.sync(t, redis))
		for _, forbidden := range []string{`"flushall"`, `"config"`, `"keys"`, `"debug"`, `"e2e:sneaky"`} {
			if strings.Contains(seen, forbidden) {
				t.Errorf("Redis executed %s, which the contract forbids", forbidden)
			}
		}
		for _, allowed := range []string{`"set" "cli:k" "hello"`, `"incr" "p:499"`, `"exec"`, `"psubscribe" "e2e:p.*"`} {
			if !strings.Contains(seen, allowed) {
				t.Errorf("Redis did not execute %s", allowed)
			}
		}
		if n := strings.Count(logs.String(), `"msg":"contract violation"`); n < 5 {
			t.Errorf("%d violation records in the log, want at least 5:\n%s", n, logs.String())
		}
	})
}

// tail shortens a long transcript to its end for a failure message.
func tail(s string) string {
	if len(s) > 300 {
		return "..." + s[len(s)-300:]
	}
	return s
}

// TestRedisParked: a session to a real Redis whose readers parked goes on
// as before, whichever side speaks first: the client with a GET, or Redis
// with a message published to a channel the client subscribed to.
func TestRedisParked(t *testing.T) {
	proxy.EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		redis := realservice.Redis(t, e2eRedisPassword)
		srv, addr := serveProxy(t, proxy.Config{
			Contract: redisContract(t), Upstream: redis, Wire: resp.Wire{}, Mode: proxy.Kill, PlainIO: plain,
			Limits: proxy.Limits{ParkDelay: 30 * time.Millisecond},
		})
		c := realservice.DialRESP(t, addr)
		if got := c.Exchange(realservice.Command("AUTH", e2eRedisPassword)+realservice.Command("SET", "park:k", "v1"), "+OK\r\n+OK\r\n"); got != "+OK\r\n+OK\r\n" {
			t.Fatalf("AUTH and SET answered %q", got)
		}
		waitParked(t, srv, 2, ioTimeout)
		if got := c.Exchange(realservice.Command("GET", "park:k"), "v1\r\n"); got != "$2\r\nv1\r\n" {
			t.Fatalf("GET after parking answered %q", got)
		}
		sub := realservice.DialRESP(t, addr)
		sub.Send(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("SUBSCRIBE", "park:ch"))
		sub.Await("park:ch\r\n:1\r\n", 1)
		waitParked(t, srv, 4, ioTimeout)
		pub := realservice.DialRESP(t, redis)
		pub.Send(realservice.Command("AUTH", e2eRedisPassword) + realservice.Command("PUBLISH", "park:ch", "hello"))
		pub.Await(":1\r\n", 1)
		sub.Await("$7\r\nmessage\r\n$7\r\npark:ch\r\n$5\r\nhello\r\n", 1)
		waitParked(t, srv, 4, ioTimeout)
		c.Quit()
		sub.Close()
		deadline := time.Now().Add(ioTimeout)
		for srv.OpenSessions() > 0 || srv.Stats().Parked > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%+v after the clients left", srv.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st := srv.Stats(); st.Violations != 0 || st.Panics != 0 {
			t.Errorf("stats %+v, want no violation and no panic", st)
		}
	})
}

// TestCallsFlushedBeforeSend: the proxy tells the service's decoder of
// every request before any byte of it reaches the service
// (wrappers.Batcher), whichever way it goes there: at once, held back with
// a pipelined batch, or flushed early to make room for a message longer
// than what is held (the big SET below). Each write to the service finds
// the client's decoder holding no call. A missing flush shows here at
// once, where against Redis it shows only when a reply outruns the next
// flush.
func TestCallsFlushedBeforeSend(t *testing.T) {
	redis := realservice.Redis(t, e2eRedisPassword)
	spy := &batchSpy{}
	var unflushed atomic.Int64
	_, addr := serveProxy(t, proxy.Config{
		Contract: redisContract(t), Upstream: redis, Wire: spyWire{resp.Wire{}, spy}, Mode: proxy.Kill,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			return flushCheckedConn{c, spy, &unflushed}, nil
		},
	})
	c := realservice.DialRESP(t, addr)
	big := strings.Repeat("v", 100<<10)
	var batch strings.Builder
	batch.WriteString(realservice.Command("AUTH", e2eRedisPassword))
	for i := range 50 {
		batch.WriteString(realservice.Command("INCR", fmt.Sprintf("flushed:%d", i)))
		if i == 25 {
			batch.WriteString(realservice.Command("SET", "flushed:big", big))
		}
	}
	batch.WriteString(realservice.Command("QUIT"))
	c.Send(batch.String())
	got := c.Closed()
	if want := "+OK\r\n" + strings.Repeat(":1\r\n", 26) + "+OK\r\n" + strings.Repeat(":1\r\n", 24) + "+OK\r\n"; got != want {
		t.Errorf("got %q, want %q", tail(got), tail(want))
	}
	if !spy.batching.Load() {
		t.Fatal("the proxy did not ask the client's decoder to batch")
	}
	if n := unflushed.Load(); n > 0 {
		t.Errorf("%d writes to the service went out with calls the service's decoder was not told of", n)
	}
}

// batchSpy counts the calls the client's decoder returned and holds.
type batchSpy struct {
	batching atomic.Bool
	held     atomic.Int64
}

// spyWire is a wire whose client decoder reports to spy.
type spyWire struct {
	resp.Wire
	spy *batchSpy
}

func (w spyWire) NewSession(o wrappers.Options) wrappers.Session {
	return spySession{w.Wire.NewSession(o), w.spy}
}

type spySession struct {
	wrappers.Session
	spy *batchSpy
}

// Dropped keeps the session a wrappers.Dropper.
func (s spySession) Dropped(side wrappers.Side, m wrappers.Message) {
	s.Session.(wrappers.Dropper).Dropped(side, m)
}

func (s spySession) ClientDecoder(r io.Reader) wrappers.Decoder {
	return &spyDecoder{s.Session.ClientDecoder(r), s.spy}
}

// spyDecoder is a Bufferer too, so that the proxy holds back pipelined
// requests as it does for RESP's own decoder.
type spyDecoder struct {
	wrappers.Decoder
	spy *batchSpy
}

func (d *spyDecoder) Next() (wrappers.Message, error) {
	m, err := d.Decoder.Next()
	if err == nil && m.Kind == wrappers.Call && d.spy.batching.Load() {
		d.spy.held.Add(1)
	}
	return m, err
}

func (d *spyDecoder) Buffered() int { return d.Decoder.(wrappers.Bufferer).Buffered() }

func (d *spyDecoder) Batch() {
	d.Decoder.(wrappers.Batcher).Batch()
	d.spy.batching.Store(true)
}

func (d *spyDecoder) Flush() {
	d.Decoder.(wrappers.Batcher).Flush()
	d.spy.held.Store(0)
}

// flushCheckedConn counts the writes made while the spy's decoder held
// calls. It is a net.Conn only, so the proxy writes through Write.
type flushCheckedConn struct {
	net.Conn
	spy       *batchSpy
	unflushed *atomic.Int64
}

func (c flushCheckedConn) Write(p []byte) (int, error) {
	if c.spy.held.Load() > 0 {
		c.unflushed.Add(1)
	}
	return c.Conn.Write(p)
}

package proxy_test

// Hostile clients, end to end through the real proxy on loopback: a 10 GB
// length prefix, nesting a million deep, a byte per second, and 2,000 idle
// connections. Each test checks that the hostile session ends (or, idle,
// stays cheap), that the proxy's memory stays bounded, that nothing of the
// hostile input reaches the service, and that another session is served
// meanwhile. Every wait is bounded.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/proxy/fileserver"
	"github.com/ubfproxy/ubfproxy/term"
)

// recordLog captures the proxy's JSON log records.
type recordLog struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (l *recordLog) Write(b []byte) (int, error) {
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		r = map[string]any{"msg": "unparsable record", "line": string(b)}
	}
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
	return len(b), nil
}

// wait returns the first record with message msg from client (the
// client's address as the proxy saw it), waiting at most d.
func (l *recordLog) wait(t *testing.T, msg, client string, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		l.mu.Lock()
		for _, r := range l.recs {
			if r["msg"] == msg && r["client"] == client {
				l.mu.Unlock()
				return r
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %q record for client %s within %v; records: %v", msg, client, d, l.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *recordLog) all() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]map[string]any(nil), l.recs...)
}

func jsonLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// hostileSetup is a file server and ubfproxy in front of it, with the
// proxy's records captured and the service's requests counted.
type hostileSetup struct {
	srv      *proxy.Server
	addr     string
	log      *recordLog
	received atomic.Int64
}

func newHostileSetup(t *testing.T, cfg proxy.Config) *hostileSetup {
	t.Helper()
	h := &hostileSetup{log: &recordLog{}}
	svc := startFileServer(t, fileserver.Config{
		Files:     benchFile(),
		OnRequest: func(term.Term) { h.received.Add(1) },
	})
	cfg.Logger = jsonLogger(h.log)
	h.srv, h.addr = startUBFProxy(t, svc, cfg)
	return h
}

// bystander opens a conversation through the proxy that must go on
// untouched whatever the hostile client does.
func (h *hostileSetup) bystander(t *testing.T) *loadClient {
	t.Helper()
	c, err := dialLoad(h.addr)
	if err != nil {
		t.Fatalf("bystander: %v", err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

// serve checks that c still gets its answers, promptly.
func serve(t *testing.T, c *loadClient, steps int) {
	t.Helper()
	began := time.Now()
	for i := range steps {
		if err := c.step(); err != nil {
			t.Fatalf("bystander, step %d: %v", i, err)
		}
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("bystander: %d requests took %v", steps, d)
	}
}

// endOf reads what the proxy sends c until the connection ends and returns
// how long that took.
func endOf(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	c.SetReadDeadline(began.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the proxy kept the hostile connection open for %v", within)
	}
	return time.Since(began)
}

// allocated returns how many bytes the process has allocated so far.
func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// inUse returns the heap and stack memory in use after a collection.
func inUse() (heap, stack uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// attack is a hostile payload written by a client that then waits for the
// proxy to end its session.
type attack struct {
	name    string
	payload func() []byte
	// maxAlloc bounds what the whole process may allocate while the
	// proxy deals with the payload (the payload itself included).
	maxAlloc uint64
	explain  string // in the record of the session's end
}

func TestHostileFrames(t *testing.T) {
	attacks := []attack{
		{
			name: "10 GB length prefix",
			// A request whose file name claims to be a binary of ten
			// gigabytes, followed by a megabyte of it.
			payload: func() []byte {
				return append([]byte(`{'open',10000000000~`), make([]byte, 1<<20)...)
			},
			maxAlloc: 16 << 20,
			explain:  "binary of 10000000000 bytes is longer than the limit",
		},
		{
			name: "a string that never ends",
			// 17 MiB of a string with no closing quote: the frame limit
			// (16 MiB by default) ends it, and the proxy never holds more
			// than about a frame of it.
			payload: func() []byte {
				return append([]byte(`{'open',"`), strings.Repeat("a", 17<<20)...)
			},
			maxAlloc: 96 << 20,
			explain:  "longer than",
		},
		{
			name:     "nesting a million deep",
			payload:  func() []byte { return []byte(strings.Repeat("{", 1_000_000)) },
			maxAlloc: 16 << 20,
			explain:  "nested more than 1000 deep",
		},
	}
	// The read modes one after the other: the test measures what the
	// whole process allocates.
	proxy.EachReadMode(t, func(t *testing.T, plain bool) {
		for _, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				h := newHostileSetup(t, proxy.Config{PlainIO: plain})
				by := h.bystander(t)
				serve(t, by, 10)
				before := h.received.Load()

				c, err := net.DialTimeout("tcp", h.addr, ioTimeout)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				payload := a.payload()
				alloc0 := allocated()
				go func() {
					// The proxy may close while this is still being written.
					c.SetWriteDeadline(time.Now().Add(10 * time.Second))
					c.Write(payload)
				}()
				took := endOf(t, c, ioTimeout)
				end := h.log.wait(t, "session end", c.LocalAddr().String(), ioTimeout)
				alloc := allocated() - alloc0

				if end["reason"] != "limit" {
					t.Errorf("session end reason %v, want limit: %v", end["reason"], end)
				}
				if e, _ := end["error"].(string); !strings.Contains(e, a.explain) {
					t.Errorf("session end error %q does not say %q", e, a.explain)
				}
				if alloc > a.maxAlloc {
					t.Errorf("the process allocated %d KiB while the proxy dealt with the payload, want at most %d KiB", alloc>>10, a.maxAlloc>>10)
				}
				t.Logf("%s: session ended after %v (reason %v), %d KiB allocated meanwhile, payload %d KiB",
					a.name, took.Round(time.Millisecond), end["reason"], alloc>>10, len(payload)>>10)

				// The bystander is served as before, and nothing of the
				// hostile frame reached the service.
				serve(t, by, 10)
				if got := h.received.Load() - before; got != 10 {
					t.Errorf("the service received %d requests since the attack, want the bystander's 10", got)
				}
				if st := h.srv.Stats(); st.Panics != 0 || st.Open != 1 {
					t.Errorf("proxy stats %+v, want no panic and the bystander's session open", st)
				}
			})
		}
	})
}

func TestHostileSlowloris(t *testing.T) {
	proxy.EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		// A byte per second: the request would take half a minute to arrive.
		// No message passes either way, so the idle time-out ends the session
		// (shortened here; the default is five minutes).
		const idle = 1500 * time.Millisecond
		h := newHostileSetup(t, proxy.Config{PlainIO: plain, Limits: proxy.Limits{IdleTimeout: idle}})
		by := h.bystander(t)
		before := h.received.Load()

		c, err := net.DialTimeout("tcp", h.addr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		frame := []byte(`{'open',"bench.txt",'read'}$`)
		var sent atomic.Int64
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for _, b := range frame {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				sent.Add(1)
				select {
				case <-tick.C:
				case <-stop:
					return
				}
			}
		}()
		// The bystander keeps talking every 100 ms meanwhile, and must not be
		// taken for idle.
		done := make(chan struct{})
		var byErr error
		go func() {
			defer close(done)
			for range 30 {
				if byErr = by.step(); byErr != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		took := endOf(t, c, 10*time.Second)
		end := h.log.wait(t, "session end", c.LocalAddr().String(), ioTimeout)
		<-done
		if byErr != nil {
			t.Fatalf("bystander: %v", byErr)
		}
		if end["reason"] != "timeout" {
			t.Errorf("session end reason %v, want timeout: %v", end["reason"], end)
		}
		if took < idle-100*time.Millisecond || took > idle+2*time.Second {
			t.Errorf("the slow session ended after %v, want about the idle time-out %v", took, idle)
		}
		if n := sent.Load(); n >= int64(len(frame)) {
			t.Errorf("all %d bytes were sent before the session ended", n)
		}
		if got := h.received.Load() - before; got != 30 {
			t.Errorf("the service received %d requests, want the bystander's 30", got)
		}
		t.Logf("slowloris: %d bytes at a byte per second; session ended after %v (reason %v); bystander served 30 requests meanwhile",
			sent.Load(), took.Round(time.Millisecond), end["reason"])
	})
}

// idleSessions is how many idle connections TestHostileIdleConnections
// holds open through the proxy.
const idleSessions = 2000

// maxIdleSessionBytes bounds the proxy's memory (heap and goroutine stacks
// in use) per idle session, before its readers park. Measured at about
// 25 KiB with Go 1.26 on linux/amd64 (50 KiB before the decoders' caches
// and arenas were sized by use and read buffers lent only while bytes
// wait): 16 KiB of stacks (two goroutines), and on the heap the sockets,
// timers, the session and the checker's session, the decoders' few cache
// slots. The bound leaves room for another runtime or architecture, and
// still catches a session that holds on to a read buffer or to what it has
// read.
const maxIdleSessionBytes = 48 << 10

// maxParkedSessionBytes bounds the same once the readers have parked
// (Limits.ParkDelay): measured at about 6.6 KiB, the heap alone (the
// client's socket in this process included; BenchmarkIdleSessionMemory
// has the figures), 10 KiB before parked readers let go of their decoders
// and the session of its checker's reuse and reply timer. A session that
// keeps its decoders again stays under the bound, which leaves room for
// another runtime; TestParkedSessions checks that it does not.
const maxParkedSessionBytes = 12 << 10

// fileServerProcessEnv makes the test binary a file server (see
// TestFileServerProcess), so that the idle-connections test measures the
// proxy's memory without the service's.
const fileServerProcessEnv = "UBFPROXY_TEST_FILESERVER_PROCESS"

// TestFileServerProcess is not a test: run with fileServerProcessEnv set,
// it serves the bench file on a free loopback port, prints the address and
// serves until its standard input closes.
func TestFileServerProcess(t *testing.T) {
	if os.Getenv(fileServerProcessEnv) != "1" {
		t.Skip("the file server process of TestHostileIdleConnections; runs only when that test starts it")
	}
	addr, stop, err := fileserver.Listen(context.Background(), "127.0.0.1:0", fileserver.Config{Files: benchFile()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", addr)
	io.Copy(io.Discard, os.Stdin)
	stop()
	os.Exit(0)
}

// startFileServerProcess runs the file server in a child process.
func startFileServerProcess(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileServerProcess$")
	cmd.Env = append(os.Environ(), fileServerProcessEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the file server process: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "ADDR ")
		if !ok {
			t.Fatalf("the file server process said %q", s)
		}
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("the file server process did not start within 30s")
	}
	return ""
}

func TestHostileIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections through the proxy; not in -short")
	}
	// Each idle session holds three sockets in this process: the client's,
	// the proxy's from the client and the proxy's to the service.
	ensureFiles(t, 3*idleSessions+256)
	svc := startFileServerProcess(t)
	log := &recordLog{}
	srv, addr := startUBFProxy(t, svc, proxy.Config{Logger: jsonLogger(log)})

	// Each client opens the file and then goes quiet: a conversation
	// waiting in state ready, with every buffer the session needs.
	clients, m := holdIdle(t, idleSessions, func() (*loadClient, error) { return dialLoad(addr) })
	if n := srv.OpenSessions(); n != idleSessions {
		t.Fatalf("%d sessions open, want %d", n, idleSessions)
	}
	m.report(t, idleSessions, "just after the exchange")
	if m.perSession > maxIdleSessionBytes {
		t.Errorf("%d bytes per idle session, want at most %d", m.perSession, maxIdleSessionBytes)
	}
	// Past the park delay, their readers park: no goroutine, no stack.
	waitParked(t, srv, 2*idleSessions, proxy.DefaultLimits().ParkDelay+10*time.Second)
	m = m.base.since(idleSessions)
	m.report(t, idleSessions, "idle past the park delay")
	if m.perSession > maxParkedSessionBytes || m.goroutines > 0.01 {
		t.Errorf("%d bytes and %.2f goroutines per parked session, want at most %d and none", m.perSession, m.goroutines, maxParkedSessionBytes)
	}

	// Another session is served meanwhile, promptly.
	by, err := dialLoad(addr)
	if err != nil {
		t.Fatalf("a new session with %d idle ones open: %v", idleSessions, err)
	}
	defer by.conn.Close()
	serve(t, by, 200)

	// The idle ones are alive, not just counted: a sample of them answers.
	for i := 0; i < idleSessions; i += idleSessions / 20 {
		if err := clients[i].step(); err != nil {
			t.Fatalf("idle client %d: %v", i, err)
		}
	}

	// When they leave, the proxy lets go of them.
	for _, c := range clients {
		c.conn.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.OpenSessions() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open 10s after their clients left", srv.OpenSessions())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := srv.Stats(); st.Violations != 0 || st.Panics != 0 || st.Ends["client_left"] != idleSessions {
		t.Errorf("proxy stats %+v; want %d sessions ended client_left, no violation, no panic", st, idleSessions)
	}
}

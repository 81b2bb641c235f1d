package proxy_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
)

// idleMemory is what a set of idle sessions costs the process.
type idleMemory struct {
	heap, stack int64   // heap and goroutine stacks in use, added by all the sessions
	perSession  int64   // (heap + stack) / sessions
	goroutines  float64 // goroutines added per session
	base        memBase // what the process held before the sessions
}

// memBase is what the process holds at one moment.
type memBase struct {
	heap, stack uint64
	goroutines  int
}

func measureBase() memBase {
	heap, stack := inUse()
	return memBase{heap: heap, stack: stack, goroutines: runtime.NumGoroutine()}
}

// since measures what n sessions opened after b hold now.
func (b memBase) since(n int) idleMemory {
	heap, stack := inUse()
	m := idleMemory{heap: int64(heap) - int64(b.heap), stack: int64(stack) - int64(b.stack), base: b}
	m.perSession = (m.heap + m.stack) / int64(n)
	m.goroutines = float64(runtime.NumGoroutine()-b.goroutines) / float64(n)
	return m
}

// holdIdle opens n sessions with open, which makes one exchange on each,
// and measures the memory they hold once they are all idle. The sessions
// are closed when the test ends (or earlier by the caller).
func holdIdle[C io.Closer](tb testing.TB, n int, open func() (C, error)) ([]C, idleMemory) {
	tb.Helper()
	base := measureBase()
	clients := make([]C, n)
	opened := make([]bool, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				c, err := open()
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				clients[i], opened[i] = c, true
			}
		}()
	}
	wg.Wait()
	tb.Cleanup(func() {
		for i, c := range clients {
			if opened[i] {
				c.Close()
			}
		}
	})
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return clients, base.since(n)
}

// report logs m for n sessions, when they are as what says.
func (m idleMemory) report(tb testing.TB, n int, what string) {
	tb.Logf("%d idle sessions, %s: heap in use +%d KiB, stacks +%d KiB; %d bytes (%.1f KiB) and %.2f goroutines per session",
		n, what, m.heap>>10, m.stack>>10, m.perSession, float64(m.perSession)/1024, m.goroutines)
}

// waitParked waits until srv has want readers parked.
func waitParked(tb testing.TB, srv *proxy.Server, want int, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for srv.Stats().Parked < want {
		if time.Now().After(deadline) {
			tb.Fatalf("%d readers parked after %v, want %d", srv.Stats().Parked, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clientShare measures what n clients cost this process alone: each opened
// with open straight to the service, which runs in another process, and
// closed again.
func clientShare[C io.Closer](tb testing.TB, n int, open func() (C, error)) idleMemory {
	tb.Helper()
	clients, m := holdIdle(tb, n, open)
	for _, c := range clients {
		c.Close()
	}
	return m
}

// respAuthed is a client connection to Redis through the proxy after its
// one exchange, AUTH.
func respAuthed(addr, password string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, realservice.Command("AUTH", password)); err != nil {
		conn.Close()
		return nil, err
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "+OK\r\n" {
		conn.Close()
		return nil, fmt.Errorf("AUTH answered %q (%v)", got, err)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// BenchmarkIdleSessionMemory reports the memory (heap and stacks in use)
// per idle session after one exchange, with 2,000 sessions open: a UBF(A)
// session that opened a file on the file server (run in another process),
// and a RESP session that authenticated to a real Redis with
// contracts/redis.con. The proxy runs with its default configuration.
//
// B/session (and heap-B, stack-B, goroutines per session) is measured once
// the sessions have been idle past the park delay (Limits.ParkDelay), their
// readers parked; fresh-B/session just after the exchange. Both count the
// clients' sockets, which live in this process too: client-B/session is
// what the same clients cost talking straight to the service, and
// proxy-B/session is B/session less that, the proxy's own share. The loop
// is empty; the metrics are the result.
//
// A set of sessions measured after another in the same process reuses what
// the Go runtime kept of the first (the descriptors of ended goroutines,
// free stack spans) and looks up to 2 KiB smaller: for figures to compare,
// run each sub-benchmark in a process of its own (-bench
// 'IdleSessionMemory/resp$', -count 1).
func BenchmarkIdleSessionMemory(b *testing.B) {
	ensureFiles(b, 3*idleSessions+256)
	b.Run("ubf", func(b *testing.B) {
		svc := startFileServerProcess(b)
		client := clientShare(b, idleSessions, func() (*loadClient, error) { return dialLoad(svc) })
		srv, addr := startUBFProxy(b, svc, proxy.Config{})
		parked := holdParked(b, srv, func() (*loadClient, error) { return dialLoad(addr) })
		srv, addr = startUBFProxy(b, svc, proxy.Config{Limits: proxy.Limits{ParkDelay: -1}})
		_, fresh := holdIdle(b, idleSessions, func() (*loadClient, error) { return dialLoad(addr) })
		reportIdle(b, parked, fresh, client)
	})
	b.Run("resp", func(b *testing.B) {
		redis := realservice.Redis(b, e2eRedisPassword)
		client := clientShare(b, idleSessions, func() (net.Conn, error) { return respAuthed(redis, e2eRedisPassword) })
		cfg := proxy.Config{Contract: redisContract(b), Upstream: redis, Wire: resp.Wire{}, Mode: proxy.Kill}
		srv, addr := serveProxy(b, cfg)
		parked := holdParked(b, srv, func() (net.Conn, error) { return respAuthed(addr, e2eRedisPassword) })
		cfg.Limits.ParkDelay = -1
		_, addr = serveProxy(b, cfg)
		_, fresh := holdIdle(b, idleSessions, func() (net.Conn, error) { return respAuthed(addr, e2eRedisPassword) })
		reportIdle(b, parked, fresh, client)
	})
}

// holdParked opens idleSessions sessions of srv with open, measures what
// they hold once their readers have parked, and closes them again.
func holdParked[C io.Closer](b *testing.B, srv *proxy.Server, open func() (C, error)) idleMemory {
	clients, m := holdIdle(b, idleSessions, open)
	waitParked(b, srv, 2*idleSessions, proxy.DefaultLimits().ParkDelay+10*time.Second)
	m = m.base.since(idleSessions)
	writeHeapProfile(b)
	for _, c := range clients {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.OpenSessions() > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("%d sessions still open 10s after their clients left", srv.OpenSessions())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m
}

// reportIdle reports the memory of idle sessions once their readers have
// parked, and fresh (not parked), beside the clients' own share.
func reportIdle(b *testing.B, parked, fresh, client idleMemory) {
	parked.report(b, idleSessions, "idle past the park delay")
	fresh.report(b, idleSessions, "just after the exchange, not parked")
	client.report(b, idleSessions, "the clients alone, straight to the service")
	for b.Loop() {
	}
	// After the loop: b.Loop resets the timer, which drops earlier metrics.
	b.ReportMetric(float64(parked.perSession), "B/session")
	b.ReportMetric(float64(parked.heap)/idleSessions, "heap-B/session")
	b.ReportMetric(float64(parked.stack)/idleSessions, "stack-B/session")
	b.ReportMetric(parked.goroutines, "goroutines/session")
	b.ReportMetric(float64(fresh.perSession), "fresh-B/session")
	b.ReportMetric(float64(client.perSession), "client-B/session")
	b.ReportMetric(float64(parked.perSession-client.perSession), "proxy-B/session")
}

// heapProfileEnv, set to a path prefix, makes BenchmarkIdleSessionMemory
// write the heap profile of each set of parked sessions to PREFIX-NAME
// (NAME is the sub-benchmark's); read it with go tool pprof
// -sample_index=inuse_space, after a run with -test.memprofilerate=1 to see
// every allocation.
const heapProfileEnv = "UBFPROXY_IDLE_HEAP_PROFILE"

func writeHeapProfile(b *testing.B) {
	prefix := os.Getenv(heapProfileEnv)
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + "-" + path.Base(b.Name()))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

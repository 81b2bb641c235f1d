package proxy_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
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
}

// holdIdle opens n sessions with open, which makes one exchange on each,
// and measures the memory they hold once they are all idle. The sessions
// are closed when the test ends (or earlier by the caller).
func holdIdle[C io.Closer](tb testing.TB, n int, open func() (C, error)) ([]C, idleMemory) {
	tb.Helper()
	heap0, stack0 := inUse()
	goroutines0 := runtime.NumGoroutine()
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
	heap1, stack1 := inUse()
	m := idleMemory{heap: int64(heap1) - int64(heap0), stack: int64(stack1) - int64(stack0)}
	m.perSession = (m.heap + m.stack) / int64(n)
	m.goroutines = float64(runtime.NumGoroutine()-goroutines0) / float64(n)
	return clients, m
}

// report logs m for n sessions.
func (m idleMemory) report(tb testing.TB, n int) {
	tb.Logf("%d idle sessions: heap in use +%d KiB, stacks +%d KiB; %d bytes (%.1f KiB) and %.1f goroutines per session",
		n, m.heap>>10, m.stack>>10, m.perSession, float64(m.perSession)/1024, m.goroutines)
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

// BenchmarkIdleSessionMemory reports the memory (heap and stacks in use,
// the clients' sockets in this process included) per idle session after
// one exchange, with 2,000 sessions open: a UBF(A) session that opened a
// file on the file server (run in another process), and a RESP session
// that authenticated to a real Redis with contracts/redis.con. The loop is
// empty; the metrics are the result.
func BenchmarkIdleSessionMemory(b *testing.B) {
	ensureFiles(b, 3*idleSessions+256)
	b.Run("ubf", func(b *testing.B) {
		svc := startFileServerProcess(b)
		_, addr := startUBFProxy(b, svc, proxy.Config{})
		_, m := holdIdle(b, idleSessions, func() (*loadClient, error) { return dialLoad(addr) })
		reportIdle(b, m)
	})
	b.Run("resp", func(b *testing.B) {
		redis := realservice.Redis(b, e2eRedisPassword)
		_, addr := serveProxy(b, proxy.Config{Contract: redisContract(b), Upstream: redis, Wire: resp.Wire{}, Mode: proxy.Kill})
		_, m := holdIdle(b, idleSessions, func() (net.Conn, error) { return respAuthed(addr, e2eRedisPassword) })
		reportIdle(b, m)
	})
}

func reportIdle(b *testing.B, m idleMemory) {
	m.report(b, idleSessions)
	for b.Loop() {
	}
	// After the loop: b.Loop resets the timer, which drops earlier metrics.
	b.ReportMetric(float64(m.perSession), "B/session")
	b.ReportMetric(float64(m.heap)/idleSessions, "heap-B/session")
	b.ReportMetric(float64(m.stack)/idleSessions, "stack-B/session")
}

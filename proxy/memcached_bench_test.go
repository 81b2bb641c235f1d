package proxy_test

// The memcached benchmark: get and set through ubfproxy enforcing
// contracts/memcached.con (--wire memcached, kill mode) against the same
// load through a plain pass-through proxy (a read/write loop, as
// scripts/passthrough), to a real memcached, in one run:
//
//	go test ./proxy -run '^$' -bench MemcachedProxy -benchtime 40000x -count 3
//
// depth=1 sends one command at a time on each connection; depth=16 keeps
// 16 commands in flight on each (written in one batch, answers read
// after). The paths take turns in rounds, so that the machine's other work
// weighs on both alike. Targets: ubfproxy/plain >= 0.9 at depth 1, >= 0.8
// at depth 16.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
)

// memcachedLoad is one connection's client: it alternates set and get of
// its own key with a 32-byte value, depth commands per batch.
type memcachedLoad struct {
	conn  net.Conn
	r     *bufio.Reader
	batch []byte // depth commands, written at once
	want  []byte // their answers, byte for byte
	got   []byte
}

func dialMemcachedLoad(addr string, id, depth int) (*memcachedLoad, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("key%02d", id)
	value := strings.Repeat(string(rune('a'+id%26)), 32)
	l := &memcachedLoad{conn: c, r: bufio.NewReaderSize(c, 64<<10)}
	for i := range depth {
		if i%2 == 0 {
			l.batch = fmt.Appendf(l.batch, "set %s 0 0 %d\r\n%s\r\n", key, len(value), value)
			l.want = append(l.want, "STORED\r\n"...)
		} else {
			l.batch = fmt.Appendf(l.batch, "get %s\r\n", key)
			l.want = fmt.Appendf(l.want, "VALUE %s 0 %d\r\n%s\r\nEND\r\n", key, len(value), value)
		}
	}
	if depth == 1 { // a get of a stored value every other batch
		l.batch = fmt.Appendf(l.batch, "get %s\r\n", key)
		l.want = fmt.Appendf(l.want, "VALUE %s 0 %d\r\n%s\r\nEND\r\n", key, len(value), value)
	}
	l.got = make([]byte, len(l.want))
	return l, nil
}

// step writes one batch and reads its answers; with depth 1 it is two
// round trips (a set, then a get), one command in flight at a time.
func (l *memcachedLoad) step(depth int) (commands int, err error) {
	if depth == 1 {
		set, _, _ := bytes.Cut(l.batch, []byte("get "))
		if err := l.exchange(set, l.got[:8]); err != nil {
			return 0, err
		}
		if err := l.exchange(l.batch[len(set):], l.got[8:]); err != nil {
			return 0, err
		}
		return 2, l.check()
	}
	if err := l.exchange(l.batch, l.got); err != nil {
		return 0, err
	}
	return depth, l.check()
}

func (l *memcachedLoad) exchange(req, answer []byte) error {
	if _, err := l.conn.Write(req); err != nil {
		return err
	}
	_, err := io.ReadFull(l.r, answer)
	return err
}

func (l *memcachedLoad) check() error {
	if !bytes.Equal(l.got, l.want) {
		return fmt.Errorf("got %q, want %q", l.got, l.want)
	}
	return nil
}

// memcachedPath is one way to memcached and its measurements.
type memcachedPath struct {
	name     string
	clients  []*memcachedLoad
	elapsed  time.Duration
	commands int
}

// round runs batches on every client at once until each has sent n
// commands.
func (p *memcachedPath) round(n, depth int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(p.clients))
	counts := make([]int, len(p.clients))
	began := time.Now()
	for i, c := range p.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for counts[i] < n {
				k, err := c.step(depth)
				if err != nil {
					errs[i] = fmt.Errorf("%s client %d: %w", p.name, i, err)
					return
				}
				counts[i] += k
			}
		}()
	}
	wg.Wait()
	p.elapsed += time.Since(began)
	for _, k := range counts {
		p.commands += k
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *memcachedPath) perSecond() float64 { return float64(p.commands) / p.elapsed.Seconds() }

// memcachedPaths starts memcached, the plain proxy and ubfproxy, and conns
// clients on each path.
func memcachedPaths(tb testing.TB, conns, depth int) (plain, ubfp *memcachedPath, p *textProxy) {
	tb.Helper()
	server := realservice.Memcached(tb)
	p = startTextProxy(tb, "memcached.con", text.Memcached, server, proxy.Kill, proxy.Limits{})
	plain = &memcachedPath{name: "plain"}
	ubfp = &memcachedPath{name: "ubfproxy"}
	for _, path := range []struct {
		p    *memcachedPath
		addr string
	}{{plain, startPlainProxy(tb, server, true)}, {ubfp, p.addr}} {
		for i := range conns {
			c, err := dialMemcachedLoad(path.addr, i, depth)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { c.conn.Close() })
			path.p.clients = append(path.p.clients, c)
		}
	}
	return plain, ubfp, p
}

// BenchmarkMemcachedProxy reports commands per second through each path
// and ubfproxy's share of the plain proxy's, for b.N commands per client
// and path.
func BenchmarkMemcachedProxy(b *testing.B) {
	const conns = 4
	for _, depth := range []int{1, 16} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			plain, ubfp, p := memcachedPaths(b, conns, depth)
			b.ResetTimer()
			const roundSize = 2000
			for done, r := 0, 0; done < b.N; r++ {
				n := min(roundSize, b.N-done)
				paths := []*memcachedPath{plain, ubfp}
				for i := range paths {
					if err := paths[(i+r)%2].round(n, depth); err != nil {
						b.Fatal(err)
					}
				}
				done += n
			}
			b.StopTimer()
			if v := p.violations(); v != 0 {
				b.Fatalf("ubfproxy reported %d violations on a conforming load:\n%s", v, p.logs.String())
			}
			b.ReportMetric(plain.perSecond(), "plain-cmd/s")
			b.ReportMetric(ubfp.perSecond(), "ubfproxy-cmd/s")
			b.ReportMetric(ubfp.perSecond()/plain.perSecond(), "ubfproxy/plain")
		})
	}
}

// TestMemcachedBenchHarness runs the benchmark's load briefly on both
// paths: every answer is checked byte for byte, and ubfproxy sees no
// violation. It asserts nothing about speed.
func TestMemcachedBenchHarness(t *testing.T) {
	for _, depth := range []int{1, 16} {
		plain, ubfp, p := memcachedPaths(t, 2, depth)
		for _, path := range []*memcachedPath{plain, ubfp} {
			if err := path.round(64, depth); err != nil {
				t.Fatal(err)
			}
			if path.commands < 128 {
				t.Errorf("depth %d, %s: %d commands", depth, path.name, path.commands)
			}
		}
		p.noViolations(t)
	}
}

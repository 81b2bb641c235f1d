package proxy_test

// The comparison benchmark. One run measures the same client load against
// the file server (proxy/fileserver, UBF(C) over TCP) four ways:
//
//	direct    client -> service
//	plain     client -> a pass-through Go proxy (io.Copy both ways) -> service
//	plainrw   the same with a read/write loop instead of io.Copy
//	ubfproxy  client -> ubfproxy enforcing contracts/file.con, kill mode -> service
//
// io.Copy between two TCP connections splices on Linux (splice(2) through
// a pipe), which costs more than a read and a write for small messages; the
// plainrw proxy is the stronger baseline and ubfproxy is reported against
// both.
//
// The paths are measured in alternating rounds of a few thousand requests,
// so that whatever else the machine does weighs on all of them alike, and
// ubfproxy is reported against the plain proxies: what checking every
// message costs on top of being a proxy at all.
//
//	go test ./proxy -run '^$' -bench ProxyOverhead -benchtime 20000x -count 3
//
// (-count 3 shows how much the machine's other work moves the figures).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/contracts"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/proxy/fileserver"
	"github.com/ubfproxy/ubfproxy/proxy/proxytest"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// fileContract compiles the embedded contracts/file.con.
func fileContract(tb testing.TB) *contract.Contract {
	tb.Helper()
	src, err := contracts.FS.ReadFile("file.con")
	if err != nil {
		tb.Fatal(err)
	}
	c, diags := contract.Compile("contracts/file.con", src, contract.Options{})
	if c == nil || diags.HasErrors() {
		tb.Fatalf("contracts/file.con: %v", diags)
	}
	return c
}

// startFileServer runs the file server on a free loopback port until the
// test ends.
func startFileServer(tb testing.TB, cfg fileserver.Config) string {
	tb.Helper()
	addr, stop, err := fileserver.Listen(context.Background(), "127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return addr.String()
}

// startUBFProxy runs ubfproxy with the file contract in front of upstream
// until the test ends; Serve must have returned by then.
func startUBFProxy(tb testing.TB, upstream string, cfg proxy.Config) (*proxy.Server, string) {
	tb.Helper()
	cfg.Contract = fileContract(tb)
	cfg.Upstream = upstream
	cfg.Wire = ubf.Wire{}
	return serveProxy(tb, cfg)
}

// ioTimeout bounds every wait of the tests of this package (proxy_test) for
// the proxy or a service: generous, since a loaded machine is slow, and
// reached only when something is wrong (the internal tests have their own).
const ioTimeout = 20 * time.Second

// serveProxy runs ubfproxy for cfg until the test ends and returns it and
// its address.
func serveProxy(tb testing.TB, cfg proxy.Config) (*proxy.Server, string) {
	tb.Helper()
	srv, err := proxy.New(proxy.WithTestIO(cfg))
	if err != nil {
		tb.Fatal(err)
	}
	proxy.WatchReads(tb, srv)
	return srv, proxytest.Start(tb, srv).Addr
}

// plainProxy is the baseline: for each client it dials upstream and copies
// bytes both ways without looking at them, the cheapest proxy Go can write.
type plainProxy struct {
	ln       net.Listener
	upstream string
	rwLoop   bool // copy with Read and Write, not io.Copy
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{} // nil once closed
}

func startPlainProxy(tb testing.TB, upstream string, rwLoop bool) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &plainProxy{ln: ln, upstream: upstream, rwLoop: rwLoop, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(p.close)
	return ln.Addr().String()
}

func (p *plainProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(c)
		}()
	}
}

func (p *plainProxy) pipe(client net.Conn) {
	defer client.Close()
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	if p.conns == nil {
		p.mu.Unlock()
		return
	}
	p.conns[client], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.conns != nil {
			delete(p.conns, client)
			delete(p.conns, up)
		}
		p.mu.Unlock()
	}()
	cp := io.Copy
	if p.rwLoop {
		cp = copyLoop
	}
	done := make(chan struct{})
	go func() {
		cp(up, client)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	cp(client, up)
	client.(*net.TCPConn).CloseWrite()
	<-done
}

// copyLoop copies src to dst with one buffer, a Read and a Write at a time.
func copyLoop(dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, err
		}
	}
}

func (p *plainProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// benchFile is the file the load reads: lines of a typical length.
func benchFile() map[string]string {
	var b strings.Builder
	for i := range 64 {
		fmt.Fprintf(&b, "line %02d: black boxes communicate with defined protocols\n", i)
	}
	return map[string]string{"bench.txt": b.String()}
}

// loadClient holds one conversation: it opens bench.txt and then reads it
// line by line, rewinding at the end, in lock-step (one request, then its
// reply), timing every request. The file server writes one frame per line
// and the file has no newline inside a line, so a reply is read up to its
// newline; the client costs the same on every path.
type loadClient struct {
	conn net.Conn
	r    *bufio.Reader
	atE  bool // the last reply was eof: rewind next
	lat  []time.Duration
}

var (
	reqOpen     = []byte(`{'open',"bench.txt",'read'}$` + "\n")
	reqReadLine = []byte(`{'read_line',1}$` + "\n")
	reqRewind   = []byte(`{'rewind',1}$` + "\n")
)

func dialLoad(addr string) (*loadClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &loadClient{conn: conn, r: bufio.NewReaderSize(conn, 512)} // replies are under 100 bytes
	reply, err := c.roundTrip(reqOpen)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !bytes.HasPrefix(reply, []byte("{{'ok',1},'ready'}$")) {
		conn.Close()
		return nil, fmt.Errorf("open answered %q", reply)
	}
	return c, nil
}

func (c *loadClient) roundTrip(req []byte) ([]byte, error) {
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	return c.r.ReadSlice('\n')
}

// step sends the next request of the conversation and checks its reply.
func (c *loadClient) step() error {
	req := reqReadLine
	if c.atE {
		req = reqRewind
	}
	t0 := time.Now()
	reply, err := c.roundTrip(req)
	c.lat = append(c.lat, time.Since(t0))
	if err != nil {
		return err
	}
	switch {
	case c.atE && bytes.Equal(reply, []byte("{'true','ready'}$\n")):
		c.atE = false
	case !c.atE && bytes.HasPrefix(reply, []byte("{{'ok',\"line ")):
	case !c.atE && bytes.Equal(reply, []byte("{'eof','atEof'}$\n")):
		c.atE = true
	default:
		return fmt.Errorf("%q answered %q", bytes.TrimSpace(req), reply)
	}
	return nil
}

// pathStats accumulates one path's measurements over the rounds.
type pathStats struct {
	name    string
	addr    string
	clients []*loadClient
	elapsed time.Duration
	n       int
	lat     []time.Duration
	mallocs uint64 // heap allocations in the process during its rounds
	bytes   uint64 // bytes allocated likewise
}

// round runs n requests spread over the path's clients, all at once.
func (p *pathStats) round(n int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(p.clients))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	began := time.Now()
	for i, c := range p.clients {
		share := n / len(p.clients)
		if i < n%len(p.clients) {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range share {
				if err := c.step(); err != nil {
					errs[i] = fmt.Errorf("%s client %d: %w", p.name, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	p.elapsed += time.Since(began)
	runtime.ReadMemStats(&ms1)
	p.mallocs += ms1.Mallocs - ms0.Mallocs
	p.bytes += ms1.TotalAlloc - ms0.TotalAlloc
	p.n += n
	for _, c := range p.clients {
		p.lat = append(p.lat, c.lat...)
		c.lat = c.lat[:0]
	}
	return errors.Join(errs...)
}

func (p *pathStats) perSecond() float64 { return float64(p.n) / p.elapsed.Seconds() }

func (p *pathStats) percentile(q float64) time.Duration {
	if len(p.lat) == 0 {
		return 0
	}
	slices.Sort(p.lat)
	i := int(q * float64(len(p.lat)-1))
	return p.lat[i]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// comparison is the three paths to one service.
type comparison struct {
	paths []*pathStats
	srv   *proxy.Server
}

func newComparison(tb testing.TB, conns int) *comparison {
	tb.Helper()
	svc := startFileServer(tb, fileserver.Config{Files: benchFile()})
	plain := startPlainProxy(tb, svc, false)
	plainRW := startPlainProxy(tb, svc, true)
	srv, ubfAddr := startUBFProxy(tb, svc, proxy.Config{})
	cmp := &comparison{srv: srv, paths: []*pathStats{
		{name: "direct", addr: svc},
		{name: "plain", addr: plain},
		{name: "plainrw", addr: plainRW},
		{name: "ubfproxy", addr: ubfAddr},
	}}
	for _, p := range cmp.paths {
		for range conns {
			c, err := dialLoad(p.addr)
			if err != nil {
				tb.Fatalf("%s: %v", p.name, err)
			}
			tb.Cleanup(func() { c.conn.Close() })
			p.clients = append(p.clients, c)
		}
	}
	return cmp
}

// run measures total requests on each path, in rounds of at most
// roundSize, rotating which path goes first.
func (cmp *comparison) run(total, roundSize int) error {
	for done, r := 0, 0; done < total; r++ {
		n := min(roundSize, total-done)
		for i := range cmp.paths {
			p := cmp.paths[(i+r)%len(cmp.paths)]
			if err := p.round(n); err != nil {
				return err
			}
		}
		done += n
	}
	return nil
}

func (cmp *comparison) path(name string) *pathStats {
	for _, p := range cmp.paths {
		if p.name == name {
			return p
		}
	}
	panic("no path " + name)
}

// BenchmarkProxyOverhead reports, for b.N requests on each path, requests
// per second and the median and 99th percentile latency of each, and the
// ratios that matter: ubfproxy's throughput against the plain proxy's
// (target >= 0.80) and the microseconds it adds to the plain proxy's p99
// (target < 50). conns=1 is one lock-step client (latency bound); conns=16
// keeps both cores busy (throughput bound).
func BenchmarkProxyOverhead(b *testing.B) {
	for _, conns := range []int{1, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			cmp := newComparison(b, conns)
			b.ResetTimer()
			if err := cmp.run(b.N, 2000); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if v := cmp.srv.Stats().Violations; v != 0 {
				b.Fatalf("ubfproxy reported %d violations on a conforming load", v)
			}
			for _, p := range cmp.paths {
				b.ReportMetric(p.perSecond(), p.name+"-req/s")
				b.ReportMetric(micros(p.percentile(0.50)), p.name+"-p50-µs")
				b.ReportMetric(micros(p.percentile(0.99)), p.name+"-p99-µs")
			}
			ubfp := cmp.path("ubfproxy")
			for _, base := range []*pathStats{cmp.path("plain"), cmp.path("plainrw")} {
				b.ReportMetric(ubfp.perSecond()/base.perSecond(), "ubfproxy/"+base.name+"-req/s")
				b.ReportMetric(micros(ubfp.percentile(0.99)-base.percentile(0.99)), "ubfproxy-vs-"+base.name+"-added-p99-µs")
				b.ReportMetric(micros(ubfp.percentile(0.50)-base.percentile(0.50)), "ubfproxy-vs-"+base.name+"-added-p50-µs")
			}
			b.ReportMetric(cmp.path("plain").perSecond()/cmp.path("direct").perSecond(), "plain/direct-req/s")
			// Everything runs in this process, so the allocations of a
			// path's rounds are the client's, the service's and the
			// proxy's; against the read/write-loop proxy (which allocates
			// nothing per request) the difference is ubfproxy's own.
			rw := cmp.path("plainrw")
			b.ReportMetric((float64(ubfp.mallocs)-float64(rw.mallocs))/float64(ubfp.n), "ubfproxy-allocs/req")
			b.ReportMetric((float64(ubfp.bytes)-float64(rw.bytes))/float64(ubfp.n), "ubfproxy-B/req")
		})
	}
}

// TestComparisonHarness runs the benchmark's machinery briefly and checks
// that every path holds the same conversation and that ubfproxy really
// checked it; it asserts nothing about speed (benchmarks do that).
func TestComparisonHarness(t *testing.T) {
	cmp := newComparison(t, 3)
	const total = 300 // 64 lines and an eof per pass: every kind of reply, several rewinds
	if err := cmp.run(total, 100); err != nil {
		t.Fatal(err)
	}
	for _, p := range cmp.paths {
		if p.n != total || len(p.lat) != total {
			t.Errorf("%s: %d requests, %d latencies; want %d", p.name, p.n, len(p.lat), total)
		}
		if p.perSecond() <= 0 || p.percentile(0.99) < p.percentile(0.50) {
			t.Errorf("%s: %.0f req/s, p50 %v, p99 %v", p.name, p.perSecond(), p.percentile(0.5), p.percentile(0.99))
		}
	}
	st := cmp.srv.Stats()
	if st.Violations != 0 || st.Open != 3 {
		t.Errorf("ubfproxy stats %+v; want no violations and its 3 sessions open", st)
	}
}

// Close closes the client's connection.
func (c *loadClient) Close() error { return c.conn.Close() }

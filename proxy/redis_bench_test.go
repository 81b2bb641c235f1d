package proxy_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
)

// BenchmarkRedisGET is one client sending GETs one at a time (c=1) through
// the proxy, enforcing contracts/redis.con in front of a real Redis: the
// per-request path of scripts/callgrind-per-request.sh as a Go benchmark.
// Its allocs/op and B/op are the proxy's own per request (the client reads
// into one buffer and allocates nothing); its ns/op is the round trip,
// Redis and the loopback included, so compare it only with another build
// in the same run.
func BenchmarkRedisGET(b *testing.B) { benchRedisGET(b, 1) }

// BenchmarkRedisGETPipelined is BenchmarkRedisGET with 16 GETs written at
// once, as redis-benchmark -P 16: an op is one GET, so its allocs/op and
// B/op are the proxy's own per pipelined request.
func BenchmarkRedisGETPipelined(b *testing.B) { benchRedisGET(b, 16) }

// benchRedisGET writes depth GETs at a time and reads their replies, an op
// being one GET.
func benchRedisGET(b *testing.B, depth int) {
	conn := redisGETClient(b)
	defer conn.Close()
	gets := bytes.Repeat([]byte(realservice.Command("GET", "key")), depth)
	want := bytes.Repeat([]byte("$3\r\nxxx\r\n"), depth)
	got := make([]byte, len(want))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := conn.Write(gets); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, got); err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			b.Fatalf("GETs answered %q, want %q", got, want)
		}
	}
}

// redisGETClient starts a Redis holding key = "xxx" and the proxy
// enforcing contracts/redis.con in front of it, and returns a client
// connection that has logged in.
func redisGETClient(b *testing.B) net.Conn {
	redis := realservice.Redis(b, e2eRedisPassword)
	direct, err := respAuthed(redis, e2eRedisPassword)
	if err != nil {
		b.Fatal(err)
	}
	ok := make([]byte, 5)
	if _, err := io.WriteString(direct, realservice.Command("SET", "key", "xxx")); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(direct, ok); err != nil || string(ok) != "+OK\r\n" {
		b.Fatalf("SET answered %q (%v)", ok, err)
	}
	direct.Close()
	_, addr := serveProxy(b, proxy.Config{Contract: redisContract(b), Upstream: redis, Wire: resp.Wire{}, Mode: proxy.Kill})
	conn, err := respAuthed(addr, e2eRedisPassword)
	if err != nil {
		b.Fatal(err)
	}
	return conn
}

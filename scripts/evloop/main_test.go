//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/internal/realservice"
)

// The figures the README draws from this prototype (what an event loop
// would give, what checking costs by itself) are only worth something if
// it does the work it claims: copies every byte, in order, under
// backpressure and through half-closes, and, checking, decodes and judges
// every message, so that a command the contract refuses never reaches the
// service.

// startLoop serves on a loopback port in front of upstream and returns its
// address. The listener closes when the test ends; the loops run on until
// the test binary exits (serve has no way to stop them: the tool never
// needs one).
func startLoop(t *testing.T, upstream string, m *checker.Machine, opts options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(ln, upstream, m, opts) }()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// echoService is a service that sends back what it reads and closes once
// its reader has sent all of it.
func echoService(t *testing.T) string {
	return realservice.Serve(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// TestCopy sends 4 MiB through the copying loop to an echo service, which
// the client reads back only while it writes: the sockets fill, and the
// loop must hold what a write did not take and stop reading the other side
// (backpressure) rather than lose or reorder bytes. The client's
// half-close must reach the service, and the service's close the client.
func TestCopy(t *testing.T) {
	data := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	echo := echoService(t)
	for _, opts := range []options{
		{loops: 1}, {loops: 2}, {loops: 1, viaPoller: true}, {loops: 2, viaPoller: true},
		{loops: 1, keepPoller: true}, {loops: 2, viaPoller: true, keepPoller: true},
	} {
		t.Run(opts.String(), func(t *testing.T) {
			addr := startLoop(t, echo, nil, opts)
			for conn := range 3 { // connections spread over the loops
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				werr := make(chan error, 1)
				go func() {
					_, err := c.Write(data)
					if err == nil {
						err = c.(*net.TCPConn).CloseWrite()
					}
					werr <- err
				}()
				if conn == 0 {
					// Read nothing for a while: every buffer on the way
					// fills and the loop must hold bytes back.
					time.Sleep(300 * time.Millisecond)
				}
				got, err := io.ReadAll(c)
				c.Close()
				if err != nil {
					t.Fatalf("connection %d: reading the echo: %v (after %d bytes)", conn, err, len(got))
				}
				if err := <-werr; err != nil {
					t.Fatalf("connection %d: writing: %v", conn, err)
				}
				if !bytes.Equal(got, data) {
					i := 0
					for i < min(len(got), len(data)) && got[i] == data[i] {
						i++
					}
					t.Fatalf("connection %d: echo of %d bytes differs from the %d sent at byte %d", conn, len(got), len(data), i)
				}
			}
		})
	}
}

// redisPassword is the password of the Redis the checking tests start.
const redisPassword = "evloop-test-pw"

// authFrame is the AUTH command with redisPassword, which contracts/redis.con
// asks for first.
var authFrame = fmt.Sprintf("*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(redisPassword), redisPassword)

// checkedRedis starts a real Redis (the test is skipped where it is not
// installed) and loads the contract the checking loop enforces before it.
func checkedRedis(t *testing.T) (redis string, m *checker.Machine) {
	t.Helper()
	redis = realservice.Redis(t, redisPassword)
	m, err := loadContract("../../contracts/redis.con")
	if err != nil {
		t.Fatal(err)
	}
	return redis, m
}

// TestCheckRedis runs the checking loop in front of a real Redis under
// contracts/redis.con: pipelined requests are answered in order, and a
// command the contract refuses closes the connection before it reaches
// Redis.
func TestCheckRedis(t *testing.T) {
	redis, m := checkedRedis(t)
	for _, opts := range []options{{loops: 1}, {loops: 2, viaPoller: true}, {loops: 1, keepPoller: true}} {
		t.Run(opts.String(), func(t *testing.T) {
			addr := startLoop(t, redis, m, opts)
			c := realservice.Dial(t, addr)
			c.Send(authFrame)
			c.Next("+OK\r\n")

			// 16 SETs and 16 GETs written at once, as redis-benchmark -P 16.
			var batch strings.Builder
			for i := range 16 {
				fmt.Fprintf(&batch, "*3\r\n$3\r\nSET\r\n$4\r\nk%03d\r\n$4\r\nv%03d\r\n", i, i)
			}
			for i := range 16 {
				fmt.Fprintf(&batch, "*2\r\n$3\r\nGET\r\n$4\r\nk%03d\r\n", i)
			}
			c.Send(batch.String())
			for i := range 16 {
				if got := c.Next("+OK\r\n"); got != "+OK\r\n" {
					t.Fatalf("SET %d: got %q before its +OK", i, got)
				}
			}
			for i := range 16 {
				want := fmt.Sprintf("$4\r\nv%03d\r\n", i)
				if got := c.Next(want); got != want {
					t.Fatalf("GET %d: got %q, want %q in order", i, got, want)
				}
			}

			// FLUSHALL is in no rule: the loop closes the connection, and
			// Redis keeps its keys.
			c.Send("*1\r\n$8\r\nFLUSHALL\r\n")
			if rest := c.Closed(); rest != "" {
				t.Errorf("after FLUSHALL the loop sent %q; want the connection closed with nothing more", rest)
			}
			direct := realservice.Dial(t, redis)
			direct.Send(authFrame)
			direct.Next("+OK\r\n")
			direct.Send("*2\r\n$3\r\nGET\r\n$4\r\nk007\r\n")
			if got := direct.Next("v007\r\n"); got != "$4\r\nv007\r\n" {
				t.Errorf("Redis answered GET k007 with %q: the refused FLUSHALL reached it", got)
			}
		})
	}
}

// TestCheckCutFrames sends a pipelined batch one byte at a time: every
// frame is cut short by the end of a read at every byte, and the decoders
// must resume where they stopped rather than misread or drop a frame.
func TestCheckCutFrames(t *testing.T) {
	redis, m := checkedRedis(t)
	addr := startLoop(t, redis, m, options{loops: 1})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	_ = c.(*net.TCPConn).SetNoDelay(true)
	msg := authFrame +
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"
	for i := range len(msg) {
		if _, err := c.Write([]byte{msg[i]}); err != nil {
			t.Fatalf("writing byte %d: %v", i, err)
		}
		time.Sleep(200 * time.Microsecond) // one byte per read, mostly
	}
	want := "+OK\r\n+OK\r\n$5\r\nhello\r\n+PONG\r\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the replies: %v (got %q)", err, got)
	}
	if string(got) != want {
		t.Errorf("replies %q, want %q", got, want)
	}
}

// String names a variant of the loop in a subtest's name.
func (o options) String() string {
	return fmt.Sprintf("loops=%d/poller=%v/keep=%v", o.loops, o.viaPoller, o.keepPoller)
}

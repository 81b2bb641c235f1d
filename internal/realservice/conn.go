package realservice

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Conn is a bare client for tests: it writes bytes as given and reads until
// it has seen what it waits for, so that a test can pipeline, send what no
// client library would, and see the bytes exactly as the peer sent them.
type Conn struct {
	tb  testing.TB
	c   net.Conn
	got []byte
}

// Dial connects to addr; the connection is closed when the test ends.
func Dial(tb testing.TB, addr string) *Conn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &Conn{tb: tb, c: c}
}

// Send writes s as it is.
func (c *Conn) Send(s string) {
	c.tb.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.tb.Fatal(err)
	}
}

// Await reads until the bytes received so far contain want n times.
func (c *Conn) Await(want string, n int) {
	c.tb.Helper()
	c.awaitUntil(fmt.Sprintf("%d× %q", n, want), 10*time.Second, func() bool {
		return bytes.Count(c.got, []byte(want)) >= n
	})
}

// Next reads until want appears after what earlier calls of Next (or
// Skip) returned, and returns the bytes from there to the end of want.
// The conversation tests use it to take a server's answers one by one.
func (c *Conn) Next(want string) string {
	c.tb.Helper()
	c.awaitUntil(fmt.Sprintf("%q", want), 10*time.Second, func() bool {
		return bytes.Contains(c.got, []byte(want))
	})
	i := bytes.Index(c.got, []byte(want)) + len(want)
	s := string(c.got[:i])
	c.got = c.got[i:]
	return s
}

// Exchange sends s and returns the answer up to and including want.
func (c *Conn) Exchange(s, want string) string {
	c.tb.Helper()
	c.Send(s)
	return c.Next(want)
}

// Lines is Next for answers of a known number of CRLF-ended lines.
func (c *Conn) Lines(n int) string {
	c.tb.Helper()
	var b strings.Builder
	for range n {
		b.WriteString(c.Next("\r\n"))
	}
	return b.String()
}

// Quiet reads for d and fails the test if anything arrives: it shows that
// a command got no answer.
func (c *Conn) Quiet(d time.Duration) {
	c.tb.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	k, err := c.c.Read(buf)
	if k > 0 || err == nil {
		c.tb.Fatalf("expected silence for %v, got %q", d, append(c.got, buf[:k]...))
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.tb.Fatalf("expected silence for %v, got %v", d, err)
	}
}

func (c *Conn) awaitUntil(what string, wait time.Duration, done func() bool) {
	c.tb.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64<<10)
	for !done() {
		k, err := c.c.Read(buf)
		c.got = append(c.got, buf[:k]...)
		if err != nil && !done() {
			c.tb.Fatalf("waiting for %s: %v; got %q", what, err, c.got)
		}
	}
}

// Received returns the bytes received and not yet returned by Next.
func (c *Conn) Received() string { return string(c.got) }

// Close closes the connection.
func (c *Conn) Close() { c.c.Close() }

// Closed waits until the peer closes the connection and returns everything
// received; it fails the test if the connection is still open after 10 s.
func (c *Conn) Closed() string {
	return c.ClosedWithin(10 * time.Second)
}

// ClosedWithin is Closed with another time limit, for servers that close
// on a time-out of their own.
func (c *Conn) ClosedWithin(wait time.Duration) string {
	c.tb.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	for {
		k, err := c.c.Read(buf)
		c.got = append(c.got, buf[:k]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.tb.Fatalf("connection still open after %v; got %q", wait, c.got)
			}
			return string(c.got)
		}
	}
}

// RESPConn is a Conn speaking the Redis protocol.
type RESPConn struct {
	*Conn
}

// DialRESP connects to a Redis protocol server at addr; the connection is
// closed when the test ends.
func DialRESP(tb testing.TB, addr string) *RESPConn {
	tb.Helper()
	return &RESPConn{Dial(tb, addr)}
}

// Command encodes a command as a RESP array of bulk strings.
func Command(args ...string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// Quit sends QUIT, waits for its +OK and closes the connection.
func (c *RESPConn) Quit() {
	c.tb.Helper()
	c.Send(Command("QUIT"))
	c.Await("+OK\r\n", bytes.Count(c.got, []byte("+OK\r\n"))+1)
	c.c.Close()
}

// Serve starts a service of the test's own on a free loopback port: every
// connection it accepts is handled by handle on a goroutine of its own,
// under a deadline of a minute so that a test that forgets it cannot hang,
// and closed when handle returns. It returns the service's address; the
// listener closes when the test ends.
func Serve(tb testing.TB, handle func(c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// Answers reports whether whatever listens on addr answers req with bytes
// that hold want within wait. A test that stopped a server checks with it
// that the server no longer serves: the port, free again, may already be
// another test's listener (the packages' tests run at once), so that a
// connection that succeeds proves nothing by itself.
func Answers(addr string, req []byte, want string, wait time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return false // refused: nothing listens
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(req); err != nil {
		return false
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if bytes.Contains(got, []byte(want)) {
			return true
		}
		if err != nil {
			return false // the end, a reset or the time-out
		}
	}
}

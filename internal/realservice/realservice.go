// Package realservice starts the real services the tests check the wire
// formats and the proxy against — redis-server and Python's aiosmtpd — on a
// free loopback port, for the duration of one test. A test that needs a
// service whose program is not installed is skipped with a message naming
// the Debian package; .ci/run installs them, so CI never skips.
package realservice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Output collects what a service prints; it is safe for concurrent use.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Redis starts redis-server with the given password (none when empty), no
// persistence and a temporary directory, and returns its address. It is
// stopped when the test ends.
func Redis(tb testing.TB, password string) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Skip("redis-server is not installed (Debian package redis-server); skipping the test against a real Redis")
	}
	addr := freeAddr(tb)
	_, port, _ := net.SplitHostPort(addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tb.TempDir()}
	if password != "" {
		args = append(args, "--requirepass", password)
	}
	start(tb, "redis-server", addr, 10*time.Second, bin, args...)
	return addr
}

// SMTP starts Python's aiosmtpd debugging server, which prints every mail
// it receives, and returns its address and its output. It is stopped when
// the test ends.
func SMTP(tb testing.TB) (string, *Output) {
	tb.Helper()
	python := ""
	// Debian's python3 first: python3-aiosmtpd installs there, while a
	// python3 earlier on PATH (pyenv) may lack it.
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import aiosmtpd").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		tb.Skip("no python3 with aiosmtpd (Debian package python3-aiosmtpd); skipping the test against a real SMTP server")
	}
	addr := freeAddr(tb)
	return addr, start(tb, "aiosmtpd", addr, 15*time.Second, python, "-m", "aiosmtpd", "-n", "-l", addr)
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

// start runs the program until the test ends and waits until it accepts
// connections on addr.
func start(tb testing.TB, name, addr string, wait time.Duration, bin string, args ...string) *Output {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	out := &Output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("start %s: %v", name, err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	if err := waitListening(addr, wait); err != nil {
		tb.Fatalf("%s: %v\n%s", name, err, out.String())
	}
	return out
}

func waitListening(addr string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not listen on %s within %v: %w", addr, wait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RESPConn is a bare Redis protocol client for tests: it writes commands as
// given and reads until it has seen what it waits for, so that a test can
// pipeline, send what no client library would, and see the bytes as sent.
type RESPConn struct {
	tb  testing.TB
	c   net.Conn
	got []byte
}

// DialRESP connects to addr; the connection is closed when the test ends.
func DialRESP(tb testing.TB, addr string) *RESPConn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &RESPConn{tb: tb, c: c}
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

// Send writes s as it is.
func (c *RESPConn) Send(s string) {
	c.tb.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.tb.Fatal(err)
	}
}

// Await reads until the bytes received so far contain want n times.
func (c *RESPConn) Await(want string, n int) {
	c.tb.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for bytes.Count(c.got, []byte(want)) < n {
		k, err := c.c.Read(buf)
		c.got = append(c.got, buf[:k]...)
		if err != nil {
			c.tb.Fatalf("waiting for %d× %q: %v; got %q", n, want, err, c.got)
		}
	}
}

// Quit sends QUIT, waits for its +OK and closes the connection.
func (c *RESPConn) Quit() {
	c.tb.Helper()
	c.Send(Command("QUIT"))
	c.Await("+OK\r\n", bytes.Count(c.got, []byte("+OK\r\n"))+1)
	c.c.Close()
}

// Close closes the connection.
func (c *RESPConn) Close() { c.c.Close() }

// Closed waits until the peer closes the connection and returns everything
// received; it fails the test if the connection is still open after 10 s.
func (c *RESPConn) Closed() string {
	c.tb.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		k, err := c.c.Read(buf)
		c.got = append(c.got, buf[:k]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.tb.Fatalf("connection still open after 10s; got %q", c.got)
			}
			return string(c.got)
		}
	}
}

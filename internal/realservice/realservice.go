// Package realservice starts the real services the tests check the wire
// formats and the proxy against — redis-server, Python's aiosmtpd, ngircd,
// memcached, vsftpd and dovecot's POP3 server — on a free loopback port,
// each with its own temporary configuration and directories, for the
// duration of one test. A test that needs a service whose program is not
// installed is skipped with a message naming the Debian package; .ci/run
// installs them, so CI never skips. It also holds the bare clients the
// tests talk to those services with.
package realservice

import (
	"bytes"
	"context"
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
	python := pythonWith("aiosmtpd")
	if python == "" {
		tb.Skip("no python3 with aiosmtpd (Debian package python3-aiosmtpd); skipping the test against a real SMTP server")
	}
	addr := freeAddr(tb)
	return addr, start(tb, "aiosmtpd", addr, 15*time.Second, python, "-m", "aiosmtpd", "-n", "-l", addr)
}

// pythonWith returns a python3 that can import module, or "" if none can.
// Debian's python3 comes first: Debian's python3-* packages install there,
// while a python3 earlier on PATH (pyenv) may lack them.
func pythonWith(module string) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import "+module).Run() == nil {
			return p
		}
	}
	return ""
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
	// Servers that fork a process per connection (vsftpd, dovecot) are
	// stopped with all their children, not only the listener.
	ownGroup(cmd)
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

// portOf returns the port of a host:port address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

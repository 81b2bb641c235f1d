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
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	dir := tb.TempDir()
	addr, _ := start(tb, "redis-server", 10*time.Second, func(addr string) (string, []string) {
		args := []string{"--port", portOf(addr), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
		if password != "" {
			args = append(args, "--requirepass", password)
		}
		return bin, args
	})
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
	return start(tb, "aiosmtpd", 15*time.Second, func(addr string) (string, []string) {
		return python, []string{"-m", "aiosmtpd", "-n", "-l", addr}
	})
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

// startAttempts bounds how many ports start tries.
const startAttempts = 4

// commandFor returns the program and arguments that run a service on addr
// (writing any configuration file that names the port).
type commandFor func(addr string) (bin string, args []string)

// start runs a service on a free loopback port until the test ends, and
// waits until it listens there; it returns the address and what the
// service prints. The port freeAddr found is free only until it returns:
// another test's listener, or the local end of any connection, can take it
// before the service binds it. A service that exits before listening
// (it could not bind) is started again on a new port, up to startAttempts
// times; one that runs but does not listen within wait fails the test.
func start(tb testing.TB, name string, wait time.Duration, cmd commandFor) (string, *Output) {
	tb.Helper()
	return startOn(tb, name, wait, freeAddr, cmd)
}

// startOn is start with the ports taken from pick.
func startOn(tb testing.TB, name string, wait time.Duration, pick func(testing.TB) string, cmd commandFor) (string, *Output) {
	tb.Helper()
	var failed []string
	for range startAttempts {
		addr := pick(tb)
		bin, args := cmd(addr)
		out, err := run(tb, name, addr, wait, bin, args...)
		if err == nil {
			return addr, out
		}
		if !errors.Is(err, errExited) {
			tb.Fatalf("%s: %v\n%s", name, err, out.String())
		}
		failed = append(failed, fmt.Sprintf("on %s: %v\n%s", addr, err, out.String()))
	}
	tb.Fatalf("%s did not start in %d attempts:\n%s", name, startAttempts, strings.Join(failed, "\n"))
	return "", nil
}

// errExited says a service ended before it listened.
var errExited = errors.New("exited before it listened")

// run starts the program and waits until it listens on addr. If it exits
// first, run returns errExited; once it listens, it runs until the test
// ends.
func run(tb testing.TB, name, addr string, wait time.Duration, bin string, args ...string) (*Output, error) {
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
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cancel()
		<-exited
	}
	if err := waitListening(cmd.Process.Pid, addr, wait, exited); err != nil {
		stop()
		if errors.Is(err, errExited) {
			err = fmt.Errorf("%w (%v)", err, waitErr)
		}
		return out, err
	}
	tb.Cleanup(stop)
	return out, nil
}

// waitListening waits until the process pid listens on addr, for at most
// wait, or until it exits (exited is closed). A connection to addr alone
// does not show that: another program may have taken the port; where
// /proc tells which process owns a listening socket, the socket must be
// pid's.
func waitListening(pid int, addr string, wait time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(wait)
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		owned, known := listensOn(pid, addr)
		if owned {
			return nil
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			if !known {
				return nil
			}
			err = errors.New("another process listens there")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not listen on %s within %v: %w", addr, wait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listensOn reports whether the process pid holds a listening TCP socket
// on addr's port, and whether it could tell (known is false without
// Linux's /proc).
func listensOn(pid int, addr string) (owned, known bool) {
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, false
	}
	port, err := strconv.Atoi(portOf(addr))
	if err != nil {
		return false, false
	}
	sockets := map[string]bool{}
	for _, line := range strings.Split(string(table), "\n")[1:] {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
			continue
		}
		if i := strings.IndexByte(f[1], ':'); i >= 0 && f[1][i+1:] == fmt.Sprintf("%04X", port) {
			sockets["socket:["+f[9]+"]"] = true
		}
	}
	if len(sockets) == 0 {
		return false, true
	}
	fds := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fds)
	if errors.Is(err, fs.ErrPermission) {
		return false, false
	}
	// Otherwise an error means the process is gone (or a zombie): it
	// holds nothing.
	for _, e := range entries {
		if l, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && sockets[l] {
			return true, true
		}
	}
	return false, true
}

// portOf returns the port of a host:port address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

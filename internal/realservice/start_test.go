package realservice

import (
	"bufio"
	"flag"
	"net"
	"os"
	"testing"
	"time"
)

// standInEnv, set, makes TestServiceStandIn a service: it listens on the
// address after the test binary's "--" and greets each connection.
const standInEnv = "REALSERVICE_STAND_IN"

const standInGreeting = "stand-in here\n"

// TestServiceStandIn is the service TestStartOnTakenPort starts: the test
// binary itself, run again. Without standInEnv it does nothing.
func TestServiceStandIn(t *testing.T) {
	if os.Getenv(standInEnv) == "" {
		return
	}
	ln, err := net.Listen("tcp", flag.Arg(0))
	if err != nil {
		os.Exit(3) // as a service that cannot bind its port exits
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(4)
		}
		_, _ = c.Write([]byte(standInGreeting))
		c.Close()
	}
}

// TestStartOnTakenPort: a service whose port was taken between freeAddr
// and its bind (here by a listener of the test's, which also answers a
// connection) exits; start runs it again on another port, and does not
// take the other listener for the service.
func TestStartOnTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	t.Setenv(standInEnv, "1")
	picks := 0
	pick := func(tb testing.TB) string {
		picks++
		if picks == 1 {
			return taken.Addr().String()
		}
		return freeAddr(tb)
	}
	addr, _ := startOn(t, "stand-in", 10*time.Second, pick, func(addr string) (string, []string) {
		return os.Args[0], []string{"-test.run=^TestServiceStandIn$", "--", addr}
	})
	if addr == taken.Addr().String() || picks != 2 {
		t.Fatalf("started on %s after %d picks; want the second pick, not the taken port %s", addr, picks, taken.Addr())
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := bufio.NewReader(c).ReadString('\n'); l != standInGreeting {
		t.Errorf("the service on %s said %q (%v), want %q", addr, l, err, standInGreeting)
	}
}

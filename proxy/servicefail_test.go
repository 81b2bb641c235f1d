package proxy

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestServiceResetMidConversation: a service that resets its connection
// with a request in flight gives the client the wire's error reply, not a
// bare close; the session ends with reason service_left and no violation.
func TestServiceResetMidConversation(t *testing.T) {
	EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		svc := startService(t, TCP, jsonKit, func(c *wconn) {
			if _, err := c.next(); err != nil {
				return
			}
			_ = c.nc.(*net.TCPConn).SetLinger(0) // close with RST
			_ = c.nc.Close()
		})
		p := startProxy(t, svc, Config{PlainIO: plain}, nil)
		c := p.dial(t)
		m := call(t, c, jsonKit, "{add, 1}")
		if !isErrorReply(m, jsonKit.errServer) {
			t.Fatalf("got %v, want the error reply", m.Term)
		}
		wantClosed(t, c)
		end := p.logs.wait(t, "session end", 1)[0]
		if field(end, "reason") != "service_left" {
			t.Errorf("session end %v", end)
		}
		if v := p.logs.find("contract violation"); len(v) > 1 {
			t.Errorf("violation records %v", v)
		}
	})
}

// TestDialFailedReason: the proxy's own lack of file descriptors is
// local_limit, not the service's fault.
func TestDialFailedReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want endReason
	}{
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("socket", syscall.EMFILE)}, reasonLocalLimit},
		{fmt.Errorf("dialing: %w", &net.OpError{Op: "dial", Err: os.NewSyscallError("socket", syscall.ENFILE)}), reasonLocalLimit},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, reasonServiceUnreachable},
		{os.ErrDeadlineExceeded, reasonServiceUnreachable},
	} {
		if got := dialFailed(tc.err); got != tc.want {
			t.Errorf("dialFailed(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

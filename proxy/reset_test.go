package proxy

import (
	"net"
	"testing"
	"time"
)

// TestClientResetEndsSession: a client that resets its connection (RST,
// not FIN) ends its session, and the server still shuts down. Its reader,
// inside the poller's callback, used to close its own connection when
// CloseWrite failed on the reset socket, and wait for itself for good.
func TestClientResetEndsSession(t *testing.T) {
	EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
		p := startProxy(t, svc, Config{PlainIO: plain}, nil)
		for range 3 {
			c := p.dial(t)
			wantReply(t, call(t, c, jsonKit, "{add, 1}"), "{ok, 2}")
			tc := c.nc.(*net.TCPConn)
			if err := tc.SetLinger(0); err != nil {
				t.Fatal(err)
			}
			c.close() // a reset, with linger 0
		}
		deadline := time.Now().Add(ioTimeout)
		for p.srv.Stats().Open > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions still open %v after their clients reset", p.srv.Stats().Open, ioTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

package proxy_test

import (
	"net"
	"testing"

	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
)

// TestClientHangsUpMidFrame: clients that close in the middle of a frame
// (slow clients giving up) have left; they broke no contract: the session
// ends with reason client_left, and no violation is recorded or counted.
func TestClientHangsUpMidFrame(t *testing.T) {
	const n = 20
	cases := []struct {
		name    string
		start   func(t *testing.T, plain bool) (srv *proxy.Server, addr string, log *recordLog)
		partial string
	}{
		{"ubf", func(t *testing.T, plain bool) (*proxy.Server, string, *recordLog) {
			h := newHostileSetup(t, proxy.Config{PlainIO: plain})
			return h.srv, h.addr, h.log
		}, `{'open', "half a file na`},
		{"resp", func(t *testing.T, plain bool) (*proxy.Server, string, *recordLog) {
			svc := startCapturing(t, resp.Wire{}, func(term.Term) []byte { return []byte("+OK\r\n") })
			log := &recordLog{}
			srv, addr := serveProxy(t, proxy.Config{Contract: redisContract(t), Upstream: svc.addr, Wire: resp.Wire{}, PlainIO: plain, Logger: jsonLogger(log)})
			return srv, addr, log
		}, "*2\r\n$4\r\nAUTH\r\n$10\r\nsupers"},
	}
	proxy.EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				srv, addr, log := tc.start(t, plain)
				for range n {
					c, err := net.DialTimeout("tcp", addr, ioTimeout)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := c.Write([]byte(tc.partial)); err != nil {
						t.Fatal(err)
					}
					// No pause before the close: TCP hands a reader the bytes
					// before the end of input that follows them, so the proxy
					// sees half a frame, then the end, however soon the close
					// comes.
					c.Close()
					end := log.wait(t, "session end", c.LocalAddr().String(), ioTimeout)
					if end["reason"] != "client_left" {
						t.Fatalf("session end %v, want reason client_left", end)
					}
				}
				for _, r := range log.all() {
					if r["msg"] == "contract violation" {
						t.Errorf("a violation record for a client that left: %v", r)
					}
				}
				if v := srv.Stats().Violations; v != 0 {
					t.Errorf("%d violations counted", v)
				}
			})
		}
	})
}

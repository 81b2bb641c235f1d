//go:build !unix

package proxy

import (
	"net"
	"testing"
)

// dialSmallWindow connects to addr with a receive buffer as small as the
// system allows, set once connected (the descriptor's type differs here),
// so that little fills it.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.(*net.TCPConn).SetReadBuffer(1024); err != nil {
		t.Fatal(err)
	}
	return c
}

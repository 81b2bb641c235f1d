//go:build !unix

package proxy

import (
	"net"
	"testing"
)

// refusingAddr returns a loopback address nothing listens on: a port found
// free and closed again (another test could take it before it is dialled;
// Unix systems hold it, see refuse_unix_test.go).
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

//go:build !linux || 386

package proxy

import "net"

// loopOf is the event loop that serves conn: none on this system.
func loopOf(net.Conn) any { return nil }

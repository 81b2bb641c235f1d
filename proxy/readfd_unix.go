//go:build unix

package proxy

import "syscall"

// canReadFD says whether a lendingReader can read a socket itself: on Unix
// systems a non-blocking read of the descriptor is what conn.Read does.
const canReadFD = true

// readFD reads from the socket fd without blocking.
func readFD(fd uintptr, buf []byte) (int, error) { return syscall.Read(int(fd), buf) }

//go:build !unix

package proxy

import "errors"

// canReadFD is false where a socket is not read as a file descriptor
// (Windows reads sockets through completion ports): decoders there read
// through conn.Read into buffers of their own, and no lendingReader is
// made.
const canReadFD = false

// readFD is never called where canReadFD is false.
func readFD(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }

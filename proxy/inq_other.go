//go:build !linux || 386

package proxy

import (
	"errors"
	"syscall"
)

// enableINQ reports false: only Linux has TCP_INQ (and Go's syscall
// package has no recvmsg or sendto numbers on linux/386, where sockets go
// through socketcall), so readers elsewhere
// wait for bytes outside the poller's callback (see lendingReader.inline).
func enableINQ(syscall.RawConn) bool { return false }

// recvINQ is never called where enableINQ is false.
func recvINQ(int, []byte) (int, bool, error) { return 0, false, errors.ErrUnsupported }

// shutdownSocket is never called where enableINQ is false.
func shutdownSocket(syscall.RawConn) {}

// canSendRaw is false: writes go through conn.Write (see rawWriter).
const canSendRaw = false

// sendNoSignal is never called where canSendRaw is false.
func sendNoSignal(uintptr, []byte) (int, syscall.Errno) { return 0, syscall.ENOSYS }

// sendBothNoSignal is never called where canSendRaw is false.
func sendBothNoSignal(uintptr, []byte, []byte) (int, syscall.Errno) { return 0, syscall.ENOSYS }

//go:build linux && !386

package proxy

import (
	"syscall"
	"unsafe"
)

// tcpINQ is the socket option TCP_INQ (Linux 4.18), and the type of the
// control message (TCP_CM_INQ) it adds to every recvmsg: the number of
// bytes still queued after the read, or 1 when none are but the peer's FIN
// is (tcp_inq_hint), so that 0 means "empty, and no end of input".
const tcpINQ = 36

// cmsgHeader is the size of a control message's header.
const cmsgHeader = int(unsafe.Sizeof(syscall.Cmsghdr{}))

// enableINQ turns TCP_INQ on for raw's socket and reports whether the
// system has it.
func enableINQ(raw syscall.RawConn) bool {
	var err error
	if cerr := raw.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpINQ, 1)
	}); cerr != nil {
		return false
	}
	return err == nil
}

// recvINQ reads from fd into buf (len(buf) > 0) without blocking, and
// reports whether the socket is known to be drained: nothing left to read
// and no end of input, so that whatever comes next raises a new readiness
// edge. A read the kernel did not describe is not known to drain. Its
// arguments live on the stack: a read allocates nothing, and an idle
// reader keeps nothing for it.
func recvINQ(fd int, buf []byte) (n int, drained bool, err error) {
	var oob [cmsgHeader + 8]byte
	iov := syscall.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := syscall.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	n, err = ignoringEINTR(func() (int, error) {
		// A direct call, without the runtime's bookkeeping for calls
		// that may block: the socket never blocks (see rawWriter).
		k, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
		if e != 0 {
			return 0, e
		}
		return int(k), nil
	})
	if err != nil {
		return 0, false, err
	}
	if n > 0 && int(msg.Controllen) >= cmsgHeader+4 {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Level == syscall.IPPROTO_TCP && h.Type == tcpINQ {
			drained = *(*int32)(unsafe.Pointer(&oob[cmsgHeader])) == 0
		}
	}
	return n, drained, nil
}

// shutdownSocket ends both directions of raw's socket (see closeSoon).
func shutdownSocket(raw syscall.RawConn) {
	_ = raw.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
}

// canSendRaw says that sendNoSignal works here (see rawWriter).
const canSendRaw = true

// sendNoSignal sends p (len(p) > 0) on fd without blocking and without
// SIGPIPE: send(2) with MSG_NOSIGNAL, called directly.
func sendNoSignal(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
	return int(n), e
}

// sendBothNoSignal sends a and then b (both not empty) on fd in one
// sendmsg(2), without blocking and without SIGPIPE, and returns how many
// bytes of the two it sent.
func sendBothNoSignal(fd uintptr, a, b []byte) (int, syscall.Errno) {
	iov := [2]syscall.Iovec{{Base: &a[0]}, {Base: &b[0]}}
	iov[0].SetLen(len(a))
	iov[1].SetLen(len(b))
	msg := syscall.Msghdr{Iov: &iov[0], Iovlen: 2} // a constant: its type is the architecture's
	n, _, e := syscall.RawSyscall(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&msg)), syscall.MSG_NOSIGNAL)
	return int(n), e
}

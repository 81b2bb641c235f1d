package proxy

import (
	"net"
	"os"
	"syscall"
)

// rawWriter writes a TCP connection's bytes with send(2) (sendmsg(2) for
// two pieces) made directly
// inside the callback of syscall.RawConn.Write, where the socket's poller
// is the runtime's as for conn.Write. conn.Write makes the same system
// call through the runtime's bookkeeping for calls that may block (handing
// the processor over, and taking it back after): the socket never blocks,
// so that costs about as much as the send itself on loopback, for every
// message. MSG_NOSIGNAL keeps a peer that left from raising SIGPIPE.
//
// A write the socket cannot take whole waits in the poller, with the
// connection's write deadline, as conn.Write does, and errors read as
// conn.Write's would (a *net.OpError "write"). Writes to one endpoint are
// serialised by the session, so one rawWriter needs no lock.
type rawWriter struct {
	lr *lendingReader // its raw connection
	// send is the callback of raw.Write, made once (a method value
	// allocates); p and then q are what is left to write, and errno how a
	// send failed.
	send  func(fd uintptr) bool
	p, q  []byte
	errno syscall.Errno
}

// newRawWriter returns a rawWriter for lr's connection, or nil where
// writes go through conn.Write: systems other than Linux, and with
// Config.PlainIO, which keeps the net package's way for both reads and
// writes.
func newRawWriter(lr *lendingReader) *rawWriter {
	if lr == nil || !lr.canInline || !canSendRaw {
		return nil
	}
	w := &rawWriter{lr: lr}
	w.send = w.sendSome
	return w
}

// write writes p and then q (nil for none) whole, or fails: both in each
// send while the socket takes them (sendmsg with two pieces), so that a
// message too long to be copied behind held bytes costs no second system
// call.
func (w *rawWriter) write(p, q []byte) error {
	if len(p) == 0 {
		p, q = q, nil
	}
	if len(p) == 0 {
		return nil
	}
	w.p, w.q, w.errno = p, q, 0
	err := w.lr.raw.Write(w.send)
	w.p, w.q = nil, nil
	if err == nil && w.errno != 0 {
		err = os.NewSyscallError("write", w.errno)
	}
	if err == nil {
		return nil
	}
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // raw.Write's own "raw-write" wrapping
	}
	c := w.lr.e.conn
	return &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// sendSome is raw.Write's callback: it sends what is left of w.p and w.q until
// all is sent (true), the socket is full (false: the poller waits for
// room and calls it again), or a send fails (true, with w.errno).
func (w *rawWriter) sendSome(fd uintptr) bool {
	for len(w.p) > 0 {
		var n int
		var e syscall.Errno
		if len(w.q) == 0 {
			n, e = sendNoSignal(fd, w.p)
		} else {
			n, e = sendBothNoSignal(fd, w.p, w.q)
		}
		switch e {
		case 0:
			if n >= len(w.p) {
				// p is out, and n-len(p) bytes of q: what is left is q's.
				w.p, w.q = w.q[n-len(w.p):], nil
				continue
			}
			w.p = w.p[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.errno = e
			return true
		}
	}
	return true
}

//go:build linux && !386

package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// loopbackPair returns both ends of a TCP connection on 127.0.0.1, closed
// when the test ends.
func loopbackPair(t *testing.T) (peer, c net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return peer, c
}

// queued is how many bytes raw's socket holds unread (TIOCINQ).
func queued(raw syscall.RawConn) int {
	var n int32
	_ = raw.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	})
	return int(n)
}

// tcpCloseWait is the TCP state of a socket whose peer's FIN arrived.
const tcpCloseWait = 8

// finArrived reports whether the peer's FIN reached raw's socket: the
// state TCP_INFO gives first (tcpi_state) is CLOSE_WAIT.
func finArrived(raw syscall.RawConn) bool {
	var info int
	var err error
	_ = raw.Control(func(fd uintptr) {
		// The first 4 bytes of struct tcp_info; the state is the first.
		info, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_INFO)
	})
	v := int32(info)
	return err == nil && (*[4]byte)(unsafe.Pointer(&v))[0] == tcpCloseWait
}

// TestRecvINQ pins what the inline reader relies on (runInline): recvmsg
// with TCP_INQ says "drained" only when nothing is left to read and no
// end of input is pending, on a real loopback TCP connection.
func TestRecvINQ(t *testing.T) {
	peer, c := loopbackPair(t)
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if !enableINQ(raw) {
		t.Skip("this kernel has no TCP_INQ (Linux 4.18 or later): the proxy reads the plain way")
	}
	type result struct {
		n       int
		drained bool
		err     error
	}
	// read waits until the socket has something (or its end) and reads
	// it into a buffer of size k.
	read := func(k int) result {
		t.Helper()
		var r result
		_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
		err := raw.Read(func(fd uintptr) bool {
			r.n, r.drained, r.err = recvINQ(int(fd), make([]byte, k))
			return !isErrno(r.err, syscall.EAGAIN)
		})
		if err != nil {
			t.Fatalf("waiting to read: %v", err)
		}
		return r
	}
	send := func(s string) {
		t.Helper()
		if _, err := peer.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// waitQueued waits until the socket holds want bytes, so that a read
	// sees them all.
	waitQueued := func(want int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d bytes queued", want), func() bool { return queued(raw) >= want })
	}

	send("hello")
	waitQueued(5)
	if r := read(64); r.n != 5 || !r.drained || r.err != nil {
		t.Errorf("all of 5 bytes read: got %+v, want 5 bytes, drained", r)
	}
	send("0123456789")
	waitQueued(10)
	if r := read(4); r.n != 4 || r.drained || r.err != nil {
		t.Errorf("4 of 10 bytes read: got %+v, want 4 bytes, not drained", r)
	}
	if r := read(64); r.n != 6 || !r.drained || r.err != nil {
		t.Errorf("the other 6 read: got %+v, want 6 bytes, drained", r)
	}
	// The end of input after the last bytes: they are not "drained",
	// since the FIN is still to be read.
	send("bye")
	if err := peer.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitQueued(3)
	waitFor(t, "the peer's FIN to arrive", func() bool { return finArrived(raw) })
	if r := read(64); r.n != 3 || r.drained || r.err != nil {
		t.Errorf("the last bytes before the end: got %+v, want 3 bytes, not drained", r)
	}
	if r := read(64); r.n != 0 || r.drained || r.err != nil {
		t.Errorf("the end of input: got %+v, want 0 bytes, not drained", r)
	}
}

// TestInlineWaitGivesBufferBack: a reader that waits inside the callback
// (runInline on a real loopback connection, its socket drained) has given
// the buffer its decoder handed back to the pool, so that an idle session
// holds no read buffer (4 KiB a reader; BenchmarkIdleSessionMemory saw
// UBF(A) sessions grow by 1.4 KiB when it kept them).
func TestInlineWaitGivesBufferBack(t *testing.T) {
	peer, c := loopbackPair(t)
	var inline atomic.Int64
	rs := &readers{testHook: func(in bool) {
		if in {
			inline.Add(1)
		}
	}}
	r := newLendingReader(&tcpEndpoint{conn: c}, rs)
	if r == nil || !r.canInline {
		t.Skip("no TCP_INQ here: readers wait outside the callback")
	}
	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	// The loop reads as a decoder does (bufread): it gives each buffer
	// back once it holds no bytes, and stops at the first error. When it
	// is told the read would block, the reader is about to wait: what it
	// holds then is noted there, on the reader's goroutine (the poller may
	// wake it again for nothing, and it reads, finds nothing and waits
	// again, so the test cannot look from outside while it waits).
	type atWait struct {
		spare    bool // the reader kept its spare buffer
		returned bool // the buffer read into is back in the pool
	}
	var (
		got  []byte
		lent *byte
		errs []error
	)
	waiting := make(chan atWait, 1)
	loop := func() {
		for {
			buf, n, err := r.ReadLent()
			if err != nil {
				errs = append(errs, err)
				if wrappers.IsWouldBlock(err) {
					w := atWait{spare: r.spare != nil}
					again := rs.pool.get()
					w.returned = &again[0] == lent
					rs.pool.put(again)
					select {
					case waiting <- w:
					default: // a later wait; the first is the one checked
					}
				}
				return
			}
			got, lent = append(got, buf[:n]...), &buf[0]
			r.Return(buf)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.runInline(loop)
	}()
	var w atWait
	select {
	case w = <-waiting:
	case <-time.After(ioTimeout):
		t.Fatal("the reader never waited")
	}
	if w.spare {
		t.Error("the reader kept its spare buffer while it waits")
	}
	if !w.returned {
		t.Error("the buffer did not go back to the pool")
	}
	// A deadline in the past ends the wait: the reader reads once outside
	// the callback, meets it, and runInline returns.
	_ = c.SetReadDeadline(aLongTimeAgo)
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatal("runInline did not return after its wait failed")
	}
	// The reader read hello inside the callback, waited (once, or again
	// after a wakeup that brought nothing), then met the deadline.
	if string(got) != "hello" || inline.Load() == 0 {
		t.Errorf("read %q with %d reads inside the callback; want hello, read inside", got, inline.Load())
	}
	last := len(errs) - 1
	if last < 1 || !errors.Is(errs[last], os.ErrDeadlineExceeded) {
		t.Fatalf("the loop stopped with %v; want ErrWouldBlock, then the deadline", errs)
	}
	for _, err := range errs[:last] {
		if !wrappers.IsWouldBlock(err) {
			t.Errorf("the loop stopped with %v; want ErrWouldBlock until the deadline", errs)
		}
	}
}

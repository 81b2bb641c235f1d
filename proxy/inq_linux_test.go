package proxy

import (
	"net"
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
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
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
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			var queued int32
			_ = raw.Control(func(fd uintptr) {
				_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&queued)))
			})
			if int(queued) >= want {
				return
			}
		}
		t.Fatalf("%d bytes never arrived", want)
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
	time.Sleep(20 * time.Millisecond) // the FIN follows the bytes on loopback
	if r := read(64); r.n != 3 || r.drained || r.err != nil {
		t.Errorf("the last bytes before the end: got %+v, want 3 bytes, not drained", r)
	}
	if r := read(64); r.n != 0 || r.drained || r.err != nil {
		t.Errorf("the end of input: got %+v, want 0 bytes, not drained", r)
	}
}

// TestInlineWaitGivesBufferBack: a reader about to wait inside the
// callback (the socket drained) gives the buffer its decoder handed back
// to the pool, so that an idle session holds no read buffer (4 KiB a
// reader; BenchmarkIdleSessionMemory saw UBF(A) sessions grow by 1.4 KiB
// when it kept them).
func TestInlineWaitGivesBufferBack(t *testing.T) {
	_, c := loopbackPair(t)
	var pool bufferPool
	r := newLendingReader(&tcpEndpoint{conn: c}, &pool)
	if r == nil || !r.canInline {
		t.Skip("no TCP_INQ here: readers wait outside the callback")
	}
	buf := pool.get()
	r.Return(buf)
	r.in.inside, r.in.drained = true, true
	got, n, err := r.ReadLent()
	if got != nil || n != 0 || err != wrappers.ErrWouldBlock {
		t.Fatalf("ReadLent on a drained socket: %v, %d, %v; want nil, 0, ErrWouldBlock", got, n, err)
	}
	if r.spare != nil {
		t.Error("the reader kept its spare buffer while it waits")
	}
	if again := pool.get(); &again[0] != &buf[0] {
		t.Error("the buffer did not go back to the pool")
	}
}

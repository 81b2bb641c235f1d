package proxy

import (
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestRecvINQ pins what the inline reader relies on (runInline): recvmsg
// with TCP_INQ says "drained" only when nothing is left to read and no
// end of input is pending, on a real loopback TCP connection.
func TestRecvINQ(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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

//go:build linux && !386

package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loopPair returns a loopConn on a running event loop and the plain
// connection at its other end.
func loopPair(t *testing.T) (*loopConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { peer.Close() })
	lp, err := newEventLoop(func(err error) { t.Errorf("the loop failed: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	lp.start()
	c, err := newLoopConn(nc.(*net.TCPConn), &loopRunner{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.add(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		lp.close()
	})
	return c, peer
}

// within fails the test unless f returns within d, and returns its error.
func within(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still waiting after %s", d)
		return nil
	}
}

// TestLoopConn: a loop connection's calls wait on the loop's events as a
// net.Conn's wait in the runtime's poller: a read for bytes that come
// later, a read past its deadline, a read the connection's close ends, a
// write to a peer that reads nothing until its deadline, which another
// goroutine moves into the past; and a closed connection refuses calls.
func TestLoopConn(t *testing.T) {
	t.Run("read waits for bytes", func(t *testing.T) {
		c, peer := loopPair(t)
		go func() {
			time.Sleep(20 * time.Millisecond)
			peer.Write([]byte("hello"))
		}()
		buf := make([]byte, 16)
		var n int
		err := within(t, ioTimeout, func() (err error) { n, err = c.Read(buf); return })
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("read %q, %v; want hello", buf[:n], err)
		}
	})
	t.Run("read deadline", func(t *testing.T) {
		c, _ := loopPair(t)
		c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		start := time.Now()
		err := within(t, ioTimeout, func() error { _, err := c.Read(make([]byte, 8)); return err })
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v, want a deadline error", err)
		}
		if waited := time.Since(start); waited < 25*time.Millisecond {
			t.Fatalf("read gave up after %s, before its deadline", waited)
		}
	})
	t.Run("close ends a read", func(t *testing.T) {
		c, _ := loopPair(t)
		go func() {
			time.Sleep(20 * time.Millisecond)
			c.Close()
		}()
		err := within(t, ioTimeout, func() error { _, err := c.Read(make([]byte, 8)); return err })
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read: %v, want net.ErrClosed", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write after close: %v, want net.ErrClosed", err)
		}
		if c.incref() {
			t.Fatal("a closed connection let a call use its descriptor")
		}
	})
	t.Run("write waits for room, until a deadline set meanwhile", func(t *testing.T) {
		c, _ := loopPair(t)
		go func() {
			time.Sleep(50 * time.Millisecond)
			c.SetWriteDeadline(time.Now().Add(-time.Second))
		}()
		big := bytes.Repeat([]byte("x"), 16<<20) // more than both sockets hold
		var n int
		err := within(t, ioTimeout, func() (err error) { n, err = c.Write(big); return })
		if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == len(big) {
			t.Fatalf("wrote %d of %d bytes, %v; want part of them and a deadline error", n, len(big), err)
		}
	})
	t.Run("peer's close", func(t *testing.T) {
		c, peer := loopPair(t)
		peer.Write([]byte("bye"))
		peer.Close()
		var got []byte
		err := within(t, ioTimeout, func() error {
			buf := make([]byte, 8)
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					return err
				}
			}
		})
		if string(got) != "bye" || !errors.Is(err, io.EOF) {
			t.Fatalf("read %q then %v, want bye then EOF", got, err)
		}
	})
}

// TestEventLoopFailure: a loop whose epoll instance breaks says why, once,
// and takes no new session: its connections keep the runtime's poller.
func TestEventLoopFailure(t *testing.T) {
	var got []error
	lp, err := newEventLoop(func(err error) { got = append(got, err) })
	if err != nil {
		t.Fatal(err)
	}
	lp.fail(syscall.EBADF)
	defer lp.close() // done is closed: close does not wait
	if len(got) != 1 || !errors.Is(got[0], syscall.EBADF) || !strings.Contains(got[0].Error(), "epoll_wait") {
		t.Fatalf("failed was told %v, want one epoll_wait error wrapping EBADF", got)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s := &Server{loops: []*eventLoop{lp}}
	c, err := s.forLoop(&session{id: 1}, nc)
	if err != nil || c != nc {
		t.Fatalf("a broken loop took a connection: %T, %v", c, err)
	}
}

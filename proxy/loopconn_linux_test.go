//go:build linux && !386

package proxy

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t *testing.T) (dialed, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-acc
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { nc.Close(); peer.Close() })
	return nc, peer
}

// loopPair returns a loopConn on a running event loop and the plain
// connection at its other end.
func loopPair(t *testing.T) (*loopConn, net.Conn) {
	t.Helper()
	nc, peer := tcpPair(t)
	lp, err := newEventLoop(new(loopCounts), func(err error) { t.Errorf("the loop failed: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	lp.start()
	ss := &session{id: 1, cfg: &Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	c, ok := (&Server{loops: []*eventLoop{lp}}).forLoop(ss, nc).(*loopConn)
	if !ok {
		t.Fatal("the loop did not take the connection")
	}
	t.Cleanup(func() {
		c.Close()
		lp.close()
	})
	return c, peer
}

// loopOf is the event loop that serves conn, nil when none does.
func loopOf(conn net.Conn) any {
	if c, ok := conn.(*loopConn); ok {
		return c.lp
	}
	return nil
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

// TestEventLoopFailure: a loop told that its epoll instance failed (fail,
// which its runner calls on an epoll_wait error; the test calls it, not a
// broken descriptor) says why and takes no new session: its connections
// keep the runtime's poller.
func TestEventLoopFailure(t *testing.T) {
	var got []error
	lp, err := newEventLoop(new(loopCounts), func(err error) { got = append(got, err) })
	if err != nil {
		t.Fatal(err)
	}
	lp.fail(syscall.EBADF)
	defer lp.close() // done is closed: close does not wait
	if len(got) != 1 || !errors.Is(got[0], syscall.EBADF) || !strings.Contains(got[0].Error(), "epoll_wait") {
		t.Fatalf("failed was told %v, want one epoll_wait error wrapping EBADF", got)
	}
	nc, _ := tcpPair(t)
	s := &Server{loops: []*eventLoop{lp}}
	if c := s.forLoop(&session{id: 1}, nc); c != nc {
		t.Fatalf("a broken loop took a connection: %T", c)
	}
}

// TestEventLoopRefusal: a connection the loop cannot take (here its
// epoll instance refuses it) stays the runtime's, usable, and the refusal
// is logged: the session runs on goroutines rather than end.
func TestEventLoopRefusal(t *testing.T) {
	lp, err := newEventLoop(new(loopCounts), func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	defer lp.closeFDs() // never started: nothing to stop
	epfd := lp.epfd
	lp.epfd = -1 // epoll_ctl fails with EBADF
	nc, peer := tcpPair(t)
	var logs bytes.Buffer
	cfg := &Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	s := &Server{loops: []*eventLoop{lp}}
	c := s.forLoop(&session{id: 1, cfg: cfg}, nc)
	lp.epfd = epfd
	if c != nc {
		t.Fatalf("a refused connection came back as %T, not the original", c)
	}
	if !strings.Contains(logs.String(), "the event loop cannot take a connection") || !strings.Contains(logs.String(), "epoll_ctl") {
		t.Errorf("the refusal was not logged with its cause: %s", logs.String())
	}
	if _, err := nc.Write([]byte("hi")); err != nil {
		t.Fatalf("the connection left to the runtime does not write: %v", err)
	}
	buf := make([]byte, 2)
	_ = peer.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("the peer read %q, %v", buf, err)
	}
}

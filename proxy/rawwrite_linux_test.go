//go:build linux && !386

package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
)

// rawWriterFor returns the rawWriter of an endpoint on c, as a session
// makes it.
func rawWriterFor(t *testing.T, c net.Conn) *rawWriter {
	t.Helper()
	newDec := func(r io.Reader) wrappers.Decoder { return resp.Wire{}.NewSession(wrappers.Options{}).ClientDecoder(r) }
	e := newTCPEndpoint(c, newDec, &readers{})
	if e.rw == nil {
		t.Skip("the kernel has no TCP_INQ: writes go through conn.Write")
	}
	return e.rw
}

// TestRawWriterWritesAll: writes far larger than the socket's buffers,
// one piece or two (whose sends split anywhere: in the first piece, at
// the seam, in the second), wait in the poller while the peer reads
// slowly, and every byte arrives in order.
func TestRawWriterWritesAll(t *testing.T) {
	for _, tc := range []struct {
		name string
		p, q int
	}{
		{"one piece", 8 << 20, 0},
		{"two pieces", 100 << 10, 8 << 20},
		{"a long first piece", 8 << 20, 3},
		{"a short first piece", 1, 4 << 20},
		{"an empty first piece", 0, 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer, c := loopbackPair(t)
			w := rawWriterFor(t, c)
			want := make([]byte, tc.p+tc.q)
			for i := range want {
				want[i] = byte(i * 7)
			}
			got := make(chan []byte, 1) // the reader never blocks on a test that gave up
			go func() {
				var b bytes.Buffer
				buf := make([]byte, 64<<10)
				for b.Len() < len(want) {
					n, err := peer.Read(buf)
					b.Write(buf[:n])
					if err != nil {
						break
					}
					if b.Len() < 1<<20 {
						time.Sleep(time.Millisecond) // slow at first: the socket fills
					}
				}
				got <- b.Bytes()
			}()
			if err := w.write(want[:tc.p], want[tc.p:]); err != nil {
				t.Fatal(err)
			}
			select {
			case b := <-got:
				if !bytes.Equal(b, want) {
					t.Fatalf("the peer read %d bytes, not the %d written, or not in order", len(b), len(want))
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the peer did not read everything within 20s")
			}
		})
	}
}

// TestRawWriterErrors: a write to a peer that left fails as conn.Write's
// would (a *net.OpError "write" wrapping the errno), and a write the
// socket cannot take before the write deadline fails with
// os.ErrDeadlineExceeded.
func TestRawWriterErrors(t *testing.T) {
	t.Run("peer reset", func(t *testing.T) {
		peer, c := loopbackPair(t)
		w := rawWriterFor(t, c)
		peer.(*net.TCPConn).SetLinger(0) // close with a reset
		peer.Close()
		var err error
		for range 100 { // the reset may take a write or two to be seen
			if err = w.write([]byte("hello\n"), nil); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "write" || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			t.Fatalf("writing to a reset peer: %v (%T), want a write *net.OpError with ECONNRESET or EPIPE", err, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		_, c := loopbackPair(t)
		w := rawWriterFor(t, c)
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		err := w.write(make([]byte, 64<<20), nil) // the peer reads nothing
		var oe *net.OpError
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "write" {
			t.Fatalf("a write past its deadline: %v, want a write *net.OpError wrapping os.ErrDeadlineExceeded", err)
		}
	})
}

package proxy_test

// The process-wide memory budget (Limits.MaxMemory), end to end on
// loopback: sessions holding big unfinished frames share it; the session
// whose frame would take it over is refused, and no other; new connections
// are refused while it is used past its high-water mark; and everything
// comes back when the sessions end.

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/proxy"
)

// holdFrame opens a connection and sends the start of a request whose
// file name is a binary of n bytes, and sent bytes of it: the proxy's
// read buffer must hold the frame, which never ends.
func holdFrame(t *testing.T, addr string, n, sent int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	frame := append([]byte(`{'open',`+strconv.Itoa(n)+`~`), make([]byte, sent)...)
	go func() {
		// The proxy may refuse the session while this is being written.
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		c.Write(frame)
	}()
	return c
}

// waitMemory waits until the sessions hold at least (or, with atMost, at
// most) want bytes of the budget.
func waitMemory(t *testing.T, srv *proxy.Server, want int64, atMost bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		got := srv.MemoryInUse()
		if (atMost && got <= want) || (!atMost && got >= want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sessions hold %d bytes of the budget, want %s %d", got, map[bool]string{true: "at most", false: "at least"}[atMost], want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMemoryBudget(t *testing.T) {
	// MaxMemory 32 MiB: the sessions share 16 MiB, and new connections
	// are refused past 90% of it.
	h := newHostileSetup(t, proxy.Config{Limits: proxy.Limits{MaxMemory: 32 << 20}})
	by := h.bystander(t)
	serve(t, by, 5)

	// a: a 6 MB frame, for which the read buffer grows to 8 MiB.
	a := holdFrame(t, h.addr, 9_000_000, 6_000_000)
	waitMemory(t, h.srv, 8<<20, false)

	// b: a 9 MB frame needs a 16 MiB buffer, which the budget cannot
	// hold beside a's: b is refused, with the error reply and a record.
	b := holdFrame(t, h.addr, 12_000_000, 9_000_000)
	b.SetReadDeadline(time.Now().Add(ioTimeout))
	got, _ := io.ReadAll(b)
	if !strings.Contains(string(got), "clientBrokeContract") || !strings.Contains(string(got), "memory budget") {
		t.Fatalf("b got %q, want the error reply naming the memory budget", got)
	}
	end := h.log.wait(t, "session end", b.LocalAddr().String(), ioTimeout)
	if end["reason"] != "limit" {
		t.Errorf("b's session end %v, want reason limit", end)
	}
	if v := h.log.wait(t, "contract violation", b.LocalAddr().String(), ioTimeout); v["kind"] != "limit" {
		t.Errorf("b's record %v, want kind limit", v)
	}

	// a is untouched: its session is open and still holds its buffer.
	if got := h.srv.MemoryInUse(); got < 8<<20 {
		t.Errorf("after b's refusal the sessions hold %d bytes; a's buffer went", got)
	}
	// d: another 6 MB frame takes the budget past its high-water mark
	// (8 + 8 of 16 MiB); a new connection is then refused at once.
	d := holdFrame(t, h.addr, 9_000_000, 6_000_000)
	waitMemory(t, h.srv, 16<<20, false)
	e, err := net.DialTimeout("tcp", h.addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if n := endOf(t, e, ioTimeout); n > 2*time.Second {
		t.Errorf("the connection over the high-water mark stayed open %v", n)
	}
	if r := h.log.wait(t, "session refused", e.LocalAddr().String(), ioTimeout); r["reason"] != "limit" {
		t.Errorf("refusal record %v, want reason limit", r)
	}

	// The bystander is served meanwhile; when a and d close, their
	// buffers come back to the budget and new sessions are served.
	serve(t, by, 5)
	a.Close()
	d.Close()
	waitMemory(t, h.srv, 0, true)
	c2 := h.bystander(t)
	serve(t, c2, 5)
}

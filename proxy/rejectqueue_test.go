package proxy

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// TestRejectQueueBounded: in reject mode, illegal requests that a client
// floods behind a slow legal one wait for their place among the replies;
// they count toward MaxPending, so the proxy stops reading from that
// client instead of queueing without bound, and the session still ends
// within the grace period of a shutdown.
func TestRejectQueueBounded(t *testing.T) {
	const maxPending = 8
	k := jsonKit
	// The service holds the first request until the test is done with
	// it: the flood meets a busy service however slow the machine.
	release := make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	svc := startService(t, TCP, k, heldCounterService(k, false, release))
	p := startProxy(t, svc, Config{Mode: Reject, Limits: Limits{MaxPending: maxPending, Grace: 500 * time.Millisecond, MaxViolations: 1 << 30}}, nil)
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(k.frame(T("{hold, 1}"))); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		junk := bytes.Repeat(k.frame(T("nope")), 1000)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	}()
	p.logs.wait(t, "the session reached --max-pending: reading the client waits for replies", 1)
	// A deliberate pause with the flood going on: a reader that did not
	// wait would read on meanwhile, and what it did not read cannot be
	// waited for.
	time.Sleep(300 * time.Millisecond)
	p.srv.mu.Lock()
	var ss *session
	for _, s := range p.srv.sessions {
		ss = s
	}
	p.srv.mu.Unlock()
	if ss == nil {
		t.Fatal("no open session")
	}
	ss.mu.Lock()
	n := len(ss.pending)
	ss.mu.Unlock()
	if n > maxPending {
		t.Errorf("%d requests pending (MaxPending %d)", n, maxPending)
	}
	if got := ss.up.msgs.Load(); got > maxPending+2 {
		t.Errorf("the proxy read %d messages from the client while the service was busy (MaxPending %d)", got, maxPending)
	}
	p.Shutdown()
	if !p.Wait(500*time.Millisecond + 3*linger) {
		t.Fatal("Serve did not return after the grace period")
	}
}

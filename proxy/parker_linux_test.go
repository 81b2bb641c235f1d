package proxy

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestParkerFailure: a parker whose epoll instance broke says why, once,
// and refuses every reader that would park on it afterwards, so that no
// reader waits on an instance nothing watches.
func TestParkerFailure(t *testing.T) {
	var got []error
	p, err := newParker(func(err error) { got = append(got, err) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.closeFDs()
	p.fail(syscall.EBADF)
	if len(got) != 1 || !errors.Is(got[0], syscall.EBADF) || !strings.Contains(got[0].Error(), "epoll_wait") {
		t.Fatalf("failed was told %v, want one epoll_wait error wrapping EBADF", got)
	}
	s := &session{id: 1}
	if p.park(s, clientToService, nil) {
		t.Fatal("a broken parker took a reader")
	}
	if len(p.parked) != 0 {
		t.Fatalf("a broken parker holds %d readers", len(p.parked))
	}
}

// wantParkedLetGo checks that every parked reader of p let go of its
// decoder, which all the wires of the kits can (wrappers.Parker), and that
// a session parked with nothing in flight let go of its reply timer: a parked
// session keeps a few words of each decoder, not the decoder and its
// scratch. It reads under the parker's lock, which a reader the parker
// resumes takes first, and ends with an atomic write of each parked
// reader's state that a reader the event loop resumes reads first, so
// that what it reads is ordered before any resumption (the test sends
// nothing meanwhile).
func (p *testProxy) wantParkedLetGo(t testing.TB) {
	t.Helper()
	pk := p.srv.parker
	if pk == nil {
		t.Fatal("no parker")
	}
	p.srv.mu.Lock()
	var sessions []*session
	for _, s := range p.srv.sessions {
		sessions = append(sessions, s)
	}
	p.srv.mu.Unlock()
	pk.mu.Lock()
	defer pk.mu.Unlock()
	parked := 0
	for _, s := range sessions {
		for d := range s.parks {
			dp := &s.parks[d]
			if dp.state.Load() != parkParked {
				continue
			}
			parked++
			if dp.dec == nil || s.decs[d] != nil || dp.lr.e.dec != nil {
				t.Errorf("session %d: the parked reader of the %s kept its decoder", s.id, direction(d).sender())
			}
		}
		s.mu.Lock()
		if len(s.pending) == 0 && s.replyTimer != nil && s.parks[0].state.Load() == parkParked && s.parks[1].state.Load() == parkParked {
			t.Errorf("session %d: parked with nothing in flight, it kept its reply timer", s.id)
		}
		s.mu.Unlock()
		for d := range s.parks {
			s.parks[d].state.CompareAndSwap(parkParked, parkParked)
		}
	}
	if parked == 0 {
		t.Error("no reader parked")
	}
}

// TestParkReleasesHeld: the buffers in which a session held back the
// requests of a pipelined batch for the service and the replies of one
// for the client (tcpEndpoint.out) are let go when its readers park, not
// kept while it is idle.
func TestParkReleasesHeld(t *testing.T) {
	k := jsonKit
	const n = 3
	// The service answers the batch in one write, so that the proxy reads
	// the replies at once and holds the first back as it did the requests.
	svc := startService(t, TCP, k, func(c *wconn) {
		var replies []byte
		for i := range n {
			if _, err := c.next(); err != nil {
				return
			}
			replies = append(replies, k.frame(k.reply(T(fmt.Sprintf("{ok, %d}", i+2)), "start"))...)
		}
		if c.send(replies) != nil {
			return
		}
		for {
			if _, err := c.next(); err != nil {
				return
			}
		}
	})
	p := startProxy(t, svc, Config{Limits: Limits{ParkDelay: testParkDelay}}, nil)
	c := p.dial(t)
	// One write, read at once: the first requests are held back to go
	// out with the last.
	var batch []byte
	for i := range n {
		batch = append(batch, k.frame(T(fmt.Sprintf("{add, %d}", i+1)))...)
	}
	if err := c.send(batch); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if m, err := c.next(); err != nil || m.Kind != wrappers.Reply {
			t.Fatalf("reply %d: got %s %v (%v)", i+1, m.Kind, m.Term, err)
		}
	}
	p.waitParked(t, 2)
	pk := p.srv.parker
	pk.mu.Lock()
	defer pk.mu.Unlock()
	for key, s := range pk.parked {
		// The client's reader writes to the service, the service's to
		// the client.
		r, to, ep := parkedAt(key, s), "service", s.service
		if r.d == serviceToClient {
			to, ep = "client", s.client
		}
		if out := ep.(*tcpEndpoint).out; out != nil {
			t.Errorf("parked, the session holds a buffer of %d bytes for the %s", cap(out), to)
		}
	}
}

package proxy

import (
	"errors"
	"strings"
	"syscall"
	"testing"
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

package proxy

import (
	"fmt"
	"syscall"
	"unsafe"
)

// wakeableEpoll is an epoll instance with an eventfd registered in it,
// level-triggered and with key 0 (see keyedEvent), which no connection
// has: one write to it (wakeUp) stops whoever waits on the instance, for
// good. The parker and the event loops are both stopped that way.
type wakeableEpoll struct {
	epfd int
	wake int
}

// newWakeableEpoll makes a wakeableEpoll, or names the call that failed.
func newWakeableEpoll() (wakeableEpoll, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return wakeableEpoll{}, fmt.Errorf("epoll_create1: %w", err)
	}
	wfd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if e != 0 {
		syscall.Close(epfd)
		return wakeableEpoll{}, fmt.Errorf("eventfd2: %w", e)
	}
	w := wakeableEpoll{epfd: epfd, wake: int(wfd)}
	ev := keyedEvent(syscall.EPOLLIN, 0)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, w.wake, &ev); err != nil {
		w.closeWake()
		syscall.Close(epfd)
		return wakeableEpoll{}, fmt.Errorf("epoll_ctl: %w", err)
	}
	return w, nil
}

// wakeUp makes the instance report key 0 to every wait from now on. The
// eventfd never fills up: its counter would need 2^64-2 wake-ups.
func (w wakeableEpoll) wakeUp() {
	one := uint64(1)
	_, _ = syscall.Write(w.wake, (*[8]byte)(unsafe.Pointer(&one))[:])
}

// closeWake closes the eventfd alone, for an owner that closes the epoll
// descriptor its own way (the event loop's is an *os.File).
func (w wakeableEpoll) closeWake() { syscall.Close(w.wake) }

// closeFDs closes both descriptors.
func (w wakeableEpoll) closeFDs() {
	w.closeWake()
	syscall.Close(w.epfd)
}

// keyedEvent is an epoll registration for events carrying key in its
// data (the parker's and the event loops' names for a connection, never
// its descriptor, which the system reuses).
func keyedEvent(events uint32, key uint64) syscall.EpollEvent {
	return syscall.EpollEvent{Events: events, Fd: int32(uint32(key)), Pad: int32(uint32(key >> 32))}
}

// eventKey is the key an event of a keyedEvent registration carries.
func eventKey(ev syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

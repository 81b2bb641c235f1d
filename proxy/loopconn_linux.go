//go:build linux && !386

package proxy

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// loopConn is a TCP connection whose socket an eventLoop owns: the
// net.Conn it came from was closed, which took the socket out of the
// runtime's poller, after its descriptor was duplicated. It is a net.Conn
// and a syscall.Conn, so that a tcpEndpoint, its lendingReader and its
// rawWriter use it as they use a *net.TCPConn; the waits the net package
// did in the runtime's poller it does with its loop's events (readiness),
// and the descriptor is closed only once no call uses it (refs), as the
// net package's poll.FD does.
type loopConn struct {
	fd  int
	lp  *eventLoop
	key uint64 // the loop's name for it (eventLoop.add)
	// refs counts the users of fd: one for the connection being open, one
	// for each call in progress. The last to let go closes fd; 0 means
	// closed.
	refs   atomic.Int32
	closed atomic.Bool
	// rd and wr are the socket's readiness to read and to write.
	rd, wr readiness
	// rdl and wdl are the read and write deadlines, in Unix nanoseconds;
	// 0 is none.
	rdl, wdl atomic.Int64
	// runs is the session's: whoever waits on this connection hands over
	// the loop that may be running it (loopRunner.mayBlock).
	runs *loopRunner
	// reader runs the session's reader of this connection on runner r,
	// when the loop finds the reader parked and the socket readable, and
	// reports whether r is still the loop's runner.
	reader func(r *runner) bool

	laddr, raddr net.Addr
}

// The states of a readiness.
const (
	readyNone    int32 = iota // no event since it was last used up, no one waiting
	readyEvent                // an event came that no one has used up yet
	readyWaiting              // a goroutine waits on ch for an event
	readyParked               // (reads) the session's reader waits for the loop to run it
)

// readiness is one direction of a socket's readiness, as the runtime's
// poller keeps it for a waiting goroutine (pollDesc's rg and wg): an event
// that comes while no one waits is kept for the next wait, so no edge is
// lost between a read that finds nothing and the wait after it.
type readiness struct {
	state atomic.Int32
	// ch wakes the goroutine that waits; made by its first wait, before
	// the state says someone waits.
	ch chan struct{}
}

// notify records an event. It reports whether it found the session's
// reader parked: the caller then owns it and runs it, and the event is
// used up by that run (a run that reads the socket at all reads what
// raised it).
func (r *readiness) notify() (parked bool) {
	if r.state.Load() == readyEvent {
		// Nothing to change: no locked instruction for every event
		// (a writable socket's readiness stays readyEvent while no
		// write waits, and every event reports room to write).
		return false
	}
	switch r.state.Swap(readyEvent) {
	case readyWaiting:
		select {
		case r.ch <- struct{}{}:
		default:
		}
	case readyParked:
		// Only the loop's runner notifies of events, and wake leaves
		// readyEvent alone: nothing else changed the state since.
		r.state.CompareAndSwap(readyEvent, readyNone)
		return true
	}
	return false
}

// wake has a waiting goroutine look again at the deadlines and the
// connection's state. A parked reader is left alone: it is not waiting in
// a call, and only an event or the session's end takes it.
func (r *readiness) wake() {
	for {
		st := r.state.Load()
		if st == readyParked || st == readyEvent || r.state.CompareAndSwap(st, readyEvent) {
			if st == readyWaiting {
				select {
				case r.ch <- struct{}{}:
				default:
				}
			}
			return
		}
	}
}

// park marks the reader parked, once it has drained the socket, and
// reports false when an event came while it ran: it reads again then.
func (r *readiness) park() bool {
	if r.state.CompareAndSwap(readyNone, readyParked) {
		return true
	}
	r.state.CompareAndSwap(readyEvent, readyNone)
	return false
}

// unpark takes a parked reader away from the loop, and reports whether it
// was parked (and now belongs to the caller).
func (r *readiness) unpark() bool { return r.state.CompareAndSwap(readyParked, readyNone) }

// newLoopConn makes a connection of a duplicate of c's descriptor, for an
// event loop; the caller closes c once the loop has it (forLoop). Its
// reader is not the loop's until it parks (runOnLoop): until then the
// events are kept for a wait.
func newLoopConn(c *net.TCPConn, runs *loopRunner) (*loopConn, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(s uintptr) {
		r, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			dupErr = os.NewSyscallError("fcntl", e)
			return
		}
		fd = int(r)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	lc := &loopConn{fd: fd, runs: runs, laddr: c.LocalAddr(), raddr: c.RemoteAddr()}
	lc.refs.Store(1)
	return lc, nil
}

// incref counts a call that uses fd, and reports false when the
// connection is closed.
func (c *loopConn) incref() bool {
	for {
		n := c.refs.Load()
		if n == 0 || c.closed.Load() {
			return false
		}
		if c.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// decref ends a call that used fd; the last one closes it.
func (c *loopConn) decref() {
	if c.refs.Add(-1) == 0 {
		syscall.Close(c.fd)
	}
}

// wait waits, after a call found the socket not ready in r, for an event
// in r, the deadline dl, or the connection's close: the net package's
// wait in the poller, on the loop's events. A loop's runner that gets here
// hands its loop over first.
func (c *loopConn) wait(r *readiness, dl *atomic.Int64) error {
	c.runs.mayBlock()
	for {
		if c.closed.Load() {
			return net.ErrClosed
		}
		d := dl.Load()
		var left time.Duration
		if d != 0 {
			if left = time.Until(time.Unix(0, d)); left <= 0 {
				return os.ErrDeadlineExceeded
			}
		}
		if r.state.CompareAndSwap(readyEvent, readyNone) {
			return nil
		}
		if r.ch == nil {
			r.ch = make(chan struct{}, 1)
		}
		if !r.state.CompareAndSwap(readyNone, readyWaiting) {
			continue // an event came: the state is readyEvent
		}
		if d == 0 {
			<-r.ch
		} else {
			t := time.NewTimer(left)
			select {
			case <-r.ch:
			case <-t.C:
			}
			t.Stop()
		}
		r.state.CompareAndSwap(readyWaiting, readyNone)
	}
}

// opError is err from op on c, as the net package words it.
func (c *loopConn) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	if en, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, en)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// Read implements net.Conn.
func (c *loopConn) Read(p []byte) (int, error) {
	if !c.incref() {
		return 0, c.opError("read", net.ErrClosed)
	}
	defer c.decref()
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := ignoringEINTR(func() (int, error) { return syscall.Read(c.fd, p) })
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case !isErrno(err, syscall.EAGAIN):
			return 0, c.opError("read", err)
		}
		if err := c.wait(&c.rd, &c.rdl); err != nil {
			return 0, c.opError("read", err)
		}
	}
}

// Write implements net.Conn.
func (c *loopConn) Write(p []byte) (int, error) {
	if !c.incref() {
		return 0, c.opError("write", net.ErrClosed)
	}
	defer c.decref()
	sent := 0
	for sent < len(p) {
		n, e := sendNoSignal(uintptr(c.fd), p[sent:])
		switch e {
		case 0:
			sent += n
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
		default:
			return sent, c.opError("write", e)
		}
		if err := c.wait(&c.wr, &c.wdl); err != nil {
			return sent, c.opError("write", err)
		}
	}
	return sent, nil
}

// Close implements net.Conn: the socket leaves the loop at once, waiting
// calls return, and the descriptor closes when the last call using it
// ends.
func (c *loopConn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", net.ErrClosed)
	}
	if c.lp != nil {
		c.lp.remove(c)
	}
	c.rd.wake()
	c.wr.wake()
	c.decref()
	return nil
}

// closeNeverWaits says that Close does not wait for a reader (see
// closesAtOnce): the session closes it on the spot, so that no close
// reaches the loop after the Server stopped it.
func (c *loopConn) closeNeverWaits() {}

// CloseWrite shuts down the writing side, as (*net.TCPConn).CloseWrite.
func (c *loopConn) CloseWrite() error {
	if !c.incref() {
		return c.opError("close", net.ErrClosed)
	}
	defer c.decref()
	return c.opError("close", syscall.Shutdown(c.fd, syscall.SHUT_WR))
}

// LocalAddr implements net.Conn.
func (c *loopConn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements net.Conn.
func (c *loopConn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline implements net.Conn.
func (c *loopConn) SetDeadline(t time.Time) error {
	c.setDeadline(&c.rdl, &c.rd, t)
	c.setDeadline(&c.wdl, &c.wr, t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *loopConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&c.rdl, &c.rd, t)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *loopConn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(&c.wdl, &c.wr, t)
	return nil
}

// setDeadline sets *dl to t and wakes the call that waits in r to look at
// it.
func (c *loopConn) setDeadline(dl *atomic.Int64, r *readiness, t time.Time) {
	var d int64
	if !t.IsZero() {
		d = max(t.UnixNano(), 1) // a deadline long past is still one
	}
	dl.Store(d)
	r.wake()
}

// SyscallConn implements syscall.Conn.
func (c *loopConn) SyscallConn() (syscall.RawConn, error) { return loopRaw{c}, nil }

// loopRaw is a loopConn's syscall.RawConn: its callbacks get the
// descriptor, and Read and Write wait with the loop's events when the
// callback says the socket is not ready.
type loopRaw struct{ c *loopConn }

func (r loopRaw) Control(f func(fd uintptr)) error {
	if !r.c.incref() {
		return r.c.opError("raw-control", net.ErrClosed)
	}
	defer r.c.decref()
	f(uintptr(r.c.fd))
	return nil
}

func (r loopRaw) Read(f func(fd uintptr) (done bool)) error {
	return r.c.rawIO("raw-read", &r.c.rd, &r.c.rdl, f)
}

func (r loopRaw) Write(f func(fd uintptr) (done bool)) error {
	return r.c.rawIO("raw-write", &r.c.wr, &r.c.wdl, f)
}

// rawIO calls f until it is done, waiting in r with deadline dl between
// calls.
func (c *loopConn) rawIO(op string, r *readiness, dl *atomic.Int64, f func(fd uintptr) bool) error {
	if !c.incref() {
		return c.opError(op, net.ErrClosed)
	}
	defer c.decref()
	for !f(uintptr(c.fd)) {
		if err := c.wait(r, dl); err != nil {
			return c.opError(op, err)
		}
	}
	return nil
}

var (
	_ net.Conn     = (*loopConn)(nil)
	_ syscall.Conn = (*loopConn)(nil)
)

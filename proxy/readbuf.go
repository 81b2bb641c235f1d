package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// readBufferSize is the size of the read buffers a Server lends to its
// decoders: a few pipelined commands, or one typical message, fit; a
// bigger frame grows a buffer of the decoder's own.
const readBufferSize = 4096

// bufferPool lends read buffers to the decoders of all the sessions of one
// Server (see wrappers.Lender): a decoder holds one only while it has
// bytes to decode, so idle sessions hold none. It is a free list under a
// mutex, not a sync.Pool: a read that finds nothing to read gives its
// buffer back at once, so a request takes two or three buffers from the
// pool, and sync.Pool's pinning cost four times what an uncontended lock
// does. It keeps at most keptBuffers; the rest go to the collector.
//
// One buffer goes through a slot of its own, an atomic swap rather than the
// lock: a read that waits gives its buffer back and takes one when bytes
// came, so with few sessions busy at once the one buffer is all a request
// needs, and the lock serves only the rest.
type bufferPool struct {
	last atomic.Pointer[[readBufferSize]byte]
	mu   sync.Mutex
	free []*[readBufferSize]byte
}

// keptBuffers bounds the buffers a pool keeps (1 MiB): as many as sessions
// decode at one moment on a busy proxy.
const keptBuffers = 256

func (bp *bufferPool) get() []byte {
	if b := bp.last.Swap(nil); b != nil {
		return b[:]
	}
	bp.mu.Lock()
	if n := len(bp.free); n > 0 {
		b := bp.free[n-1]
		bp.free = bp.free[:n-1]
		bp.mu.Unlock()
		return b[:]
	}
	bp.mu.Unlock()
	return make([]byte, readBufferSize)
}

func (bp *bufferPool) put(b []byte) {
	if cap(b) != readBufferSize {
		return // not one of ours
	}
	a := (*[readBufferSize]byte)(b[:readBufferSize])
	if bp.last.CompareAndSwap(nil, a) {
		return
	}
	bp.mu.Lock()
	if len(bp.free) < keptBuffers {
		bp.free = append(bp.free, a)
	}
	bp.mu.Unlock()
}

// readers is how a Server's TCP endpoints read their connections.
type readers struct {
	// pool lends the decoders their read buffers.
	pool bufferPool
	// plain (Config.PlainIO): no reader runs inside the poller's
	// callback, whatever the system offers.
	plain bool
	// testHook, when set (by tests in this package), is told of every
	// read of a socket a lending reader makes: inline says it was made
	// inside raw.Read's callback (readInline), not the plain way. A test
	// of one read mode checks with it that its reads took that mode's path.
	testHook func(inline bool)
}

// lendingReader is a TCP connection as the decoder reads it when the
// connection gives access to its socket: it waits for bytes with the
// runtime's poller and borrows a buffer only once there are some, so that
// a session idle in a read holds no buffer.
type lendingReader struct {
	hookedReader
	raw syscall.RawConn
	// rs is how the Server's endpoints read: its pool lends the buffers,
	// its testHook hears of the reads.
	rs *readers
	// read is the callback of raw.Read, made once (a method value
	// allocates); buf, n and err are its results.
	read func(fd uintptr) bool
	buf  []byte
	n    int
	err  error
	// spare is the buffer the decoder gave back just before it asks for
	// the next read (Return, then ReadLent): the read tries it first, and
	// it goes to the pool only if the read must wait. So a read that
	// finds bytes costs no pool operation, and one that waits two.
	spare []byte
	// park is the parking of the direction this reader reads, nil while
	// the reader cannot park (park.go); ended is its session's endedA,
	// nil until the session set it (enablePark).
	park  *dirPark
	ended *atomic.Bool
	// in is the state of a reader that runs inside raw.Read's callback
	// (runInline); canInline says whether it can: the socket tells when it
	// is drained (TCP_INQ), and Config.PlainIO is off.
	in        inlineRead
	canInline bool
}

// inlineRead is what a lendingReader knows of the callback of raw.Read its
// reader runs in (see runInline).
type inlineRead struct {
	// fd is the socket's descriptor while inside; first, so that the
	// flags pack after it (a lending reader fits the 160-byte size class,
	// not 176).
	fd int
	// budget (an event loop's run of the reader only, see loopRead): the
	// reads left before the reader lets the loop's other sessions have a
	// turn, 0 for no limit; spent: it ran out with bytes perhaps still in
	// the socket, so the reader stopped as if drained and must be run
	// again without a new edge. They pack with the flags.
	budget int16
	spent  bool
	// inside: the reader runs inside the callback, which holds the
	// connection's read lock; reads are then made on fd directly.
	inside bool
	// drained: the last read left the socket known empty, with no end of
	// input, so the next read would only find nothing: the reader returns
	// from the callback to wait instead. Only inside one call of raw.Read
	// is that safe: each call forgets the readiness the poller saw before
	// it, so its first read always reads.
	drained bool
	// failed: raw.Read's wait failed (a deadline or a close): the reader
	// reads once more outside the callback, where the read meets the
	// same error and deals with it as it always does.
	failed bool
	// blocked: the reader answered its decoder's last read with
	// wrappers.ErrWouldBlock (wouldBlock), so the decoder's Next returns
	// it and the loop stops for runInline to wait. Only the reader sets
	// it; every read clears it first (begin), and runInline once it
	// stopped (waits). A decoder that says ErrWouldBlock without it is a
	// bug that ends the session (session.wouldBlock).
	blocked bool
}

// newLendingReader returns a Lender for e's connection, or nil when the
// connection has no socket to wait on.
func newLendingReader(e *tcpEndpoint, rs *readers) *lendingReader {
	sc, ok := e.conn.(syscall.Conn)
	if !ok || rs == nil || !canReadFD {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &lendingReader{hookedReader: hookedReader{e}, raw: raw, rs: rs}
	r.read = r.tryRead
	r.canInline = !rs.plain && enableINQ(raw)
	return r
}

// runInline runs loop, a reader's loop of messages, inside the callback
// of raw.Read, until it stops for any reason but to wait for bytes.
//
// The plain way to read a socket makes three system calls per message:
// the read that gets it, a read that finds nothing, and the wait. Inside
// the callback the reader reads with recvmsg and TCP_INQ, which says when
// the socket is drained; it then returns from the callback without the
// read that finds nothing (it answers its decoder wrappers.ErrWouldBlock,
// the decoder returns it from Next, and loop stops), and raw.Read waits
// and calls it again. Everything loop does happens in the callback,
// which holds the connection's read lock: nothing else reads the
// connection then, and its close waits for the callback (see
// tcpEndpoint.abort).
func (r *lendingReader) runInline(loop func()) {
	in := &r.in
	for {
		err := r.raw.Read(func(fd uintptr) bool {
			in.inside, in.fd, in.drained = true, int(fd), false
			loop()
			in.inside = false
			return !r.waits()
		})
		if err == nil {
			return
		}
		// The wait failed: a deadline passed (a kick from the sweeper,
		// or the end of a session) or the connection closed. The loop
		// reads once outside the callback, where the read meets the
		// same error and handles it (a kick parks between frames and
		// reads on in the middle of one), and comes back when its
		// decoder next waits between frames with nothing wrong.
		in.failed = true
		loop()
		if !r.waits() {
			return
		}
	}
}

// waits reports whether loop, which stopped, stopped to wait for bytes:
// the reader's last answer was wrappers.ErrWouldBlock, and the session
// goes on (one that ended while its decoder waited lets its reader go).
// It forgets that answer, so that a loop that next stops without reading
// (a message its decoder held) is not taken for one that waits.
func (r *lendingReader) waits() bool {
	w := r.in.blocked && (r.ended == nil || !r.ended.Load())
	r.in.blocked = false
	return w
}

// wouldBlock deals with the wrappers.ErrWouldBlock the decoder of
// direction d returned from Next. When its reader answered it, the loop
// just stops and runInline waits for bytes. A decoder that says it when
// its reader did not is a bug: waiting then would stop the reader on a
// live session, for good (a reader outside the callback, or on WebSocket,
// has nothing to come back to) or with a message left undecoded; calling
// Next again might spin. So the session ends, with an error naming it.
func (s *session) wouldBlock(d direction, ep endpoint) {
	if e, ok := ep.(*tcpEndpoint); ok && e.lr != nil && e.lr.in.blocked {
		return
	}
	s.finish(endInfo{reason: reasonError, code: closeInternal, text: "internal error",
		err: fmt.Errorf("internal error: the %s wire's decoder of the %s returned wrappers.ErrWouldBlock, but its reader never answered a read with it", s.srv.cfg.Wire.Name(), d.sender())})
}

// closeSoon closes the connection without waiting for its reader. Inside
// raw.Read's callback (runInline) the reader holds the connection's read
// lock, and conn.Close waits until it lets go, which may be never when the
// one closing is the reader itself or one it waits for. So the socket is
// shut down at once, which ends what the peer and the reader can do with
// it (reads find the end, writes fail), and closed by a goroutine of its
// own once the reader let go.
func (r *lendingReader) closeSoon() {
	shutdownSocket(r.raw)
	if _, ok := r.e.conn.(closesAtOnce); ok {
		_ = r.e.conn.Close()
		return
	}
	go r.e.conn.Close()
}

// closesAtOnce is a connection whose Close never waits for its reader
// (loopConn: the descriptor closes when the last call using it ends).
type closesAtOnce interface{ closeNeverWaits() }

// begin starts a read the decoder asked for: the session's hook runs
// first (it sends what the session held back, since the read may wait),
// and the reader's last answer is forgotten.
func (r *lendingReader) begin() {
	if f := r.e.beforeRead; f != nil {
		f()
	}
	r.in.blocked = false
}

// wouldBlock answers the decoder's read with wrappers.ErrWouldBlock, and
// notes it (inlineRead.blocked). The reader is about to wait: the buffer
// the decoder gave back goes to the pool, or every idle reader would keep
// one (4 KiB a reader).
func (r *lendingReader) wouldBlock() error {
	r.giveBack()
	r.in.blocked = true
	return wrappers.ErrWouldBlock
}

// take returns a buffer to read into: the spare, or one borrowed from the
// pool.
func (r *lendingReader) take() []byte {
	if buf := r.spare; buf != nil {
		r.spare = nil
		return buf
	}
	return r.rs.pool.get()
}

// giveBack gives the spare back to the pool.
func (r *lendingReader) giveBack() {
	if r.spare != nil {
		r.rs.pool.put(r.spare)
		r.spare = nil
	}
}

// readInline reads inside the callback of raw.Read from fd: into p, or,
// when p is nil (ReadLent), into a buffer taken only once the socket may
// have bytes, and given back when the read brought none. It answers
// wrappers.ErrWouldBlock, having read nothing, when the last read left
// the socket drained or this one finds nothing.
func (r *lendingReader) readInline(p []byte) ([]byte, int, error) {
	in := &r.in
	if in.drained {
		return nil, 0, r.wouldBlock()
	}
	buf := p
	if buf == nil {
		buf = r.take()
	}
	if h := r.rs.testHook; h != nil {
		h(true)
	}
	n, drained, err := recvINQ(in.fd, buf)
	if err == nil && n > 0 {
		in.drained = drained
		if in.budget > 0 {
			if in.budget--; in.budget == 0 && !drained {
				in.drained, in.spent = true, true
			}
		}
		return buf, n, nil
	}
	if p == nil {
		r.rs.pool.put(buf)
	}
	switch {
	case err == nil:
		return nil, 0, io.EOF
	case isErrno(err, syscall.EAGAIN):
		return nil, 0, r.wouldBlock()
	}
	return nil, 0, r.readError(err)
}

// readError is the error of a failed read of the socket, as conn.Read
// gives it.
func (r *lendingReader) readError(err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: r.e.conn.LocalAddr(), Addr: r.e.conn.RemoteAddr(), Err: os.NewSyscallError("read", err)}
}

// ReadLent implements wrappers.Lender.
func (r *lendingReader) ReadLent() ([]byte, int, error) {
	r.begin()
	if r.canInline {
		if r.in.inside {
			return r.readInline(nil)
		}
		if !r.in.failed {
			// Outside the callback after a failed wait, the decoder
			// is between frames again with nothing wrong: the loop
			// stops to go back inside.
			return nil, 0, r.wouldBlock()
		}
		r.in.failed = false
	}
	r.buf, r.n, r.err = nil, 0, nil
	err := r.raw.Read(r.read)
	r.giveBack() // raw.Read failed before trying a read
	if err != nil {
		// raw.Read fails only before a read or while it waits, never
		// after tryRead filled r.buf: there is no buffer to give back.
		if r.park.parkedErr(err) {
			return nil, 0, wrappers.ErrParked // between frames: park
		}
		// Closed or past a deadline while waiting: the error conn.Read
		// gives, under its name.
		var op *net.OpError
		if errors.As(err, &op) {
			e := *op
			e.Op = "read"
			err = &e
		}
		return nil, 0, err
	}
	buf, n, err := r.buf, r.n, r.err
	r.buf = nil
	if n == 0 && err != nil {
		r.rs.pool.put(buf)
		return nil, 0, err
	}
	return buf, n, err
}

// Read reads in the middle of a frame (wrappers.Lender): kicked there by
// the sweeper, the reader does not park, but clears the deadline and reads
// on.
func (r *lendingReader) Read(p []byte) (int, error) {
	if r.in.inside {
		r.begin()
		_, n, err := r.readInline(p)
		return n, err
	}
	r.in.blocked, r.in.failed = false, false
	if h := r.rs.testHook; h != nil {
		h(false)
	}
	for {
		n, err := r.hookedReader.Read(p)
		if err == nil || !r.park.parkedErr(err) {
			return n, err
		}
		r.setReadDeadline(time.Time{})
		r.park.state.CompareAndSwap(parkKicked, parkDeclined)
	}
}

// setReadDeadline sets the connection's read deadline for parking. When
// the session has ended, the deadline its shutdown set (which t may have
// replaced) is set again: its client reader drains for linger.
func (r *lendingReader) setReadDeadline(t time.Time) {
	_ = r.e.conn.SetReadDeadline(t)
	if r.ended.Load() {
		_ = r.e.conn.SetReadDeadline(time.Now().Add(linger))
	}
}

// tryRead reads what the socket holds into a borrowed buffer; with
// nothing there, it gives the buffer back and has raw.Read wait.
func (r *lendingReader) tryRead(fd uintptr) bool {
	// ReadLent starts with no buffer, and one that finds nothing gives it
	// back: the buffer is a local until the read filled it.
	buf := r.take()
	if h := r.rs.testHook; h != nil {
		h(false)
	}
	n, err := ignoringEINTR(func() (int, error) { return readFD(fd, buf) })
	if isErrno(err, syscall.EAGAIN) {
		r.rs.pool.put(buf)
		return false
	}
	r.buf = buf
	switch {
	case err != nil:
		r.n, r.err = 0, r.readError(err)
	case n == 0:
		r.n, r.err = 0, io.EOF
	default:
		r.n = n
	}
	return true
}

// ignoringEINTR makes the system call read until a signal does not
// interrupt it.
func ignoringEINTR(read func() (int, error)) (int, error) {
	for {
		n, err := read()
		if !isErrno(err, syscall.EINTR) {
			return n, err
		}
	}
}

// isErrno reports whether err is the errno e. It compares the number: err
// == e would compare two interfaces, a runtime call each time a read
// finds nothing (twice a message).
func isErrno(err error, e syscall.Errno) bool {
	en, ok := err.(syscall.Errno)
	return ok && en == e
}

// Return implements wrappers.Lender. The buffer is kept as the spare of
// the read that follows (see spare).
func (r *lendingReader) Return(buf []byte) {
	r.giveBack()
	r.spare = buf
}

var _ wrappers.Lender = (*lendingReader)(nil)

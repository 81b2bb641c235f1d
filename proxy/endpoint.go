package proxy

import (
	"io"
	"net"
	"time"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// endpoint is one side of a session (the client or the service) as the
// session engine sees it, whatever the transport. One goroutine reads
// (next, drain); writes are serialised by the session; shutdown, abort and
// the deadline setters may be called from any goroutine.
type endpoint interface {
	// next returns the next message this side sent. Its Raw is valid until
	// the next call. At the end of the stream it returns io.EOF.
	next() (wrappers.Message, error)
	// write sends the bytes of one message to this side, after whatever
	// queue held back, in one call. text tells a message-based transport
	// which message type to use.
	write(raw []byte, text bool) error
	// queue is write for a message that more messages will follow at
	// once: a stream transport holds raw back (copied) to go out with them
	// in one call, by the next write or flush, and reports true. It holds
	// nothing and reports false when raw would grow what it holds past
	// maxHeld, or when it is a message transport; the caller then sends
	// (see makeRoom). It never sends, so that what must come before a send
	// (session.flushCalls) comes before write and flush only.
	queue(raw []byte, text bool) bool
	// flush sends what queue held back.
	flush() error
	// more reports whether this side's decoder holds bytes it has read but
	// not yet returned, so that the next message may be ready without a
	// read. A decoder that cannot tell says false.
	more() bool
	// lastText reports whether the last message read was text (WebSocket
	// message type); stream transports say true.
	lastText() bool
	// closeWrite ends the data towards this side while still reading from
	// it (TCP half-close). It reports false when the transport cannot.
	closeWrite() bool
	// shutdown ends the session towards this side politely: no more data,
	// the close code and reason where the transport has them, and reads
	// and writes bounded by deadline so the reader can drain.
	shutdown(code int, reason string, deadline time.Time)
	// abort closes at once, telling the peer code and reason where the
	// transport has them.
	abort(code int, reason string)
	// drain reads and discards what the peer still sends (so that closing
	// does not reset the connection before the peer read the last reply),
	// until an error or the deadline set by shutdown.
	drain()
	// setWriteDeadline bounds the writes in progress and to come.
	setWriteDeadline(t time.Time)
	// close releases the connection.
	close()
	// addr is the peer's address, for the records.
	addr() string
}

// drainLimit bounds how much drain reads.
const drainLimit = 1 << 20

// maxHeld bounds the bytes an endpoint holds back for one write: a long
// pipelined batch goes out in pieces of about this size rather than all at
// the end.
const maxHeld = 64 << 10

// keepHeld is the largest held-back buffer kept between batches; a larger
// one (a batch of big messages) is let go so that an idle session does not
// pin it.
const keepHeld = 16 << 10

// tcpEndpoint is a stream connection decoded by a wire format's decoder.
type tcpEndpoint struct {
	conn net.Conn
	dec  wrappers.Decoder
	buf  wrappers.Bufferer // dec, when it can tell what it has buffered
	// lr is what dec reads when the connection has a socket to wait on
	// (see lendingReader), nil otherwise; rw writes it where it can (see
	// rawWriter), nil where conn.Write does.
	lr *lendingReader
	rw *rawWriter

	// beforeRead, when set, runs on the reading goroutine before each read
	// from conn by the decoder: the session sends what it held back, so
	// that a message never waits for input that may not come.
	beforeRead func()

	// out holds the bytes queue held back. It is used under the session's
	// serialisation of writes to this side.
	out []byte
}

// newTCPEndpoint decodes conn with a decoder from newDecoder, reading as rs
// says into buffers lent by its pool when the connection allows it (see
// lendingReader).
func newTCPEndpoint(conn net.Conn, newDecoder func(io.Reader) wrappers.Decoder, rs *readers) *tcpEndpoint {
	e := &tcpEndpoint{conn: conn}
	if e.lr = newLendingReader(e, rs); e.lr != nil {
		e.dec = newDecoder(e.lr)
	} else {
		e.dec = newDecoder(hookedReader{e})
	}
	e.buf, _ = e.dec.(wrappers.Bufferer)
	e.rw = newRawWriter(e.lr)
	return e
}

// send writes p and then q (nil for none) whole to the connection, in
// one system call where the socket takes both (sendmsg, or writev through
// net.Buffers).
func (e *tcpEndpoint) send(p, q []byte) error {
	var err error
	switch {
	case e.rw != nil:
		err = e.rw.write(p, q)
	case len(q) == 0:
		_, err = e.conn.Write(p)
	default:
		bufs := net.Buffers{p, q}
		_, err = bufs.WriteTo(e.conn)
	}
	return err
}

// hookedReader is the connection as the decoder reads it.
type hookedReader struct{ e *tcpEndpoint }

func (r hookedReader) Read(p []byte) (int, error) {
	if f := r.e.beforeRead; f != nil {
		f()
	}
	return r.e.conn.Read(p)
}

func (e *tcpEndpoint) next() (wrappers.Message, error) { return e.dec.Next() }

// trim lets go of the decoder's scratch, between frames (wrappers.Trimmer).
func (e *tcpEndpoint) trim() {
	if t, ok := e.dec.(wrappers.Trimmer); ok {
		t.Trim()
	}
}

func (e *tcpEndpoint) more() bool { return e.buf != nil && e.buf.Buffered() > 0 }

func (e *tcpEndpoint) write(raw []byte, _ bool) error {
	switch {
	case len(e.out) == 0:
		return e.send(raw, nil)
	case len(e.out)+len(raw) <= maxHeld:
		e.out = append(e.out, raw...)
		return e.flush()
	default:
		// A big message goes out from where it is, in the same call.
		err := e.send(e.out, raw)
		e.release()
		return err
	}
}

func (e *tcpEndpoint) queue(raw []byte, _ bool) bool {
	if len(e.out)+len(raw) > maxHeld {
		return false
	}
	e.out = append(e.out, raw...)
	return true
}

// makeRoom is what a caller does when ep did not hold raw (see
// endpoint.queue): it sends what ep holds and then holds raw, or sends it
// too when it is too long to hold, so that a long pipelined batch goes out
// in pieces of at most maxHeld and a message longer than that from where
// it is. It reports whether ep holds raw.
func makeRoom(ep endpoint, raw []byte, text bool) (bool, error) {
	if err := ep.flush(); err != nil {
		return false, err
	}
	if ep.queue(raw, text) {
		return true, nil
	}
	return false, ep.write(raw, text)
}

func (e *tcpEndpoint) flush() error {
	if len(e.out) == 0 {
		return nil
	}
	err := e.send(e.out, nil)
	e.release()
	return err
}

// release empties out after a write, whether or not it succeeded: after a
// failed write the session ends, and bytes are never sent twice.
func (e *tcpEndpoint) release() {
	if cap(e.out) > keepHeld {
		e.out = nil
		return
	}
	e.out = e.out[:0]
}

func (e *tcpEndpoint) lastText() bool { return true }

func (e *tcpEndpoint) closeWrite() bool {
	cw, ok := e.conn.(interface{ CloseWrite() error })
	return ok && cw.CloseWrite() == nil
}

func (e *tcpEndpoint) shutdown(_ int, _ string, deadline time.Time) {
	_ = e.conn.SetDeadline(deadline)
	if !e.closeWrite() {
		e.closeConn()
	}
}

func (e *tcpEndpoint) abort(int, string) { e.closeConn() }

// closeConn closes the connection. Where its reader may be inside the
// poller's callback (runInline), it does not wait for the reader
// (closeSoon): conn.Close waits for the callback to return, and the one
// closing may be that reader itself (a reset client's reader ends its
// session, whose shutdown of the client, CloseWrite failing on a reset
// socket, closes it) or one it waits for.
func (e *tcpEndpoint) closeConn() {
	if e.lr != nil && e.lr.canInline {
		e.lr.closeSoon()
		return
	}
	_ = e.conn.Close()
}

func (e *tcpEndpoint) drain() {
	_, _ = io.CopyN(io.Discard, e.conn, drainLimit)
}

func (e *tcpEndpoint) setWriteDeadline(t time.Time) { _ = e.conn.SetWriteDeadline(t) }

func (e *tcpEndpoint) close() { e.closeConn() }

func (e *tcpEndpoint) addr() string { return e.conn.RemoteAddr().String() }

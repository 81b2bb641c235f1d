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
	// write sends the bytes of one message to this side. text tells a
	// message-based transport which message type to use.
	write(raw []byte, text bool) error
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

// tcpEndpoint is a stream connection decoded by a wire format's decoder.
type tcpEndpoint struct {
	conn net.Conn
	dec  wrappers.Decoder
}

func newTCPEndpoint(conn net.Conn, newDecoder func(io.Reader) wrappers.Decoder) *tcpEndpoint {
	return &tcpEndpoint{conn: conn, dec: newDecoder(conn)}
}

func (e *tcpEndpoint) next() (wrappers.Message, error) { return e.dec.Next() }

func (e *tcpEndpoint) write(raw []byte, _ bool) error {
	_, err := e.conn.Write(raw)
	return err
}

func (e *tcpEndpoint) lastText() bool { return true }

func (e *tcpEndpoint) closeWrite() bool {
	cw, ok := e.conn.(interface{ CloseWrite() error })
	return ok && cw.CloseWrite() == nil
}

func (e *tcpEndpoint) shutdown(_ int, _ string, deadline time.Time) {
	_ = e.conn.SetDeadline(deadline)
	if !e.closeWrite() {
		_ = e.conn.Close()
	}
}

func (e *tcpEndpoint) abort(int, string) { _ = e.conn.Close() }

func (e *tcpEndpoint) drain() {
	_, _ = io.CopyN(io.Discard, e.conn, drainLimit)
}

func (e *tcpEndpoint) setWriteDeadline(t time.Time) { _ = e.conn.SetWriteDeadline(t) }

func (e *tcpEndpoint) close() { _ = e.conn.Close() }

func (e *tcpEndpoint) addr() string { return e.conn.RemoteAddr().String() }

package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// WebSocket close codes the proxy sends (RFC 6455, section 7.4.1).
const (
	closeNormal         = websocket.CloseNormalClosure           // 1000
	closeGoingAway      = websocket.CloseGoingAway               // 1001
	closePolicy         = websocket.ClosePolicyViolation         // 1008
	closeTooBig         = websocket.CloseMessageTooBig           // 1009
	closeInvalidData    = websocket.CloseInvalidFramePayloadData // 1007
	closeInternal       = websocket.CloseInternalServerErr       // 1011
	controlWriteTimeout = time.Second
)

// wsEndpoint is a WebSocket connection; each message is one frame of the
// wire format.
type wsEndpoint struct {
	conn       *websocket.Conn
	newDecoder func(io.Reader) wrappers.Decoder
	maxFrame   int

	buf  bytes.Buffer
	rd   bytes.Reader
	text bool

	peer *wsEndpoint // the other side, for forwarding pings and pongs

	// beforeRead, when set, runs on the reading goroutine before each
	// message is read (see tcpEndpoint.beforeRead).
	beforeRead func()

	mu         sync.Mutex
	closeCode  int
	closeText  string
	peerClosed bool
}

func newWSEndpoint(conn *websocket.Conn, newDecoder func(io.Reader) wrappers.Decoder, maxFrame int) *wsEndpoint {
	e := &wsEndpoint{conn: conn, newDecoder: newDecoder, maxFrame: maxFrame, text: true}
	conn.SetReadLimit(int64(maxFrame))
	conn.SetCloseHandler(func(code int, text string) error {
		e.mu.Lock()
		e.closeCode, e.closeText, e.peerClosed = code, text, true
		e.mu.Unlock()
		return nil // answered by shutdown, once the other side has been told
	})
	return e
}

// link makes a and b forward each other's pings and pongs.
func link(a, b *wsEndpoint) {
	a.peer, b.peer = b, a
	for _, e := range []*wsEndpoint{a, b} {
		e := e
		e.conn.SetPingHandler(func(data string) error {
			return ignoreClosed(e.peer.conn.WriteControl(websocket.PingMessage, []byte(data), time.Now().Add(controlWriteTimeout)))
		})
		e.conn.SetPongHandler(func(data string) error {
			return ignoreClosed(e.peer.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(controlWriteTimeout)))
		})
	}
}

// ignoreClosed keeps a failed forward of a control frame from ending the
// reader of the side that sent it; the session notices the closed side on
// its own.
func ignoreClosed(error) error { return nil }

// peerClose returns the close code and reason the peer sent, if it did.
func (e *wsEndpoint) peerClose() (int, string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closeCode, e.closeText, e.peerClosed
}

func (e *wsEndpoint) next() (wrappers.Message, error) {
	if f := e.beforeRead; f != nil {
		f()
	}
	typ, r, err := e.conn.NextReader()
	if err != nil {
		return wrappers.Message{}, e.readError(err)
	}
	e.buf.Reset()
	if _, err := e.buf.ReadFrom(r); err != nil {
		return wrappers.Message{}, e.readError(err)
	}
	e.text = typ == websocket.TextMessage
	data := e.buf.Bytes()
	if e.text && !utf8.Valid(data) {
		// RFC 6455 section 8.1: an endpoint that receives text that is
		// not UTF-8 fails the connection (close code 1007); it is never
		// forwarded.
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return wrappers.Message{}, &wrappers.FrameError{Offset: int64(i), Msg: invalidTextMsg}
	}
	e.rd.Reset(data)
	dec := e.newDecoder(&e.rd)
	var got wrappers.Message
	frames := 0
	for {
		m, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return wrappers.Message{}, err
		}
		if m.Kind == wrappers.Filler {
			continue
		}
		frames++
		if frames > 1 {
			return wrappers.Message{}, &wrappers.FrameError{
				Offset: int64(len(data) - e.rd.Len()),
				Msg:    "a WebSocket message holds more than one frame; send one frame per message",
			}
		}
		got = m
	}
	if frames == 0 {
		got = wrappers.Message{Kind: wrappers.Filler}
	}
	got.Raw = data // the message is forwarded whole
	return got, nil
}

// invalidTextMsg is the message of the FrameError for a text message that
// is not UTF-8; the session closes with closeInvalidData for it.
const invalidTextMsg = "a WebSocket text message that is not valid UTF-8"

func (e *wsEndpoint) readError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return io.EOF
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return &wrappers.FrameError{Msg: fmt.Sprintf("WebSocket message larger than the %d-byte frame limit", e.maxFrame), Limit: true}
	}
	return err
}

func (e *wsEndpoint) write(raw []byte, text bool) error {
	typ := websocket.BinaryMessage
	if text {
		typ = websocket.TextMessage
	}
	return e.conn.WriteMessage(typ, raw)
}

// queue holds nothing: each message is its own WebSocket message, sent at
// once.
func (e *wsEndpoint) queue([]byte, bool) bool { return false }

func (e *wsEndpoint) flush() error { return nil }

// more is false: a WebSocket message holds one frame, read whole.
func (e *wsEndpoint) more() bool { return false }

func (e *wsEndpoint) lastText() bool { return e.text }

func (e *wsEndpoint) closeWrite() bool { return false }

func (e *wsEndpoint) shutdown(code int, reason string, deadline time.Time) {
	if c, t, ok := e.peerClose(); ok {
		code, reason = c, t // answer the peer's close with its own code
	}
	_ = e.conn.WriteControl(websocket.CloseMessage, closeMessage(code, reason), deadline)
	_ = e.conn.SetReadDeadline(deadline)
	_ = e.conn.SetWriteDeadline(deadline)
}

func (e *wsEndpoint) abort(code int, reason string) {
	if _, _, ok := e.peerClose(); !ok {
		_ = e.conn.WriteControl(websocket.CloseMessage, closeMessage(code, reason), time.Now().Add(controlWriteTimeout))
	}
	_ = e.conn.Close()
}

func (e *wsEndpoint) drain() {
	for n := 0; n < drainLimit; {
		_, r, err := e.conn.NextReader()
		if err != nil {
			return
		}
		m, _ := io.Copy(io.Discard, r)
		n += int(m) + 1
	}
}

func (e *wsEndpoint) setWriteDeadline(t time.Time) { _ = e.conn.SetWriteDeadline(t) }

func (e *wsEndpoint) close() { _ = e.conn.Close() }

func (e *wsEndpoint) addr() string { return e.conn.RemoteAddr().String() }

// closeMessage formats a close frame, cutting the reason to the 123 bytes a
// control frame has room for, on a character boundary.
func closeMessage(code int, reason string) []byte {
	const max = 123
	if len(reason) > max {
		cut := max - 3
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut] + "..."
	}
	if code == 0 {
		code = closeNormal
	}
	return websocket.FormatCloseMessage(code, reason)
}

package proxy

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWebSocketInvalidUTF8: a text message that is not UTF-8 is never
// forwarded; the client's connection is failed with close code 1007 (RFC
// 6455, section 8.1), while a binary message with the same bytes is fine.
func TestWebSocketInvalidUTF8(t *testing.T) {
	var got atomic.Int32
	svc := startService(t, WebSocket, jsonKit, func(c *wconn) {
		for {
			_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
			if _, _, err := c.ws.ReadMessage(); err != nil {
				return
			}
			got.Add(1)
			_ = c.ws.WriteMessage(websocket.TextMessage, jsonKit.frame(T("pong")))
		}
	})
	p := startProxy(t, svc, Config{}, nil)
	c := p.dial(t)
	wantReply(t, call(t, c, jsonKit, "ping"), "pong")
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte("{\"$A\": \"p\xffng\"}\n")); err != nil {
		t.Fatal(err)
	}
	// The error reply may come first; then the close.
	_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
	var err error
	for err == nil {
		_, _, err = c.ws.ReadMessage()
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
		t.Fatalf("after invalid UTF-8 the client got %v, want close 1007", err)
	}
	if n := got.Load(); n != 1 {
		t.Errorf("the service got %d messages, want the ping only", n)
	}
}

package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestShutdown: cancelling Serve's context stops accepting, lets sessions
// finish for Grace, then closes the rest with reason shutdown.
func TestShutdown(t *testing.T) {
	eachWay(t, func(t *testing.T, tr Transport, plain bool) {
		svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
		p := startProxy(t, svc, Config{PlainIO: plain, Limits: Limits{Grace: 300 * time.Millisecond}}, nil)
		finisher, lingerer := p.dial(t), p.dial(t)
		wantReply(t, call(t, finisher, jsonKit, "{add, 1}"), "{ok, 2}")
		wantReply(t, call(t, lingerer, jsonKit, "{add, 1}"), "{ok, 2}")
		begin := time.Now()
		p.Shutdown()
		// Serve closes the listener on its own goroutine; it drains
		// once the listener is closed.
		for deadline := time.Now().Add(ioTimeout); !p.srv.draining.Load(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Serve did not stop accepting within %v of the shutdown", ioTimeout)
			}
		}
		// Open sessions go on during the grace period.
		wantReply(t, call(t, finisher, jsonKit, "bye"), "bye")
		if _, err := p.tryDial(); err == nil {
			t.Error("a new connection was accepted after shutdown began")
		}
		wantClosed(t, lingerer)
		if d := time.Since(begin); d < 250*time.Millisecond || d > 4*time.Second {
			t.Errorf("closed after %v; the grace period is 300ms", d)
		}
		if !p.Wait(ioTimeout) {
			t.Fatal("Serve did not return")
		}
		reasons := map[string]int{}
		for _, e := range p.logs.find("session end") {
			reasons[field(e, "reason")]++
		}
		if reasons["finished"] != 1 || reasons["shutdown"] != 1 {
			t.Errorf("end reasons %v", reasons)
		}
	})
}

// TestShutdownWhileDialing: a session still dialling the service when the
// grace period ends is ended cleanly (no endpoint yet) and Serve returns.
func TestShutdownWhileDialing(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			svc := startService(t, tr, jsonKit, counterService(jsonKit, false))
			dialing := make(chan struct{}, 1)
			hang := func(ctx context.Context, _, _ string) (net.Conn, error) {
				dialing <- struct{}{}
				<-ctx.Done()
				return nil, ctx.Err()
			}
			p := startProxy(t, svc, Config{Dial: hang, Limits: Limits{DialTimeout: 400 * time.Millisecond, Grace: 50 * time.Millisecond}}, nil)
			go func() {
				if c, err := p.tryDial(); err == nil {
					_ = c.closed()
					c.close()
				}
			}()
			select {
			case <-dialing:
			case <-time.After(ioTimeout):
				t.Fatal("no dial")
			}
			p.Shutdown()
			if !p.Wait(ioTimeout) {
				t.Fatal("Serve did not return")
			}
			if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "shutdown" {
				t.Errorf("session end %v", end)
			}
		})
	}
}

// TestHalfClose: a client that closes its side after a request still gets
// the reply.
func TestHalfClose(t *testing.T) {
	EachReadMode(t, func(t *testing.T, plain bool) {
		t.Parallel()
		svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
		p := startProxy(t, svc, Config{PlainIO: plain}, nil)
		c := p.dial(t)
		if err := c.send(jsonKit.frame(T("{slow, 100}"))); err != nil {
			t.Fatal(err)
		}
		if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		m, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		wantReply(t, m, "{ok, 100}")
		wantClosed(t, c)
		if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "client_left" {
			t.Errorf("session end %v", end)
		}
	})
}

// TestWebSocketControl: pings, pongs and close frames are forwarded.
func TestWebSocketControl(t *testing.T) {
	closeSeen := make(chan error, 1)
	pingSeen := make(chan string, 1)
	handle := func(c *wconn) {
		c.ws.SetPingHandler(func(data string) error {
			pingSeen <- data
			return c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		for {
			_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
			if _, _, err := c.ws.ReadMessage(); err != nil {
				closeSeen <- err
				return
			}
			_ = c.ws.WriteMessage(websocket.TextMessage, jsonKit.frame(T("pong")))
		}
	}
	svc := startService(t, WebSocket, jsonKit, handle)
	p := startProxy(t, svc, Config{}, nil)
	c := p.dial(t)
	pong := make(chan string, 1)
	c.ws.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantReply(t, call(t, c, jsonKit, "ping"), "pong") // reading lets the pong handler run
	select {
	case d := <-pingSeen:
		if d != "are you there" {
			t.Errorf("the service got ping %q", d)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the ping did not reach the service")
	}
	select {
	case d := <-pong:
		if d != "are you there" {
			t.Errorf("the client got pong %q", d)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the pong did not reach the client")
	}
	if err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "done for today"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closeSeen:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4000 || ce.Text != "done for today" {
			t.Errorf("the service saw %v, want close 4000 \"done for today\"", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the close did not reach the service")
	}
	_, _, err := c.ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 {
		t.Errorf("the client's close was answered with %v", err)
	}
	if end := p.logs.wait(t, "session end", 1)[0]; field(end, "reason") != "client_left" {
		t.Errorf("session end %v", end)
	}
}

// TestWebSocketHandshake: the client's subprotocols and Origin reach the
// service, and the client gets the subprotocol the service chose. The
// service is dialled at Upstream's path and query, whatever the client
// asked for, unless ForwardClientPath says to use the client's.
func TestWebSocketHandshake(t *testing.T) {
	for _, tc := range []struct {
		upstreamPath, clientPath string
		forward                  bool
		wantPath, wantQuery      string
	}{
		{"/", "/admin/internal?as_user=root", false, "/", ""},
		{"", "/admin/internal?as_user=root", false, "", ""},
		{"/svc?v=2", "/admin/internal?as_user=root", false, "/svc", "v=2"},
		{"/", "/chat?room=1", true, "/chat", "room=1"},
	} {
		t.Run(fmt.Sprintf("%s,%s,%v", tc.upstreamPath, tc.clientPath, tc.forward), func(t *testing.T) {
			testWebSocketHandshake(t, tc.upstreamPath, tc.clientPath, tc.forward, tc.wantPath, tc.wantQuery)
		})
	}
}

func testWebSocketHandshake(t *testing.T, upstreamPath, clientPath string, forward bool, wantPath, wantQuery string) {
	type seen struct{ path, query, proto, origin string }
	got := make(chan seen, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{Subprotocols: []string{"ubf", "json"}, CheckOrigin: func(*http.Request) bool { return true }}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		got <- seen{r.URL.Path, r.URL.RawQuery, ws.Subprotocol(), r.Header.Get("Origin")}
		_ = ws.SetReadDeadline(time.Now().Add(ioTimeout))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			_ = ws.WriteMessage(websocket.TextMessage, jsonKit.frame(T("pong")))
		}
	})}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	svc := &service{kit: jsonKit, tr: WebSocket}
	p := startProxy(t, svc, Config{Upstream: "ws://" + ln.Addr().String() + upstreamPath, ForwardClientPath: forward}, nil)
	d := websocket.Dialer{HandshakeTimeout: ioTimeout, Subprotocols: []string{"json", "ubf"}}
	hdr := http.Header{"Origin": {"http://example.test"}}
	ws, _, err := d.Dial("ws://"+p.addr+clientPath, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ws.Subprotocol() != "ubf" {
		t.Errorf("the client got subprotocol %q, want ubf (the service's choice)", ws.Subprotocol())
	}
	select {
	case s := <-got:
		if wantPath == "" {
			wantPath = "/" // an empty path is requested as /
		}
		if s != (seen{wantPath, wantQuery, "ubf", "http://example.test"}) {
			t.Errorf("the service saw %+v", s)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the service got no connection")
	}
	c := newWConn(WebSocket, nil, ws, jsonKit.wire.NewSession(wrappers.Options{}).ServerDecoder)
	wantReply(t, call(t, c, jsonKit, "ping"), "pong")
}

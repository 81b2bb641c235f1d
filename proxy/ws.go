package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// serveWS accepts WebSocket upgrades on ln until ctx is cancelled.
func (s *Server) serveWS(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handleWS(context.WithoutCancel(ctx), w, r) }),
		ReadHeaderTimeout: s.cfg.Limits.DialTimeout,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	stop := context.AfterFunc(ctx, func() {
		// Close stops the listener and the connections still in their
		// HTTP phase; upgraded (hijacked) ones are the sessions, which
		// drain handles.
		_ = hs.Close()
	})
	defer stop()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("proxy: serving WebSocket: %w", err)
}

// upstreamURL is the service's URL for a client's request: Upstream as
// written, path and query included. The client's path and query are
// unchecked input (GET /admin/internal?as_user=root): they reach the
// service only with Config.ForwardClientPath, and then replace Upstream's.
func (s *Server) upstreamURL(r *http.Request) string {
	if !s.cfg.ForwardClientPath {
		return s.cfg.Upstream
	}
	u, err := url.Parse(s.cfg.Upstream)
	if err != nil {
		return s.cfg.Upstream
	}
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	return u.String()
}

func (s *Server) handleWS(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "ubfproxy: this address speaks WebSocket only", http.StatusUpgradeRequired)
		return
	}
	ss, ok := s.admit(r.RemoteAddr)
	if !ok {
		http.Error(w, "ubfproxy: too many sessions", http.StatusServiceUnavailable)
		return
	}
	defer s.releaseUnlessRunning(ss)
	defer s.recoverPanic(ss)

	// Dial the service first, so that a client is upgraded only when there
	// is a service to talk to, with the subprotocol the service chose.
	target := s.upstreamURL(r)
	ss.serviceAddr = target
	d := websocket.Dialer{
		HandshakeTimeout: s.cfg.Limits.DialTimeout,
		Subprotocols:     websocket.Subprotocols(r),
		NetDialContext:   s.cfg.Dial,
	}
	hdr := http.Header{}
	if o := r.Header.Get("Origin"); o != "" {
		hdr.Set("Origin", o)
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.DialTimeout)
	up, resp, err := d.DialContext(dctx, target, hdr)
	cancel()
	if err != nil {
		ss.attach(deadEndpoint{}, deadEndpoint{})
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
		}
		ss.finish(endInfo{reason: dialFailed(err), err: fmt.Errorf("the service cannot be reached: %w", err)})
		http.Error(w, "ubfproxy: the service cannot be reached", http.StatusBadGateway)
		return
	}
	respHdr := http.Header{}
	if p := up.Subprotocol(); p != "" {
		respHdr.Set("Sec-WebSocket-Protocol", p)
	}
	ug := websocket.Upgrader{
		HandshakeTimeout: s.cfg.Limits.DialTimeout,
		// The service judges origins: it saw the client's Origin header.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	cl, err := ug.Upgrade(w, r, respHdr)
	if err != nil {
		// Upgrade has answered the client with the HTTP error.
		_ = up.WriteControl(websocket.CloseMessage, closeMessage(closeGoingAway, "client handshake failed"), time.Now().Add(controlWriteTimeout))
		_ = up.Close()
		ss.attach(deadEndpoint{}, deadEndpoint{})
		ss.finish(endInfo{reason: reasonClientLeft, err: fmt.Errorf("upgrading the client: %w", err)})
		return
	}
	ce := newWSEndpoint(cl, ss.wire.ClientDecoder, s.cfg.Limits.MaxFrame)
	se := newWSEndpoint(up, ss.wire.ServerDecoder, s.cfg.Limits.MaxFrame)
	link(ce, se)
	ce.beforeRead, se.beforeRead = ss.beforeRead(clientToService), ss.beforeRead(serviceToClient)
	if !ss.attach(ce, se) {
		ce.abort(closeGoingAway, "proxy shutting down")
		se.abort(closeGoingAway, "proxy shutting down")
		return
	}
	ss.logAttrs(slog.LevelDebug, "session start", slog.String("client", ss.clientAddr), slog.String("service", ss.serviceAddr))
	ss.run()
}

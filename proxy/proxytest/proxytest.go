// Package proxytest serves a proxy on a loopback port for tests, as
// net/http/httptest serves an http.Handler: Start puts a proxy.Server (in
// front of the service its Config names) on a free 127.0.0.1 port, and it
// stops when the test ends.
//
// The package does not import proxy: it serves anything with proxy.Server's
// Serve method, so that the proxy package's own tests can use it too.
package proxytest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// Servable is what a Server serves: a *proxy.Server.
type Servable interface {
	Serve(ctx context.Context, ln net.Listener) error
}

// DefaultStopTimeout is how long Close waits for Serve to return: longer
// than the default grace period (10s) and the few seconds an ended
// session's client may linger.
const DefaultStopTimeout = 30 * time.Second

// Server is a proxy served on a loopback port.
type Server struct {
	// Listener is where the proxy serves. A test may wrap it between
	// NewUnstarted and Start (to watch what is written to clients).
	Listener net.Listener
	// Addr is the host:port clients dial.
	Addr string
	// StopTimeout bounds how long Close waits for Serve to return;
	// DefaultStopTimeout when zero.
	StopTimeout time.Duration

	tb       testing.TB
	srv      Servable
	started  bool
	cancel   context.CancelFunc
	done     chan struct{} // closed when Serve returned
	err      error         // what Serve returned, once done is closed
	stopOnce sync.Once
}

// Start serves srv on a free 127.0.0.1 port until tb ends; see Close.
func Start(tb testing.TB, srv Servable) *Server {
	tb.Helper()
	s := NewUnstarted(tb, srv)
	s.Start()
	return s
}

// NewUnstarted is Start without serving yet, so that the test may set the
// Server up first; Start then serves. It too is closed when tb ends,
// started or not.
func NewUnstarted(tb testing.TB, srv Servable) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Listener: ln, Addr: ln.Addr().String(), tb: tb, srv: srv, done: make(chan struct{})}
	tb.Cleanup(s.Close)
	return s
}

// Start serves on Listener until Shutdown or Close.
func (s *Server) Start() {
	if s.started {
		panic("proxytest: Server started twice")
	}
	s.started = true
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		s.err = s.srv.Serve(ctx, s.Listener)
		close(s.done)
	}()
}

// Shutdown begins the proxy's shutdown, as a cancelled context does for
// Serve: it stops accepting and lets the open sessions finish for the
// grace period. It does not wait (see Wait).
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() {
		if s.started {
			s.cancel()
			return
		}
		_ = s.Listener.Close()
		close(s.done)
	})
}

// Wait reports whether Serve returned within d.
func (s *Server) Wait(d time.Duration) bool {
	select {
	case <-s.done:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.done:
		return true
	case <-t.C:
		return false
	}
}

// Close shuts the proxy down and waits for Serve to return. The test
// fails when Serve returned an error, or did not return within
// StopTimeout. It is called when the test ends; calling it earlier, or
// again, is allowed.
func (s *Server) Close() {
	s.Shutdown()
	limit := s.StopTimeout
	if limit <= 0 {
		limit = DefaultStopTimeout
	}
	if !s.Wait(limit) {
		s.tb.Errorf("proxytest: Serve did not return within %s of the shutdown", limit)
		return
	}
	if s.err != nil {
		s.tb.Errorf("proxytest: Serve: %v", s.err)
		s.err = nil // reported once
	}
}

//go:build !linux || 386

package proxy

import "net"

// The event loop (loop.go) is Linux's: elsewhere Config.EventLoop is
// refused by New, and these are its places.

type eventLoop struct{}

type runner struct{}

func (*runner) handOff() {}

// EventLoopAvailable reports whether Config.EventLoop works on this
// system: Linux, but for 32-bit x86, which this is not.
const EventLoopAvailable = false

func (s *Server) startLoops() (stop func())                   { return func() {} }
func (s *Server) forLoop(_ *session, conn net.Conn) net.Conn  { return conn }
func looped(net.Conn) bool                                    { return false }
func onLoop(_, _ *tcpEndpoint) bool                           { return false }
func (s *session) runOnLoop(_, _ *tcpEndpoint)                {}
func (s *session) unparkLoop(_, _ endpoint)                   {}
func (s *session) kickLooped(direction, *dirPark, int64) bool { return false }

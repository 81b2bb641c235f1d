//go:build !linux

package proxy

import "syscall"

// parker is the Linux parker's place on other systems, which have none:
// newParker returns nil, and idle sessions keep their goroutines.
type parker struct{}

func newParker(func(error)) (*parker, error) { return nil, nil }

func (*parker) park(*session, direction, syscall.RawConn) bool { return false }
func (*parker) unpark(*session)                                {}
func (*parker) run()                                           {}
func (*parker) close()                                         {}

// Package checker decides whether messages keep a contract: it matches terms
// against types (explaining, on a mismatch, where and why), and follows
// conversations as state machines with Session.
package checker

// API SKETCH — the checker issue replaces the bodies; the signatures are what
// the proxy codes against. Change them only together with proxy/.

import (
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Side names who broke the contract.
type Side uint8

// The sides.
const (
	Client Side = iota + 1
	Server
)

func (s Side) String() string {
	if s == Server {
		return "server"
	}
	return "client"
}

// Violation says how a message broke the contract.
type Violation struct {
	Side        Side
	States      []string        // the states the session was in
	Message     term.Term       // nil when no message was involved (a close)
	Expected    []contract.Type // the input types of the states, or the outputs of the matched rules
	Explanation string          // why Message did not match the closest candidate
}

func (v *Violation) Error() string { panic("checker: not implemented yet") }

// Options tune a session.
type Options struct {
	// Initial names the starting state; "" means the contract's.
	Initial string
}

// Session follows one conversation. It is not safe for concurrent use: one
// connection owns it.
type Session struct{}

// NewSession starts a conversation in the initial state.
func NewSession(c *contract.Contract, opts Options) *Session { panic("checker: not implemented yet") }

// Call checks a client request. It returns nil when the request is legal.
func (s *Session) Call(t term.Term) *Violation { panic("checker: not implemented yet") }

// Reply checks the server's reply to the oldest outstanding request.
func (s *Session) Reply(t term.Term) *Violation { panic("checker: not implemented yet") }

// ReplyState is Reply for wire formats that carry the state the server
// announces; that state must be one the contract allows.
func (s *Session) ReplyState(t term.Term, next string) *Violation {
	panic("checker: not implemented yet")
}

// EventIn checks an event sent by the client.
func (s *Session) EventIn(t term.Term) *Violation { panic("checker: not implemented yet") }

// EventOut checks an event sent by the server.
func (s *Session) EventOut(t term.Term) *Violation { panic("checker: not implemented yet") }

// Close reports that side closed the connection; it is a violation when the
// server leaves a request unanswered whose reply is not none().
func (s *Session) Close(side Side) *Violation { panic("checker: not implemented yet") }

// States returns the states the session may be in.
func (s *Session) States() []string { panic("checker: not implemented yet") }

// Done reports whether the conversation reached a terminal state.
func (s *Session) Done() bool { panic("checker: not implemented yet") }

// Pending returns how many requests await their reply.
func (s *Session) Pending() int { panic("checker: not implemented yet") }

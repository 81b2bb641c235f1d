// Package violation is the vocabulary the checker, the wire formats and the
// proxy share to speak of a broken contract: who broke it (Side), what sort
// of violation it was (Kind), and the one line that says so (Line). It
// imports term only, so that checker and wrappers, which may not import
// each other, both speak it; they re-export its names (checker.Side,
// checker.BadRequest, wrappers.Client, ...) as aliases, so there is one
// type of each.
package violation

import (
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
)

// Side names a party to a conversation, and who broke the contract.
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

// Kind says what sort of violation happened. The checker finds the kinds
// from BadRequest to InvalidSession; the proxy sees the others on the
// wire, around the checker.
type Kind uint8

// The kinds of violations.
const (
	// BadRequest: no rule of the current states (nor +anystate) accepts
	// the client's request.
	BadRequest Kind = iota + 1
	// BadReply: the server's reply matches no output of the rules the
	// request matched.
	BadReply
	// BadNextState: the server announced a next state the contract does
	// not allow after that reply.
	BadNextState
	// BadEvent: no transition or event of the current states accepts the
	// message in the direction it was sent.
	BadEvent
	// WrongDirection: the transition or event is declared, but for the
	// other side.
	WrongDirection
	// AfterEnd: a message after the conversation reached a terminal state
	// or was closed.
	AfterEnd
	// UnexpectedReply: a reply with no request outstanding (where no out
	// transition or event accepts it either).
	UnexpectedReply
	// TooManyPending: the client pipelined more requests than
	// Options.MaxPending allows.
	TooManyPending
	// Unanswered: the server closed the connection while a request whose
	// reply is not none() was outstanding.
	Unanswered
	// PipelinedRequest: a request sent before an earlier reply arrived is
	// not legal in the state that reply led to.
	PipelinedRequest
	// InvalidSession: the session could not start (unknown initial state).
	InvalidSession
	// BadMessage: a message of a kind its sender never sends (a reply
	// from the client, a request from the service).
	BadMessage
	// MalformedFrame: bytes the wire format cannot decode.
	MalformedFrame
	// OverLimit: a frame over one of the decoder's limits.
	OverLimit
	// ReplyTimeout: the service did not reply in time.
	ReplyTimeout
	// ServiceRefused: the service's own contract checker refused the
	// request, and said so in its reply.
	ServiceRefused
	// ServiceReported: the service's own contract checker caught its
	// reply, and sent its report instead.
	ServiceReported
)

var kindNames = [...]string{
	BadRequest:       "bad-request",
	BadReply:         "bad-reply",
	BadNextState:     "bad-next-state",
	BadEvent:         "bad-event",
	WrongDirection:   "wrong-direction",
	AfterEnd:         "after-end",
	UnexpectedReply:  "unexpected-reply",
	TooManyPending:   "too-many-pending",
	Unanswered:       "unanswered",
	PipelinedRequest: "pipelined-request",
	InvalidSession:   "invalid-session",
	BadMessage:       "bad-message",
	MalformedFrame:   "malformed-frame",
	OverLimit:        "limit",
	ReplyTimeout:     "reply-timeout",
	ServiceRefused:   "service-refused",
	ServiceReported:  "service-reported",
}

// String returns a stable identifier such as "bad-request".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Event reports whether a violation of kind k was about an unsolicited
// message (an event), which no peer expects an answer to.
func (k Kind) Event() bool { return k == BadEvent || k == WrongDirection }

// Style is how Line introduces the states and the message.
type Style uint8

// The styles.
const (
	// Plain is the checker's (checker.Violation.Error, replay's records):
	// "in state S" or "in states S1, S2", and the message as it is.
	Plain Style = iota
	// Reply is an error reply's: "in state S1 | S2", the message after
	// "sent" (the client) or "replied" (the server), and the expected
	// types when there is no explanation.
	Reply
)

// MaxMessage bounds the text of the message in a Line.
const MaxMessage = 200

// Line writes the one line that says how a contract was broken to b:
//
//	client broke the contract in state ready: {read_line, "x"}: element 2 of {read_line, "x"}: expected fileHandle() = integer(), got "x"
//
// Each part is left out when it is empty.
func Line(b *strings.Builder, st Style, side Side, states []string, msg term.Term, explanation string, expected []string) {
	b.WriteString(side.String())
	b.WriteString(" broke the contract")
	switch {
	case len(states) == 0:
	case st == Reply:
		b.WriteString(" in state ")
		b.WriteString(strings.Join(states, " | "))
	case len(states) == 1:
		b.WriteString(" in state ")
		b.WriteString(states[0])
	default:
		b.WriteString(" in states ")
		b.WriteString(strings.Join(states, ", "))
	}
	if msg != nil {
		b.WriteString(": ")
		if st == Reply {
			if side == Server {
				b.WriteString("replied ")
			} else {
				b.WriteString("sent ")
			}
		}
		b.WriteString(term.Truncated(msg, MaxMessage))
	}
	switch {
	case explanation != "":
		b.WriteString(": ")
		b.WriteString(explanation)
	case st == Reply && len(expected) > 0:
		// The explanation names what was expected; the list is the
		// fallback.
		b.WriteString("; expected ")
		b.WriteString(strings.Join(expected, " | "))
	}
}

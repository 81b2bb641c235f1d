package checker

import (
	"fmt"
	"strings"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/violation"
	"github.com/ubfproxy/ubfproxy/term"
)

// Side names who broke the contract (violation.Side, which the wire
// formats share).
type Side = violation.Side

// The sides.
const (
	Client = violation.Client
	Server = violation.Server
)

// Kind says what sort of violation happened (violation.Kind, which the
// proxy shares). The checker returns the kinds from BadRequest to
// InvalidSession.
type Kind = violation.Kind

// The kinds of violations the checker finds; see violation.Kind for each.
const (
	BadRequest       = violation.BadRequest
	BadReply         = violation.BadReply
	BadNextState     = violation.BadNextState
	BadEvent         = violation.BadEvent
	WrongDirection   = violation.WrongDirection
	AfterEnd         = violation.AfterEnd
	UnexpectedReply  = violation.UnexpectedReply
	TooManyPending   = violation.TooManyPending
	Unanswered       = violation.Unanswered
	PipelinedRequest = violation.PipelinedRequest
	InvalidSession   = violation.InvalidSession
)

// Role is what a message is in the conversation: a call (from the client,
// answered by a reply), a reply, or a transition (from either side, no
// answer, moves the state); an event is a transition back to the same
// state.
type Role uint8

// The roles of messages.
const (
	RoleCall Role = iota + 1
	RoleReply
	RoleTransition
	RoleEvent
)

var roleNames = [...]string{RoleCall: "call", RoleReply: "reply", RoleTransition: "transition", RoleEvent: "event"}

func (r Role) String() string {
	if int(r) < len(roleNames) && roleNames[r] != "" {
		return roleNames[r]
	}
	return "message"
}

// Binding is the value of a variable (section 14 of the language) in one
// state of a session, as a violation was checked against it.
type Binding struct {
	State string    // the state whose binding this is
	Var   string    // the variable's name
	Value term.Term // nil when the variable is not bound
	// Seq is the message that bound it, counting the messages the session
	// checked from 1 (Session.Seq); By is what that message was.
	Seq int
	By  Role
}

// Describe says the binding in words, with place telling where the
// binding message was: "H is bound to 7 by the reply at line 5" for place
// "at line 5".
func (b Binding) Describe(place string) string {
	if b.Value == nil {
		return b.Var + " is not bound"
	}
	s := b.Var + " is bound to " + term.Truncated(b.Value, maxTermText) + " by the " + b.By.String()
	if place != "" {
		s += " " + place
	}
	return s
}

// String is Describe with the message's number in the session.
func (b Binding) String() string { return b.Describe(fmt.Sprintf("(message %d)", b.Seq)) }

// Violation says how a message broke the contract.
type Violation struct {
	Side        Side
	Kind        Kind
	States      []string        // the states the session was in (or may be in, for a pipelined request)
	Message     term.Term       // the offending message; for Unanswered the request left unanswered; nil for InvalidSession
	Request     term.Term       // for BadReply and BadNextState, the request being answered
	Expected    []contract.Type // the input types of the states, the outputs of the matched rules, or the events allowed
	Explanation string          // why Message did not match the closest candidate, or what else went wrong
	// Bindings are the values of the variables the expected types use,
	// as the message was checked against them (one per variable and
	// state); empty when they use none.
	Bindings []Binding
}

// Error is a one-line message for people and logs:
//
//	client broke the contract in state ready: {read_line, 8}: element 2 of {read_line, 8}: expected H (bound to 7), got 8; H is bound to 7 by the reply (message 2)
func (v *Violation) Error() string { return v.Describe(nil) }

// Describe is Error with the bindings placed by place, which says where
// the message numbered seq was (for replay: "at line 5"); nil numbers
// them as Binding.String does.
func (v *Violation) Describe(place func(seq int) string) string {
	var b strings.Builder
	violation.Line(&b, violation.Plain, v.Side, v.States, v.Message, v.Explanation, nil)
	if len(v.Bindings) > 0 {
		b.WriteString("; ")
		b.WriteString(v.BindingsText(place))
	}
	return b.String()
}

// BindingsText says the violation's bindings in words, separated by
// commas; with several states, each binding names its state.
func (v *Violation) BindingsText(place func(seq int) string) string {
	states := map[string]bool{}
	for _, bd := range v.Bindings {
		states[bd.State] = true
	}
	parts := make([]string, len(v.Bindings))
	for i, bd := range v.Bindings {
		var s string
		if place == nil {
			s = bd.String()
		} else {
			s = bd.Describe(place(bd.Seq))
		}
		if len(states) > 1 {
			s = "in " + bd.State + ", " + s
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}

// ExpectedStrings returns the expected types in the contract's notation.
func (v *Violation) ExpectedStrings() []string {
	out := make([]string, len(v.Expected))
	for i, t := range v.Expected {
		out[i] = t.String()
	}
	return out
}

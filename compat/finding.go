package compat

import (
	"fmt"
	"strings"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// The codes of Compare's findings, from the one code table.
const (
	CodeClientRequest  = contract.CodeBreaksClientRequest
	CodeClientReply    = contract.CodeBreaksClientReply
	CodeServiceRequest = contract.CodeBreaksServiceRequest
	CodeServiceReply   = contract.CodeBreaksServiceReply
	CodeMayBreak       = contract.CodeMayBreak
)

// Finding is one difference between the contracts, in one pair of states
// the walk reached.
//
//   - breaks-client-request: a client message OLD accepts, NEW refuses.
//   - breaks-client-reply: a reply or server message NEW allows, OLD does
//     not (old clients do not expect it).
//   - breaks-service-request: a client message NEW accepts, OLD refuses
//     (an old service never had to handle it).
//   - breaks-service-reply: a reply or server message OLD allows, NEW
//     refuses.
//   - may-break: a type of one contract whose inclusion in the other's
//     types could not be decided and no sample told them apart; Breaks
//     says which of the four it would be.
type Finding struct {
	Code   contract.Code
	Breaks contract.Code // for may-break: what it may break
	// OldStates and NewStates are the states each contract is in when
	// the message is sent: the pair of states of the finding.
	OldStates, NewStates []string
	Role                 string       // request, reply, client message, server message
	Type                 string       // the type that allows the message
	Pos                  contract.Pos // where that type is written
	InOld                bool         // the type is OLD's (else NEW's)
	Message              term.Term    // the message that shows it; nil for may-break
	Trace                []Step       // the shortest conversation ending with Message
	Explanation          string       // why the other contract refuses it
}

// Severity is the code's severity.
func (f Finding) Severity() contract.Severity {
	info, _ := f.Code.Info()
	return info.Severity
}

// Summary says the finding in one sentence.
func (f Finding) Summary() string {
	states := fmt.Sprintf("(old in %s, new in %s)", strings.Join(f.OldStates, "|"), strings.Join(f.NewStates, "|"))
	switch f.Code {
	case CodeClientRequest:
		return fmt.Sprintf("breaks clients: the old contract accepts the %s %s %s, the new one refuses it: %s", f.Role, f.Message, states, f.Explanation)
	case CodeClientReply:
		return fmt.Sprintf("breaks clients: the new contract allows the %s %s %s, which old clients do not expect: %s", f.Role, f.Message, states, f.Explanation)
	case CodeServiceRequest:
		return fmt.Sprintf("breaks services: the new contract accepts the %s %s %s, which the old service never had to handle: %s", f.Role, f.Message, states, f.Explanation)
	case CodeServiceReply:
		return fmt.Sprintf("breaks services: the old contract lets the service send the %s %s %s, the new one refuses it: %s", f.Role, f.Message, states, f.Explanation)
	}
	which := "old"
	if !f.InOld {
		which = "new"
	}
	return fmt.Sprintf("may break (%s): the %s type %s of the %s contract %s: %s", f.Breaks, f.Role, f.Type, which, states, f.Explanation)
}

// Verdicts says what replay reports for the trace on each contract: "ok"
// or "violation" (at the last message).
func (f Finding) Verdicts() (old, new string) {
	switch f.Code {
	case CodeClientRequest, CodeServiceReply:
		return "ok", "violation"
	case CodeClientReply, CodeServiceRequest:
		return "violation", "ok"
	}
	return "ok", "ok"
}

// TraceText is the finding's conversation as a trace file replay reads.
func (f Finding) TraceText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", f.Code)
	old, new := f.Verdicts()
	fmt.Fprintf(&b, "# replay: old contract %s, new contract %s\n", old, new)
	for _, st := range f.Trace {
		fmt.Fprintf(&b, "%s\n", st)
	}
	return b.String()
}

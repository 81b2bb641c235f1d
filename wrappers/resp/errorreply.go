package resp

import (
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// maxErrorReply bounds the text of an error reply: long enough for the
// state, the message and a few expected types, short enough for a log line
// in the client.
const maxErrorReply = 1024

// ErrorReply implements wrappers.Session. It is one RESP error line,
//
//	-ERR contract: client broke the contract in state ready: sent flushall: expected get() | set() | ..., got flushall
//
// (the checker's explanation, or else the expected types)
//
// with CR, LF and other control bytes replaced by spaces so that it stays
// one frame, and cut to a bounded length. Redis clients raise it as a
// command error, in order, in place of the reply the command would have had.
func (s *Session) ErrorReply(v wrappers.Violation) []byte {
	var sb strings.Builder
	sb.WriteString("ERR contract: ")
	sb.WriteString(v.Side.String())
	sb.WriteString(" broke the contract")
	if len(v.States) > 0 {
		sb.WriteString(" in state ")
		sb.WriteString(strings.Join(v.States, " | "))
	}
	if v.Message != nil {
		if v.Side == wrappers.Server {
			sb.WriteString(": replied ")
		} else {
			sb.WriteString(": sent ")
		}
		sb.WriteString(term.Truncated(v.Message, 200))
	}
	// The explanation names what was expected; the list is the fallback.
	if v.Explanation != "" {
		sb.WriteString(": ")
		sb.WriteString(v.Explanation)
	} else if len(v.Expected) > 0 {
		sb.WriteString("; expected ")
		sb.WriteString(strings.Join(v.Expected, " | "))
	}
	text := []byte(sb.String())
	if len(text) > maxErrorReply {
		text = append(text[:maxErrorReply-3], "..."...)
	}
	for i, c := range text {
		if c < ' ' || c == 0x7f {
			text[i] = ' '
		}
	}
	out := make([]byte, 0, len(text)+3)
	out = append(out, '-')
	out = append(out, text...)
	return append(out, '\r', '\n')
}

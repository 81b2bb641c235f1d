package resp

import (
	"strings"

	"github.com/ubfproxy/ubfproxy/internal/violation"
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
	violation.Line(&sb, violation.Reply, v.Side, v.States, v.Message, v.Explanation, v.Expected)
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

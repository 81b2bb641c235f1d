package line

import (
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// maxReplyLine is the longest reply line RFC 5321 (4.5.3.1.5) lets a
// server send, CRLF included.
const maxReplyLine = 512

// ErrorReply implements wrappers.Session. It is one SMTP reply line:
//
//	503 5.5.1 Contract violation: client sent {rcpt, "TO:<b@c>"} in state greeted: expected hello() | mailFrom() | ..., got {rcpt, "TO:<b@c>"}
//
// for a client that broke the contract — 503 "bad sequence of commands"
// with the enhanced code 5.5.1 "invalid command" (RFC 3463) is what a
// server answers a command it will not take in this state, and clients
// handle it whether the session then goes on (reject mode) or is closed
// (kill mode) — and
//
//	451 4.3.0 Contract violation by the service: ...
//
// when the service broke it: "local error in processing", a transient
// failure, so that a well-behaved client retries later rather than
// bouncing the mail. The line is ASCII, without control bytes, and no
// longer than the 512 bytes RFC 5321 allows.
func (s *Session) ErrorReply(v wrappers.Violation) []byte {
	var sb strings.Builder
	if v.Side == wrappers.Server {
		sb.WriteString("451 4.3.0 Contract violation by the service")
	} else {
		sb.WriteString("503 5.5.1 Contract violation")
	}
	if v.Message != nil {
		if v.Side == wrappers.Server {
			sb.WriteString(": replied ")
		} else {
			sb.WriteString(": client sent ")
		}
		sb.WriteString(term.Truncated(v.Message, 120))
	}
	if len(v.States) > 0 {
		sb.WriteString(" in state ")
		sb.WriteString(strings.Join(v.States, " | "))
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
	if len(text) > maxReplyLine-2 {
		text = append(text[:maxReplyLine-5], "..."...)
	}
	for i, c := range text {
		if c < ' ' || c >= 0x7f {
			text[i] = ' '
		}
	}
	return append(text, '\r', '\n')
}

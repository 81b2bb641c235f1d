package text

import (
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// replyLine is one error reply line: head, then what was sent, in which
// state, and why it broke the contract, cut to max bytes with its CRLF,
// ASCII without control bytes so that it stays one line of any of these
// protocols. The full explanation goes to the log; this is a hint.
func replyLine(head string, v wrappers.Violation, max int) []byte {
	var sb strings.Builder
	sb.WriteString(head)
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
	if v.Explanation != "" {
		sb.WriteString(": ")
		sb.WriteString(v.Explanation)
	} else if len(v.Expected) > 0 {
		sb.WriteString("; expected ")
		sb.WriteString(strings.Join(v.Expected, " | "))
	}
	text := []byte(sb.String())
	if len(text) > max-2 {
		text = append(text[:max-5], "..."...)
	}
	for i, c := range text {
		if c < ' ' || c >= 0x7f {
			text[i] = ' '
		}
	}
	return append(text, '\r', '\n')
}

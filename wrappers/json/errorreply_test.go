package json

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestErrorReplyBounded: a huge offending message is echoed as its text
// cut to MaxEcho bytes; the request a bad reply answered is sent too.
func TestErrorReplyBounded(t *testing.T) {
	big := make(term.List, 1600)
	for i := range big {
		big[i] = term.String(strings.Repeat("x", 10000))
	}
	reply := ErrorReply(wrappers.Violation{Side: wrappers.Server, Message: big, Request: big, States: []string{"start"}})
	if len(reply) > 3*wrappers.MaxEcho {
		t.Fatalf("a 16 MB message got an error reply of %d bytes", len(reply))
	}
	if !strings.Contains(string(reply), `...`) || !strings.Contains(string(reply), `"request":`) {
		t.Errorf("error reply %s", reply)
	}
	got := string(ErrorReply(wrappers.Violation{Side: wrappers.Server, Message: term.Atom("x"), Request: term.MustParse(`{get, 1}`)}))
	want := `{"error":"serverBrokeContract","message":{"$A":"x"},"request":{"$T":[{"$A":"get"},1]},"expected":[],"state":"","explanation":""}` + "\n"
	if got != want {
		t.Errorf("ErrorReply =\n%s\nwant\n%s", got, want)
	}
}

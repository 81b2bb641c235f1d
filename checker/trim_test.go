package checker

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

// TestTrim: a session trimmed with nothing pending lets go of its ring,
// last keys and scratch, and checks the next messages as before; one with
// a call pending or a message foreseen keeps them.
func TestTrim(t *testing.T) {
	s := start(t, Prepare(compileContract(t, sessionContract)), Options{MaxPending: 4})
	ok := func(v *Violation) {
		t.Helper()
		if v != nil {
			t.Fatal(v)
		}
	}
	trimmed := func() bool { return s.ring == nil && s.act == nil && s.x == nil }
	ok(s.Call(term.MustParse(`{open, "f", read}`)))
	s.Trim()
	if trimmed() {
		t.Fatal("a session with a call pending let go of its ring")
	}
	ok(s.Reply(term.MustParse(`{ok, 3}`)))
	s.Trim()
	if !trimmed() {
		t.Fatal("an idle session kept its ring, last keys or scratch")
	}
	// Pipelined after the trim: checked in the states the replies lead to.
	ok(s.Call(term.MustParse(`{read_line, 3}`)))
	ok(s.Call(term.MustParse(`{read_line, 3}`)))
	ok(s.Reply(term.MustParse(`{ok, "a"}`)))
	ok(s.Reply(term.MustParse(`eof`)))
	if got := strings.Join(s.States(), " "); got != "atEof" {
		t.Fatalf("states %s after the replies, want atEof", got)
	}
	s.Trim()
	if s.Foresee(term.MustParse(`{close, 3}`)) != Legal {
		t.Fatal("close not foreseen legal in atEof")
	}
	s.Trim()
	if trimmed() {
		t.Fatal("a session with a message foreseen let go of its ring")
	}
	ok(s.CallForeseen())
	ok(s.Reply(term.MustParse(`true`)))
	if !s.Done() {
		t.Fatalf("states %v after close, want stop", s.States())
	}
}

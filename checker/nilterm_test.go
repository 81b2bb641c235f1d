package checker

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

// TestNilMessages: a nil term is a message no type accepts, never a
// panic, on every way into a session, the short ways included (the
// contract has no variables, so they are taken).
func TestNilMessages(t *testing.T) {
	m := Prepare(compileContract(t, `+name("nil").
+state start x {get, binary()} -> binary() x start.
+anystate ping -> pong.
+event start in hello.
+event start out tick.
`))
	get := term.MustParse(`{get, <<"k">>}`)
	tests := []struct {
		name string
		f    func(s *Session) *Violation
	}{
		{"Call", func(s *Session) *Violation { return s.Call(nil) }},
		{"EventIn", func(s *Session) *Violation { return s.EventIn(nil) }},
		{"EventOut", func(s *Session) *Violation { return s.EventOut(nil) }},
		{"Client", func(s *Session) *Violation { _, v := s.Client(nil); return v }},
		{"Server", func(s *Session) *Violation { _, v := s.Server(nil); return v }},
		{"Reply", func(s *Session) *Violation { s.Call(get); return s.Reply(nil) }},
		{"Reply behind a pipelined call", func(s *Session) *Violation { s.Call(get); s.Call(get); return s.Reply(nil) }},
		{"Foresee, CallForeseen", func(s *Session) *Violation { s.Call(get); s.Foresee(nil); return s.CallForeseen() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v := tc.f(start(t, m, Options{})); v == nil {
				t.Errorf("%s(nil) was accepted", tc.name)
			}
		})
	}
}

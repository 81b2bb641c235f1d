package checker

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

// BenchmarkPipelinedAnystate is BenchmarkPipelinedRedis/foreseen for a
// call a +anystate rule takes: 16 NOOPs of contracts/ftp.con pipelined in
// state session, then their replies.
func BenchmarkPipelinedAnystate(b *testing.B) {
	s := newSession(b, loadContract(b, "ftp.con"), Options{Initial: "session"})
	var noop term.Term = term.Atom("noop")
	var ok term.Term = term.Tuple{term.Int(200), term.String("NOOP ok")}
	for b.Loop() {
		pipeline(b, s, noop, ok, true)
	}
}

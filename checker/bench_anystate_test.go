package checker

import (
	"path/filepath"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// BenchmarkPipelinedAnystate is BenchmarkPipelinedRedis/foreseen for a
// call a +anystate rule takes: 16 NOOPs of contracts/ftp.con pipelined in
// state session, then their replies.
func BenchmarkPipelinedAnystate(b *testing.B) {
	c, diags, err := contract.Load(filepath.Join("..", "contracts", "ftp.con"), contract.Options{})
	if err != nil || diags.HasErrors() {
		b.Fatal(err, diags)
	}
	s, err := Prepare(c).NewSession(Options{Initial: "session"})
	if err != nil {
		b.Fatal(err)
	}
	var noop term.Term = term.Atom("noop")
	var ok term.Term = term.Tuple{term.Int(200), term.String("NOOP ok")}
	for b.Loop() {
		pipeline(b, s, noop, ok, true)
	}
}

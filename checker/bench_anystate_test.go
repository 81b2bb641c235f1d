package checker

import (
	"path/filepath"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// BenchmarkPipelinedAnystate is BenchmarkPipelinedRedis/foreseen for a
// call a +anystate rule takes: 16 NOOPs of contracts/ftp.con pipelined in
// state session, each foreseen and checked, then their replies.
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
	const batch = 16
	for b.Loop() {
		for range batch {
			if o := s.Foresee(noop); o != Legal {
				b.Fatalf("NOOP foreseen %s", o)
			}
			if v := s.CallForeseen(); v != nil {
				b.Fatal(v)
			}
		}
		for range batch {
			if v := s.Reply(ok); v != nil {
				b.Fatal(v)
			}
		}
	}
}

package contract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/grammar"
)

// generated returns a contract in the Armstrong dialect with the given
// number of rules: states of ten rules each, chained to one another, with
// named types, several replies per rule, events and anystate rules.
func generated(rules int) []byte {
	var b strings.Builder
	b.WriteString("+name(\"generated\").\n+vsn(\"1\").\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "+deftype t%d() = {item%d, string(), 0..%d, [atom()]+} | none%d.\n", i, i, i+10, i)
	}
	states := (rules + 9) / 10
	for i := 0; i < rules; i++ {
		s := i / 10
		next := fmt.Sprintf("s%d", (s+1)%states)
		if s == states-1 {
			next = "stop"
		}
		fmt.Fprintf(&b, "+state s%d x {cmd%d, string(), integer(), t%d()} ->\n      {ok, t%d()} x %s\n    | {error, string()} x s%d.\n",
			s, i, i%50, (i+1)%50, next, s)
	}
	for s := 0; s < states; s += 10 {
		fmt.Fprintf(&b, "+event s%d out {progress, 0..100}.\n", s)
	}
	b.WriteString("+anystate info -> string().\n+anystate event out {tick, integer()}.\n")
	return []byte(b.String())
}

func TestGeneratedContractCompiles(t *testing.T) {
	src := generated(5000)
	c, ds := Compile("gen.con", src, Options{})
	if c == nil {
		t.Fatalf("%v", ds)
	}
	n := 0
	for _, st := range c.States {
		n += len(st.Rules)
	}
	if n != 5000 {
		t.Errorf("%d rules", n)
	}
	if len(ds) != 0 {
		t.Errorf("findings: %v", ds[:min(5, len(ds))])
	}
}

// BenchmarkParse5000 is the baseline: parsing alone.
func BenchmarkParse5000(b *testing.B) {
	src := generated(5000)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := grammar.Parse("gen.con", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile5000 parses and compiles (with every static check) a
// contract of 5,000 rules.
func BenchmarkCompile5000(b *testing.B) {
	src := generated(5000)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c, ds := Compile("gen.con", src, Options{}); c == nil {
			b.Fatal(ds)
		}
	}
}

// BenchmarkFormat5000 formats the same contract.
func BenchmarkFormat5000(b *testing.B) {
	src := generated(5000)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ds := Format("gen.con", src); ds.HasErrors() {
			b.Fatal(ds)
		}
	}
}

// TestLongTypeChainIsFast guards the inhabitation check against quadratic
// behaviour: 5,000 types each defined through the next one.
func TestLongTypeChainIsFast(t *testing.T) {
	var b strings.Builder
	const n = 5000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "+deftype t%d() = {a, t%d()}.\n", i, i+1)
	}
	fmt.Fprintf(&b, "+deftype t%d() = leaf.\n+state start x t0() -> ok x stop.\n", n)
	c, ds := Compile("chain.con", []byte(b.String()), Options{})
	if c == nil {
		t.Fatalf("%v", ds[:min(3, len(ds))])
	}
	// The same chain without a base case is uninhabited throughout.
	src := strings.Replace(b.String(), fmt.Sprintf("t%d() = leaf", n), fmt.Sprintf("t%d() = {b, t0()}", n), 1)
	_, ds = Compile("chain.con", []byte(src), Options{})
	if len(ds) != n+1 || ds[0].Code != "uninhabited-type" {
		t.Errorf("%d findings, want %d uninhabited types", len(ds), n+1)
	}
}

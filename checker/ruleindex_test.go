package checker

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

// TestRuleIndexLookup: every keyed message finds exactly its own rule,
// messages of another arity or tag, or none, find the wild rules only, and
// tags alike but for their middle (op0 ... op999) spread over the table, so
// that a lookup stays a probe or two.
func TestRuleIndexLookup(t *testing.T) {
	const n = 1000
	m := Prepare(compileContract(t, manyRules(n)))
	ix := &m.core.states[m.core.index["s"]].rules
	if len(ix.slots) < 2*n || len(ix.slots)&(len(ix.slots)-1) != 0 {
		t.Fatalf("%d slots for %d keys: want a power of two at least twice as many", len(ix.slots), n)
	}
	probes := 0
	for i := 0; i < n; i++ {
		tag := term.Atom("op" + itoa(i))
		got := ix.lookup(term.Tuple{tag, term.Int(1), term.Binary("x")})
		if len(got) != 1 || ix.rules[got[0]].rule.In.String() != "{op"+itoa(i)+", integer(), binary()}" {
			t.Fatalf("lookup of %s gives %v", tag, got)
		}
		mask := len(ix.slots) - 1
		for j := slotOf(tag, 3, mask); ix.slots[j].key.tag != tag; j = (j + 1) & mask {
			probes++
		}
	}
	if avg := float64(probes) / n; avg > 1 {
		t.Errorf("%.2f extra probes per lookup on average, want at most 1", avg)
	}
	for _, msg := range []string{`{op5, 1}`, `op5`, `{op1000, 1, <<>>}`, `{}`, `{"op5", 1, <<>>}`, `42`} {
		if got := ix.lookup(term.MustParse(msg)); len(got) != len(ix.wild) {
			t.Errorf("lookup of %s gives %v, want the wild rules %v", msg, got, ix.wild)
		}
	}
}

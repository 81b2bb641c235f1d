package checker

import (
	"fmt"
	"slices"
	"strings"
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

// TestArgIndex: where many rules share a tag and arity and fix their first
// argument, a message is tried against exactly the rules that can accept
// it: the same matches as trying every rule of the state, in the same
// order, with far fewer tried; and a refused message is still explained
// against every rule of its tag and arity.
func TestArgIndex(t *testing.T) {
	var src strings.Builder
	for i := range 12 {
		fmt.Fprintf(&src, "+state s x {op, k%d, integer()} -> {ok, %d} x s.\n", i, i)
	}
	src.WriteString(`
+deftype flag() = <<"NX">> | <<"nx">>.
+state s x {op, any(), string()} -> any x s.
+state s x {op, k3 | k4, binary()} -> dup x s.
+state s x {op, flag(), binary()} | {op, <<"XX">>, binary()} -> flag x s.
+state s x {op, k5} -> short x s.
+state s x {op, k5, integer(), integer()} -> long x s.
+state s x {other, k1, integer()} -> other x s.
+state s x {op, term(), "wild"} -> wild x s.
`)
	for i := range 8 {
		fmt.Fprintf(&src, "+state s x {cmd, <<\"b%d\">>, integer()} -> ok x s.\n", i)
	}
	m := Prepare(compileContract(t, src.String()))
	ix := &m.core.states[m.core.index["s"]].rules
	all := make([]int32, len(ix.rules))
	for i := range all {
		all[i] = int32(i)
	}
	matching := func(msg term.Term, rules []int32) []int32 {
		var out []int32
		for _, r := range rules {
			if Match(msg, ix.rules[r].in) {
				out = append(out, r)
			}
		}
		return out
	}
	for _, tc := range []struct {
		msg   string
		tried int // at most this many rules tried
	}{
		{`{op, k0, 1}`, 3},
		{`{op, k11, 7}`, 3},
		{`{op, k3, <<"x">>}`, 4},
		{`{op, k4, "wild"}`, 4},
		{`{op, <<"nx">>, <<"v">>}`, 3},
		{`{op, <<"XX">>, <<"v">>}`, 3},
		{`{op, <<"xx">>, <<"v">>}`, 2},
		{`{op, k99, "s"}`, 2},
		{`{op, "k0", 1}`, 2},
		{`{op, 7, "wild"}`, 2},
		{`{op, k5}`, 1},
		{`{op, k5, 1, 2}`, 1},
		{`{other, k1, 1}`, 2},
		{`{cmd, <<"b7">>, 1}`, 2},
		{`{cmd, b7, 1}`, 1},
	} {
		msg := term.MustParse(tc.msg)
		got := ix.lookup(msg)
		if want, have := matching(msg, all), matching(msg, got); !slices.Equal(want, have) {
			t.Errorf("%s: rules %v match, the index finds %v among %v", tc.msg, want, have, got)
		}
		if len(got) > tc.tried {
			t.Errorf("%s: %d rules tried (%v), want at most %d", tc.msg, len(got), got, tc.tried)
		}
	}
	if e := ix.find(term.MustParse(`{op, k0, 1}`)); e == nil || e.args == nil {
		t.Fatal("{op, _, _} has no argument index")
	}
	if e := ix.find(term.MustParse(`{other, k1, 1}`)); e == nil || e.args != nil {
		t.Error("{other, _, _}, one rule, has an argument index")
	}

	// A refused request is explained against every rule of its tag and
	// arity (lookupKey), as without the argument index.
	msg := term.MustParse(`{op, k0, <<"not an integer">>}`)
	var want []int32
	for i, ri := range ix.rules {
		keys, wild := keysOf(ri.in)
		if wild || slices.Contains(keys, msgKey{"op", 3}) {
			want = append(want, int32(i))
		}
	}
	if got := ix.lookupKey(msg); !slices.Equal(got, want) {
		t.Errorf("lookupKey gives %v, want every rule of {op, _, _}: %v", got, want)
	}
}

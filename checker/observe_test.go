package checker

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// TestShapedCallsAgreeWithMatchShape: for every state of the rich
// contract, the session contract and contracts/, and terms generated from
// every rule's request (and mutated, and random), AppendShapedCalls finds
// exactly the rules a walk of the state's rules with MatchShape finds.
func TestShapedCallsAgreeWithMatchShape(t *testing.T) {
	_, _, contracts := typesUnderTest(t)
	r := rand.New(rand.NewPCG(11, 12))
	hits, tried := 0, 0
	for _, c := range contracts {
		m := Prepare(c)
		genEnv, _ := bindAll(c)
		states := map[string][]*contract.Rule{AnyState: c.Anystate}
		for _, st := range c.States {
			states[st.Name] = st.Rules
		}
		var msgs []term.Term
		for _, rules := range states {
			for _, rule := range rules {
				for k := range 6 {
					v := GenerateIn(r, rule.In, 4, genEnv)
					if k%2 == 1 {
						v = mutate(r, v)
					}
					msgs = append(msgs, v)
				}
			}
		}
		for range 20 {
			msgs = append(msgs, RandomTerm(r, 3))
		}
		for name, rules := range states {
			for _, v := range msgs {
				var want []*contract.Rule
				for _, rule := range rules {
					if m.MatchShape(v, rule.In) {
						want = append(want, rule)
					}
				}
				got := m.AppendShapedCalls(nil, name, v)
				sortRules := func(rs []*contract.Rule) {
					slices.SortFunc(rs, func(a, b *contract.Rule) int { return slices.Index(rules, a) - slices.Index(rules, b) })
				}
				sortRules(got)
				if !slices.Equal(got, want) {
					t.Fatalf("%s, state %s, %s: AppendShapedCalls found %d rules, MatchShape %d", c.Name, name, v, len(got), len(want))
				}
				tried++
				hits += len(want)
			}
		}
	}
	if hits < tried/20 {
		t.Errorf("too little exercised: %d hits in %d tries", hits, tried)
	}
	if got := Prepare(contracts[0]).AppendShapedCalls(nil, "no such state", term.Atom("x")); len(got) != 0 {
		t.Errorf("an unknown state: got %d rules, want none", len(got))
	}
}

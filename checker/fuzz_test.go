package checker

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// FuzzMatch reads a term in the text notation and checks it against every
// type of the rich contract and as a message of a session: nothing panics,
// Explain agrees with Match, and the compiled types with the interpreter. Seeds: testdata/fuzz/FuzzMatch.
//
//	go test -run '^$' -fuzz FuzzMatch -fuzztime 20s ./checker/
func FuzzMatch(f *testing.F) {
	f.Add(`{go, {{leaf, 1}, [[1]], {person, "Joe", 42, [a]}}}`)
	f.Add(`#{name => "x", "age" => 3, tags => ["a"]}`)
	f.Add(`[[[[[[[[[[x]]]]]]]]]]`)
	f.Add(`{open, "foo.dat", read}`)
	f.Add(`{tail, a, b, "x1", "y", "z"}`)
	f.Add(`{"#chan", <<"NX">>, op_1, "abc", <<"10.0.0.1">>, "QUIT"}`)
	f.Add(`{bound, 7, "joe"}`)
	_, types, contracts := typesUnderTest(f)
	machines := make([]*Machine, len(contracts))
	comps := map[*contract.Contract]*compiler{}
	for i, c := range contracts {
		machines[i] = Prepare(c)
		comps[c] = newCompiler(machines[i].core.pats)
	}
	// Each type compiled as its contract's machine compiles it, with the
	// contract's variables bound.
	nodes := make([]*cnode, len(types))
	envs := make([][]binding, len(types))
	for i, typ := range types {
		c := typesOwner[i]
		nodes[i] = comps[c].compile(typ)
		_, envs[i] = bindAll(c)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v, err := term.Parse(text)
		if err != nil {
			return
		}
		for i, typ := range types {
			m := Match(v, typ)
			if e := Explain(v, typ); m != (e == "") {
				t.Fatalf("%s against %s: Match %v but Explain %q", v, typ, m, e)
			}
			agree(t, "fuzz", v, typ, nodes[i], envs[i], comps[typesOwner[i]].pats)
		}
		for _, mc := range machines {
			s := start(t, mc, Options{})
			s.Call(v)
			s.Reply(v)
			s.EventIn(v)
			s.EventOut(v)
			s.Foresee(v)
			s.Client(v)
			s.Client(v) // pipelined behind the first, if it was a call
			s.Server(v)
			s.Server(v)
			s.Close(Server)
			for _, typ := range types {
				// The machine's pattern automata decide as the
				// regexps do.
				if mc.Match(v, typ) != Match(v, typ) {
					t.Fatalf("%s against %s: the automata and the regexps disagree", v, typ)
				}
			}
		}
	})
}

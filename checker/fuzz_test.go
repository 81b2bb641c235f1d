package checker

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

// FuzzMatch reads a term in the text notation and checks it against every
// type of the rich contract and as a message of a session: nothing panics,
// and Explain agrees with Match. Seeds: testdata/fuzz/FuzzMatch.
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
	for i, c := range contracts {
		machines[i] = Prepare(c)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v, err := term.Parse(text)
		if err != nil {
			return
		}
		for _, typ := range types {
			m := Match(v, typ)
			if e := Explain(v, typ); m != (e == "") {
				t.Fatalf("%s against %s: Match %v but Explain %q", v, typ, m, e)
			}
		}
		for _, mc := range machines {
			s, _ := mc.NewSession(Options{})
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

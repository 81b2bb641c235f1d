package checker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// agree checks v against typ compiled (n) and interpreted, with the
// variables bound as in env, unbound, and unknown (as MatchShape and
// pipelined requests see them): the answers and the bindings made must be
// the same.
func agree(t *testing.T, name string, v term.Term, typ contract.Type, n *cnode, env []binding, ps patternSet) bool {
	t.Helper()
	if got, want := matchNode(v, typ, n, nil, ps), matchVars(v, typ, nil, ps); got != want {
		t.Fatalf("%s: %s against %s without variables: compiled %v, interpreted %v", name, v, typ, got, want)
	}
	var ok bool
	for _, ctx := range []varCtx{{env: env}, {}, {spec: true}, {env: env, spec: true, dirty: make([]bool, len(env))}} {
		var gotB, wantB []newBind
		c1, c2 := ctx, ctx
		c1.out, c2.out = &gotB, &wantB
		got, want := matchNode(v, typ, n, &c1, ps), matchVars(v, typ, &c2, ps)
		if got != want || c1.unknown != c2.unknown || !slices.EqualFunc(gotB, wantB, func(a, b newBind) bool {
			return a.slot == b.slot && term.Equal(a.val, b.val)
		}) {
			t.Fatalf("%s: %s against %s (bound %v, spec %v): compiled %v %v %v, interpreted %v %v %v",
				name, v, typ, ctx.env != nil, ctx.spec, got, gotB, c1.unknown, want, wantB, c2.unknown)
		}
		if ctx.env != nil && !ctx.spec {
			ok = got
		}
	}
	return ok
}

// TestCompiledAgreesWithInterpreter: for every type of the rich contract,
// the session contract and contracts/, generated terms, near misses and
// random terms get the same answer (and bindings) from the compiled type
// as from the interpreter.
func TestCompiledAgreesWithInterpreter(t *testing.T) {
	names, types, _ := typesUnderTest(t)
	r := rand.New(rand.NewPCG(7, 8))
	comps := map[*contract.Contract]*compiler{}
	pats := map[*contract.Contract]patternSet{}
	matched, refused, compiled := 0, 0, 0
	for i, typ := range types {
		c := typesOwner[i]
		if comps[c] == nil {
			pats[c] = Prepare(c).core.pats
			comps[c] = newCompiler(pats[c])
		}
		ps := pats[c]
		n := comps[c].compile(typ)
		if n != nil {
			compiled++
		}
		genEnv, env := bindAll(c)
		for k := 0; k < 60; k++ {
			var v term.Term
			switch k % 3 {
			case 0:
				v = GenerateIn(r, typ, k%6, genEnv)
			case 1:
				v = mutate(r, GenerateIn(r, typ, 4, genEnv))
			default:
				v = RandomTerm(r, 4)
			}
			if agree(t, names[i], v, typ, n, env, ps) {
				matched++
			} else {
				refused++
			}
		}
	}
	t.Logf("%d types (%d compiled), %d terms matched, %d refused", len(types), compiled, matched, refused)
	if compiled < len(types)*9/10 || matched < len(types) || refused < 10*len(types) {
		t.Errorf("too little exercised: %d of %d types compiled, %d matched, %d refused", compiled, len(types), matched, refused)
	}
}

// TestCompiledUnionDispatch: a union with enough alternatives to be
// indexed by key, keyed and unkeyed ones interleaved, some binding
// variables: each term is tried against the alternatives that can take it
// in the order written, so the first that matches, and its bindings, are
// the interpreter's.
func TestCompiledUnionDispatch(t *testing.T) {
	c := compileContract(t, `
+deftype w() = W = {get, atom()}.
+deftype x() = {X = atom(), binary()}.
+deftype y() = Y = {get, <<"k">>}.
+deftype z() = Z = a2.
+deftype cmd() = {get, K = binary()} | {set, binary(), binary()} | w() | {del, ..[binary()]}
               | x() | ping | {get, binary()} | atom(pattern("p.*")) | pong
               | {mget, ..[binary()]{1,4}} | #rec{a :: integer()} | {rec, 1} | [integer()] | "str" | 7 | 1..3
               | y() | undefined | a1 | z() | a3.
+deftype more() = cmd()? | {get, integer()}.
+state s x {go, more()} -> ok x s.
`)
	typ := c.Types["more"].Type
	comp := newCompiler(nil)
	n := comp.compile(typ)
	if n == nil || n.op != opUnion {
		t.Fatalf("more() compiled to %+v", n)
	}
	var cmd *cnode
	for _, k := range n.kids {
		if k.op == opOptional {
			cmd = k.kids[0]
		}
	}
	if cmd == nil || cmd.disp.byKind[term.KindTuple].byKey == nil || cmd.disp.byKind[term.KindAtom].byKey == nil {
		t.Fatalf("cmd() is not indexed by key: %+v", cmd)
	}
	_, env := bindAll(c)
	for _, text := range []string{
		`{get, <<"k">>}`, `{get, k}`, `{get, 1}`, `{get, <<"a">>, <<"b">>}`, `{set, <<"a">>, <<"b">>}`,
		`{set, <<"a">>}`, `{del}`, `{del, <<"a">>, <<"b">>}`, `{del, a}`, `{foo, <<"x">>}`, `{"foo", <<"x">>}`,
		`ping`, `pong`, `pang`, `pop`, `undefined`, `a1`, `a2`, `a3`, `a4`, `{mget}`, `{mget, <<"a">>}`, `{rec, 1}`, `{rec, 5}`, `{rec, x}`,
		`[1, 2]`, `[]`, `"str"`, `[115, 116, 114]`, `7`, `2`, `4`, `{}`, `{1, 2}`, `#{}`, `<<"x">>`, `1.5`,
	} {
		agree(t, text, term.MustParse(text), typ, n, env, nil)
	}
}

// TestCompiledNamedTypes: recursive named types are left to the
// interpreter (opRef), the others inlined; a type whose inlined tree would
// be huge (shared named types nested: t20() written out is 4^20 nodes) is
// not compiled, and is still
// matched right.
func TestCompiledNamedTypes(t *testing.T) {
	var b strings.Builder
	b.WriteString("+deftype t0() = integer() | {z, atom()}.\n")
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&b, "+deftype t%d() = {a, t%d(), t%d()} | {a, t%d(), t%d()}.\n", i, i-1, i-1, i-1, i-1)
	}
	b.WriteString(`+deftype tree() = {node, tree(), tree()} | {leaf, integer()}.
+deftype loop() = loop() | integer().
+deftype wrap() = {w, tree(), loop(), t3()}.
+state s x {go, wrap()} -> ok x s.
+state s x {big, t20()} -> ok x s.
`)
	c := compileContract(t, b.String())
	comp := newCompiler(nil)
	if !comp.recursive(c.Types["tree"]) || !comp.recursive(c.Types["loop"]) || comp.recursive(c.Types["t3"]) || comp.recursive(c.Types["wrap"]) {
		t.Fatal("recursive named types misjudged")
	}
	wrap := comp.compile(c.Types["wrap"].Type)
	if wrap == nil || wrap.op != opTuple || wrap.kids[1].op != opRef || wrap.kids[2].op != opRef || wrap.kids[3].op != opUnion {
		t.Fatalf("wrap() compiled to %+v", wrap)
	}
	big := c.Types["t20"].Type
	if comp.compile(big) != nil {
		t.Fatal("t20() (4^20 nodes written out) was compiled")
	}
	m := Prepare(c)
	var deep term.Term = term.Int(1)
	for i := 0; i < 20; i++ {
		deep = term.Tuple{term.Atom("a"), deep, deep}
	}
	s := start(t, m, Options{})
	if v := s.Call(term.Tuple{term.Atom("big"), deep}); v != nil {
		t.Fatalf("t20() refused: %v", v)
	}
	for _, text := range []string{`{w, {leaf, 1}, 7, {a, 1, {z, q}}}`, `{w, {node, {leaf, 1}, {leaf, 2}}, 1, 1}`, `{w, {leaf, 1}, x, 1}`} {
		agree(t, text, term.MustParse(text), c.Types["wrap"].Type, wrap, nil, nil)
	}
}

// TestCompiledAmbiguousRecursionIsLinear: a rule over a type with
// overlapping recursive alternatives, checked by a session (compiled, the
// recursion left to the interpreter), stays linear: past the step budget
// the match restarts memoized. Without that this test would not finish.
func TestCompiledAmbiguousRecursionIsLinear(t *testing.T) {
	c := compileContract(t, `
+deftype amb() = [amb()] | [amb()]+ | [amb()]{0,1} | integer().
+state s x {go, amb()} -> ok x s.
`)
	m := Prepare(c)
	for _, bottom := range []term.Term{term.Atom("x"), term.Int(1)} {
		deep := bottom
		for i := 0; i < 2000; i++ {
			deep = term.List{deep}
		}
		s := start(t, m, Options{})
		v := s.Call(term.Tuple{term.Atom("go"), deep})
		if (v == nil) != (bottom == term.Term(term.Int(1))) {
			t.Fatalf("bottom %s: violation %v", bottom, v)
		}
	}
}

// TestCompiledHostileTerms: a session's compiled matchers refuse a term
// nested deeper than MaxDepth and take a long list, like Match.
func TestCompiledHostileTerms(t *testing.T) {
	m := Prepare(compileContract(t, `
+deftype deep() = [deep()] | integer().
+state s x {nest, [[[[[[[[[[integer()]]]]]]]]]]} -> ok x s.
+state s x {rec, deep()} -> ok x s.
+state s x {bytes, [0..255]} -> ok x s.
`))
	s := start(t, m, Options{})
	var tooDeep term.Term = term.Int(1)
	for i := 0; i < MaxDepth+10; i++ {
		tooDeep = term.List{tooDeep}
	}
	if s.Call(term.Tuple{term.Atom("rec"), tooDeep}) == nil {
		t.Fatal("a term deeper than MaxDepth was accepted")
	}
	long := make(term.List, 1000000)
	for i := range long {
		long[i] = term.Int(int64(i % 256))
	}
	if v := s.Call(term.Tuple{term.Atom("bytes"), long}); v != nil {
		t.Fatalf("a million bytes refused: %v", v)
	}
	if v := s.Reply(term.Atom("ok")); v != nil {
		t.Fatal(v)
	}
	long[999999] = term.Atom("x")
	if s.Call(term.Tuple{term.Atom("bytes"), long}) == nil {
		t.Fatal("a million bytes with an atom at the end accepted")
	}
}

// TestShortPathsAgree: Call and Reply take short ways in the usual case
// (callPlain, reply's for one rule); driven with the same random
// conversations, a session checked by them and one checked by the general
// way (client, server) agree on every violation, state, binding and
// pending count.
func TestShortPathsAgree(t *testing.T) {
	_, _, contracts := typesUnderTest(t)
	r := rand.New(rand.NewPCG(9, 10))
	accepted := [2]int{} // calls, replies
	for _, c := range contracts {
		m := Prepare(c)
		for conv := 0; conv < 40; conv++ {
			short := start(t, m, Options{MaxPending: 4})
			general := start(t, m, Options{MaxPending: 4})
			var last *contract.Rule // the rule the last call was generated from
			for step := 0; step < 30; step++ {
				// Mostly messages the current state's rules allow, so
				// that conversations go somewhere.
				var rules []*contract.Rule
				if st := c.State(short.States()[0]); st != nil {
					rules = st.Rules
				}
				rules = append(rules[:len(rules):len(rules)], c.Anystate...)
				call := r.IntN(2) == 0
				var msg term.Term
				switch {
				case r.IntN(5) == 0 || len(rules) == 0:
					msg = RandomTerm(r, 3)
				case call:
					last = rules[r.IntN(len(rules))]
					msg = Generate(r, last.In, 3)
				case last != nil && len(last.Outs) > 0:
					msg = Generate(r, last.Outs[r.IntN(len(last.Outs))].Type, 3)
				default:
					msg = Generate(r, rules[r.IntN(len(rules))].In, 3)
				}
				var v1, v2 *Violation
				if call {
					v1 = short.Call(msg)
					_, v2 = general.client(msg, true, false, false)
				} else {
					v1 = short.Reply(msg)
					_, v2 = general.server(msg, "", false, true, false)
				}
				if (v1 == nil) != (v2 == nil) || v1 != nil && v1.Error() != v2.Error() {
					t.Fatalf("%s: %s: short way %v, general way %v", c.Name, msg, v1, v2)
				}
				if v1 == nil && call {
					accepted[0]++
				} else if v1 == nil {
					accepted[1]++
				}
				if !slices.Equal(short.States(), general.States()) || short.Pending() != general.Pending() ||
					short.Seq() != general.Seq() || fmt.Sprint(short.Bindings()) != fmt.Sprint(general.Bindings()) {
					t.Fatalf("%s: after %s: short way in %v (%d pending), general way in %v (%d pending)",
						c.Name, msg, short.States(), short.Pending(), general.States(), general.Pending())
				}
			}
		}
	}
	t.Logf("%d calls and %d replies accepted", accepted[0], accepted[1])
	if accepted[0] < 1000 || accepted[1] < 500 {
		t.Errorf("too few messages accepted to exercise the short ways: %d calls, %d replies", accepted[0], accepted[1])
	}
}

package checker

import (
	"math/rand/v2"
	"path/filepath"
	"sort"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
	"testing"
)

// richContract uses every type form of the language.
const richContract = `
+deftype fileName() = string().
+deftype tree() = {node, tree(), tree()} | {leaf, integer()}.
+deftype nested() = [nested()] | integer().
+deftype rec() = #person{name :: string(), age = 0 :: 0..150, tags :: [atom(nonempty)]}.
+deftype xrec() = ##person2{name :: binary(nonempty)}.
+deftype json() = #{name := string(ascii), age => non_neg_integer(), tags => [string()]+, ..}.
+deftype closed() = #{"id" := pos_integer(), kind => a | b}.
+deftype lists() = {[byte()]?, [char()]{2}, [atom()]{2,}, [integer()]{,5}, [float()]{2,5}}.
+deftype lits() = {ok, 'Quoted atom', 42, -7, 16#ff, 3.14, "text", <<"bytes">>}.
+deftype ranges() = {1.., ..-1, 0..255, 100000000000000000000..100000000000000000009}.
+deftype preds() = {any(nonundefined), atom(ascii, nonempty), binary(asciiprintable), string(nonempty), list(nonempty), tuple(), map(), float(), integer(), none()}.
+deftype opt() = fileName()?.
+deftype builtins() = {term(), boolean(), byte(), char(), number(), nil(), nonempty_string(), mfa(), timeout(), ubfstring(), ubfproplist(), int(), pid()}.
+deftype tails() = {tail, ..[integer()]} | {tail, atom(), ..[binary()]+} | {tail, a, b, ..[word()]{2,5}} | {tail, x, ..[byte()]{,0}}.
+deftype word() = string(pattern("[a-z]+[0-9]?")).
+deftype pats() = {string(nonempty, pattern("#[^ ,\x07]+")), binary(pattern("(?i)nx|xx|get")), atom(pattern("[a-z][a-z0-9_]*")),
                   string(ascii, pattern(".{2,4}")), binary(pattern("[0-9]{1,3}(\.[0-9]{1,3}){3}")), string(pattern("(?i)QUIT|quit"))}.
+deftype vars() = {bound, H = integer(), N = word()} | {used, H, N} | {both, G = tails(), G}.
+deftype all() = {tree(), nested(), rec(), xrec(), json(), closed(), lists(), lits(), ranges(), preds(), opt(), builtins(), tails(), pats(), vars()}.
+state start x {go, all()} -> ok x start.
`

func TestRichContractCompiles(t *testing.T) {
	compileContract(t, richContract)
}

// typesUnderTest returns, from the rich contract, the session contract and
// every contract of contracts/ that compiles, each named type and every
// type of a rule or event, with a name for messages.
func typesUnderTest(t testing.TB) ([]string, []contract.Type, []*contract.Contract) {
	t.Helper()
	var contracts []*contract.Contract
	contracts = append(contracts, compileContract(t, richContract), compileContract(t, sessionContract))
	files, _ := filepath.Glob(filepath.Join("..", "contracts", "*.con"))
	for _, f := range files {
		c, diags, err := contract.Load(f, contract.Options{})
		if err == nil && c != nil && !diags.HasErrors() {
			contracts = append(contracts, c)
		}
	}
	var names []string
	var types []contract.Type
	typesOwner = typesOwner[:0]
	for _, c := range contracts {
		from := len(types)
		defs := make([]string, 0, len(c.Types))
		for n := range c.Types {
			defs = append(defs, n)
		}
		sort.Strings(defs)
		for _, n := range defs {
			names = append(names, c.Name+": "+n+"()")
			types = append(types, &contract.Ref{Name: n, Def: c.Types[n]})
		}
		add := func(where string, r *contract.Rule) {
			names = append(names, c.Name+": input of "+where)
			types = append(types, r.In)
			for _, o := range r.Outs {
				names = append(names, c.Name+": output of "+where)
				types = append(types, o.Type)
			}
		}
		for _, st := range c.States {
			for _, r := range st.Rules {
				add(st.Name, r)
			}
			for _, ev := range st.Events {
				names = append(names, c.Name+": event of "+st.Name)
				types = append(types, ev.Type)
			}
		}
		for _, r := range c.Anystate {
			add("anystate", r)
		}
		for range types[from:] {
			typesOwner = append(typesOwner, c)
		}
	}
	return names, types, contracts
}

// typesOwner is, after typesUnderTest, the contract of each type.
var typesOwner []*contract.Contract

// TestGeneratedTermsMatch: a term generated from a type always matches it.
func TestGeneratedTermsMatch(t *testing.T) {
	names, types, _ := typesUnderTest(t)
	if len(types) < 50 {
		t.Fatalf("only %d types under test", len(types))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i, typ := range types {
		// Every variable is bound, to a value of its own; a bare
		// variable generates it and matches it.
		env, vars := bindAll(typesOwner[i])
		// The machine's pattern automata decide, as in a session.
		pats := Prepare(typesOwner[i]).core.pats
		for n := 0; n < 60; n++ {
			depth := n % 6
			v := GenerateIn(r, typ, depth, env)
			if v == nil {
				t.Fatalf("%s: Generate(%s, depth %d) gave nothing", names[i], typ, depth)
			}
			var out []newBind
			ctx := varCtx{env: vars, out: &out}
			if !matchVars(v, typ, &ctx, pats) {
				t.Fatalf("%s: generated %s does not match %s: %s", names[i], v, typ, explainVars(v, []contract.Type{typ}, &ctx))
			}
			if e := explainVars(v, []contract.Type{typ}, &ctx); e != "" {
				t.Fatalf("%s: Explain disagrees with Match for %s: %s", names[i], v, e)
			}
		}
	}
}

// bindAll binds every variable of c to an atom naming it, as an Env and
// as a session's bindings.
func bindAll(c *contract.Contract) (Env, []binding) {
	env := Env{}
	vars := make([]binding, len(c.Vars))
	for slot, name := range c.Vars {
		v := term.Atom("value_of_" + name)
		env[name], vars[slot] = v, binding{val: v}
	}
	return env, vars
}

// TestGeneratedTails: a tuple's tail is generated at every length its
// bound allows, and a pattern's strings vary.
func TestGeneratedTails(t *testing.T) {
	c := compileContract(t, richContract)
	r := rand.New(rand.NewPCG(3, 4))
	tails := c.Types["tails"].Type.(*contract.Union)
	for _, alt := range tails.Alts {
		tt := alt.(*contract.TupleType)
		lo, hi := len(tt.Elems)+tt.Tail.Min, len(tt.Elems)+tt.Tail.Max
		if tt.Tail.Max < 0 {
			hi = lo + 4
		}
		seen := map[int]bool{}
		for range 400 {
			v := Generate(r, alt, 3).(term.Tuple)
			seen[len(v)] = true
		}
		for n := lo; n <= hi; n++ {
			if !seen[n] {
				t.Errorf("%s: no tuple of %d elements generated (saw %v)", alt, n, seen)
			}
		}
	}
	word := &contract.Ref{Name: "word", Def: c.Types["word"]}
	distinct := map[string]bool{}
	for range 100 {
		distinct[Generate(r, word, 1).String()] = true
	}
	if len(distinct) < 20 {
		t.Errorf("only %d distinct words generated", len(distinct))
	}
}

func TestGenerateUninhabited(t *testing.T) {
	self := def("self", nil)
	self.Type = ref(self)
	if v := Generate(rand.New(rand.NewPCG(1, 1)), ref(self), 3); v != nil {
		t.Fatalf("Generate of a type without values gave %s", v)
	}
}

// mutate replaces one random subterm of t by a random term.
func mutate(r *rand.Rand, t term.Term) term.Term {
	var kids []term.Term
	switch v := t.(type) {
	case term.Tuple:
		kids = v
	case term.List:
		kids = v
	}
	if len(kids) == 0 || r.IntN(3) == 0 {
		return RandomTerm(r, 2)
	}
	out := append([]term.Term(nil), kids...)
	i := r.IntN(len(out))
	out[i] = mutate(r, out[i])
	if _, ok := t.(term.Tuple); ok {
		return term.Tuple(out)
	}
	return term.List(out)
}

// TestRandomTermsNeverPanic: random terms and near misses (generated terms
// with one part replaced) never make matching panic, and Explain agrees
// with Match on every one of them.
func TestRandomTermsNeverPanic(t *testing.T) {
	names, types, _ := typesUnderTest(t)
	r := rand.New(rand.NewPCG(3, 4))
	matched, refused := 0, 0
	for i, typ := range types {
		for n := 0; n < 40; n++ {
			var v term.Term
			if n%2 == 0 {
				v = RandomTerm(r, 4)
			} else {
				v = mutate(r, Generate(r, typ, 4))
			}
			m := Match(v, typ)
			e := Explain(v, typ)
			if m != (e == "") {
				t.Fatalf("%s: %s against %s: Match %v but Explain %q", names[i], v, typ, m, e)
			}
			if m {
				matched++
			} else {
				refused++
			}
		}
	}
	t.Logf("%d types, %d terms matched, %d refused", len(types), matched, refused)
	if matched < len(types) || refused < 10*len(types) {
		t.Errorf("the random terms do not exercise both outcomes: %d matched, %d refused", matched, refused)
	}
}

// TestRandomConversationsNeverPanic drives sessions with random messages,
// generated legal ones mixed with random ones, in every direction.
func TestRandomConversationsNeverPanic(t *testing.T) {
	_, _, contracts := typesUnderTest(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range contracts {
		m := Prepare(c)
		var msgs []contract.Type
		for _, st := range c.States {
			for _, rl := range st.Rules {
				msgs = append(msgs, rl.In)
				for _, o := range rl.Outs {
					msgs = append(msgs, o.Type)
				}
			}
			for _, ev := range st.Events {
				msgs = append(msgs, ev.Type)
			}
		}
		for _, rl := range c.Anystate {
			msgs = append(msgs, rl.In)
		}
		for conv := 0; conv < 50; conv++ {
			s, err := m.NewSession(Options{MaxPending: 4})
			if err != nil {
				t.Fatal(err)
			}
			for step := 0; step < 30; step++ {
				var msg term.Term
				if len(msgs) > 0 && r.IntN(4) != 0 {
					msg = Generate(r, msgs[r.IntN(len(msgs))], 3)
				} else {
					msg = RandomTerm(r, 3)
				}
				var v *Violation
				switch r.IntN(12) {
				case 0, 1, 2, 3, 4:
					v = s.Call(msg)
				case 5, 6, 7, 8:
					v = s.Reply(msg)
				case 9:
					v = s.EventIn(msg)
				case 10:
					v = s.EventOut(msg)
				default:
					if r.IntN(4) == 0 {
						v = s.Close(Side(1 + r.IntN(2)))
					} else {
						v = s.ReplyState(msg, c.States[r.IntN(len(c.States))].Name)
					}
				}
				if v != nil {
					if v.Error() == "" || v.Kind.String() == "unknown" {
						t.Fatalf("empty violation: %#v", v)
					}
					_ = v.ExpectedStrings()
				}
				if s.Pending() < 0 || s.Pending() > 4 {
					t.Fatalf("pending = %d", s.Pending())
				}
			}
		}
	}
}

package checker

import (
	"regexp"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Builders for the forms of language 2.

func tailed(tail *contract.ListType, elems ...contract.Type) contract.Type {
	return &contract.TupleType{Elems: elems, Tail: tail}
}

func listOf(e contract.Type, min, max int) *contract.ListType {
	return &contract.ListType{Elem: e, Min: min, Max: max}
}

func pattern(k contract.PredefKind, a contract.Attr, re string) contract.Type {
	return &contract.Predef{Kind: k, Attrs: a, Pattern: regexp.MustCompile(`^(?:` + re + `)$`), PatternText: re}
}

func bind(name string, slot int, t contract.Type) contract.Type {
	return &contract.Bind{Name: name, Slot: slot, Type: t}
}

func bare(name string, slot int) contract.Type { return &contract.Var{Name: name, Slot: slot} }

// TestMatchLang2: tails, patterns and variables outside a session (where
// no variable is bound), with their explanations.
func TestMatchLang2(t *testing.T) {
	key := def("key", predef(contract.BinaryT, 0))
	flag := def("flag", pattern(contract.BinaryT, 0, `(?i)nx|xx|get`))
	set := tailed(listOf(ref(flag), 0, 3), lit("set"), ref(key), predef(contract.BinaryT, 0))
	del := tailed(listOf(ref(key), 1, -1), lit("del"))
	mget := tailed(listOf(ref(key), 1, 8), lit("mget"))
	words := tailed(listOf(predef(contract.StringT, 0), 0, -1), lit("privmsg"), predef(contract.StringT, 0))
	chanT := pattern(contract.StringT, contract.NonEmpty, `#[^ ,\x07]+`)
	cases := []matchCase{
		// Tails.
		{"tail none", set, `{set, <<"k">>, <<"v">>}`, ""},
		{"tail three", set, `{set, <<"k">>, <<"v">>, <<"NX">>, <<"get">>, <<"xX">>}`, ""},
		{"tail too long", set, `{set, <<"k">>, <<"v">>, <<"nx">>, <<"nx">>, <<"nx">>, <<"nx">>}`,
			`expected {set, key(), binary(), ..[flag()]{,3}}, got {set, <<"k">>, <<"v">>, <<"nx">>, <<"nx">>, <<"nx">>, <<"nx">>} (7 elements instead of 3 to 6)`},
		{"tail element", set, `{set, <<"k">>, <<"v">>, <<"px">>}`,
			`element 4 of {set, <<"k">>, <<"v">>, <<"px">>}: expected flag() = binary(pattern("(?i)nx|xx|get")), got <<"px">>`},
		{"tail fixed part short", set, `{set, <<"k">>}`,
			`expected {set, key(), binary(), ..[flag()]{,3}}, got {set, <<"k">>} (2 elements instead of 3 to 6)`},
		{"tail at least one", del, `{del}`, `expected {del, ..[key()]+}, got {del} (1 element instead of at least 2)`},
		{"tail many", del, `{del, <<"a">>, <<"b">>, <<"c">>}`, ""},
		{"tail bounded", mget, `{mget, <<"a">>, <<"b">>, <<"c">>, <<"d">>, <<"e">>, <<"f">>, <<"g">>, <<"h">>}`, ""},
		{"tail bounded over", mget, `{mget, <<"a">>, <<"b">>, <<"c">>, <<"d">>, <<"e">>, <<"f">>, <<"g">>, <<"h">>, <<"i">>}`,
			`expected {mget, ..[key()]{1,8}}, got {mget, <<"a">>, <<"b">>, <<"c">>, <<"d">>, <<"e">>, <<"f">>, <<"g">>, <<"h">>, <<"i">>} (10 elements instead of 2 to 9)`},
		{"tail words", words, `{privmsg, "#chan", "hello", "world"}`, ""},
		{"tail wrong word", words, `{privmsg, "#chan", "hello", 7}`,
			`element 4 of {privmsg, "#chan", "hello", 7}: expected string(), got 7`},
		// Patterns: anchored, on strings, binaries, atoms and char lists.
		{"pattern string", chanT, `"#ubf"`, ""},
		{"pattern anchored", chanT, `"x#ubf"`, `expected string(nonempty, pattern("#[^ ,\x07]+")), got "x#ubf"`},
		{"pattern anchored end", chanT, `"#ubf x"`, `expected string(nonempty, pattern("#[^ ,\x07]+")), got "#ubf x"`},
		{"pattern char list", chanT, `[35, 97]`, ""},
		{"pattern binary case", ref(flag), `<<"Nx">>`, ""},
		{"pattern binary not string", ref(flag), `"nx"`, `expected flag() = binary(pattern("(?i)nx|xx|get")), got "nx"`},
		{"pattern atom", pattern(contract.AtomT, 0, `[a-z]+_[0-9]+`), `op_42`, ""},
		{"pattern atom no", pattern(contract.AtomT, 0, `[a-z]+_[0-9]+`), `op42`, `expected atom(pattern("[a-z]+_[0-9]+")), got op42`},
		{"pattern with ascii", pattern(contract.StringT, contract.Ascii, `.+`), `"é"`, `expected string(ascii, pattern(".+")), got "é"`},
		// Variables: V = T matches what T matches; a bare V is unbound
		// outside a session and matches nothing.
		{"bind", tup(lit("ok"), bind("H", 0, intT)), `{ok, 7}`, ""},
		{"bind wrong type", tup(lit("ok"), bind("H", 0, intT)), `{ok, x}`, `element 2 of {ok, x}: expected integer(), got x`},
		{"bare unbound", tup(lit("read_line"), bare("H", 0)), `{read_line, 7}`,
			`element 2 of {read_line, 7}: expected H, got 7 (H is not bound, so it matches nothing)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm := term.MustParse(c.term)
			if got := Match(tm, c.typ); got != (c.want == "") {
				t.Errorf("Match(%s, %s) = %v, want %v", c.term, c.typ, got, c.want == "")
			}
			if exp := Explain(tm, c.typ); exp != c.want {
				t.Errorf("Explain(%s, %s)\n got: %s\nwant: %s", c.term, c.typ, exp, c.want)
			}
		})
	}
}

// TestMatchVars: bindings are made on a match, undone with a failed
// alternative, and a bare variable sees the bindings from before the
// message and those of its request.
func TestMatchVars(t *testing.T) {
	env := []binding{{val: term.Int(7)}, {}}
	cases := []struct {
		name  string
		typ   contract.Type
		term  string
		extra []newBind
		ok    bool
		binds string // slot=value ...
	}{
		{"bare bound", tup(lit("read_line"), bare("H", 0)), `{read_line, 7}`, nil, true, ""},
		{"bare other value", tup(lit("read_line"), bare("H", 0)), `{read_line, 8}`, nil, false, ""},
		{"bare unbound slot", tup(lit("read_line"), bare("N", 1)), `{read_line, 7}`, nil, false, ""},
		{"bare sees the request", tup(lit("welcome"), bare("N", 1)), `{welcome, "joe"}`, []newBind{{1, term.String("joe")}}, true, ""},
		{"request rebinds", tup(lit("welcome"), bare("H", 0)), `{welcome, 8}`, []newBind{{0, term.Int(8)}}, true, ""},
		{"bind", tup(lit("ok"), bind("N", 1, stringT)), `{ok, "x"}`, nil, true, `1="x"`},
		{"rebind", tup(lit("ok"), bind("H", 0, intT)), `{ok, 9}`, nil, true, `0=9`},
		{"failed alternative leaves no binding",
			union(tup(lit("ok"), bind("H", 0, intT), lit("a")), tup(lit("ok"), anyT, lit("b"))),
			`{ok, 3, b}`, nil, true, ""},
		{"binding in the matching alternative",
			union(tup(lit("ok"), anyT, lit("a")), tup(lit("ok"), bind("H", 0, intT), lit("b"))),
			`{ok, 3, b}`, nil, true, "0=3"},
		{"same message does not see its own binding", tup(bind("H", 0, intT), bare("H", 0)), `{3, 3}`, nil, false, ""},
		{"tail binds", tailed(listOf(bind("W", 1, stringT), 0, -1), lit("w")), `{w, "a", "b"}`, nil, true, `1="a" 1="b"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out []newBind
			vars := varCtx{env: env, extra: c.extra, out: &out}
			if got := matchVars(term.MustParse(c.term), c.typ, &vars, nil); got != c.ok {
				t.Fatalf("matchVars = %v, want %v", got, c.ok)
			}
			var got string
			for i, b := range out {
				if i > 0 {
					got += " "
				}
				got += itoa(int(b.slot)) + "=" + b.val.String()
			}
			if c.ok && got != c.binds {
				t.Errorf("bindings %q, want %q", got, c.binds)
			}
		})
	}
}

// TestMatchLang2DoesNotAllocate: tails, patterns and bound variables are
// checked without allocating.
func TestMatchLang2DoesNotAllocate(t *testing.T) {
	flag := pattern(contract.BinaryT, 0, `(?i)nx|xx|get`)
	set := tailed(listOf(flag, 0, 3), lit("set"), predef(contract.BinaryT, 0), predef(contract.BinaryT, 0))
	msg := term.MustParse(`{set, <<"k">>, <<"v">>, <<"NX">>, <<"get">>}`)
	read := tup(lit("read_line"), bare("H", 0))
	ok := tup(lit("ok"), bind("H", 0, intT))
	env := []binding{{val: term.Int(7)}}
	out := make([]newBind, 0, 4)
	r7, ok7 := term.MustParse(`{read_line, 7}`), term.MustParse(`{ok, 7}`)
	if n := testing.AllocsPerRun(100, func() {
		out = out[:0]
		vars := varCtx{env: env, out: &out}
		if !Match(msg, set) || !matchVars(r7, read, &vars, nil) || !matchVars(ok7, ok, &vars, nil) {
			t.Fatal("wrong answer")
		}
	}); n != 0 {
		t.Errorf("matching allocates %v times per run", n)
	}
}

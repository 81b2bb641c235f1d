package compat

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
)

// TestInclude decides T1 ⊆ T2 for every form of type; each case compiles
// a contract defining a() = T1 and b() = T2.
func TestInclude(t *testing.T) {
	cases := []struct {
		a, b string
		want Verdict
	}{
		// literals and ranges
		{"ok", "ok | error", Yes},
		{"ok | error", "ok", No},
		{"42", "0..100", Yes},
		{"0..100", "0..50 | 51..100", Yes},
		{"0..100", "0..50 | 52..100", No},
		{"1..", "0..", Yes},
		{"0..", "1..", No},
		{"integer()", "..-1 | 0..", Yes},
		{"byte()", "char()", Yes},
		{"<<\"x\">>", "binary(nonempty)", Yes},
		// predefined types and attributes
		{"atom(ascii, nonempty)", "atom()", Yes},
		{"atom()", "atom(nonempty)", No},
		{"string(asciiprintable)", "string(ascii)", Yes},
		{"string()", "binary()", No},
		{"any()", "term()", Yes},
		{"integer()", "any(nonundefined)", Yes},
		{"atom()", "any(nonundefined)", No},
		// tuples and tails
		{"{a, integer()}", "{a, number()}", Yes},
		{"{a, integer()}", "{a, integer(), integer()}", No},
		{"{a | b, 1}", "{a, 1} | {b, 1}", Yes},
		{"{del, binary(), binary()}", "{del, ..[binary()]+}", Yes},
		{"{del, ..[binary()]{1,3}}", "{del, binary(), ..[binary()]}", Yes},
		{"{del, ..[binary()]+}", "{del, ..[binary()]{1,8}}", No},
		{"{del, ..[binary()]}", "{del, ..[binary()]+}", No},
		{"{del, binary(), ..[binary()]}", "{del, ..[binary()]+}", Yes},
		{"{del, ..[binary()]{2,}}", "{del, binary(), binary(), ..[binary()]}", Yes},
		{"{a, b}", "tuple()", Yes},
		// lists
		{"[integer()]{1,3}", "[number()]", Yes},
		{"[integer()]", "[integer()]+", No},
		{"[integer()]{,5}", "[integer()]{,3}", No},
		{"[]", "[atom()]", Yes},
		{"[atom()]", "list()", Yes},
		// records and maps
		{"#rec{a::integer()}", "{rec, number()}", Yes},
		{"#rec{a::integer()}", "{rec, atom()}", No},
		{"#{k := integer()}", "#{k := number(), j => atom()}", Yes},
		{"#{k := integer(), j => atom()}", "#{k := integer()}", No},
		{"#{k => integer()}", "#{k := integer()}", No},
		{"#{k := integer(), ..}", "map()", Yes},
		// named and recursive types
		{"tree()", "tree2()", Yes},
		{"tree()", "itree()", No},
		{"fh()?", "integer() | undefined", Yes},
		// patterns
		{"string(pattern(\"[a-z]+\"))", "string(pattern(\"[a-z]+\"))", Yes},
		{"string(pattern(\"[a-z]+\"))", "string()", Yes},
		{"string(pattern(\"[a-c]+\"))", "string(pattern(\"[a-z]+\"))", Maybe},
		{"string()", "string(pattern(\"[a-z]+\"))", No},
		// variables stand for their types
		{"{read, H}", "{read, integer()}", Yes},
		{"{read, integer()}", "{read, H}", Yes},
		{"{read, atom()}", "{read, H}", No},
	}
	for _, c := range cases {
		t.Run(c.a+" in "+c.b, func(t *testing.T) {
			src := fmt.Sprintf(`+deftype a() = %s.
+deftype b() = %s.
+deftype fh() = integer().
+deftype tree() = leaf | {node, tree(), tree()}.
+deftype tree2() = leaf | {node, tree2(), tree2()} | {node, leaf, leaf}.
+deftype itree() = leaf | {node, itree(), integer()}.
+state start x {open, H = integer()} -> ok x s.
+state s x {a(), b(), H, tree(), tree2(), itree(), fh()} -> ok x stop.
`, c.a, c.b)
			cc, diags := contract.Compile("inc.con", []byte(src), contract.Options{})
			if diags.HasErrors() {
				t.Fatalf("%v", diags)
			}
			in := NewIncluder(cc, cc)
			got := in.Include(cc.Types["a"].Type, cc.Types["b"].Type)
			if got != c.want {
				t.Errorf("%s ⊆ %s: got %v, want %v", c.a, c.b, got, c.want)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	got := strings.Join([]string{Yes.String(), No.String(), Maybe.String()}, ",")
	if got != "yes,no,maybe" {
		t.Errorf("got %s", got)
	}
}

package contract

import "testing"

// TestOverlaps checks the structural overlap decision behind the
// overlapping-rules and ambiguous-reply warnings.
func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"ok", "ok", true},
		{"ok", "error", false},
		{"ok", "atom()", true},
		{"undefined", "atom(nonundefined)", false},
		{"''", "atom(nonempty)", false},
		{"1", "0..9", true},
		{"10", "0..9", false},
		{"0..9", "5..", true},
		{"0..4", "5..", false},
		{"..-1", "0..", false},
		{"integer()", "0..9", true},
		{"integer()", "float()", false},
		{"1.5", "float()", true},
		{`"abc"`, "string()", true},
		{`"abc"`, `"abd"`, false},
		{`""`, "string(nonempty)", false},
		{`"é"`, "string(ascii)", false},
		{`"e"`, "string(ascii)", true},
		{`<<"a\tb">>`, "binary(asciiprintable)", false},
		{`<<"a b">>`, "binary(asciiprintable)", true},
		{`'é'`, "atom(ascii)", false},
		{`<<"x">>`, "binary()", true},
		{`<<"x">>`, "string()", false},
		{"{a, integer()}", "{a, 1..2}", true},
		{"{a, integer()}", "{b, integer()}", false},
		{"{a, integer()}", "{a, integer(), x}", false},
		{"{a, integer()}", "tuple()", true},
		{"{}", "tuple(nonempty)", false},
		{"#rec{f :: integer()}", "{rec, 1}", true},
		{"#rec{f :: integer()}", "{other, 1}", false},
		{"##rec{f :: integer()}", "{rec, 1}", false},
		{"[integer()]", "[atom()]", true}, // both match []
		{"[integer()]+", "[atom()]+", false},
		{"[integer()]{2}", "[integer()]{3,}", false},
		{"[integer()]{2,4}", "[integer()]{3,}", true},
		{"[]", "[atom()]+", false},
		{"[]", "list()", true},
		{"[0..255]+", "string()", true},
		{"[atom()]+", "string()", false},
		{"[atom()]", "string()", true},
		{"#{a := integer()}", "#{a := integer()}", true},
		{"#{a := integer()}", "#{b := integer()}", false},
		{"#{a := integer(), ..}", "#{b := integer(), ..}", true},
		{"#{a => integer()}", "#{b => integer()}", true}, // the empty map
		{"#{a := integer()}", "#{a := atom()}", false},
		{"#{a := integer()}", "map()", true},
		{"ok | error", "error", true},
		{"ok | error", "timeout", false},
		{"u()?", "undefined", true},
		{"u()", "undefined", false},
		{"any()", "{x}", true},
		{"none()", "{x}", true},
		{"any(nonundefined)", "undefined", false},
		{"tree()", "leaf", true},
		{"tree()", "{node, leaf, leaf}", true},
		{"tree()", "{node, 1, leaf}", false},
		// Tuple tails: the lengths both allow, element by element.
		{"{del, ..[binary()]+}", "{del}", false},
		{"{del, ..[binary()]}", "{del}", true},
		{"{del, ..[binary()]+}", "{del, <<\"a\">>, <<\"b\">>}", true},
		{"{del, ..[binary()]+}", "{del, <<\"a\">>, 1}", false},
		{"{del, ..[binary()]{1,2}}", "{del, binary(), binary(), binary()}", false},
		{"{del, ..[binary()]}", "{get, ..[binary()]}", false},
		{"{del, ..[binary()]{2,}}", "{del, binary(), ..[binary()]{,1}}", true}, // three elements
		{"{del, ..[binary()]{3,}}", "{del, binary(), ..[binary()]{,1}}", false},
		{"{del, ..[binary()]{2,}}", "{del, binary(), ..[binary()]{,2}}", true},
		{"{del, ..[integer()]+}", "{del, ..[atom()]+}", false},
		{"{del, ..[integer()]}", "{del, ..[atom()]}", true}, // {del}
		{"{set, binary(), ..[atom()]}", "{set, ..[binary()]}", true},
		{"{set, binary(), ..[atom()]+}", "{set, ..[binary()]}", false},
		{"{..[atom()]}", "tuple(nonempty)", true},
		{"{..[atom()]{0}}", "tuple(nonempty)", false},
		{"{set, ..list()}", "#rec{f :: integer()}", false},
		{"{rec, ..list()}", "#rec{f :: integer()}", true},
		// Patterns: exact against constants, "may overlap" between two.
		{`<<"NX">>`, `binary(pattern("(?i)nx|xx"))`, true},
		{`<<"nx">>`, `binary(pattern("(?i)nx|xx"))`, true},
		{`<<"nxx">>`, `binary(pattern("(?i)nx|xx"))`, false},
		{`"#go"`, `string(pattern("#[a-z]+"))`, true},
		{`"go"`, `string(pattern("#[a-z]+"))`, false},
		{`abc`, `atom(pattern("[a-z]+"))`, true},
		{`'A'`, `atom(pattern("[a-z]+"))`, false},
		{`string(pattern("a+"))`, `string(pattern("b+"))`, true},
		{`string(pattern("a+"))`, `binary(pattern("a+"))`, false},
		// A binding matches what its type matches; a bare variable anything.
		{"{ok, H = 1..5}", "{ok, 6..}", false},
		{"{ok, H = 1..5}", "{ok, 5..}", true},
		{"{read, V}", "{read, 7}", true},
		{"{read, V}", "{write, 7}", false},
	}
	for _, tt := range tests {
		src := "+deftype u() = x.\n+deftype tree() = leaf | {node, tree(), tree()}.\n+deftype a() = " + tt.a + ".\n+deftype b() = " + tt.b + ".\n" +
			"+state start x {a(), b(), u(), tree()} -> ok x stop.\n+state start x {v, V = x, H = y} -> {V, H} x stop.\n"
		c, ds := Compile("o.con", []byte(src), Options{})
		if c == nil {
			t.Fatalf("%s / %s: %v", tt.a, tt.b, ds)
		}
		a, b := c.Types["a"].Type, c.Types["b"].Type
		if got := overlaps(a, b); got != tt.want {
			t.Errorf("overlaps(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := overlaps(b, a); got != tt.want {
			t.Errorf("overlaps(%s, %s) = %v, want %v (not symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

// TestOverlapBounded makes sure exponentially branching recursive types are
// answered quickly (as "may overlap").
func TestOverlapBounded(t *testing.T) {
	src := "+deftype t() = {a, t()} | {a, t()} | {b, t()} | leaf.\n+state start x t() -> ok x start | bye x stop.\n+state start x t() -> ok x stop.\n"
	c, ds := Compile("b.con", []byte(src), Options{})
	if c == nil {
		t.Fatal(ds)
	}
	if len(ds) != 1 || ds[0].Code != "overlapping-rules" {
		t.Errorf("findings %v", ds)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"running", "ready", "stop", "start", "atEof"}
	tests := []struct{ in, want string }{
		{"runing", "running"},
		{"redy", "ready"},
		{"raedy", "ready"}, // a transposition is one edit
		{"Start", "start"},
		{"ateof", "atEof"},
		{"zzz", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, names); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

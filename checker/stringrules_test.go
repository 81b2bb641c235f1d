package checker

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// TestBuiltinStringRules pins section 3's string rules on the compiled
// built-in types: a wire string matches string(), ubfstring() and (when
// non-empty) nonempty_string(); a list of character codes matches string()
// as in ubf, but not ubfstring(), which ubf refuses unless it is "..." on
// the wire (seen against the real ubf 2.x server).
func TestBuiltinStringRules(t *testing.T) {
	c, ds := contract.Compile("s.con", []byte(`
+deftype s() = string().
+deftype u() = ubfstring().
+deftype n() = nonempty_string().
+state start x {s, s()} -> ok x start.
+state start x {u, u()} -> ok x start.
+state start x {n, n()} -> ok x start.
`), contract.Options{})
	if c == nil {
		t.Fatalf("compile: %v", ds)
	}
	tests := []typeCase{
		{"s", `"abc"`, true},
		{"s", `[97, 98, 99]`, true},
		{"s", `[]`, true},
		{"u", `"abc"`, true},
		{"u", `""`, true},
		{"u", `[97, 98, 99]`, false},
		{"u", `[]`, false},
		{"u", `<<"abc">>`, false},
		{"n", `"abc"`, true},
		{"n", `""`, false},
	}
	matchTypeCases(t, c, tests)
}

// TestUBFDialectStringRules: in a declaration of the UBF(B) dialect, types
// mean what ubf means: string() is a list of character codes only, and a
// "..." on the wire is ubfstring() only (ubf refuses {msg, "g7", "hi"}
// where its contract says string()). An Armstrong declaration in the same
// file keeps the string rules above.
func TestUBFDialectStringRules(t *testing.T) {
	c, ds := contract.Compile("s.con", []byte(`
+NAME("strings").
+TYPES
s() :: string();
u() :: ubfstring();
n() :: nonempty_string();
m() :: {msg, ubfstring(), string()}.
+deftype a() = string().
+STATE start
    {s, s()} => ok & start;
    {m, m()} => ok & start;
    {inline, string()} => ok & start.
+state start x {a, a()} -> ok x start.
`), contract.Options{})
	if c == nil {
		t.Fatalf("compile: %v", ds)
	}
	inline := c.State("start").Rules[2].In
	tests := []typeCase{
		{"s", `"abc"`, false},
		{"s", `[97, 98, 99]`, true},
		{"s", `[]`, true},
		{"s", `<<"abc">>`, false},
		{"u", `"abc"`, true},
		{"u", `[97, 98, 99]`, false},
		{"n", `"abc"`, false},
		{"n", `[97]`, true},
		{"n", `[]`, false},
		{"m", `{msg, "g7", "hi there"}`, false},
		{"m", `{msg, "g7", [104, 105]}`, true},
		{"a", `"abc"`, true},
		{"a", `[97, 98, 99]`, true},
	}
	matchTypeCases(t, c, tests)
	if Match(term.MustParse(`{inline, "abc"}`), inline) || !Match(term.MustParse(`{inline, "abc"}`), &contract.TupleType{Elems: []contract.Type{&contract.Literal{Value: term.Atom("inline")}, c.Types["u"].Type}}) {
		t.Errorf("string() written in a +STATE section must refuse \"...\"")
	}
	if got := Explain(term.MustParse(`"abc"`), c.Types["s"].Type); !strings.Contains(got, "list of character codes") {
		t.Errorf("explanation %q does not say why", got)
	}
}

// typeCase is a value and whether it matches the contract's named type typ.
type typeCase struct {
	typ, value string
	want       bool
}

func matchTypeCases(t *testing.T, c *contract.Contract, tests []typeCase) {
	t.Helper()
	for _, tt := range tests {
		typ := c.Types[tt.typ].Type
		v := term.MustParse(tt.value)
		if got := Match(v, typ); got != tt.want {
			t.Errorf("%s() against %s: got %v, want %v (%s)", tt.typ, tt.value, got, tt.want, Explain(v, typ))
		}
	}
}

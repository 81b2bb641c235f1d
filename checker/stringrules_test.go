package checker

import (
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
	tests := []struct {
		typ, value string
		want       bool
	}{
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
	for _, tt := range tests {
		typ := c.Types[tt.typ].Type
		if got := Match(term.MustParse(tt.value), typ); got != tt.want {
			t.Errorf("%s() against %s: got %v, want %v (%s)", tt.typ, tt.value, got, tt.want, Explain(term.MustParse(tt.value), typ))
		}
	}
}

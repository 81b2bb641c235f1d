package contract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ubfBuiltins defines the built-in types as ubf 2.x's own types contract
// does (its src/ubf_types_builtin.con), in the UBF(B) dialect.
const ubfBuiltins = `+NAME("ubf_types_builtin").
+VSN("ubf2.0").
+TYPES
nil()             :: [];
term()            :: any();
boolean()         :: 'false' | 'true';
byte()            :: 0..255;
char()            :: 0..16#10ffff;
non_neg_integer() :: 0..;
pos_integer()     :: 1..;
neg_integer()     :: ..-1;
number()          :: integer() | float();
string()          :: [char()];
nonempty_string() :: [char()]+;
module()          :: atom();
mfa()             :: {atom(), atom(), byte()};
node()            :: atom();
timeout()         :: 'infinity' | non_neg_integer();
no_return()       :: none();
ubfproplist()     :: {'#P', [{term(), term()}]};
ubfstring()       :: {'#S', [byte()]}.
`

// TestBuiltinRedefinitions: a definition of a built-in name that means
// what the name means is accepted, in the contract and in a --types file;
// one that means something else is an error naming both meanings.
func TestBuiltinRedefinitions(t *testing.T) {
	c, diags := Compile("ubf_types_builtin.con", []byte(ubfBuiltins), Options{})
	if c == nil || len(diags) != 0 {
		t.Fatalf("ubf's own built-in types: %v", diags)
	}
	// Accepted definitions change nothing: ubfstring() is still a string
	// as the wire carries it, not {'#S', ...}.
	if pd, ok := c.Types["ubfstring"].Type.(*Predef); !ok || pd.Attrs&WireString == 0 || !c.Types["ubfstring"].Builtin {
		t.Errorf("ubfstring() became %s", c.Types["ubfstring"].Type)
	}
	dir := t.TempDir()
	types := filepath.Join(dir, "ubf_types_builtin.con")
	if err := os.WriteFile(types, []byte(ubfBuiltins), 0o644); err != nil {
		t.Fatal(err)
	}
	user := `+NAME("user").
+STATE start
    {put, byte(), ubfstring()} => ok & start;
    quit => ok & stop.
`
	if c, diags := Compile("user.con", []byte(user), Options{TypeFiles: []string{types}}); c == nil || len(diags) != 0 {
		t.Fatalf("with --types ubf_types_builtin.con: %v", diags)
	}
	for _, tt := range []struct{ src, want string }{
		{"+NAME(\"x\").\n+TYPES\nstring() :: [byte()].\n", "type string() is predefined as [0..1114111], but this definition means [0..255]"},
		{"+NAME(\"x\").\n+TYPES\nubfstring() :: {'#S', [char()]}.\n", "type ubfstring() is built in as string(), but this definition means {'#S', [0..1114111]}"},
		{"+NAME(\"x\").\n+TYPES\nnumber() :: integer().\n", "type number() is built in as float() | integer(), but this definition means integer()"},
	} {
		_, diags := Compile("x.con", []byte(tt.src), Options{})
		if len(diags) != 1 || diags[0].Code != CodeRedefinedBuiltin || !strings.Contains(diags[0].Message, tt.want) {
			t.Errorf("%q: got %v, want %q", tt.src, diags, tt.want)
		}
	}
}

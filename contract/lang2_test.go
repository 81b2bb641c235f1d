package contract

import (
	"fmt"
	"strings"
	"testing"
)

// eventsText describes a state's events and transitions as
// "dir type -> next" lines, in order.
func eventsText(st *State) string {
	var b strings.Builder
	for _, e := range st.Events {
		kind := "event"
		if e.Transition {
			kind = "transition"
		}
		fmt.Fprintf(&b, "%s %s %s -> %s\n", kind, e.Dir, e.Type, e.Next)
	}
	return b.String()
}

// TestTransitions compiles the transitions of section 11 in both dialects
// into the same model.
func TestTransitions(t *testing.T) {
	armstrong := `+deftype text() = ubfstring().
+state start out {220, text()} x ready | {421, text()} x stop.
+state ready x {retr, text()} -> {150, text()} x sending | {550, text()} x ready.
+state sending out {226, text()} x ready | {426, text()} x ready.
+state ready in quit x stop.
+event ready out {notice, text()}.
+state ready | sending in {abort, 1..9} x ready.
`
	ubfb := `+TYPES
text() :: ubfstring().
+STATE start
    EVENT => {220, text()} & ready | {421, text()} & stop.
+STATE ready
    {retr, text()} => {150, text()} & sending | {550, text()} & ready;
    EVENT <= quit & stop;
    EVENT => {notice, text()};
    EVENT <= {abort, 1..9} & ready.
+STATE sending
    EVENT => {226, text()} & ready | {426, text()} & ready;
    EVENT <= {abort, 1..9} & ready.
`
	want := map[string]string{
		"start": "transition out {220, text()} -> ready\ntransition out {421, text()} -> stop\n",
		"ready": "transition in quit -> stop\nevent out {notice, text()} -> ready\ntransition in {abort, 1..9} -> ready\n",
		"sending": "transition out {226, text()} -> ready\ntransition out {426, text()} -> ready\n" +
			"transition in {abort, 1..9} -> ready\n",
	}
	for name, src := range map[string]string{"armstrong": armstrong, "ubfb": ubfb} {
		t.Run(name, func(t *testing.T) {
			c := mustCompile(t, name+".con", src)
			for st, w := range want {
				if got := eventsText(c.State(st)); got != w {
					t.Errorf("state %s:\n%s\nwant\n%s", st, got, w)
				}
			}
			if c.State("sending").Terminal || c.Initial != "start" {
				t.Errorf("sending terminal %v, initial %q", c.State("sending").Terminal, c.Initial)
			}
			_, diags := Compile(name+".con", []byte(src), Options{})
			if len(diags) != 0 {
				t.Errorf("findings on a clean contract: %v", diags)
			}
		})
	}
}

func TestTransitionToUnknownState(t *testing.T) {
	for _, src := range []string{
		"+state start out hello x redy.\n+state ready x q -> r x stop.\n",
		"+STATE start\n EVENT => hello & redy.\n+STATE ready\n q => r & stop.\n",
	} {
		_, ds := Compile("t.con", []byte(src), Options{})
		if len(ds) != 1 || ds[0].Code != CodeUnknownState || !strings.Contains(ds[0].Message, "did you mean ready?") || ds[0].Pos.Line != 1+strings.Count(src[:strings.Index(src, "redy")], "\n") {
			t.Errorf("%q: %v", src, ds)
		}
	}
}

// TestTails: a tail is the last element, a list type written in place,
// list(), or a named list type; the fixed elements come before it.
func TestTails(t *testing.T) {
	tests := []struct {
		typ        string
		fixed      int
		tail       string // the tail's list type, "" for none
		min, max   int
		printed    string
		ubfDialect bool
	}{
		{typ: "{del, ..[key()]+}", fixed: 1, tail: "[key()]+", min: 1, max: -1},
		{typ: "{mget, ..[key()]{1,8}}", fixed: 1, tail: "[key()]{1,8}", min: 1, max: 8},
		{typ: "{set, key(), binary(), ..[flag()]{,3}}", fixed: 3, tail: "[flag()]{,3}", min: 0, max: 3},
		{typ: "{..[key()]}", fixed: 0, tail: "[key()]", min: 0, max: -1},
		{typ: "{any, ..list()}", fixed: 1, tail: "[any()]", min: 0, max: -1, printed: "{any, ..[any()]}"},
		{typ: "{any, ..list(nonempty)}", fixed: 1, tail: "[any()]+", min: 1, max: -1, printed: "{any, ..[any()]+}"},
		{typ: "{named, ..keys()}", fixed: 1, tail: "[key()]{1,8}", min: 1, max: 8},
		{typ: "{none, ..[]}", fixed: 1, tail: "[any()]{0}", min: 0, max: 0, printed: "{none, ..[any()]{0}}"},
		{typ: "{range, ..-1}", fixed: 2, printed: "{range, ..-1}"},
		{typ: "{del, ..[key()]+}", fixed: 1, tail: "[key()]+", min: 1, max: -1, ubfDialect: true},
		{typ: "kv:mset(key(), ..[key()]{,7})", fixed: 2, tail: "[key()]{,7}", min: 0, max: 7, printed: "{mset, key(), ..[key()]{,7}}"},
	}
	for _, tt := range tests {
		src := "+deftype key() = binary().\n+deftype flag() = nx | xx.\n+deftype keys() = [key()]{1,8}.\n" +
			"+state start x " + tt.typ + " -> ok x start.\n+state start x {k, keys(), flag()} -> ok x stop.\n"
		if strings.HasPrefix(tt.typ, "kv:") { // the API form of the talk
			src = strings.Replace(src, "+state start x "+tt.typ, "+type start x "+tt.typ, 1)
		}
		if tt.ubfDialect {
			src = "+TYPES\nkey() :: binary();\nm() :: " + tt.typ + ".\n+STATE start\n m() => ok & start;\n {k, key()} => ok & stop.\n"
		}
		c := mustCompile(t, "tails.con", src)
		in := c.State("start").Rules[0].In
		if r, ok := in.(*Ref); ok {
			in = r.Def.Type
		}
		tup := in.(*TupleType)
		if len(tup.Elems) != tt.fixed {
			t.Errorf("%s: %d fixed elements, want %d", tt.typ, len(tup.Elems), tt.fixed)
		}
		switch {
		case tt.tail == "" && tup.Tail != nil:
			t.Errorf("%s: tail %s, want none", tt.typ, tup.Tail)
		case tt.tail != "" && (tup.Tail == nil || tup.Tail.String() != tt.tail || tup.Tail.Min != tt.min || tup.Tail.Max != tt.max):
			t.Errorf("%s: tail %v, want %s {%d,%d}", tt.typ, tup.Tail, tt.tail, tt.min, tt.max)
		}
		want := tt.printed
		if want == "" {
			want = tt.typ
		}
		if tup.String() != want {
			t.Errorf("%s printed as %s, want %s", tt.typ, tup, want)
		}
	}
}

// TestPatterns: pattern("RE") compiles once, anchored, combines with other
// attributes, and keeps \" as the one escape of the string.
func TestPatterns(t *testing.T) {
	tests := []struct {
		typ, re     string
		match, miss []string
		attrs       Attr
	}{
		{typ: `string(nonempty, pattern("#[^ ,\x07]+"))`, re: `#[^ ,\x07]+`, match: []string{"#go", "#a-b"}, miss: []string{"go", "#a b", "x#a", "#a\x07"}, attrs: NonEmpty},
		{typ: `binary(pattern("(?i)nx|xx|get"))`, re: `(?i)nx|xx|get`, match: []string{"NX", "nx", "Nx", "get"}, miss: []string{"nxx", "xnx", "ge"}},
		{typ: `atom(pattern("[a-z]+"), ascii)`, re: `[a-z]+`, match: []string{"abc"}, miss: []string{"Abc", "", "ab1"}, attrs: Ascii},
		{typ: `string(pattern("\d+\"\\"))`, re: `\d+"\\`, match: []string{`12"\`}, miss: []string{`12"`, `a"\`}},
		{typ: `binary(secret, pattern("a|b"))`, re: `a|b`, match: []string{"a", "b"}, miss: []string{"ab", "a|b"}, attrs: Secret},
	}
	for _, tt := range tests {
		c := mustCompile(t, "p.con", "+state start x {m, "+tt.typ+"} -> ok x stop.\n")
		p := c.State("start").Rules[0].In.(*TupleType).Elems[1].(*Predef)
		if p.PatternText != tt.re || p.Pattern == nil || p.Attrs != tt.attrs {
			t.Fatalf("%s: pattern %q (%v), attrs %v", tt.typ, p.PatternText, p.Pattern, p.Attrs)
		}
		for _, s := range tt.match {
			if !p.Pattern.MatchString(s) {
				t.Errorf("%s does not match %q", tt.typ, s)
			}
		}
		for _, s := range tt.miss {
			if p.Pattern.MatchString(s) {
				t.Errorf("%s matches %q", tt.typ, s)
			}
		}
		// The model prints the pattern as the language reads it.
		c2 := mustCompile(t, "p2.con", "+state start x {m, "+p.String()+"} -> ok x stop.\n")
		if p2 := c2.State("start").Rules[0].In.(*TupleType).Elems[1].(*Predef); p2.PatternText != tt.re {
			t.Errorf("%s printed as %s, read back as %q", tt.typ, p, p2.PatternText)
		}
	}
}

// TestVariables: one slot per name in the whole contract, named types
// included.
func TestVariables(t *testing.T) {
	for _, src := range []string{
		`+deftype fileHandle() = integer().
+deftype hello() = {hello, W = atom()}.
+state start x {open, string()} -> {ok, H = fileHandle()} x ready | {error, string()} x stop.
+state ready x {read_line, H} -> {ok, string()} x ready | eof x ready.
+state ready x hello() -> {hi, W} x ready.
+state ready x {close, H} -> true x stop.
`,
		`+TYPES
fileHandle() :: integer();
hello() :: {hello, W = atom()}.
+STATE start
  {open, ubfstring()} => {ok, H = fileHandle()} & ready | {error, ubfstring()} & stop.
+STATE ready
  {read_line, H} => {ok, ubfstring()} & ready | eof & ready;
  hello() => {hi, W} & ready;
  {close, H} => true & stop.
`,
	} {
		c := mustCompile(t, "vars.con", src)
		if strings.Join(c.Vars, ",") != "W,H" {
			t.Fatalf("vars %v", c.Vars)
		}
		b := c.State("start").Rules[0].Outs[0].Type.(*TupleType).Elems[1].(*Bind)
		if b.Name != "H" || b.Slot != 1 || b.Type.String() != "fileHandle()" || b.String() != "H = fileHandle()" {
			t.Errorf("bind %+v", b)
		}
		v := c.State("ready").Rules[0].In.(*TupleType).Elems[1].(*Var)
		if v.Name != "H" || v.Slot != 1 {
			t.Errorf("var %+v", v)
		}
		w := c.Types["hello"].Type.(*TupleType).Elems[1].(*Bind)
		if w.Slot != 0 {
			t.Errorf("W in a named type: %+v", w)
		}
	}
}

// TestBindScope: V = T binds the whole type after "=", alternatives
// included.
func TestBindScope(t *testing.T) {
	c := mustCompile(t, "b.con", "+state start x {a, V = b | c} -> {ok, V} x stop.\n")
	b := c.State("start").Rules[0].In.(*TupleType).Elems[1].(*Bind)
	if _, ok := b.Type.(*Union); !ok || b.Type.String() != "b | c" {
		t.Errorf("V = b | c binds %s", b.Type)
	}
}

// TestDeadEventSharedDeclaration: an event declared for a reachable and an
// unreachable state can be sent (each state has its own Event).
func TestDeadEventSharedDeclaration(t *testing.T) {
	_, ds := Compile("d.con", []byte("+state start x go -> ok x stop.\n+state lost x q -> r x stop.\n+event start | lost out tick.\n"), Options{})
	for _, d := range ds {
		if d.Code == CodeDeadEvent {
			t.Errorf("%v", d)
		}
	}
	if len(ds) != 1 || ds[0].Code != CodeUnreachableState {
		t.Errorf("findings %v", ds)
	}
}

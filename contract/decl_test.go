package contract

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestDeclarations(t *testing.T) {
	src := `+name("decls").
+vsn("2").
+deftype cmd() = {run, string()}.
+state start | idle x cmd() => ok x running | {error, string()} x idle.
+state running x stop_it -> stopped x stop.
+type idle x srv:lookup(string(), integer()) -> {found, any()} x idle | missing x stop.
+anystate ping -> pong.
+anystate event out {tick, integer()}.
+anystate event in hello.
+event running | idle out {progress, 0..100}.
+event running in cancel.
`
	c := mustCompile(t, "decls.con", src)
	if c.Name != "decls" || c.Vsn != "2" || c.Initial != "start" {
		t.Fatalf("name %q vsn %q initial %q", c.Name, c.Vsn, c.Initial)
	}
	start, idle, running := c.State("start"), c.State("idle"), c.State("running")
	if len(start.Rules) != 1 || len(idle.Rules) != 2 || len(running.Rules) != 1 {
		t.Fatalf("rules: start %d idle %d running %d", len(start.Rules), len(idle.Rules), len(running.Rules))
	}
	if start.Rules[0] != idle.Rules[0] {
		t.Error("+state S1 | S2 must give both states the rule")
	}
	api := idle.Rules[1]
	if got := api.In.String(); got != "{lookup, string(), integer()}" {
		t.Errorf("+type sugar compiled to %s", got)
	}
	if got := api.Outs[1]; got.Next != "stop" || got.Type.String() != "missing" {
		t.Errorf("+type output %+v", got)
	}
	if len(c.Anystate) != 1 || c.Anystate[0].Outs[0].Next != "" || c.Anystate[0].Outs[0].Type.String() != "pong" {
		t.Errorf("anystate %+v", c.Anystate)
	}
	if len(c.AnyEvents) != 2 || c.AnyEvents[0].Dir != Out || c.AnyEvents[1].Dir != In {
		t.Errorf("anystate events %+v", c.AnyEvents)
	}
	// An event is a transition back to its own state: each state has its
	// own, sharing the type.
	if len(running.Events) != 2 || len(idle.Events) != 1 || running.Events[0].Type != idle.Events[0].Type || running.Events[1].Dir != In {
		t.Errorf("events running %+v idle %+v", running.Events, idle.Events)
	}
	for _, st := range []*State{running, idle} {
		for _, e := range st.Events {
			if e.Next != st.Name || e.Transition {
				t.Errorf("event %s of %s: next %q, transition %v", e.Type, st.Name, e.Next, e.Transition)
			}
		}
	}
	if !c.State("stop").Terminal || running.Terminal {
		t.Error("terminal marking")
	}
}

func TestInitialState(t *testing.T) {
	tests := []struct {
		src, initial, want string
	}{
		{src: "+state a x x -> y x b.\n+state b x q -> r x stop.\n+state start x s -> t x a.\n", want: "start"},
		{src: "+state a x x -> y x b.\n+state b x q -> r x stop.\n", want: "a"},
		{src: "+STATE one\n x => y & two.\n+STATE two\n q => r & stop.\n", want: "one"},
		{src: "+state a x x -> y x b.\n+state b x q -> r x stop.\n", initial: "b", want: "b"},
		{src: "+deftype t() = x.\n", want: ""},
	}
	for _, tt := range tests {
		c, ds := Compile("init.con", []byte(tt.src), Options{Initial: tt.initial})
		if c == nil {
			t.Fatalf("%q: %v", tt.src, ds)
		}
		if c.Initial != tt.want {
			t.Errorf("%q: initial %q, want %q", tt.src, c.Initial, tt.want)
		}
	}
	_, ds := Compile("init.con", []byte("+state ab x x -> y x stop.\n"), Options{Initial: "ac"})
	if len(ds) != 1 || ds[0].Code != "unknown-state" || !strings.Contains(ds[0].Message, "did you mean ab?") {
		t.Errorf("bad --initial: %v", ds)
	}
}

func TestNameDefaultsToFileName(t *testing.T) {
	c := mustCompile(t, "dir/bank_account.con", "+state start x a -> b x stop.\n")
	if c.Name != "bank_account" || c.Vsn != "" {
		t.Errorf("name %q vsn %q", c.Name, c.Vsn)
	}
}

func TestImport(t *testing.T) {
	c, ds, err := Load(filepath.Join("testdata", "import", "main.con"), Options{})
	if err != nil || c == nil {
		t.Fatalf("%v %v", err, ds)
	}
	if len(ds) != 0 {
		t.Errorf("unexpected findings (unused imported types must not warn): %v", ds)
	}
	if d := c.Types["reason"]; d == nil || !d.Imported {
		t.Errorf("reason() should be imported: %+v", d)
	}
	if d := c.Types["handle"]; d == nil || d.Imported {
		t.Errorf("handle() is redefined locally: %+v", d)
	}

	// A different redefinition is an error.
	_, ds = Compile(filepath.Join("testdata", "import", "bad.con"), []byte("+import(\"types.con\").\n+deftype reason() = atom().\n+state start x a -> reason() x stop.\n"), Options{})
	if len(ds) != 1 || ds[0].Code != "duplicate-type" || !strings.Contains(ds[0].Message, "different definition") {
		t.Errorf("conflicting redefinition: %v", ds)
	}

	// --types works like +import.
	c, ds = Compile("x.con", []byte("+state start x {h, handle()} -> reason() x stop.\n"), Options{TypeFiles: []string{filepath.Join("testdata", "import", "types.con")}})
	if c == nil || len(ds) != 0 {
		t.Errorf("--types: %v", ds)
	}

	// An unreadable file is an error from Load and a finding from Compile.
	_, _, err = Load(filepath.Join("testdata", "import", "main.con"), Options{TypeFiles: []string{"testdata/nonexistent.con"}})
	if err == nil {
		t.Error("Load must fail for an unreadable --types file")
	}
	c, ds = Compile("x.con", []byte("+import(\"nope.con\").\n"), Options{})
	if c != nil || len(ds) != 1 || ds[0].Code != "import" || ds[0].Pos.Line != 1 {
		t.Errorf("unreadable +import: %v", ds)
	}
}

func TestAnnotations(t *testing.T) {
	src := "+TYPES\na() :: a \"a string\";\nb() :: b <<\"a binary\">>;\nc() :: c `a tag`;\nd() :: d.\n+deftype e() = e \"armstrong\".\n"
	c := mustCompile(t, "ann.con", src)
	want := map[string]string{"a": "a string", "b": "a binary", "c": "a tag", "d": "", "e": "armstrong"}
	for name, w := range want {
		if got := c.Types[name].Annotation; got != w {
			t.Errorf("%s(): annotation %q, want %q", name, got, w)
		}
	}
}

func TestMixedDialects(t *testing.T) {
	src := "+NAME(\"mixed\").\n+TYPES\nreq() :: {get, integer()}.\n+state start x req() -> ok x next.\n+STATE next\n  req() => ok & stop.\n"
	c := mustCompile(t, "mixed.con", src)
	if c.Name != "mixed" || len(c.State("start").Rules) != 1 || len(c.State("next").Rules) != 1 {
		t.Errorf("mixed dialects: %+v", c)
	}
}

func TestLoadUnreadable(t *testing.T) {
	c, ds, err := Load(filepath.Join("testdata", "does-not-exist.con"), Options{})
	if err == nil || c != nil || ds != nil {
		t.Errorf("Load of a missing file: %v %v %v", c, ds, err)
	}
	c, ds = Compile("x.con", []byte("+state start x a -> b x stop.\n"), Options{TypeFiles: []string{"testdata/none.con"}})
	if c != nil || len(ds) != 1 || ds[0].Code != "import" || !strings.Contains(ds[0].Message, "testdata/none.con") {
		t.Errorf("Compile with a missing --types file: %v", ds)
	}
}

func TestTalkAPIForms(t *testing.T) {
	c, ds, err := Load(filepath.Join("testdata", "talk_api.con"), Options{})
	if err != nil || c == nil {
		t.Fatalf("%v %v", err, ds)
	}
	if len(c.Anystate) != 2 || c.Anystate[1].In.String() != "{stat, fileName()}" || c.Anystate[1].Outs[0].Next != "" {
		t.Errorf("stateless +type: %+v", c.Anystate)
	}
	if c.Anystate[0].In.String() != "{info}" {
		t.Errorf("no-argument +type compiled to %s", c.Anystate[0].In)
	}
	if r := c.State("ready").Rules[0]; r.In.String() != "{read_line, fileHandle()}" || len(r.Outs) != 2 {
		t.Errorf("+type with states: %+v", r)
	}
}

func TestNestedAndBrokenImports(t *testing.T) {
	dir := filepath.Join("testdata", "import")
	c, ds := Compile(filepath.Join(dir, "user.con"), []byte("+import(\"nested.con\").\n+state start x {s, session()} -> reason() x stop.\n"), Options{})
	if c == nil || len(ds) != 0 {
		t.Fatalf("nested import: %v", ds)
	}
	if d := c.Types["handle"]; d == nil || !d.Imported {
		t.Errorf("handle() should come through nested.con: %+v", d)
	}
	_, ds = Compile(filepath.Join(dir, "user.con"), []byte("+import(\"syntax-broken.con\").\n+state start x a -> b x stop.\n"), Options{})
	if len(ds) != 1 || ds[0].Code != "syntax" || !strings.HasSuffix(ds[0].Pos.File, "syntax-broken.con") || ds[0].Pos.Line != 1 {
		t.Errorf("syntax error in an imported file: %v", ds)
	}
	// A file importing itself is read once.
	c, ds = Compile(filepath.Join(dir, "self.con"), []byte("+import(\"self.con\").\n+deftype t() = x.\n+state start x t() -> ok x stop.\n"), Options{})
	if c == nil {
		t.Errorf("self import: %v", ds)
	}
}

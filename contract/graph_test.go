package contract

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
)

func TestGraphGolden(t *testing.T) {
	inputs := []string{
		filepath.Join("testdata", "file_server.con"),
		filepath.Join("testdata", "ubf", "irc_plugin.con"),
		filepath.Join("testdata", "graph", "odd_names.con"),
		filepath.Join("testdata", "graph", "transfer.con"),
	}
	for _, in := range inputs {
		c, diags, err := Load(in, Options{})
		if err != nil || c == nil {
			t.Fatalf("%s: %v %v", in, err, diags)
		}
		base := filepath.Join("testdata", "graph", strings.TrimSuffix(filepath.Base(in), ".con"))
		var dot, mmd bytes.Buffer
		if err := WriteDOT(&dot, c); err != nil {
			t.Fatal(err)
		}
		if err := WriteMermaid(&mmd, c); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, base+".dot.golden", dot.Bytes())
		golden.Check(t, base+".mmd.golden", mmd.Bytes())
	}
}

// TestGraphContent checks the promises of the graphs on the file server
// contract: one edge per rule output, initial and terminal marked.
func TestGraphContent(t *testing.T) {
	c, _, err := Load(filepath.Join("testdata", "file_server.con"), Options{})
	if err != nil || c == nil {
		t.Fatal(err)
	}
	outputs := 0
	Walk(c, Visitor{Rule: func(st *State, r *Rule) {
		if st != nil {
			outputs += len(r.Outs)
		}
	}})
	var dot, mmd bytes.Buffer
	_ = WriteDOT(&dot, c)
	_ = WriteMermaid(&mmd, c)
	edges := 0
	for _, l := range strings.Split(dot.String(), "\n") {
		if strings.Contains(l, " -> ") && !strings.Contains(l, "initial ->") {
			edges++
		}
	}
	if edges != outputs {
		t.Errorf("dot has %d edges, want %d (one per rule output)", edges, outputs)
	}
	if !strings.Contains(dot.String(), `s4 [label="stop", shape=doublecircle]`) || !strings.Contains(dot.String(), `initial -> s0;`) || !strings.Contains(dot.String(), `s0 [label="start", style=bold]`) {
		t.Errorf("initial/terminal not marked:\n%s", dot.String())
	}
	if !strings.Contains(dot.String(), `{open, fileName(), read | write} / {ok, fileHandle()}`) {
		t.Errorf("edge label missing:\n%s", dot.String())
	}
	if !strings.Contains(mmd.String(), "[*] --> start") || !strings.Contains(mmd.String(), "stop --> [*]") {
		t.Errorf("mermaid initial/terminal not marked:\n%s", mmd.String())
	}
	if !strings.Contains(mmd.String(), "info / string()") || !strings.Contains(dot.String(), `info / string()\l`) {
		t.Error("anystate rules not listed")
	}
}

// TestGraphTransitions: each transition is an edge of its own style (DOT)
// and labelled with its direction (both); events stay in their states.
func TestGraphTransitions(t *testing.T) {
	c := mustCompile(t, "g.con", "+state start out hello x ready | bye x stop.\n+state ready in quit x stop.\n+state ready x ping -> pong x ready.\n+event ready out tick.\n")
	var dot, mmd bytes.Buffer
	if err := WriteDOT(&dot, c); err != nil {
		t.Fatal(err)
	}
	if err := WriteMermaid(&mmd, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`s0 -> s1 [label="out hello", style=dashed];`,
		`s0 -> s2 [label="out bye", style=dashed];`,
		`s1 -> s2 [label="in quit", style=dotted];`,
		`s1 -> s1 [label="ping / pong"];`,
		`s1 [label="ready\nevent out tick"];`,
	} {
		if !strings.Contains(dot.String(), want) {
			t.Errorf("dot lacks %s:\n%s", want, dot.String())
		}
	}
	for _, want := range []string{"start --> ready : out hello", "ready --> stop : in quit", "note right of ready\n        event out tick"} {
		if !strings.Contains(mmd.String(), want) {
			t.Errorf("mermaid lacks %q:\n%s", want, mmd.String())
		}
	}
}

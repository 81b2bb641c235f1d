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

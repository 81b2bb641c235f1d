package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
)

const graphData = "testdata/graph"

func TestGraphGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"file_dot", []string{"graph", "../../contracts/file.con"}, 0},
		{"file_mermaid", []string{"graph", "--format", "mermaid", "../../contracts/file.con"}, 0},
		{"chat_dot", []string{"graph", "--format", "dot", "../../contracts/chat.con"}, 0},
		{"irc_mermaid", []string{"graph", "--format", "mermaid", "../../contracts/irc.con"}, 0},
		{"types", []string{"graph", "--types", checkData + "/types/shared.con", checkData + "/types/service.con"}, 0},
		{"warning", []string{"graph", graphData + "/warn.con"}, 0},
		{"broken", []string{"graph", graphData + "/broken.con"}, 1},
		{"missing", []string{"graph", graphData + "/nonexistent.con"}, 2},
		{"bad_format", []string{"graph", "--format", "svg", "../../contracts/file.con"}, 2},
		{"two_files", []string{"graph", "../../contracts/file.con", "../../contracts/bank.con"}, 2},
		{"no_file", []string{"graph"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runUbfproxy(t, "", tt.args...)
			if res.code != tt.code {
				t.Errorf("exit status %d, want %d\n%s", res.code, tt.code, res)
			}
			golden.Check(t, filepath.Join(graphData, tt.name+".golden"), []byte(res.String()))
		})
	}
}

// TestGraphContent checks what the diagram must show whatever its layout:
// every state of the file protocol and every request, in both formats.
func TestGraphContent(t *testing.T) {
	for _, format := range []string{"dot", "mermaid"} {
		res := runUbfproxy(t, "", "graph", "--format", format, "../../contracts/file.con")
		if res.code != 0 {
			t.Fatalf("%s: %s", format, res)
		}
		for _, want := range []string{"start", "ready", "atEof", "stop", "open", "read_line", "close", "rewind", "info"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("%s diagram does not mention %q:\n%s", format, want, res.stdout)
			}
		}
	}
	res := runUbfproxy(t, "", "graph", "../../contracts/file.con")
	if !strings.HasPrefix(strings.TrimSpace(res.stdout), "digraph") {
		t.Errorf("dot output does not start with digraph:\n%s", res.stdout)
	}
	res = runUbfproxy(t, "", "graph", "--format", "mermaid", "../../contracts/file.con")
	if !strings.Contains(res.stdout, "stateDiagram") {
		t.Errorf("mermaid output is not a stateDiagram:\n%s", res.stdout)
	}
}

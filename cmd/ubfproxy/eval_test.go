package main

import (
	"path/filepath"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
)

func TestEvalGolden(t *testing.T) {
	file := "../../contracts/file.con"
	lang2 := "../../docs/examples/lang2/transitions.con"
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"call", []string{"--contract", file, `{open, "notes.txt", read}`}, 0},
		{"call_state", []string{"--contract", file, "--state", "ready", `{read_line, 7}`}, 0},
		{"anystate", []string{"--contract", file, "--state", "atEof", `info`}, 0},
		{"json", []string{"--contract", file, "--state", "ready", "--format", "json", `{close, 7}`}, 0},
		{"refused", []string{"--contract", file, "--state", "ready", `{open, "x", read}`}, 1},
		{"refused_json", []string{"--contract", file, "--format", "json", `{read_line, 7}`}, 1},
		{"transition", []string{"--contract", lang2, "--state", "ready", `quit`}, 0},
		{"bad_state", []string{"--contract", file, "--state", "nowhere", `info`}, 2},
		{"bad_term", []string{"--contract", file, `{open,`}, 2},
		{"no_term", []string{"--contract", file}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runUbfproxy(t, "", append([]string{"eval"}, tt.args...)...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tt.code, r)
			}
			golden.Check(t, filepath.Join("testdata", "eval", tt.name+".golden"), []byte(r.String()))
		})
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
)

// The conversations under testdata/lang2/ exercise language 2 (transitions
// both ways, tuple tails, string patterns, variables) in both dialects,
// written to the letter of the language reference. Each trace names its
// contract in a "# contract:" line; a trace whose name starts with "bad_"
// must break the contract (exit 1), every other one must conform (exit 0).
// What replay says is kept as a golden file beside the trace. Rewrite them
// after an intended change with
//
//	go test ./cmd/ubfproxy/ -run Lang2 -update
const lang2Dir = "testdata/lang2"

func TestLang2Conversations(t *testing.T) {
	traces, err := filepath.Glob(filepath.Join(lang2Dir, "*.trace"))
	if err != nil || len(traces) == 0 {
		t.Fatalf("no traces under %s (%v)", lang2Dir, err)
	}
	for _, tr := range traces {
		name := strings.TrimSuffix(filepath.Base(tr), ".trace")
		t.Run(name, func(t *testing.T) {
			want := 0
			if strings.HasPrefix(name, "bad_") {
				want = 1
			}
			res := runUbfproxy(t, "", "replay", tr)
			if res.code != want {
				t.Errorf("exit %d, want %d\n%s", res.code, want, res)
			}
			golden.Check(t, strings.TrimSuffix(tr, ".trace")+".golden", []byte(res.String()))
		})
	}
}

// TestLang2Contracts: the contracts the conversations use pass check
// --strict, and fmt keeps their meaning and is idempotent.
func TestLang2Contracts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(lang2Dir, "*.con"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no contracts under %s (%v)", lang2Dir, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if res := runUbfproxy(t, "", "check", "--strict", file); res.code != 0 {
				t.Errorf("check --strict: exit %d\n%s", res.code, res)
			}
			checkFmtRoundTrip(t, file)
		})
	}
}

// TestLang2CheckFindings: the errors and warnings of language 2 under
// testdata/lang2/check/, as check prints them. A contract with warnings
// only also goes through fmt unchanged in meaning.
func TestLang2CheckFindings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(lang2Dir, "check", "*.con"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no contracts under %s/check (%v)", lang2Dir, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			res := runUbfproxy(t, "", "check", file)
			if res.code == 0 {
				if !strings.Contains(res.stdout, "warning") {
					t.Errorf("no finding: every contract here has at least one\n%s", res)
				}
				checkFmtRoundTrip(t, file)
			} else if res.code != 1 || !strings.Contains(res.stdout+res.stderr, "error") {
				t.Errorf("exit %d, want 0 with warnings or 1 with errors\n%s", res.code, res)
			}
			golden.Check(t, strings.TrimSuffix(file, ".con")+".golden", []byte(res.String()))
		})
	}
}

package compat

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/golden"
)

func load(t *testing.T, path string) *contract.Contract {
	t.Helper()
	c, diags, err := contract.Load(path, contract.Options{})
	if err != nil || diags.HasErrors() {
		t.Fatalf("%s: %v %v", path, err, diags)
	}
	return c
}

// TestPairs compares each pair of contract versions under
// testdata/pairs with its golden findings, and replays every finding's
// trace on both versions: the contract that allows the message accepts the
// whole conversation, the other refuses exactly its last message.
func TestPairs(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "pairs", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no pairs: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			oldC := load(t, filepath.Join(dir, "old.con"))
			newC := load(t, filepath.Join(dir, "new.con"))
			res := Compare(oldC, newC, Options{})
			if res.Truncated {
				t.Errorf("the walk stopped at a bound after %d pairs", res.Pairs)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%d pairs of states\n", res.Pairs)
			for _, f := range res.Findings {
				fmt.Fprintf(&b, "\n%s: %s: %s [%s]\n%s", f.Pos, f.Severity(), f.Summary(), f.Code, f.TraceText())
				checkVerdicts(t, oldC, newC, f)
			}
			golden.Check(t, filepath.Join(dir, "findings.golden"), []byte(b.String()))
		})
	}
}

// checkVerdicts replays f's trace on both contracts and checks the
// verdicts f promises.
func checkVerdicts(t *testing.T, oldC, newC *contract.Contract, f Finding) {
	t.Helper()
	wantOld, wantNew := f.Verdicts()
	for _, c := range []struct {
		name string
		c    *contract.Contract
		want string
	}{{"old", oldC, wantOld}, {"new", newC, wantNew}} {
		s, v := replay(checker.Prepare(c.c), f.Trace)
		switch {
		case c.want == "ok" && v != nil:
			t.Errorf("%s: the %s contract should accept the trace, got %v\n%s", f.Code, c.name, v, f.TraceText())
		case c.want == "violation" && v == nil:
			t.Errorf("%s: the %s contract should refuse the trace's last message, accepted it\n%s", f.Code, c.name, f.TraceText())
		case c.want == "violation" && s.Seq() != len(f.Trace):
			t.Errorf("%s: the %s contract refused message %d of %d, want the last\n%s", f.Code, c.name, s.Seq(), len(f.Trace), f.TraceText())
		}
	}
}

func TestIdenticalContractsAgree(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "contracts", "*.con"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no contracts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			a, b := load(t, file), load(t, file)
			res := Compare(a, b, Options{})
			for _, f := range res.Findings {
				t.Errorf("%s against itself: %s: %s", file, f.Pos, f.Summary())
			}
			if res.Pairs == 0 {
				t.Errorf("%s: no pair of states visited", file)
			}
		})
	}
}

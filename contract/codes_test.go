package contract

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCodeTable: every code is documented once, with a severity, and
// every code of check has a contract under testdata/errors that produces
// it (TestFindingsGolden).
func TestCodeTable(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.con"))
	if err != nil {
		t.Fatal(err)
	}
	exercised := map[Code]bool{}
	for _, f := range files {
		exercised[expectedCode(strings.TrimSuffix(filepath.Base(f), ".con"))] = true
	}
	seen := map[Code]bool{}
	for _, ci := range Codes() {
		if seen[ci.Code] {
			t.Errorf("code %q is in the table twice", ci.Code)
		}
		seen[ci.Code] = true
		if ci.Severity != Error && ci.Severity != Warning {
			t.Errorf("code %q: severity %d", ci.Code, ci.Severity)
		}
		if !strings.HasSuffix(ci.Short, ".") || !strings.HasSuffix(ci.Help, ".") {
			t.Errorf("code %q: description %q and help %q should be sentences", ci.Code, ci.Short, ci.Help)
		}
		// The comparison's codes are exercised by compat's tests.
		if ci.Command() == "check" && !exercised[ci.Code] {
			t.Errorf("code %q: no contract under testdata/errors produces it", ci.Code)
		}
		if info, ok := ci.Code.Info(); !ok || info != ci {
			t.Errorf("Info(%q) = %+v, %v", ci.Code, info, ok)
		}
	}
	if _, ok := Code("no-such-code").Info(); ok {
		t.Error("an unknown code has documentation")
	}
}

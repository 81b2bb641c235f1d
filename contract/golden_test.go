package contract

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
)

// TestFindingsGolden compiles one contract per finding under
// testdata/errors and compares the text users see with the golden file.
// The file's name (before any "-" suffix chosen for variants) is the code
// the contract must produce.
func TestFindingsGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.con"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".con")
		t.Run(name, func(t *testing.T) {
			c, diags, err := Load(f, Options{})
			if err != nil && name != "import-error" {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, d := range diags {
				b.WriteString(d.Error())
				b.WriteString("\n")
			}
			golden.Check(t, strings.TrimSuffix(f, ".con")+".golden", []byte(b.String()))
			code := expectedCode(name)
			found := false
			for _, d := range diags {
				found = found || d.Code == code
				if info, ok := d.Code.Info(); !ok || info.Severity != d.Severity {
					t.Errorf("finding %s: code %q is not in the table with severity %s", d.Error(), d.Code, d.Severity)
				}
				if d.Pos.Line == 0 {
					t.Errorf("finding without a line: %s", d.Error())
				}
			}
			if !found {
				t.Errorf("no finding with code %q in %v", code, diags)
			}
			if diags.HasErrors() != (c == nil) {
				t.Errorf("contract returned = %v with errors = %v", c != nil, diags.HasErrors())
			}
		})
	}
}

// expectedCode maps a golden file's name to the code it exercises: the
// longest code the name starts with.
func expectedCode(name string) Code {
	if name == "bad-map" { // a malformed map type
		return CodeSyntax
	}
	var best Code
	for _, ci := range Codes() {
		if strings.HasPrefix(name, string(ci.Code)) && len(ci.Code) > len(best) {
			best = ci.Code
		}
	}
	return best
}

// Package golden compares what a test produced with a golden file under
// testdata/, and rewrites the file instead when the tests run with
// -update: the repository's one mechanism for golden files. After an
// intended change, run
//
//	go test ./... -run <tests> -update
//
// and read the diff of testdata/ before committing.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// update is registered by the test binaries that import this package, so
// that every package's tests answer to the same flag.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the output of the tests")

// Updating reports whether the tests run with -update.
func Updating() bool { return *update }

// Check compares got with the file at path; with -update it writes got
// there instead, creating its folder.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run the test with -update if the change is intended)\n%s\n--- got\n%s",
			path, firstDifference(got, want), got)
	}
}

// firstDifference names the first line at which got and want differ.
func firstDifference(got, want []byte) string {
	g, w := lines(got), lines(want)
	for i := 0; ; i++ {
		switch {
		case i >= len(g) && i >= len(w):
			return "identical lines" // not reached: the contents differ
		case i >= len(g):
			return fmt.Sprintf("line %d: got end of output, want %q", i+1, w[i])
		case i >= len(w):
			return fmt.Sprintf("line %d: got %q, want end of file", i+1, g[i])
		case !bytes.Equal(g[i], w[i]):
			return fmt.Sprintf("line %d: got %q, want %q", i+1, g[i], w[i])
		}
	}
}

// lines splits b after each newline; a final line may lack one.
func lines(b []byte) [][]byte {
	var out [][]byte
	for l := range bytes.Lines(b) {
		out = append(out, l)
	}
	return out
}

package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spf13/cobra/doc"

	"github.com/ubfproxy/ubfproxy/internal/golden"
)

// cliDocs is where the CLI reference lives, relative to this package.
const cliDocs = "../../docs/cli"

// TestCLIDocs fails when docs/cli is not what the cobra commands generate.
// Refresh it with
//
//	go generate ./cmd/ubfproxy
//
// which runs this test with -update.
func TestCLIDocs(t *testing.T) {
	dir := t.TempDir()
	if err := generateCLIDocs(dir); err != nil {
		t.Fatal(err)
	}
	if golden.Updating() {
		if err := os.RemoveAll(cliDocs); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(cliDocs, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := listDir(t, dir)
	got := listDir(t, cliDocs)
	if !slices.Equal(got, want) {
		t.Fatalf("docs/cli holds %v, the commands give %v: run go generate ./cmd/ubfproxy", got, want)
	}
	for _, name := range want {
		w, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(cliDocs, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(g) != string(w) {
			t.Errorf("docs/cli/%s is stale: run go generate ./cmd/ubfproxy", name)
		}
	}
}

// generateCLIDocs writes one Markdown page per command into dir.
func generateCLIDocs(dir string) error {
	root := newRootCmd()
	// The date cobra would stamp on every page changes the files on every
	// run; the pages are generated from the code, which says when.
	root.DisableAutoGenTag = true
	return doc.GenMarkdownTree(root, dir)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

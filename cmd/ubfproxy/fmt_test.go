package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/golden"
)

const fmtData = "testdata/fmt"

func TestFmtGolden(t *testing.T) {
	messy := fmtData + "/src/messy.con"
	messySrc := readTestFile(t, messy)
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"print", "", []string{"fmt", messy}, 0},
		{"print_ubfb", "", []string{"fmt", fmtData + "/src/messy_ubfb.con"}, 0},
		{"stdin", messySrc, []string{"fmt"}, 0},
		{"list", "", []string{"fmt", "-l", fmtData + "/src"}, 0},
		{"diff", "", []string{"fmt", "-d", messy}, 0},
		{"diff_stdin", messySrc, []string{"fmt", "-d"}, 0},
		{"list_and_diff", "", []string{"fmt", "-l", "-d", messy}, 0},
		{"syntax", "", []string{"fmt", fmtData + "/bad/syntax.con"}, 1},
		{"syntax_stdin", "+state a x -> b x stop.\n", []string{"fmt"}, 1},
		{"write_stdin", messySrc, []string{"fmt", "-w"}, 2},
		{"missing", "", []string{"fmt", fmtData + "/nonexistent.con"}, 2},
		{"check", "", []string{"fmt", "--check", fmtData + "/src", fmtData + "/clean"}, 1},
		{"check_clean", "", []string{"fmt", "--check", fmtData + "/clean"}, 0},
		{"check_diff", "", []string{"fmt", "--check", "-d", messy}, 1},
		{"check_stdin", messySrc, []string{"fmt", "--check"}, 1},
		{"check_stdin_clean", readTestFile(t, fmtData+"/clean/commented.con"), []string{"fmt", "--check"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runUbfproxy(t, tt.stdin, tt.args...)
			if res.code != tt.code {
				t.Errorf("exit status %d, want %d\n%s", res.code, tt.code, res)
			}
			golden.Check(t, filepath.Join(fmtData, tt.name+".golden"), []byte(res.String()))
		})
	}
}

// TestFmtFlags checks the flags' behaviours on a scratch copy of the test
// contracts: -l lists only what differs, -d applies, -w rewrites only what
// differs and keeps permissions, and a second pass changes nothing.
func TestFmtFlags(t *testing.T) {
	dir := t.TempDir()
	messy := filepath.Join(dir, "messy.con")
	clean := filepath.Join(dir, "clean.con")
	broken := filepath.Join(dir, "sub", "broken.con")
	messySrc := readTestFile(t, fmtData+"/src/messy.con")
	formatted := runUbfproxy(t, messySrc, "fmt").stdout
	if formatted == "" || formatted == messySrc {
		t.Fatalf("fmt of messy.con gave %q: the test needs a contract that changes", formatted)
	}
	writeTestFile(t, messy, messySrc, 0o640)
	writeTestFile(t, clean, formatted, 0o644)
	brokenSrc := readTestFile(t, fmtData+"/bad/syntax.con")
	writeTestFile(t, broken, brokenSrc, 0o644)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(clean, old, old); err != nil {
		t.Fatal(err)
	}

	// -l lists the file that differs, reports the broken one, exits 1.
	res := runUbfproxy(t, "", "fmt", "-l", dir)
	if res.stdout != messy+"\n" {
		t.Errorf("-l printed %q, want only %q", res.stdout, messy)
	}
	if res.code != exitViolation || !strings.Contains(res.stderr, broken+":2:") {
		t.Errorf("-l with a broken file: exit %d, stderr %q; want 1 and the error's position", res.code, res.stderr)
	}

	// -d prints a diff that turns the file into its formatted layout, and
	// nothing for the clean file.
	res = runUbfproxy(t, "", "fmt", "-d", messy, clean)
	if res.code != 0 || !strings.HasPrefix(res.stdout, "diff "+messy+".orig "+messy+"\n") {
		t.Fatalf("-d: exit %d, output\n%s", res.code, res.stdout)
	}
	if got := applyUnified(t, messySrc, res.stdout); got != formatted {
		t.Errorf("applying the -d output gives\n%s\nwant\n%s", got, formatted)
	}

	// -w rewrites messy.con, keeps its mode, leaves clean.con and the broken
	// file untouched.
	res = runUbfproxy(t, "", "fmt", "-w", dir)
	if res.code != exitViolation || res.stdout != "" {
		t.Errorf("-w: exit %d (want 1, for the broken file), stdout %q (want nothing)", res.code, res.stdout)
	}
	if got := readTestFile(t, messy); got != formatted {
		t.Errorf("-w left\n%s\nwant\n%s", got, formatted)
	}
	if info, err := os.Stat(messy); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("-w changed the mode of messy.con: %v %v, want 0640", info.Mode(), err)
	}
	if info, err := os.Stat(clean); err != nil || !info.ModTime().Equal(old) {
		t.Errorf("-w rewrote clean.con, which was already formatted")
	}
	if got := readTestFile(t, broken); got != brokenSrc {
		t.Errorf("-w changed a file with syntax errors")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("-w left a temporary file %s", e.Name())
		}
	}

	// Nothing left to do.
	os.Remove(broken)
	res = runUbfproxy(t, "", "fmt", "-l", dir)
	if res.code != 0 || res.stdout != "" {
		t.Errorf("-l after -w: exit %d, output %q; want 0 and nothing", res.code, res.stdout)
	}
}

// TestFmtWriteSymlink: -w through a symbolic link rewrites the target and
// keeps the link.
func TestFmtWriteSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.con")
	link := filepath.Join(dir, "link.con")
	writeTestFile(t, target, readTestFile(t, fmtData+"/src/messy.con"), 0o644)
	if err := os.Symlink("real.con", link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if res := runUbfproxy(t, "", "fmt", "-w", link); res.code != 0 {
		t.Fatalf("fmt -w link: %s", res)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file")
	}
	if res := runUbfproxy(t, "", "fmt", "-l", target); res.stdout != "" {
		t.Errorf("the link's target was not formatted")
	}
}

// TestFmtRepositoryContracts: on every contract of the repository, fmt is
// idempotent and the formatted contract compiles to the same model. The
// contracts this package's authors maintain are kept formatted.
func TestFmtRepositoryContracts(t *testing.T) {
	files, err := filepath.Glob("../../contracts/*.con")
	if err != nil || len(files) == 0 {
		t.Fatalf("no contracts found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, once := checkFmtRoundTrip(t, file)
			switch filepath.Base(file) {
			case "file.con", "bank.con", "chat.con", "jobqueue.con", "irc.con":
				if string(once) != string(src) {
					t.Errorf("%s is not in the canonical layout (run ubfproxy fmt -w):\n%s", file, unifiedDiff(file, "formatted", src, once))
				}
			}
		})
	}
}

// checkFmtRoundTrip formats file twice and fails t unless fmt is
// idempotent and the formatted contract compiles to the same model with
// the same findings. It returns the source and its formatted text.
func checkFmtRoundTrip(t *testing.T, file string) (src, once []byte) {
	t.Helper()
	src = []byte(readTestFile(t, file))
	once, diags := contract.Format(file, src)
	if diags.HasErrors() {
		t.Fatalf("fmt: %v", diags)
	}
	twice, diags := contract.Format(file, once)
	if diags.HasErrors() {
		t.Fatalf("formatted contract does not parse: %v\n%s", diags, once)
	}
	if string(once) != string(twice) {
		t.Errorf("fmt is not idempotent:\n%s", unifiedDiff("once", "twice", once, twice))
	}
	c1, d1 := contract.Compile(file, src, contract.Options{})
	c2, d2 := contract.Compile(file, once, contract.Options{})
	if c1 == nil || c2 == nil {
		t.Fatalf("compile: before %v, after fmt %v", d1, d2)
	}
	if m1, m2 := modelFingerprint(c1), modelFingerprint(c2); m1 != m2 {
		t.Errorf("fmt changed the model:\n%s", unifiedDiff("before", "after", []byte(m1), []byte(m2)))
	}
	if diagCodes(d1) != diagCodes(d2) {
		t.Errorf("fmt changed the findings: %v -> %v", d1, d2)
	}
	return src, once
}

// modelFingerprint prints everything of a compiled contract but positions,
// so that two compilations can be compared.
func modelFingerprint(c *contract.Contract) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name %q vsn %q initial %s\n", c.Name, c.Vsn, c.Initial)
	var names []string
	for name, def := range c.Types {
		if !def.Builtin {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		def := c.Types[name]
		fmt.Fprintf(&b, "type %s = %s imported=%v annotation=%q\n", name, def.Type, def.Imported, def.Annotation)
	}
	rule := func(r *contract.Rule) {
		fmt.Fprintf(&b, "  %s ->", r.In)
		for _, o := range r.Outs {
			fmt.Fprintf(&b, " %s x %s;", o.Type, o.Next)
		}
		b.WriteString("\n")
	}
	event := func(e *contract.Event) { fmt.Fprintf(&b, "  event %s %s\n", e.Dir, e.Type) }
	for _, s := range c.States {
		fmt.Fprintf(&b, "state %s terminal=%v\n", s.Name, s.Terminal)
		for _, r := range s.Rules {
			rule(r)
		}
		for _, e := range s.Events {
			event(e)
		}
	}
	b.WriteString("anystate\n")
	for _, r := range c.Anystate {
		rule(r)
	}
	for _, e := range c.AnyEvents {
		event(e)
	}
	return b.String()
}

func diagCodes(ds contract.Diagnostics) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Severity.String()+":"+string(d.Code))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func readTestFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeTestFile(t *testing.T, name, text string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, perm); err != nil { // umask
		t.Fatal(err)
	}
}

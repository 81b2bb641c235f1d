package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
)

const (
	breakingOld = "testdata/breaking/old.con"
	breakingNew = "testdata/breaking/new.con"
)

// TestBreakingGolden records what breaking prints in each format, and the
// exit statuses of a clean comparison and of bad usage.
func TestBreakingGolden(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"text", []string{"breaking", breakingOld, breakingNew}},
		{"json", []string{"breaking", "--format", "json", breakingOld, breakingNew}},
		{"sarif", []string{"breaking", "--format", "sarif", breakingOld, breakingNew}},
		{"disable", []string{"breaking", "--disable", "breaks-service-request,breaks-service-reply", breakingOld, breakingNew}},
		{"warnings", []string{"breaking", "testdata/breaking/grown.con", breakingNew}},
		{"strict", []string{"breaking", "--strict", "testdata/breaking/grown.con", breakingNew}},
		{"same", []string{"breaking", breakingOld, breakingOld}},
		{"reversed", []string{"breaking", breakingNew, breakingOld}},
		{"one-arg", []string{"breaking", breakingOld}},
		{"disable-error", []string{"breaking", "--disable", "breaks-client-request", breakingOld, breakingNew}},
		{"bad-contract", []string{"breaking", breakingOld, "testdata/breaking/broken.con"}},
		{"missing", []string{"breaking", breakingOld, "testdata/breaking/nope.con"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runUbfproxy(t, "", c.args...)
			golden.Check(t, filepath.Join("testdata", "breaking", c.name+".golden"), []byte(r.String()))
		})
	}
}

// TestBreakingTracesReplay is the end-to-end test: every trace breaking
// writes is replayed against both versions, and replay gives the verdict
// the finding promises (the violation on its last line).
func TestBreakingTracesReplay(t *testing.T) {
	dir := t.TempDir()
	r := runUbfproxy(t, "", "breaking", "--format", "json", "--traces", dir, breakingOld, breakingNew)
	if r.code != exitViolation {
		t.Fatalf("want exit 1:\n%s", r)
	}
	var got []comparison
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(got) != 1 || len(got[0].Findings) < 4 {
		t.Fatalf("want one comparison with the four kinds of findings:\n%s", r)
	}
	codes := map[string]bool{}
	for _, f := range got[0].Findings {
		codes[string(f.Code)] = true
		if f.TraceFile == "" {
			t.Fatalf("%s: no trace file", f.Code)
		}
		for _, v := range []struct{ contract, want string }{{breakingOld, f.Replay.Old}, {breakingNew, f.Replay.New}} {
			rr := runUbfproxy(t, "", "replay", "--contract", v.contract, f.TraceFile)
			want := exitOK
			if v.want == "violation" {
				want = exitViolation
				// The violation is the last message of the trace.
				lastLine := len(strings.Split(strings.TrimSpace(readFile(t, f.TraceFile)), "\n"))
				if !strings.Contains(rr.stdout, filepath.Base(f.TraceFile)+":"+strconv.Itoa(lastLine)+":") {
					t.Errorf("replay --contract %s %s: the violation should be at line %d:\n%s", v.contract, f.TraceFile, lastLine, rr)
				}
			}
			if rr.code != want {
				t.Errorf("%s: replay --contract %s %s: want exit %d (%s)\n%s\n%s", f.Code, v.contract, f.TraceFile, want, v.want, readFile(t, f.TraceFile), rr)
			}
		}
	}
	for _, c := range []string{"breaks-client-request", "breaks-client-reply", "breaks-service-request", "breaks-service-reply"} {
		if !codes[c] {
			t.Errorf("no %s finding:\n%s", c, r)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBreakingAgainstGit reads the old version from a commit of a
// temporary repository.
func TestBreakingAgainstGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	sub := filepath.Join(repo, "contracts")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sub, "files.con")
	other := filepath.Join(sub, "same.con")
	write := func(path, src string) {
		if err := os.WriteFile(path, []byte(readFile(t, src)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(file, breakingOld)
	write(other, breakingOld)
	// A contract that imports types: the old version's +import is read
	// beside the file, as for the new one.
	imp := filepath.Join(sub, "imp.con")
	writeText := func(path, src string) {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeText(filepath.Join(sub, "types.con"), "+deftype key() = atom().\n")
	writeText(imp, "+import(\"types.con\").\n+state start x {get, key()} -> ok x start.\n")
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "v1")
	write(file, breakingNew)
	writeText(imp, "+import(\"types.con\").\n+state start x {get, key(), integer()} -> ok x start.\n")
	added := filepath.Join(sub, "added.con")
	write(added, breakingNew)

	r := runUbfproxy(t, "", "breaking", "--format", "json", "--against-git", "HEAD", file, other, added, imp)
	if r.code != exitViolation {
		t.Fatalf("want exit 1:\n%s", r)
	}
	var got []comparison
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(got) != 3 {
		t.Fatalf("want three comparisons (added.con is new):\n%s", r)
	}
	if f := got[2].Findings; len(f) == 0 || f[0].Code != "breaks-client-request" || f[0].File != "HEAD:"+imp {
		t.Errorf("imp.con: want the old request {get, key()} refused, at HEAD:%s:\n%s", imp, r)
	}
	if got[0].Old != "HEAD:"+file || len(got[0].Findings) == 0 {
		t.Errorf("files.con: want findings against HEAD:\n%s", r)
	}
	if len(got[1].Findings) != 0 {
		t.Errorf("same.con did not change, yet:\n%s", r)
	}
	if !strings.Contains(r.stderr, "added.con is new since HEAD") {
		t.Errorf("added.con should be named as new:\n%s", r)
	}
	// A file relative to the working folder, from inside the repository.
	t.Chdir(sub)
	if r := runUbfproxy(t, "", "breaking", "--against-git", "HEAD", "same.con"); r.code != exitOK {
		t.Errorf("same.con against HEAD: want exit 0:\n%s", r)
	}
	if r := runUbfproxy(t, "", "breaking", "--against-git", "no-such-ref", "same.con"); r.code != exitUsage {
		t.Errorf("an unknown ref: want exit 2:\n%s", r)
	}
}

package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestDiffUnified(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{
			name: "equal",
			a:    "a\nb\n",
			b:    "a\nb\n",
			want: "",
		},
		{
			name: "from empty",
			a:    "",
			b:    "x\ny\n",
			want: "@@ -0,0 +1,2 @@\n+x\n+y\n",
		},
		{
			name: "to empty",
			a:    "x\n",
			b:    "",
			want: "@@ -1 +0,0 @@\n-x\n",
		},
		{
			name: "one line changed in the middle",
			a:    "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
			b:    "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			want: "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
		},
		{
			name: "insert at the start",
			a:    "b\nc\n",
			b:    "a\nb\nc\n",
			want: "@@ -1,2 +1,3 @@\n+a\n b\n c\n",
		},
		{
			name: "append at the end",
			a:    "a\nb\nc\nd\ne\n",
			b:    "a\nb\nc\nd\ne\nf\n",
			want: "@@ -3,3 +3,4 @@\n c\n d\n e\n+f\n",
		},
		{
			name: "two hunks far apart",
			a:    "a\n1\n2\n3\n4\n5\n6\n7\n8\nz\n",
			b:    "A\n1\n2\n3\n4\n5\n6\n7\n8\nZ\n",
			want: "@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n@@ -7,4 +7,4 @@\n 6\n 7\n 8\n-z\n+Z\n",
		},
		{
			name: "changes six lines apart share a hunk",
			a:    "a\n1\n2\n3\n4\n5\n6\nz\n",
			b:    "A\n1\n2\n3\n4\n5\n6\nZ\n",
			want: "@@ -1,8 +1,8 @@\n-a\n+A\n 1\n 2\n 3\n 4\n 5\n 6\n-z\n+Z\n",
		},
		{
			name: "missing final newline added",
			a:    "a\nb",
			b:    "a\nb\n",
			want: "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
		},
		{
			name: "missing final newline kept",
			a:    "a\nb",
			b:    "A\nb",
			want: "@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n",
		},
		{
			name: "indentation change",
			a:    "+state s x a ->\n  b x s.\n",
			b:    "+state s x a ->\n      b x s.\n",
			want: "@@ -1,2 +1,2 @@\n +state s x a ->\n-  b x s.\n+      b x s.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(unifiedDiff("f.orig", "f", []byte(tt.a), []byte(tt.b)))
			if tt.want == "" {
				if got != "" {
					t.Fatalf("equal inputs gave a diff:\n%s", got)
				}
				return
			}
			want := "diff f.orig f\n--- f.orig\n+++ f\n" + tt.want
			if got != want {
				t.Errorf("diff:\n%s\nwant:\n%s", got, want)
			}
			if applied := applyUnified(t, tt.a, got); applied != tt.b {
				t.Errorf("applying the diff gives %q, want %q", applied, tt.b)
			}
		})
	}
}

// TestDiffMinimal compares the edit script with the longest common
// subsequence computed by dynamic programming, on random inputs over a small
// alphabet (many repeated lines, the hard case for diff algorithms).
func TestDiffMinimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 3000 {
		a := randomLines(r, r.IntN(14), 1+r.IntN(4))
		b := randomLines(r, r.IntN(14), 1+r.IntN(4))
		edits := diffLines(a, b)

		// The script must spell out a and b in order.
		var gotA, gotB []string
		changes := 0
		for _, e := range edits {
			switch e.kind {
			case editEqual:
				if a[e.a] != b[e.b] {
					t.Fatalf("iter %d: equal edit joins %q and %q", iter, a[e.a], b[e.b])
				}
				gotA = append(gotA, a[e.a])
				gotB = append(gotB, b[e.b])
			case editDelete:
				gotA = append(gotA, a[e.a])
				changes++
			case editInsert:
				gotB = append(gotB, b[e.b])
				changes++
			}
		}
		if strings.Join(gotA, "") != strings.Join(a, "") || strings.Join(gotB, "") != strings.Join(b, "") {
			t.Fatalf("iter %d: script does not rebuild the inputs\na=%q\nb=%q\nedits=%v", iter, a, b, edits)
		}
		if want := len(a) + len(b) - 2*lcsLength(a, b); changes != want {
			t.Fatalf("iter %d: %d changes, shortest is %d\na=%q\nb=%q", iter, changes, want, a, b)
		}

		// And the printed diff must apply.
		ta, tb := strings.Join(a, ""), strings.Join(b, "")
		if d := unifiedDiff("x", "y", []byte(ta), []byte(tb)); d != nil {
			if got := applyUnified(t, ta, string(d)); got != tb {
				t.Fatalf("iter %d: applying\n%s\ngives %q, want %q", iter, d, got, tb)
			}
		}
	}
}

func TestDiffLargeInput(t *testing.T) {
	// 5,000 lines, every line different: the worst case, D = N+M. Linear
	// memory keeps it cheap (a quadratic table would need 10^8 cells).
	var a, b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&a, "a%d\n", i)
		fmt.Fprintf(&b, "b%d\n", i)
	}
	d := unifiedDiff("x", "y", []byte(a.String()), []byte(b.String()))
	if got := strings.Count(string(d), "\n-a"); got != 5000 {
		t.Errorf("%d deleted lines, want 5000", got)
	}
	if applied := applyUnified(t, a.String(), string(d)); applied != b.String() {
		t.Error("applying the diff of two large files does not give the second")
	}
}

func randomLines(r *rand.Rand, n, alphabet int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = strconv.Itoa(r.IntN(alphabet)) + "\n"
	}
	return lines
}

func lcsLength(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// applyUnified applies a unified diff to src, checking every context and
// deleted line, as patch would. It is written independently of the diff
// code so that the two check each other.
func applyUnified(t *testing.T, src, diff string) string {
	t.Helper()
	old := splitLines([]byte(src))
	var out []string
	pos := 0 // next line of old to copy
	lines := strings.SplitAfter(diff, "\n")
	i := 0
	for i < len(lines) && !strings.HasPrefix(lines[i], "@@ ") {
		i++
	}
	for i < len(lines) && lines[i] != "" {
		h := lines[i]
		if !strings.HasPrefix(h, "@@ -") {
			t.Fatalf("expected a hunk header, got %q", h)
		}
		fields := strings.Fields(h)
		start, count := parseRange(t, fields[1][1:])
		if count > 0 {
			start-- // to 0-based
		}
		if start < pos {
			t.Fatalf("hunk %q overlaps the previous one", h)
		}
		out = append(out, old[pos:start]...)
		pos = start
		i++
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@ ") {
			l := lines[i]
			text := l[1:]
			if i+1 < len(lines) && lines[i+1] == "\\ No newline at end of file\n" {
				text = strings.TrimSuffix(text, "\n")
				i++
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(old) || old[pos] != text {
					t.Fatalf("line %d of the original is not %q", pos+1, text)
				}
				if l[0] == ' ' {
					out = append(out, text)
				}
				pos++
			case '+':
				out = append(out, text)
			default:
				t.Fatalf("bad diff line %q", l)
			}
			i++
		}
	}
	out = append(out, old[pos:]...)
	return strings.Join(out, "")
}

func parseRange(t *testing.T, s string) (start, count int) {
	t.Helper()
	startText, countText, found := strings.Cut(s, ",")
	start, err := strconv.Atoi(startText)
	if err != nil {
		t.Fatalf("bad range %q", s)
	}
	count = 1
	if found {
		if count, err = strconv.Atoi(countText); err != nil {
			t.Fatalf("bad range %q", s)
		}
	}
	return start, count
}

// TestDiffDeletionsFirst: within a change, removed lines come before added
// ones, as diff -u shows them.
func TestDiffDeletionsFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		a := randomLines(r, r.IntN(12), 3)
		b := randomLines(r, r.IntN(12), 3)
		edits := diffLines(a, b)
		for i := 1; i < len(edits); i++ {
			if edits[i-1].kind == editInsert && edits[i].kind == editDelete {
				t.Fatalf("insert before delete in %v (a=%q b=%q)", edits, a, b)
			}
		}
	}
}

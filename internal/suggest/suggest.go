// Package suggest finds the name a user probably meant ("did you mean"):
// the closest candidate by edit distance, where swapping two neighbouring
// letters counts as one edit, as typing mistakes do.
package suggest

import "strings"

// Closest returns the candidate nearest to name, ignoring case, or "" when
// none is near enough: at most one edit for names up to five letters, one
// more for every three letters beyond. Ties go to the candidate first in
// lexical order, so the answer does not depend on the candidates' order.
// name itself is never suggested.
func Closest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	limit := max(1, len(name)/3)
	lower := strings.ToLower(name)
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := Distance(lower, strings.ToLower(c))
		if d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	if bestD <= limit {
		return best
	}
	return ""
}

// Distance is the optimal string alignment distance in bytes: the number
// of insertions, deletions, substitutions and transpositions of adjacent
// bytes that turn a into b, no substring edited twice.
func Distance(a, b string) int {
	// Three rows: the one before the previous is needed for transpositions.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

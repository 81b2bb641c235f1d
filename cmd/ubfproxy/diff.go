package main

import (
	"bytes"
	"fmt"
	"strings"
)

// A small line-based unified diff for "fmt -d". The edit script is a
// shortest one (Myers' O(ND) algorithm in its linear-space form: find the
// middle snake, recurse on both halves), so large reformatted files cost
// O((N+M)·D) time and O(N+M) memory.

// diffContext is the number of unchanged lines shown around each change, as
// diff -u does.
const diffContext = 3

type editKind uint8

const (
	editEqual editKind = iota
	editDelete
	editInsert
)

// edit is one line of the edit script: a line of a kept (editEqual), a line
// of a removed (editDelete) or a line of b added (editInsert). A and B index
// the line in a and b; the one that does not apply is -1.
type edit struct {
	kind editKind
	a, b int
}

// unifiedDiff returns the unified diff that turns a into b, with headers
// naming oldName and newName; nil when a and b are equal.
func unifiedDiff(oldName, newName string, a, b []byte) []byte {
	if bytes.Equal(a, b) {
		return nil
	}
	al, bl := splitLines(a), splitLines(b)
	edits := diffLines(al, bl)

	var out bytes.Buffer
	fmt.Fprintf(&out, "diff %s %s\n--- %s\n+++ %s\n", oldName, newName, oldName, newName)
	for _, h := range hunks(edits) {
		writeHunk(&out, h, al, bl)
	}
	return out.Bytes()
}

// splitLines splits text after each newline; the last line has no newline
// when the text does not end with one.
func splitLines(text []byte) []string {
	if len(text) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(text), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// diffLines returns a shortest edit script from a to b.
func diffLines(a, b []string) []edit {
	// Compare small integers, not strings, in the inner loops.
	ids := make(map[string]int)
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	d := differ{a: intern(a), b: intern(b)}
	d.diff(0, len(a), 0, len(b))
	return groupChanges(d.edits)
}

// groupChanges reorders each run of changes so that its deletions come
// before its insertions, as diff -u prints them; the recursion may
// interleave them, which is as short but harder to read.
func groupChanges(edits []edit) []edit {
	out := make([]edit, 0, len(edits))
	for i := 0; i < len(edits); {
		if edits[i].kind == editEqual {
			out = append(out, edits[i])
			i++
			continue
		}
		j := i
		for j < len(edits) && edits[j].kind != editEqual {
			j++
		}
		for _, e := range edits[i:j] {
			if e.kind == editDelete {
				out = append(out, e)
			}
		}
		for _, e := range edits[i:j] {
			if e.kind == editInsert {
				out = append(out, e)
			}
		}
		i = j
	}
	return out
}

type differ struct {
	a, b  []int
	edits []edit
	// v1, v2 are the forward and backward furthest-reaching x per diagonal,
	// reused across recursive calls.
	v1, v2 []int
}

// diff appends the edits turning a[a0:a1] into b[b0:b1].
func (d *differ) diff(a0, a1, b0, b1 int) {
	// Common prefix and suffix are kept as they are.
	for a0 < a1 && b0 < b1 && d.a[a0] == d.b[b0] {
		d.edits = append(d.edits, edit{editEqual, a0, b0})
		a0++
		b0++
	}
	var suffix int
	for a0 < a1-suffix && b0 < b1-suffix && d.a[a1-1-suffix] == d.b[b1-1-suffix] {
		suffix++
	}
	a1s, b1s := a1-suffix, b1-suffix

	switch {
	case a0 == a1s:
		for j := b0; j < b1s; j++ {
			d.edits = append(d.edits, edit{editInsert, -1, j})
		}
	case b0 == b1s:
		for i := a0; i < a1s; i++ {
			d.edits = append(d.edits, edit{editDelete, i, -1})
		}
	default:
		x, y := d.middle(a0, a1s, b0, b1s)
		d.diff(a0, a0+x, b0, b0+y)
		d.diff(a0+x, a1s, b0+y, b1s)
	}

	for k := 0; k < suffix; k++ {
		d.edits = append(d.edits, edit{editEqual, a1s + k, b1s + k})
	}
}

// middle finds where a shortest path from (0,0) to (n,m) in the edit graph
// of a[a0:a1] and b[b0:b1] crosses its middle, searching from both ends at
// once. Both slices are non-empty and differ in their first and last lines
// (diff strips common ends), so the split point is never (0,0) or (n,m)
// and the recursion shrinks.
func (d *differ) middle(a0, a1, b0, b1 int) (x, y int) {
	a, b := d.a[a0:a1], d.b[b0:b1]
	n, m := len(a), len(b)
	maxD := (n + m + 1) / 2
	off := maxD + 1
	size := 2*maxD + 3
	if cap(d.v1) < size {
		d.v1 = make([]int, size)
		d.v2 = make([]int, size)
	}
	v1, v2 := d.v1[:size], d.v2[:size]
	for i := range v1 {
		v1[i] = -1
		v2[i] = -1
	}
	v1[off+1] = 0
	v2[off+1] = 0
	delta := n - m
	// With an odd delta the paths meet while extending forward, else
	// while extending backward.
	front := delta%2 != 0
	// Diagonals that ran off the grid need not be searched again.
	k1start, k1end, k2start, k2end := 0, 0, 0, 0
	for D := 0; D <= maxD; D++ {
		for k1 := -D + k1start; k1 <= D-k1end; k1 += 2 {
			i := off + k1
			var x1 int
			if k1 == -D || (k1 != D && v1[i-1] < v1[i+1]) {
				x1 = v1[i+1]
			} else {
				x1 = v1[i-1] + 1
			}
			y1 := x1 - k1
			for x1 < n && y1 < m && a[x1] == b[y1] {
				x1++
				y1++
			}
			v1[i] = x1
			switch {
			case x1 > n:
				k1end += 2
			case y1 > m:
				k1start += 2
			case front:
				j := off + delta - k1
				if j >= 0 && j < size && v2[j] != -1 && x1 >= n-v2[j] {
					return x1, y1
				}
			}
		}
		for k2 := -D + k2start; k2 <= D-k2end; k2 += 2 {
			i := off + k2
			var x2 int
			if k2 == -D || (k2 != D && v2[i-1] < v2[i+1]) {
				x2 = v2[i+1]
			} else {
				x2 = v2[i-1] + 1
			}
			y2 := x2 - k2
			for x2 < n && y2 < m && a[n-x2-1] == b[m-y2-1] {
				x2++
				y2++
			}
			v2[i] = x2
			switch {
			case x2 > n:
				k2end += 2
			case y2 > m:
				k2start += 2
			case !front:
				j := off + delta - k2
				if j >= 0 && j < size && v1[j] != -1 {
					x1 := v1[j]
					y1 := x1 - (j - off)
					if x1 >= n-x2 {
						return x1, y1
					}
				}
			}
		}
	}
	// Unreachable for inputs that differ at both ends, but a split at the
	// first line keeps the result correct whatever happens.
	return 1, 0
}

// hunk is a run of edits shown together: changes and their context.
type hunk []edit

// hunks groups an edit script into hunks with diffContext lines of context,
// merging changes whose context would touch or overlap.
func hunks(edits []edit) []hunk {
	var out []hunk
	i := 0
	for i < len(edits) {
		if edits[i].kind == editEqual {
			i++
			continue
		}
		start := max(i-diffContext, 0)
		end := i // one past the last change of this hunk
		j := i
		for j < len(edits) {
			if edits[j].kind != editEqual {
				j++
				end = j
				continue
			}
			k := j
			for k < len(edits) && edits[k].kind == editEqual {
				k++
			}
			if k == len(edits) || k-j > 2*diffContext {
				break
			}
			j = k
		}
		stop := min(end+diffContext, len(edits))
		out = append(out, hunk(edits[start:stop]))
		i = stop
	}
	return out
}

// writeHunk prints one hunk: its @@ header, then the lines.
func writeHunk(out *bytes.Buffer, h hunk, a, b []string) {
	aStart, bStart := -1, -1
	var aCount, bCount int
	for _, e := range h {
		if e.a >= 0 {
			if aStart < 0 {
				aStart = e.a
			}
			aCount++
		}
		if e.b >= 0 {
			if bStart < 0 {
				bStart = e.b
			}
			bCount++
		}
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(aStart, aCount), hunkRange(bStart, bCount))
	for _, e := range h {
		switch e.kind {
		case editEqual:
			writeDiffLine(out, ' ', a[e.a])
		case editDelete:
			writeDiffLine(out, '-', a[e.a])
		case editInsert:
			writeDiffLine(out, '+', b[e.b])
		}
	}
}

// hunkRange prints start,count in diff -u's convention: 1-based start and
// the count omitted when it is 1. A hunk has no line of one side only when
// that side is empty (context lines belong to both sides, and a hunk takes
// the context around its changes), so an empty range is always 0,0.
func hunkRange(start, count int) string {
	switch {
	case count == 0:
		return "0,0"
	case count == 1:
		return fmt.Sprintf("%d", start+1)
	default:
		return fmt.Sprintf("%d,%d", start+1, count)
	}
}

func writeDiffLine(out *bytes.Buffer, mark byte, line string) {
	out.WriteByte(mark)
	out.WriteString(line)
	if !strings.HasSuffix(line, "\n") {
		out.WriteString("\n\\ No newline at end of file\n")
	}
}

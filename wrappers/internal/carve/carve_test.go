package carve

import "testing"

func TestCut(t *testing.T) {
	var s Slices[int]
	a := s.Cut(3, 8)
	b := s.Cut(5, 8)
	if len(a) != 3 || cap(a) != 3 || len(b) != 5 || cap(b) != 5 {
		t.Fatalf("len/cap %d/%d and %d/%d, want 3/3 and 5/5", len(a), cap(a), len(b), cap(b))
	}
	a[2], b[0] = 1, 2
	if a[2] != 1 {
		t.Fatal("slices overlap")
	}
	b[0] = 0
	a = append(a, 99) // must not write into b
	if b[0] != 0 {
		t.Fatalf("appending to one slice wrote into the next: %v", b)
	}
	c := s.Cut(1, 8) // the block is used up: a new one
	c[0] = 7
	if b[4] != 0 || len(a) != 4 {
		t.Fatal("a new block shares memory with the old one")
	}
	if big := s.Cut(Small+1, 8); len(big) != Small+1 {
		t.Fatalf("Cut(Small+1) has length %d", len(big))
	}
	var z Slices[int]
	if e := z.Cut(0, 8); e == nil || len(e) != 0 {
		t.Fatalf("Cut(0) = %#v, want an empty non-nil slice", e)
	}
}

package splitio

import (
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// reads returns the sizes of the reads r gives and checks they rebuild data.
func reads(t *testing.T, r io.Reader, data []byte) []int {
	t.Helper()
	var sizes []int
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			sizes = append(sizes, n)
			got = append(got, buf[:n]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != string(data) {
		t.Fatalf("read %q, want %q", got, data)
	}
	return sizes
}

func TestAt(t *testing.T) {
	data := []byte("0123456789")
	for _, tt := range []struct {
		at   int
		want []int
	}{{0, []int{10}}, {3, []int{3, 7}}, {9, []int{9, 1}}, {10, []int{10}}, {20, []int{10}}} {
		got := reads(t, At(data, tt.at), data)
		if len(got) != len(tt.want) || got[0] != tt.want[0] {
			t.Errorf("At(%d): reads %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestChunks(t *testing.T) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i)
	}
	sizes := reads(t, Chunks(data, rand.New(rand.NewPCG(1, 2))), data)
	for _, n := range sizes {
		if n < 1 || n > 17 {
			t.Fatalf("a read of %d bytes, want 1 to 17", n)
		}
	}
	if len(sizes) < 1000/17 {
		t.Errorf("%d reads for 1000 bytes", len(sizes))
	}
}

func TestEvery(t *testing.T) {
	data := []byte("0123456789")
	for _, tt := range []struct {
		n    int
		want []int
	}{{1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}, {3, []int{3, 3, 3, 1}}, {10, []int{10}}, {0, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}, {100, []int{10}}} {
		if got := reads(t, Every(data, tt.n), data); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Every(%d): reads %v, want %v", tt.n, got, tt.want)
		}
	}
}

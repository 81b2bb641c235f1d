package sizeclass

import "testing"

type (
	bytes100  struct{ _ [100]byte }
	bytes768  struct{ _ [768]byte }
	pointers  struct{ p [96]*int } // 768 bytes that hold pointers
	pointers2 struct{ p [95]*int } // 760 bytes that hold pointers
	huge      struct{ _ [64 << 10]byte }
)

// TestOf checks the classes the Go allocator is known to use, including
// the header of a large object with pointers, which moves a 768-byte
// struct to the next class while a pointer-free one fits, and lets a
// 760-byte one fit.
func TestOf(t *testing.T) {
	for _, c := range []struct {
		name string
		of   func() (uint32, error)
		want uint32
	}{
		{"100 bytes", Of[bytes100], 112},
		{"768 bytes, no pointers", Of[bytes768], 768},
		{"768 bytes with pointers", Of[pointers], 896},
		{"760 bytes with pointers", Of[pointers2], 768},
	} {
		got, err := c.of()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: class %d, want %d", c.name, got, c.want)
		}
	}
}

// TestOfLarge: an object past the small classes has no class, and says so.
func TestOfLarge(t *testing.T) {
	if got, err := Of[huge](); err == nil {
		t.Fatalf("a 64 KiB object got class %d, want an error", got)
	}
}

package proxy

import (
	"testing"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/internal/sizeclass"
)

// TestSessionSizeClass: a session is one allocation per connection, and a
// lending reader two, which every idle session keeps; Go rounds an
// allocation up to its size class. Past the 896-byte class the next is
// 1,024, 128 bytes more per connection for a field or two; past 160, 176.
// The class is the allocator's own answer (sizeclass.Of), since the rule
// has a catch: a session, which holds pointers and is over 512 bytes,
// carries an 8-byte header in its slot and so fits 896 only up to 888
// bytes. A field that pushes a struct over must make room elsewhere, or
// change its bound on purpose (BenchmarkIdleSessionMemory measures the
// whole).
func TestSessionSizeClass(t *testing.T) {
	for _, c := range []struct {
		what  string
		size  uintptr
		class func() (uint32, error)
		want  uint32
	}{
		{"session", unsafe.Sizeof(session{}), sizeclass.Of[session], 896},
		{"lendingReader", unsafe.Sizeof(lendingReader{}), sizeclass.Of[lendingReader], 160},
	} {
		got, err := c.class()
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if got != c.want {
			t.Errorf("a %s (%d bytes) is allocated from the %d-byte size class, want %d", c.what, c.size, got, c.want)
		}
	}
}

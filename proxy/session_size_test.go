package proxy

import (
	"testing"
	"unsafe"
)

// TestSessionSizeClass: a session is one allocation per connection, and Go
// rounds an allocation up to its size class; past 896 bytes the next class
// is 1,024, 128 bytes more per connection for a field or two. A field that
// pushes the struct over must make room elsewhere, or change this bound on
// purpose (BenchmarkIdleSessionMemory measures the whole).
func TestSessionSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n > 896 {
		t.Errorf("a session is %d bytes, past the 896-byte size class", n)
	}
}

package proxy

import (
	"testing"
	"unsafe"
)

// TestSessionSizeClass: a session is one allocation per connection, and a
// lending reader two, which every idle session keeps; Go rounds an
// allocation up to its size class. Past 896 bytes the next class is 1,024,
// 128 bytes more per connection for a field or two; past 160, 176. An
// object of more than 512 bytes that holds pointers carries an 8-byte
// header in its slot, so a session fits its class up to 888 bytes. A field
// that pushes a struct over must make room elsewhere, or change its bound
// on purpose (BenchmarkIdleSessionMemory measures the whole).
func TestSessionSizeClass(t *testing.T) {
	const mallocHeader = 8
	for _, c := range []struct {
		what      string
		size, max uintptr
	}{
		{"session", unsafe.Sizeof(session{}), 896 - mallocHeader},
		{"lendingReader", unsafe.Sizeof(lendingReader{}), 160},
	} {
		if c.size > c.max {
			t.Errorf("a %s is %d bytes, past the %d-byte size class", c.what, c.size, c.max)
		}
	}
}

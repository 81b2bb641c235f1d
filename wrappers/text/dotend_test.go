package text

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// TestDotEnd: the wait for a body's "." line ends at that line, or at a
// body or line too long (the parse refuses them then, as it would have
// had the body come whole), and not before; asked again as bytes arrive,
// it goes on where it stopped.
func TestDotEnd(t *testing.T) {
	tests := []struct {
		name   string
		pieces []string // what has arrived each time it is asked
		want   []bool
	}{
		{"dot line", []string{"a\r\n", "a\r\n.", "a\r\n.\r", "a\r\n.\r\n"}, []bool{false, false, false, true}},
		{"dot line, LF", []string{"a\n.", "a\n.\n"}, []bool{false, true}},
		{"dot-stuffed line", []string{"a\r\n..\r\n", "a\r\n..\r\n.x\r\n"}, []bool{false, false}},
		{"long line", []string{"ab", "abcdefghijkl", "abcdefghijkl\n"}, []bool{false, false, true}},
		{"long body", []string{"abcd\nabcd\n", "abcd\nabcd\nabcd\n"}, []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dotEnd{max: 12, maxLine: 5}
			for i, p := range tt.pieces {
				rd := bufread.Bytes([]byte(p), wrappers.Limits{MaxFrame: 100}, "test")
				if got := d.Ended(&rd); got != tt.want[i] {
					t.Fatalf("after %q: Ended = %v, want %v", p, got, tt.want[i])
				}
			}
		})
	}
}

package wrappers_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestIsWouldBlock: IsWouldBlock answers as errors.Is(err, ErrWouldBlock)
// does, by the type of ErrWouldBlock first.
func TestIsWouldBlock(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"ErrWouldBlock", wrappers.ErrWouldBlock, true},
		{"wrapped", fmt.Errorf("reading the client: %w", wrappers.ErrWouldBlock), true},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", wrappers.ErrWouldBlock)), true},
		{"joined", errors.Join(io.EOF, wrappers.ErrWouldBlock), true},
		{"nil", nil, false},
		{"io.EOF", io.EOF, false},
		{"ErrParked", wrappers.ErrParked, false},
		{"the same text", errors.New(wrappers.ErrWouldBlock.Error()), false},
	}
	for _, tc := range tests {
		if got := wrappers.IsWouldBlock(tc.err); got != tc.want {
			t.Errorf("%s: IsWouldBlock = %v, want %v", tc.name, got, tc.want)
		}
		if got := errors.Is(tc.err, wrappers.ErrWouldBlock); got != tc.want {
			t.Errorf("%s: errors.Is = %v, want %v", tc.name, got, tc.want)
		}
	}
}

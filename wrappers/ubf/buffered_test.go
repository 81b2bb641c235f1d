package ubf

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// bufferedAfterEach returns Buffered after each message of dec.
func bufferedAfterEach(t *testing.T, dec wrappers.Decoder) []int {
	t.Helper()
	b, ok := dec.(wrappers.Bufferer)
	if !ok {
		t.Fatalf("%T does not implement wrappers.Bufferer", dec)
	}
	var left []int
	for {
		_, err := dec.Next()
		if err == io.EOF {
			return left
		}
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, b.Buffered())
	}
}

func TestBuffered(t *testing.T) {
	const calls = "'info'$\n{'event_in','ping'}$\n'help'$\n"
	const replies = "{'ubf1.0',\"meta\",\"help\"}$\n{\"hi\",'start'}$\n{{'ok',1},'start'}$\n"
	for _, tc := range []struct {
		name string
		dec  func(s *Session, r io.Reader) wrappers.Decoder
		in   string
	}{
		{"client", (*Session).ClientDecoder, calls},
		{"server", (*Session).ServerDecoder, replies},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// In one read: what follows each frame is buffered, and
			// nothing after the last.
			left := bufferedAfterEach(t, tc.dec(NewSession(wrappers.Options{}), strings.NewReader(tc.in)))
			rest := len(tc.in)
			var want []int
			for _, f := range strings.SplitAfter(tc.in, "$\n")[:3] {
				rest -= len(f)
				want = append(want, rest)
			}
			if len(left) != 3 || left[0] != want[0] || left[1] != want[1] || left[2] != 0 {
				t.Errorf("Buffered after each message = %v, want %v", left, want)
			}
			// A byte at a time: nothing is ever read ahead.
			left = bufferedAfterEach(t, tc.dec(NewSession(wrappers.Options{}), iotest.OneByteReader(strings.NewReader(tc.in))))
			for i, n := range left {
				if n != 0 {
					t.Errorf("byte-at-a-time: Buffered after message %d = %d, want 0", i, n)
				}
			}
		})
	}
}

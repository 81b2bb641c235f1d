package json

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

func TestBuffered(t *testing.T) {
	const in = "{\"op\":\"get\"}\n[1,2]\n{\"$E\":\"ping\"}\n"
	s := Wire{}.NewSession(wrappers.Options{})
	for _, tc := range []struct {
		name string
		r    io.Reader
		want []int
	}{
		// In one read, what follows each line is buffered; a byte at a
		// time, nothing is ever read ahead.
		{"one read", strings.NewReader(in), []int{len(in) - 13, len(in) - 19, 0}},
		{"byte at a time", iotest.OneByteReader(strings.NewReader(in)), []int{0, 0, 0}},
	} {
		for _, dec := range []wrappers.Decoder{s.ClientDecoder(tc.r)} {
			b, ok := dec.(wrappers.Bufferer)
			if !ok {
				t.Fatalf("%T does not implement wrappers.Bufferer", dec)
			}
			var left []int
			for {
				_, err := dec.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				left = append(left, b.Buffered())
			}
			if len(left) != len(tc.want) {
				t.Fatalf("%s: %d messages, want %d", tc.name, len(left), len(tc.want))
			}
			for i := range left {
				if left[i] != tc.want[i] {
					t.Errorf("%s: Buffered after each line = %v, want %v", tc.name, left, tc.want)
					break
				}
			}
		}
	}
	var _ wrappers.Bufferer = s.ServerDecoder(strings.NewReader("")).(wrappers.Bufferer)
}

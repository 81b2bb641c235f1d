package golden

import "testing"

func TestFirstDifference(t *testing.T) {
	for _, tt := range []struct{ got, want, diff string }{
		{"a\nb\n", "a\nc\n", `line 2: got "b\n", want "c\n"`},
		{"a\n", "a\nb\n", `line 2: got end of output, want "b\n"`},
		{"a\nb", "a\n", `line 2: got "b", want end of file`},
		{"a\nb", "a\nb\n", `line 2: got "b", want "b\n"`},
	} {
		if d := firstDifference([]byte(tt.got), []byte(tt.want)); d != tt.diff {
			t.Errorf("firstDifference(%q, %q) = %s, want %s", tt.got, tt.want, d, tt.diff)
		}
	}
}

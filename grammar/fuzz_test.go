package grammar

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse checks that the parser never panics and that what it returns
// is well formed: a *grammar.Error with a position for bad input, comments
// that really are in the source for good input.
func FuzzParse(f *testing.F) {
	f.Add([]byte("+state start x {open, string()} -> {ok, integer()} x ready | eof x stop.\n"))
	f.Add([]byte("+TYPES\na() :: a \"doc\";\nb() = [a()]{1,2}.\n+STATE s\n a() => b() & s;\n EVENT <= a().\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		all, errs := ParseAll("fuzz.con", src)
		if all == nil || len(errs) > MaxErrors {
			t.Fatalf("ParseAll returned %v and %d errors", all, len(errs))
		}
		for i := 1; i < len(errs); i++ {
			if errs[i].Pos.Offset < errs[i-1].Pos.Offset {
				t.Fatalf("errors out of order: %v", errs)
			}
		}
		file, err := Parse("fuzz.con", src)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %T is not a *grammar.Error: %v", err, err)
			}
			if ge.Pos.Line < 1 || ge.Msg == "" {
				t.Fatalf("error without position or message: %#v", ge)
			}
			return
		}
		for _, c := range file.Comments {
			if c.Pos.Offset < 0 || c.Pos.Offset > len(src) || !bytes.HasPrefix(src[c.Pos.Offset:], []byte(c.Text)) {
				t.Fatalf("comment %q is not at offset %d", c.Text, c.Pos.Offset)
			}
		}
	})
}

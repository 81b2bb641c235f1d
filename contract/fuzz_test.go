package contract

import "testing"

// FuzzCompileFormat checks that compiling and formatting never panic, that
// formatting is idempotent, and that a formatted contract compiles to the
// same model with the same findings.
func FuzzCompileFormat(f *testing.F) {
	f.Add([]byte("+state start x {open, string()} -> {ok, integer()} x ready | eof x stop.\n+state ready x a -> b x stop. % c\n"))
	f.Add([]byte("+TYPES\na() :: a \"doc\"; %c\nb() = [a()]{1,2}.\n+STATE s\n a() => b() & s;\n EVENT <= a().\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		c1, d1 := Compile("fuzz.con", src, Options{})
		out, diags := Format("fuzz.con", src)
		if diags.HasErrors() {
			return
		}
		again, diags := Format("fuzz.con", out)
		if diags.HasErrors() {
			t.Fatalf("formatted output does not parse: %v\n%s", diags, out)
		}
		if string(again) != string(out) {
			t.Fatalf("not idempotent:\n%s\n---\n%s", out, again)
		}
		c2, d2 := Compile("fuzz.con", out, Options{})
		if codes(d1) != codes(d2) {
			t.Fatalf("findings differ after formatting:\n%v\n%v\n%s", d1, d2, out)
		}
		if (c1 == nil) != (c2 == nil) || c1 != nil && dumpModel(c1) != dumpModel(c2) {
			t.Fatalf("model differs after formatting:\n%s", out)
		}
	})
}

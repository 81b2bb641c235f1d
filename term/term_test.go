package term

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestParsePrint(t *testing.T) {
	tests := []struct {
		in   string
		want Term
		out  string // the printed form; "" when it is in
	}{
		{`ok`, Atom("ok"), ``},
		{`'Hello World'`, Atom("Hello World"), ``},
		{`'ok'`, Atom("ok"), `ok`},
		{`a_B@1`, Atom("a_B@1"), ``},
		{`''`, Atom(""), ``},
		{`'it\'s'`, Atom("it's"), ``},
		{`42`, Int(42), ``},
		{`-7`, Int(-7), ``},
		{`+7`, Int(7), `7`},
		{`16#ff`, Int(255), `255`},
		{`-16#FF`, Int(-255), `-255`},
		{`2#1010`, Int(10), `10`},
		{`123456789012345678901234567890`, mustBig("123456789012345678901234567890"), ``},
		{`-123456789012345678901234567890`, mustBig("-123456789012345678901234567890"), ``},
		{`9223372036854775807`, Int(math.MaxInt64), ``},
		{`-9223372036854775808`, Int(math.MinInt64), ``},
		{`9223372036854775808`, mustBig("9223372036854775808"), ``},
		{`1.5`, Float(1.5), ``},
		{`-0.25`, Float(-0.25), ``},
		{`1.0e10`, Float(1e10), `1.0e+10`},
		{`1e300`, Float(1e300), `1.0e+300`},
		{`2.5e-7`, Float(2.5e-7), `2.5e-07`},
		{`"text"`, String("text"), ``},
		{`""`, String(""), ``},
		{`"a\"b\\c\nd\te\rf"`, String("a\"b\\c\nd\te\rf"), ``},
		{`"\x00\x7f\xff"`, String("\x00\x7f\xff"), ``},
		{`"café ☕"`, String("café ☕"), ``},
		{`<<"bytes">>`, Binary("bytes"), ``},
		{`<<>>`, Binary{}, ``},
		{`<<1,2,255>>`, Binary{1, 2, 255}, ``},
		{`<<0>>`, Binary{0}, ``},
		{`<<"ab", 0, "c">>`, Binary("ab\x00c"), `<<97,98,0,99>>`},
		{`<<"line\n">>`, Binary("line\n"), `<<"line\n">>`},
		{`{ok, 1}`, Tuple{Atom("ok"), Int(1)}, ``},
		{`{}`, Tuple{}, ``},
		{`{ {a} , [ ] }`, Tuple{Tuple{Atom("a")}, List{}}, `{{a}, []}`},
		{`[a, b]`, List{Atom("a"), Atom("b")}, ``},
		{`[]`, List{}, ``},
		{`#{}`, Map{}, ``},
		{`#{name => "x", 1 => [2]}`, Map{{Atom("name"), String("x")}, {Int(1), List{Int(2)}}}, ``},
		{"  \n\t{ok}\n", Tuple{Atom("ok")}, `{ok}`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !Equal(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		want := tt.out
		if want == "" {
			want = tt.in
		}
		if s := got.String(); s != want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, s, want)
		}
		back, err := Parse(got.String())
		if err != nil || !Equal(back, got) {
			t.Errorf("re-parsing %q gave %v, %v", got.String(), back, err)
		}
	}
}

func mustBig(s string) Integer {
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return BigInt(b)
}

// TestErlangEscapes: strings and quoted atoms read every escape of
// Erlang's, which contracts written for ubf may use.
func TestErlangEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"\b\d\e\f\s\v"`, "\b\x7f\x1b\f \v"},
		{`"\n\r\t\\\"\'"`, "\n\r\t\\\"'"},
		{`"\^a\^Z\^@"`, "\x01\x1a\x00"},
		{`"\101\7\0007"`, "A\a\x007"},
		{`"\377\777"`, "\xff\u01ff"},
		{`"\x41\xff"`, "A\xff"},
		{`"caf\x{e9}\x{1F600}\x{41}"`, "café😀A"},
		{`'it\'s\s\x{e9}'`, "it's é"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		var text string
		switch v := got.(type) {
		case String:
			text = string(v)
		case Atom:
			text = string(v)
		}
		if text != tt.want {
			t.Errorf("Parse(%s) = %q, want %q", tt.in, text, tt.want)
		}
		// What was read prints back to something that reads the same.
		if again, err := Parse(got.String()); err != nil || !Equal(again, got) {
			t.Errorf("Parse(%s) printed as %s does not read back: %v", tt.in, got, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{``, 0, "expected a term, found end of input"},
		{`   `, 3, "expected a term, found end of input"},
		{`{ok`, 3, "expected ',' or '}', found end of input"},
		{`[a b]`, 3, `expected ',' or ']', found 'b'`},
		{`"abc`, 0, "unterminated string"},
		{`'abc`, 0, "unterminated quoted atom"},
		{`"a\qb"`, 2, `unknown escape \q`},
		{`"\x4"`, 1, `\x needs two hex digits`},
		{`"\x{41"`, 1, `\x{ needs a closing }`},
		{`"\x{}"`, 1, `\x{} is not a Unicode code point`},
		{`"\x{d800}"`, 1, `is not a Unicode code point`},
		{`"\x{110000}"`, 1, `is not a Unicode code point`},
		{`"\^`, 1, `\^ needs a character after it`},
		{`<<256>>`, 2, "binary byte 256 is not in 0..255"},
		{`<<a>>`, 2, "expected a byte or a string in a binary"},
		{`#{a}`, 3, `expected "=>"`},
		{`ok ok`, 3, `unexpected 'o' after the term`},
		{`Ok`, 0, `expected a term, found 'O'`},
		{`-`, 1, "expected digits"},
		{`37#1`, 2, "base must be 2 to 36"},
		{`2#102`, 2, `"102" is not a base-2 integer`},
		{`{1,}`, 3, "expected a term, found '}'"},
		{strings.Repeat("[", MaxParseDepth+2), MaxParseDepth + 1, "nested more than"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%.20q) error = %v, want a *SyntaxError", tt.in, err)
			continue
		}
		if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Parse(%.20q) = offset %d %q, want offset %d containing %q", tt.in, se.Offset, se.Msg, tt.offset, tt.msg)
		}
		if !strings.HasPrefix(se.Error(), "offset ") {
			t.Errorf("Error() = %q", se.Error())
		}
	}
}

func TestParsePrefix(t *testing.T) {
	tm, rest, err := ParsePrefix(" {a} [b] ")
	if err != nil || !Equal(tm, Tuple{Atom("a")}) || rest != " [b] " {
		t.Fatalf("ParsePrefix = %v, %q, %v", tm, rest, err)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustParse did not panic on bad input")
		}
	}()
	MustParse("{")
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`1`, `1`, true},
		{`1`, `1.0`, false},
		{`1.0`, `1.0`, true},
		{`"ab"`, `[97, 98]`, false},
		{`"ab"`, `<<"ab">>`, false},
		{`ab`, `"ab"`, false},
		{`{a, [1, "x"]}`, `{a, [1, "x"]}`, true},
		{`{a, b}`, `[a, b]`, false},
		{`{a}`, `{a, b}`, false},
		{`#{a => 1, b => 2}`, `#{b => 2, a => 1}`, true},
		{`#{a => 1}`, `#{a => 2}`, false},
		{`#{a => 1}`, `#{a => 1, b => 2}`, false},
		{`123456789012345678901234567890`, `123456789012345678901234567890`, true},
		{`123456789012345678901234567890`, `123456789012345678901234567891`, false},
		{`<<1,2>>`, `<<1,2>>`, true},
	}
	for _, tt := range tests {
		a, b := MustParse(tt.a), MustParse(tt.b)
		if got := Equal(a, b); got != tt.want {
			t.Errorf("Equal(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := Equal(b, a); got != tt.want {
			t.Errorf("Equal(%s, %s) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
	if !Equal(nil, nil) || Equal(nil, Atom("a")) || Equal(Atom("a"), nil) {
		t.Error("Equal with nil")
	}
}

func TestCompare(t *testing.T) {
	// In Erlang's order: numbers < atoms < tuples < maps < lists <
	// binaries, strings sorting after lists.
	ordered := []string{
		`-123456789012345678901234567890`, `-1`, `0.5`, `1`, `1.5`, `123456789012345678901234567890`,
		`a`, `b`, `ba`,
		`{}`, `{z}`, `{a, a}`, `{a, b}`,
		`#{}`, `#{a => 1}`, `#{a => 2}`, `#{b => 0}`,
		`[]`, `[a]`, `[a, b]`, `[b]`,
		`""`, `"a"`,
		`<<>>`, `<<0>>`, `<<1>>`,
	}
	for i, x := range ordered {
		for j, y := range ordered {
			want := sign(i - j)
			if got := Compare(MustParse(x), MustParse(y)); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", x, y, got, want)
			}
		}
	}
	if Compare(Int(1), Float(1)) != 0 || Compare(Float(2), Int(1)) != 1 {
		t.Error("integers and floats compare by value")
	}
}

func TestIntegers(t *testing.T) {
	i, ok := ParseInteger("-123456789012345678901234567890")
	if !ok || i.IsInt64() || i.Sign() != -1 || i.Text() != "-123456789012345678901234567890" {
		t.Fatalf("ParseInteger = %v %v", i, ok)
	}
	if b := i.Big(); b.String() != i.Text() {
		t.Fatalf("Big() = %s", b)
	}
	if j := BigInt(big.NewInt(5)); !j.IsInt64() || j.Int64() != 5 {
		t.Fatal("BigInt of a small value is not small")
	}
	for _, bad := range []string{"", "-", "1x", "+", "1.0"} {
		if _, ok := ParseInteger(bad); ok {
			t.Errorf("ParseInteger(%q) accepted", bad)
		}
	}
	if Int(0).Sign() != 0 || Int(3).Sign() != 1 || Int(3).Cmp(Int(4)) != -1 || i.Cmp(Int(0)) != -1 {
		t.Error("Sign or Cmp")
	}
	var zero Integer
	if zero.String() != "0" || zero.Kind() != KindInteger {
		t.Error("zero Integer")
	}
}

func TestFloatsPrint(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{1, "1.0"}, {-2, "-2.0"}, {0.1, "0.1"}, {1e21, "1.0e+21"}, {123456.5, "123456.5"},
		{math.Inf(1), "1.0e999"}, {math.Inf(-1), "-1.0e999"}, {math.NaN(), "'NaN'"},
	}
	for _, tt := range tests {
		if got := Float(tt.f).String(); got != tt.want {
			t.Errorf("Float(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
	if f, err := Parse("1.0e999"); err != nil || !math.IsInf(float64(f.(Float)), 1) {
		t.Errorf("Parse(1.0e999) = %v, %v", f, err)
	}
}

func TestTruncated(t *testing.T) {
	l := make(List, 1000)
	for i := range l {
		l[i] = Int(int64(i))
	}
	s := Truncated(l, 20)
	if len(s) != 23 || !strings.HasSuffix(s, "...") || !strings.HasPrefix(s, "[0, 1, 2") {
		t.Fatalf("Truncated = %q", s)
	}
	if Truncated(Atom("ok"), 20) != "ok" {
		t.Fatal("a short term is cut")
	}
}

func TestHelpers(t *testing.T) {
	if !(List{Int(104), Int(105)}).IsString() || (List{Atom("a")}).IsString() || !(List{}).IsString() || (List{Int(-1)}).IsString() {
		t.Error("IsString")
	}
	m := MustParse(`#{a => 1}`).(Map)
	if v, ok := m.Get(Atom("a")); !ok || !Equal(v, Int(1)) {
		t.Error("Get")
	}
	if _, ok := m.Get(Atom("b")); ok {
		t.Error("Get of a missing key")
	}
	for in, want := range map[string]string{`ok`: "ok", `{read_line, 3}`: "read_line", `{}`: "", `{1}`: "", `"s"`: ""} {
		tag, ok := Tag(MustParse(in))
		if string(tag) != want || ok != (want != "") {
			t.Errorf("Tag(%s) = %q, %v", in, tag, ok)
		}
	}
	for k, name := range map[Kind]string{KindAtom: "atom", KindMap: "map", KindString: "string", 0: "invalid", 99: "invalid"} {
		if k.String() != name {
			t.Errorf("Kind(%d) = %q", k, k.String())
		}
	}
	if !IsBareAtom("abc") || IsBareAtom("Abc") || IsBareAtom("") || IsBareAtom("a b") {
		t.Error("IsBareAtom")
	}
	s := MustParse(`#{b => 1, a => 2, 1 => 3}`).(Map).Sorted()
	if s.String() != `#{1 => 3, a => 2, b => 1}` {
		t.Errorf("Sorted = %s", s)
	}
}

// FuzzParse checks that Parse never panics and that whatever it reads
// prints as text that reads back as an equal term.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{ok, "Joe", <<"bytes">>, 42, 1.5, [a, b], #{name => "x"}}`,
		`'Quoted atom'`, `16#ff`, `-123456789012345678901234567890`, `<<1,2,255>>`,
		`"\x00\n\"\\"`, `1.0e999`, `[[[[]]]]`, `#{}`, `<<"a", 1>>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("Parse(%q) error %v has a bad offset", s, err)
			}
			return
		}
		if f, ok := tm.(Float); ok && math.IsNaN(float64(f)) {
			return
		}
		text := tm.String()
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", s, text, err)
		}
		if !Equal(back, tm) {
			t.Fatalf("Parse(%q) = %s, which reads back as %s", s, text, back)
		}
	})
}

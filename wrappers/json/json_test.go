package json

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/splitio"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

func TestDecodeValues(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"string", `"hello"`, `"hello"`},
		{"escapes", `"a\"b\\c\/d\b\f\n\r\t"`, `"a\"b\\c/d\x08\x0c\n\r\t"`},
		{"unicode escape", `"caf\u00e9 \u20ac"`, `"café €"`},
		{"surrogate pair", `"\ud83d\ude00"`, `"😀"`},
		{"lone surrogate", `"\ud83d x"`, `"\xef\xbf\xbd x"`},
		{"raw utf8", `"日本"`, `"日本"`},
		{"integer", `42`, `42`},
		{"negative", `-7`, `-7`},
		{"zero", `0`, `0`},
		{"beyond 64 bits", `123456789012345678901234567890`, `123456789012345678901234567890`},
		{"negative beyond 64 bits", `-18446744073709551617`, `-18446744073709551617`},
		{"int64 min", `-9223372036854775808`, `-9223372036854775808`},
		{"float", `1.5`, `1.5`},
		{"exponent is a float", `1e3`, `1000.0`},
		{"negative exponent", `-2.5E-3`, `-0.0025`},
		{"true", `true`, `true`},
		{"false", `false`, `false`},
		{"null", `null`, `null`},
		{"array", `[1, "a", [true]]`, `[1, "a", [true]]`},
		{"empty array", `[ ]`, `[]`},
		{"object", `{"name": "x", "n": 1}`, `#{"name" => "x", "n" => 1}`},
		{"empty object", `{}`, `#{}`},
		{"jsf atom", `{"$A": "ok"}`, `ok`},
		{"jsf tuple", `{"$T": [{"$A": "ok"}, 7]}`, `{ok, 7}`},
		{"jsf empty tuple", `{"$T": []}`, `{}`},
		{"jsf record", `{"$R": "person", "name": "Joe", "age": 123}`, `{person, "Joe", 123}`},
		{"jsf record key not first", `{"name": "Joe", "$R": "person", "age": 123}`, `{person, "Joe", 123}`},
		{"binary", `{"$B": "AP8K"}`, `<<0,255,10>>`},
		{"malformed jsf is a map", `{"$A": 1}`, `#{"$A" => 1}`},
		{"jsf with two keys is a map", `{"$T": [], "x": 1}`, `#{"$T" => [], "x" => 1}`},
		{"white space", " \t[ 1 , 2 ]\t ", `[1, 2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in), wrappers.Options{})
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.in, err)
			}
			if want := term.MustParse(tt.want); !term.Equal(got, want) {
				t.Fatalf("Decode(%q) = %s, want %s", tt.in, got, want)
			}
		})
	}
}

func TestBigNumbersAreExact(t *testing.T) {
	in := "[18446744073709551616, -99999999999999999999999999999999999999, 9223372036854775807, 9223372036854775808]"
	got, err := Decode([]byte(in), wrappers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := got.(term.List)
	want := []string{"18446744073709551616", "-99999999999999999999999999999999999999", "9223372036854775807", "9223372036854775808"}
	for i, w := range want {
		n, ok := l[i].(term.Integer)
		if !ok || n.Text() != w {
			t.Errorf("element %d = %v, want the integer %s", i, l[i], w)
		}
	}
	if l[2].(term.Integer).IsInt64() != true || l[3].(term.Integer).IsInt64() != false {
		t.Error("the int64 boundary is misplaced")
	}
}

func TestRecordFieldOrder(t *testing.T) {
	opts := wrappers.Options{RecordFields: func(name string) []string {
		if name == "person" {
			return []string{"name", "age", "email"}
		}
		return nil
	}}
	got, err := Decode([]byte(`{"$R": "person", "age": 123, "name": "Joe"}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := term.MustParse(`{person, "Joe", 123, undefined}`); !term.Equal(got, want) {
		t.Fatalf("record = %s, want %s", got, want)
	}
	got, err = Decode([]byte(`{"$R": "other", "b": 2, "a": 1}`), opts)
	if err != nil || !term.Equal(got, term.MustParse(`{other, 2, 1}`)) {
		t.Fatalf("unknown record = %v, %v", got, err)
	}
	_, err = Decode([]byte(`{"$R": "person", "nick": "j"}`), opts)
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || !strings.Contains(fe.Msg, `record person has no field "nick"`) || fe.Offset != 0 {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name, in string
		offset   int64
		msg      string
		limit    bool
	}{
		{"two values on a line", "1 2\n", 2, "unexpected '2' after the value (one JSON value per line)", false},
		{"value split over lines", "[1,\n2]\n", 3, "expected a value, found end of line", false},
		{"trailing comma", "[1,]\n", 3, "expected a value, found ']'", false},
		{"missing colon", "{\"a\" 1}\n", 5, "expected ':' after an object key", false},
		{"bare key", "{a: 1}\n", 1, "expected a string for an object key", false},
		{"unterminated string", "\"abc\n", 0, "unterminated string", false},
		{"control in string", "\"a\x01\"\n", 2, "control character 0x01", false},
		{"bad escape", `"\q"` + "\n", 1, `unknown escape \q`, false},
		{"bad unicode escape", `"\u12x4"` + "\n", 1, `\u needs four hex digits`, false},
		{"leading zero", "01\n", 0, "may not start with 0", false},
		{"minus alone", "-\n", 0, "'-' is not followed by digits", false},
		{"dot without digits", "1.\n", 2, "expected digits after '.'", false},
		{"empty exponent", "1e\n", 2, "expected digits in the exponent", false},
		{"float out of range", "1e400\n", 0, "out of range for a float", false},
		{"bad literal", "tru\n", 0, "expected true", false},
		{"unclosed array", "[1 2]\n", 3, "expected ',' or ']'", false},
		{"unclosed object", "{\"a\":1 \"b\":2}\n", 7, "expected ',' or '}'", false},
		{"bad base64", `{"$B": "!!"}` + "\n", 0, "bad base64", false},
		{"second line offset", "1\n[x]\n", 3, "expected a value, found 'x'", false},
		{"nul byte", "\x00\n", 0, "found byte 0x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(tt.in), wrappers.Options{})
			var err error
			for err == nil {
				_, _, err = d.Frame()
			}
			var fe *wrappers.FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("%q: error %v, want a *wrappers.FrameError", tt.in, err)
			}
			if fe.Offset != tt.offset || !strings.Contains(fe.Msg, tt.msg) || fe.Limit != tt.limit {
				t.Fatalf("%q: %+v, want offset %d, message containing %q", tt.in, *fe, tt.offset, tt.msg)
			}
			if _, _, err2 := d.Frame(); err2 != err {
				t.Fatalf("the error is not sticky: %v", err2)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	lim := wrappers.Options{Limits: wrappers.Limits{MaxFrame: 100, MaxDepth: 3, MaxBinary: 10, MaxIntDigits: 25}}
	tests := []struct{ name, in, msg string }{
		{"line", strings.Repeat(" ", 150) + "1\n", "line longer than 100 bytes"},
		{"endless line", strings.Repeat("1", 1000), "line longer than 100 bytes"},
		{"depth", "[[[[1]]]]\n", "nested more than 3 deep"},
		{"object depth", `{"a":{"a":{"a":{"a":1}}}}` + "\n", "nested more than 3 deep"},
		{"string", `"hello world!"` + "\n", "string longer than 10 bytes"},
		{"escaped string", `"hello\nworld!"` + "\n", "string longer than 10 bytes"},
		{"integer", strings.Repeat("9", 30) + "\n", "integer longer than 25 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// However the bytes arrive, the same limit error.
			err := wiretest.TestWire(Wire{}, wiretest.Conversation{Name: tt.name, Options: lim, Turns: []wiretest.Turn{
				{Side: wrappers.Client, In: tt.in, Err: tt.msg, Limit: true},
			}})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

const stream = "{\"$T\": [{\"$A\": \"open\"}, \"foo.dat\", {\"$A\": \"read\"}]}\r\n" +
	"\n" +
	"  \t \n" +
	"[1, 123456789012345678901234567890, -2.5, null]\n" +
	"{\"$E\": {\"msg\": \"héllo\\n\"}}\n" +
	"\"last line without newline\""

// TestWire checks a stream of every shape with wiretest: decoded the same,
// and forwarded byte for byte, however the bytes arrive.
func TestWire(t *testing.T) {
	err := wiretest.TestWire(Wire{}, wiretest.Conversation{Name: "every shape", Turns: []wiretest.Turn{
		{Side: wrappers.Client, In: stream, Want: []string{
			`call {open, "foo.dat", read}`, "filler", "filler",
			`call [1, 123456789012345678901234567890, -2.5, null]`,
			`event #{"msg" => "héllo\n"}`,
			`call "last line without newline"`,
		}},
	}}, wiretest.Conversation{Name: "malformed line after a pause", Turns: []wiretest.Turn{
		// The error's offset counts the bytes before the pause, where
		// a proxy parks the reader (and a Parker its decoder).
		{Side: wrappers.Client, In: "1\n", Want: []string{"call 1"}},
		{Side: wrappers.Server, In: "2\n", Want: []string{"reply 2"}},
		{Side: wrappers.Client, In: "[3,\n", Err: "expected a value, found end of line"},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSessionClassifies(t *testing.T) {
	var w wrappers.Wire = Wire{}
	if w.Name() != "json" {
		t.Fatal(w.Name())
	}
	s := w.NewSession(wrappers.Options{})
	for _, side := range []struct {
		dec  wrappers.Decoder
		kind wrappers.Kind
	}{{s.ClientDecoder(strings.NewReader(stream)), wrappers.Call}, {s.ServerDecoder(strings.NewReader(stream)), wrappers.Reply}} {
		var kinds []wrappers.Kind
		var evt term.Term
		for {
			m, err := side.dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, m.Kind)
			if m.Kind == wrappers.Event {
				evt = m.Term
			}
		}
		want := []wrappers.Kind{side.kind, wrappers.Filler, wrappers.Filler, side.kind, wrappers.Event, side.kind}
		if len(kinds) != len(want) {
			t.Fatalf("kinds %v, want %v", kinds, want)
		}
		for i := range want {
			if kinds[i] != want[i] {
				t.Fatalf("kinds %v, want %v", kinds, want)
			}
		}
		if !term.Equal(evt, term.MustParse(`#{"msg" => "héllo\n"}`)) {
			t.Fatalf("event term %v", evt)
		}
	}
}

func TestErrorReply(t *testing.T) {
	v := wrappers.Violation{
		Side:        wrappers.Client,
		Message:     term.MustParse(`{bbb, 3000, "x"}`),
		States:      []string{"ready", "atEof"},
		Expected:    []string{"{read_line, fileHandle()}", "{close, fileHandle()}"},
		Explanation: "no rule of ready or atEof takes bbb",
	}
	got := string(NewSession(wrappers.Options{}).ErrorReply(v))
	want := `{"error":"clientBrokeContract","message":{"$T":[{"$A":"bbb"},3000,"x"]},"expected":["{read_line, fileHandle()}","{close, fileHandle()}"],"state":"ready | atEof","explanation":"no rule of ready or atEof takes bbb"}` + "\n"
	if got != want {
		t.Fatalf("ErrorReply =\n%s\nwant\n%s", got, want)
	}
	got = string(ErrorReply(wrappers.Violation{Side: wrappers.Server, Explanation: "timeout"}))
	want = `{"error":"serverBrokeContract","message":null,"expected":[],"state":"","explanation":"timeout"}` + "\n"
	if got != want {
		t.Fatalf("ErrorReply =\n%s\nwant\n%s", got, want)
	}
	if _, err := Decode([]byte(got), wrappers.Options{}); err != nil {
		t.Fatalf("the error reply is not JSON we read: %v", err)
	}
}

func TestEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{ok, "Joe", 1.0, [true, false, null], <<1,2>>}`, `{"$T":[{"$A":"ok"},"Joe",1.0,[true,false,null],{"$B":"AQI="}]}`},
		{`#{"a" => 1, b => "\n\x01"}`, `{"a":1,"b":"\n\u0001"}`},
		{`123456789012345678901234567890`, `123456789012345678901234567890`},
		{`1.0e300`, `1e+300`},
		{`-0.5`, `-0.5`},
	}
	for _, tt := range tests {
		got, err := AppendEncode(nil, term.MustParse(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("AppendEncode(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []term.Term{term.Float(math.NaN()), term.Float(math.Inf(1)), term.Map{{Key: term.Int(1), Value: term.Int(2)}}, nil} {
		if got, err := AppendEncode([]byte("x"), bad); err == nil || string(got) != "x" {
			t.Errorf("AppendEncode(%v) = %q, %v; want an error", bad, got, err)
		}
	}
}

// randomTerm returns a term whose JSON encoding decodes to itself: map keys
// are strings and no map looks like a JSF object.
func randomTerm(rng *rand.Rand, depth int) term.Term {
	k := rng.IntN(10)
	if depth > 4 {
		k = rng.IntN(6)
	}
	switch k {
	case 0:
		return term.Int(rng.Int64N(2000) - 1000)
	case 1:
		b := new(big.Int).Lsh(big.NewInt(rng.Int64()), uint(rng.IntN(200)))
		if rng.IntN(2) == 0 {
			b.Neg(b)
		}
		return term.BigInt(b)
	case 2:
		return term.Atom(randomString(rng))
	case 3:
		return term.String(randomString(rng))
	case 4:
		return term.Binary(randomString(rng))
	case 5:
		return term.Float(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20)))
	case 6, 7:
		ts := make([]term.Term, rng.IntN(5))
		for i := range ts {
			ts[i] = randomTerm(rng, depth+1)
		}
		if k == 6 {
			return term.Tuple(ts)
		}
		return term.List(ts)
	}
	m := term.Map{}
	for i := rng.IntN(4); i > 0; i-- {
		k := term.String("k" + randomString(rng))
		if _, dup := m.Get(k); !dup {
			m = append(m, term.MapEntry{Key: k, Value: randomTerm(rng, depth+1)})
		}
	}
	return m
}

func randomString(rng *rand.Rand) string {
	const alphabet = "ab\"\\/\n\t\x00\x1f\x7f{}$é€😀"
	rs := []rune(alphabet)
	var sb strings.Builder
	for i := rng.IntN(10); i > 0; i-- {
		sb.WriteRune(rs[rng.IntN(len(rs))])
	}
	return sb.String()
}

func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var stream bytes.Buffer
	var terms []term.Term
	for range 2000 {
		tm := randomTerm(rng, 0)
		if m, ok := tm.(term.Map); ok && len(m) == 0 {
			continue
		}
		enc, err := AppendEncode(nil, tm)
		if err != nil {
			t.Fatalf("AppendEncode(%s): %v", tm, err)
		}
		got, err := Decode(enc, wrappers.Options{})
		if err != nil {
			t.Fatalf("Decode(%s) of %s: %v", enc, tm, err)
		}
		if !term.Equal(got, tm) {
			t.Fatalf("round trip of %s gave %s (via %s)", tm, got, enc)
		}
		if err := Encode(&stream, tm); err != nil {
			t.Fatal(err)
		}
		terms = append(terms, tm)
	}
	d := NewDecoder(splitio.Chunks(stream.Bytes(), rng), wrappers.Options{})
	for i, want := range terms {
		got, _, err := d.Frame()
		if err != nil || !term.Equal(got, want) {
			t.Fatalf("line %d = %v, %v; want %s", i, got, err, want)
		}
	}
	if _, _, err := d.Frame(); err != io.EOF {
		t.Fatalf("after the last line: %v", err)
	}
}

// TestLongLineReleasesMemory checks that one long line does not pin its
// buffer for the rest of the connection.
func TestLongLineReleasesMemory(t *testing.T) {
	in := "[" + strings.Repeat("1,", 100000) + "1]\n2\n"
	d := NewDecoder(strings.NewReader(in), wrappers.Options{})
	for range 2 {
		if _, _, err := d.Frame(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := d.Frame(); err != io.EOF {
		t.Fatal(err)
	}
	if cap(d.rd.Buf) > bufread.ShrinkAbove || cap(d.elems) > keepScratch {
		t.Fatalf("after the long line the decoder holds a %d-byte buffer and %d scratch terms", cap(d.rd.Buf), cap(d.elems))
	}
}

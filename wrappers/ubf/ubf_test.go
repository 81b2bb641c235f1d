package ubf

import (
	"bytes"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/splitio"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

func TestDecodeConstructs(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"integer", `42$`, `42`},
		{"zero", `0$`, `0`},
		{"negative", `-7$`, `-7`},
		{"int64 max", `9223372036854775807$`, `9223372036854775807`},
		{"beyond 64 bits", `123456789012345678901234567890$`, `123456789012345678901234567890`},
		{"negative big", `-123456789012345678901234567890$`, `-123456789012345678901234567890`},
		{"leading zeros", `007$`, `7`},
		{"string", `"hello world"$`, `"hello world"`},
		{"empty string", `""$`, `""`},
		{"string escapes", `"a\"b\\c"$`, `"a\"b\\c"`},
		{"string with dollar and newline", "\"x$\ny\"$", `"x$\ny"`},
		{"string with other escape", `"a\zb"$`, `"azb"`},
		{"atom", `'ok'$`, `ok`},
		{"quoted atom", `'Hello World'$`, `'Hello World'`},
		{"atom escapes", `'it\'s\\'$`, `'it\'s\\'`},
		{"empty atom", `''$`, `''`},
		{"binary", `3~abc~$`, `<<"abc">>`},
		{"binary space before tilde", "3 \t\n~abc~$", `<<"abc">>`},
		{"binary with tilde and dollar", `4~a~$b~$`, `<<"a~$b">>`},
		{"empty binary", `0~~$`, `<<>>`},
		{"binary raw bytes", "3~\x00\xff\n~$", `<<0,255,10>>`},
		{"tuple", `{1 2 3}$`, `{1, 2, 3}`},
		{"tuple commas", `{1,2,,3}$`, `{1, 2, 3}`},
		{"empty tuple", `{}$`, `{}`},
		{"nested tuple", `{{'a'}{}}$`, `{{a}, {}}`},
		{"empty list", `#$`, `[]`},
		{"list", `# 3 & 2 & 1 &$`, `[1, 2, 3]`},
		{"list compact", `#'c'&'b'&'a'&$`, `[a, b, c]`},
		{"nested list", `# # 1 & & $`, `[[1]]`},
		{"list in tuple", `{# 1 & 'x'}$`, `{[1], x}`},
		{"lists open side by side in a tuple", `{# 1 & 2 & 'x' # 3 & # 4 & 5 &}$`, `{[2, 1], x, [3], [5, 4]}`},
		{"lists open in nested tuples", `{# 1 & {# 2 & # 3 &} # 4 & 5 &}$`, `{[1], {[2], [3]}, [5, 4]}`},
		{"list under construction consed onto another", `# # 1 & 2 & &$`, `[[2, 1]]`},
		{"list under construction stored and used", `# 1 & >l {l # 2 & l}$`, `{[1], [2], [1]}`},
		{"comment", `%a comment% 1 %another%$`, `1`},
		{"comment with escaped percent", `%50\% off% 1$`, `1`},
		{"tag", "'x'`color`$", `{'$TYPE', "color", x}`},
		{"tag on tuple", "{1 2}`pair`$", `{'$TYPE', "pair", {1, 2}}`},
		{"register", `'abc'>x {x x}$`, `{abc, abc}`},
		{"register high byte", "'abc'>\xe9 {\xe9 \xe9}$", `{abc, abc}`},
		{"register holding a list", `# 1 & >l {l l}$`, `{[1], [1]}`},
		{"register list consed", `# 1 & >l l 2 & $`, `[2, 1]`},
		{"register redefined", `1>a 2>a a$`, `2`},
		{"armstrong example", `'person'>p # {p "Joe" 123} & {p 'fred' 3~abc~} & $`, `[{person, fred, <<"abc">>}, {person, "Joe", 123}]`},
		{"real server registers", `'ok'>!{{!,!},'start'}$`, `{{ok, ok}, start}`},
		{"greeting help with dollar", `{'ubf1.0',"meta_server","See 'info'$ for help"}$`, `{'ubf1.0', "meta_server", "See 'info'$ for help"}`},
		{"leading separators", " ,\r\n\t1$", `1`},
		{"trailing comment", `1$ %bye%`, `1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in), wrappers.Limits{})
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.in, err)
			}
			if want := term.MustParse(tt.want); !term.Equal(got, want) {
				t.Fatalf("Decode(%q) = %s, want %s", tt.in, got, want)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name, in string
		offset   int64
		msg      string
		limit    bool
	}{
		{"float", `1.5$`, 1, "UBF(A) has no floats", false},
		{"unknown register", `{x}$`, 1, "register 'x' is not set", false},
		{"register from an earlier frame", `1>a a$ a$`, 7, "register 'a' is not set", false},
		{"dollar on empty stack", `$`, 0, "exactly one object on the stack, found 0", false},
		{"dollar with two objects", `1 2$`, 3, "exactly one object on the stack, found 2", false},
		{"dollar inside tuple", `{1$`, 2, "'$' inside a tuple", false},
		{"close without open", `1}$`, 1, "'}' closes no tuple", false},
		{"cons without list", `1 2 &$`, 4, "needs a list under the top", false},
		{"cons on empty stack", `#&$`, 1, "stack holds 1 item", false},
		{"cons across tuple", `# {1 &}$`, 5, "stack holds 1 item", false},
		{"tilde without length", `~abc~$`, 0, "not preceded by a binary's length", false},
		{"tilde after atom", `'a'~$`, 3, "not preceded by a binary's length", false},
		{"negative binary length", `-1~x~$`, 2, "negative", false},
		{"binary not closed", `3~abcd~$`, 5, "not closed by '~'", false},
		{"minus alone", `-$`, 0, "'-' is not followed by digits", false},
		{"control character", "1\x01$", 1, "control character byte 0x01", false},
		{"control register name", ">\x01", 1, "control character", false},
		{"store nothing", `>a 1$`, 0, "nothing to store", false},
		{"tag on nothing", "`t`1$", 0, "follows no object", false},
		{"unterminated string", `"abc`, 4, "stream ended inside a string opened at byte 0", false},
		{"unterminated atom", `{'abc`, 5, "inside an atom opened at byte 1", false},
		{"unterminated comment", `1 %abc`, 6, "inside a comment", false},
		{"stream ends in binary", `5~ab`, 4, "inside a binary", false},
		{"stream ends in tuple", `{1 2`, 4, "1 tuple(s) still open", false},
		{"stream ends before dollar", `1 2`, 3, "before the '$'", false},
		{"stream ends after store", `>`, 0, "after '>' without a register name", false},
		{"stream ends after escape", `"ab\`, 4, "inside a string", false},
		{"huge binary", `99999999999~`, 11, "binary of 99999999999 bytes is longer than the limit", true},
		{"binary bigger than int64", `999999999999999999999999~`, 24, "longer than the limit", true},
		{"second object after dollar", `1$ 2$`, 3, "more than one object", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in), wrappers.Limits{})
			var fe *wrappers.FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode(%q) error = %v, want a *wrappers.FrameError", tt.in, err)
			}
			if fe.Offset != tt.offset || !strings.Contains(fe.Msg, tt.msg) || fe.Limit != tt.limit {
				t.Fatalf("Decode(%q) = %+v, want offset %d, message containing %q, limit %v", tt.in, *fe, tt.offset, tt.msg, tt.limit)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	small := wrappers.Limits{MaxFrame: 100, MaxDepth: 5, MaxBinary: 10, MaxIntDigits: 20}
	tests := []struct {
		name, in string
		msg      string
	}{
		{"frame", strings.Repeat(" ", 200) + "1$", "frame longer than 100 bytes"},
		{"long frame with dollar", "{" + strings.Repeat("1 ", 60) + "}$", "frame longer than 100 bytes"},
		{"binary", `11~hello world~$`, "binary of 11 bytes is longer than the limit of 10"},
		{"binary over frame budget", strings.Repeat(" ", 90) + `9~123456789~$`, "makes the frame longer than 100 bytes"},
		{"string", `"hello world"$`, "a string longer than 10 bytes"},
		{"atom", `'hello world'$`, "an atom longer than 10 bytes"},
		{"tag", "1`hello world`$", "a tag longer than 10 bytes"},
		{"comment only bounded by the frame", "%" + strings.Repeat("c", 120) + "% 1$", "frame longer than 100 bytes"},
		{"tuple depth", `{{{{{{1}}}}}}$`, "tuples nested more than 5 deep"},
		{"list depth", `# # # # # # 1 & & & & & & $`, "nested more than 5 deep"},
		{"depth through registers", `{{{1}}}>a {{{a}}}$`, "nested more than 5 deep"},
		{"integer digits", strings.Repeat("9", 30) + "$", "integer longer than 20 digits"},
		{"consing onto a register list again and again", "#" + strings.Repeat("1&", 19) + ">l" + strings.Repeat("l1&>m", 10) + "1$", "expands to more than 100 bytes"},
		{"register bomb", `{1 1 1 1}>a{a a a a}>a{a a a a}>a{a a a a}>a a$`, "expands to more than 100 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// However the bytes arrive, the same limit error.
			err := wiretest.TestWire(Wire{}, wiretest.Conversation{Name: tt.name, Options: wrappers.Options{Limits: small}, Turns: []wiretest.Turn{
				{Side: wrappers.Client, In: tt.in, Err: tt.msg, Limit: true},
			}})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHugeLengthAllocatesNothing checks that a binary's length is refused
// before any memory is set aside for it.
func TestLongCommentWithinFrame(t *testing.T) {
	in := "%" + strings.Repeat("c", 50) + "% 1$"
	if got, err := Decode([]byte(in), wrappers.Limits{MaxFrame: 100, MaxBinary: 10}); err != nil || !term.Equal(got, term.Int(1)) {
		t.Fatalf("Decode = %v, %v; a comment is bounded by the frame, not by MaxBinary", got, err)
	}
}

func TestHugeLengthAllocatesNothing(t *testing.T) {
	in := []byte(`99999999999~`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		if _, err := Decode(in, wrappers.Limits{}); err == nil {
			t.Fatal("accepted a 99999999999-byte binary")
		}
	}
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / 100; perCall > 16<<10 {
		t.Fatalf("refusing the length allocated %d bytes per call", perCall)
	}
	// Over a stream, the refusal comes before anything is read past the
	// tilde.
	d := NewDecoder(io.MultiReader(bytes.NewReader(in), errReader{}), wrappers.Limits{})
	if _, _, err := d.Frame(); err == nil || !strings.Contains(err.Error(), "longer than the limit") {
		t.Fatalf("Frame() = %v, want the length refused", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read past the length") }

const stream = "{'ubf1.0',\"file_server\",\"help: 'info'$\"}$\n" +
	"'ok'>!{{!,!},'start'}$\n" +
	"%comment% 'person'>p # {p \"Joe\" 123} & {p 'fred' 3~abc~} & $\r\n" +
	"{'event_out',{'msg',\"joe\",11~binary $~ x~}}$" +
	"{123456789012345678901234567890 -5 \"a\\\"b\"}`tag`$ \t\n" +
	" 10 ~0123456789~$\n\n"

// TestWire checks streams of every shape with wiretest: decoded the same,
// and forwarded byte for byte (a frame's Raw ends with the separators
// after its '$' up to a newline), however the bytes arrive.
func TestWire(t *testing.T) {
	client := func(in string, want ...string) wiretest.Turn {
		return wiretest.Turn{Side: wrappers.Client, In: in, Want: want}
	}
	err := wiretest.TestWire(Wire{},
		wiretest.Conversation{Name: "every shape", Turns: []wiretest.Turn{client(stream,
			`call {'ubf1.0', "file_server", "help: 'info'$"}`,
			`call {{ok, ok}, start}`,
			`call [{person, fred, <<"abc">>}, {person, "Joe", 123}]`,
			`call {event_out, {msg, "joe", <<"binary $~ x">>}}`,
			`call {'$TYPE', "tag", {123456789012345678901234567890, -5, "a\"b"}}`,
			`call <<"0123456789">>`,
			"filler",
		)}},
		wiretest.Conversation{Name: "raw frames end with their newline", Turns: []wiretest.Turn{
			client("  1$\n", "call 1"),
			client("2$ \r\n", "call 2"),
			client("3$", "call 3"),
			{Side: wrappers.Client, In: "x$\n", Err: "register 'x' is not set"},
		}},
		wiretest.Conversation{Name: "trailing comment", Turns: []wiretest.Turn{
			client("1$\n", "call 1"),
			client(" %bye% \n", "filler"),
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	d := NewDecoder(io.MultiReader(strings.NewReader("1$ {2"), iotest.ErrReader(boom)), wrappers.Limits{})
	if _, _, err := d.Frame(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Frame(); !errors.Is(err, boom) {
		t.Fatalf("Frame() = %v, want the read error", err)
	}
}

// randomTerm returns a term UBF(A) can carry (no floats, no maps).
func randomTerm(rng *rand.Rand, depth int) term.Term {
	k := rng.IntN(8)
	if depth > 4 {
		k = rng.IntN(5)
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
		return term.Atom(randomBytes(rng))
	case 3:
		return term.String(randomBytes(rng))
	case 4:
		return term.Binary(randomBytes(rng))
	case 5, 6:
		n := rng.IntN(5)
		ts := make([]term.Term, n)
		for i := range ts {
			ts[i] = randomTerm(rng, depth+1)
		}
		if k == 5 {
			return term.Tuple(ts)
		}
		return term.List(ts)
	}
	return term.Tuple{term.Atom("ok"), randomTerm(rng, depth+1)}
}

func randomBytes(rng *rand.Rand) []byte {
	const alphabet = "ab$~'\"\\%`#&{}>,\n \x00\xff"
	b := make([]byte, rng.IntN(12))
	for i := range b {
		if rng.IntN(3) == 0 {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		} else {
			b[i] = byte(rng.IntN(256))
		}
	}
	return b
}

func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var stream bytes.Buffer
	var terms []term.Term
	for range 2000 {
		tm := randomTerm(rng, 0)
		enc, err := AppendEncode(nil, tm)
		if err != nil {
			t.Fatalf("AppendEncode(%s): %v", tm, err)
		}
		got, err := Decode(enc, wrappers.Limits{})
		if err != nil {
			t.Fatalf("Decode(%q) of %s: %v", enc, tm, err)
		}
		if !term.Equal(got, tm) {
			t.Fatalf("round trip of %s gave %s (via %q)", tm, got, enc)
		}
		if err := Encode(&stream, tm); err != nil {
			t.Fatal(err)
		}
		terms = append(terms, tm)
	}
	// The same terms as one stream, read in random chunks.
	d := NewDecoder(splitio.Chunks(stream.Bytes(), rng), wrappers.Limits{})
	for i, want := range terms {
		got, _, err := d.Frame()
		if err != nil || !term.Equal(got, want) {
			t.Fatalf("frame %d = %v, %v; want %s", i, got, err, want)
		}
	}
	if _, _, err := d.Frame(); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

func TestEncodeCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{person, "Joe", 123, <<"abc">>, [a, b]}`, `{'person',"Joe",123,3~abc~,#'b'&'a'&}$`},
		{`[]`, `#$`},
		{`{}`, `{}$`},
		{`'it''s'`, ``},
		{`"a\"b\\c"`, `"a\"b\\c"$`},
		{`'a\'b'`, `'a\'b'$`},
		{`-123456789012345678901234567890`, `-123456789012345678901234567890$`},
		{`[1, 2]`, `#2&1&$`},
	}
	for _, tt := range tests {
		if tt.want == "" {
			continue
		}
		got, err := AppendEncode(nil, term.MustParse(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("AppendEncode(%s) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`1.5`, `#{a => 1}`, `{ok, [1.0]}`} {
		if got, err := AppendEncode([]byte("x"), term.MustParse(bad)); err == nil || string(got) != "x" {
			t.Errorf("AppendEncode(%s) = %q, %v; want an error and dst unchanged", bad, got, err)
		}
	}
	var b bytes.Buffer
	if err := Encode(&b, term.Atom("ok")); err != nil || b.String() != "'ok'$\n" {
		t.Errorf("Encode = %q, %v", b.String(), err)
	}
}

func messages(t *testing.T, dec wrappers.Decoder) []wrappers.Message {
	t.Helper()
	var ms []wrappers.Message
	for {
		m, err := dec.Next()
		if err == io.EOF {
			return ms
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		m.Raw = append([]byte(nil), m.Raw...)
		ms = append(ms, m)
	}
}

func TestSessionClassifies(t *testing.T) {
	var w wrappers.Wire = Wire{}
	if w.Name() != "ubf" {
		t.Fatalf("Name() = %q", w.Name())
	}
	s := w.NewSession(wrappers.Options{})
	client := messages(t, s.ClientDecoder(strings.NewReader("{'startSession',\"file\",#}$\n'contract'$\n{'event_in','ping'}$\n'info'$\n \n")))
	server := messages(t, s.ServerDecoder(strings.NewReader(
		"{'ubf1.0',\"meta\",\"help\"}$\n"+
			"{{'ok','ok'},'start'}$\n"+
			"{'contract',{{'name',\"file\"},'start'}}$\n"+
			"{'event_out',{'msg',\"hi\"}}$\n"+
			"{\"text\",'start'}$\n"+
			"{'ubf1.0','again'}$\n")))
	type want struct {
		kind  wrappers.Kind
		term  string
		state string
	}
	check := func(side string, got []wrappers.Message, ws []want) {
		t.Helper()
		if len(got) != len(ws) {
			t.Fatalf("%s: %d messages, want %d: %+v", side, len(got), len(ws), got)
		}
		for i, w := range ws {
			m := got[i]
			if m.Kind != w.kind || m.NextState != w.state || (w.term != "" && !term.Equal(m.Term, term.MustParse(w.term))) {
				t.Errorf("%s message %d = %v %v state %q, want %v %s state %q", side, i, m.Kind, m.Term, m.NextState, w.kind, w.term, w.state)
			}
		}
	}
	check("client", client, []want{
		{wrappers.Call, `{startSession, "file", []}`, ""},
		{wrappers.Call, `contract`, ""},
		{wrappers.Event, `ping`, ""},
		{wrappers.Call, `info`, ""},
		{wrappers.Filler, "", ""},
	})
	check("server", server, []want{
		{wrappers.Greeting, `{'ubf1.0', "meta", "help"}`, ""},
		{wrappers.Reply, `{ok, ok}`, "start"},
		{wrappers.Reply, `{contract, {{name, "file"}, start}}`, ""},
		{wrappers.Event, `{msg, "hi"}`, ""},
		{wrappers.Reply, `"text"`, "start"},
		{wrappers.Reply, `'ubf1.0'`, "again"}, // not the first frame: no greeting
	})
}

func TestSessionMalformedServerFrame(t *testing.T) {
	s := NewSession(wrappers.Options{})
	d := s.ServerDecoder(strings.NewReader("{'ok','start'}$\n'bare'$\n"))
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Next()
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || fe.Offset != 16 || !strings.Contains(fe.Msg, "neither a reply {Reply, NextState}") {
		t.Fatalf("Next() = %v, want a FrameError at byte 16", err)
	}
	if _, err2 := d.Next(); err2 != err {
		t.Fatalf("the error is not sticky: %v", err2)
	}
}

// TestSessionDropped checks that a call the proxy drops is not paired with
// a reply: the reply {contract, start} to 'info' is then a reply with a
// state, not the answer to the dropped 'contract'.
func TestSessionDropped(t *testing.T) {
	s := NewSession(wrappers.Options{})
	cr, cw := io.Pipe()
	client := s.ClientDecoder(cr)
	go func() {
		cw.Write([]byte("'contract'$\n'info'$\n"))
		cw.Close()
	}()
	m, err := client.Next()
	if err != nil || !term.Equal(m.Term, term.Atom("contract")) {
		t.Fatal(m, err)
	}
	s.Dropped(wrappers.Client, m)
	if m, err = client.Next(); err != nil {
		t.Fatal(err)
	}
	server := s.ServerDecoder(strings.NewReader("{'contract','start'}$"))
	m, err = server.Next()
	if err != nil || m.NextState != "start" || !term.Equal(m.Term, term.Atom("contract")) {
		t.Fatalf("reply = %+v, %v; want contract in state start", m, err)
	}
	// Not dropped, the same reply answers 'contract': it has no state.
	s = NewSession(wrappers.Options{})
	if _, err := s.ClientDecoder(strings.NewReader("'contract'$")).Next(); err != nil {
		t.Fatal(err)
	}
	m, err = s.ServerDecoder(strings.NewReader("{'contract','start'}$")).Next()
	if err != nil || m.NextState != "" || !term.Equal(m.Term, term.MustParse("{contract, start}")) {
		t.Fatalf("reply = %+v, %v; want the whole {contract, start} without a state", m, err)
	}
}

func TestSessionSimpleRPC(t *testing.T) {
	s := Wire{SimpleRPC: true}.NewSession(wrappers.Options{})
	ms := messages(t, s.ServerDecoder(strings.NewReader("{'ok','start'}$'bare'$")))
	if len(ms) != 2 || ms[0].Kind != wrappers.Reply || ms[0].NextState != "" ||
		!term.Equal(ms[0].Term, term.MustParse(`{ok, start}`)) || !term.Equal(ms[1].Term, term.Atom("bare")) {
		t.Fatalf("simple rpc replies = %+v", ms)
	}
}

func TestErrorReply(t *testing.T) {
	tests := []struct {
		v    wrappers.Violation
		want string
	}{
		{wrappers.Violation{Side: wrappers.Client, Message: term.MustParse(`{bbb, 3000}`), States: []string{"start"}, Expected: []string{"{open, fileName()}", "info"}, Explanation: "no rule"},
			`{{'clientBrokeContract',{'bbb',3000},#"info"&"{open, fileName()}"&},'start'}$` + "\n"},
		{wrappers.Violation{Side: wrappers.Server, Message: term.String("x"), States: []string{"ready", "atEof"}},
			`{{'serverBrokeContract',"x",#},#'atEof'&'ready'&}$` + "\n"},
		{wrappers.Violation{Side: wrappers.Server},
			`{{'serverBrokeContract','undefined',#},'undefined'}$` + "\n"},
		{wrappers.Violation{Side: wrappers.Client, Message: term.Float(1.5), States: []string{"s"}},
			`{{'clientBrokeContract',"1.5",#},'s'}$` + "\n"},
	}
	for _, tt := range tests {
		got := NewSession(wrappers.Options{}).ErrorReply(tt.v)
		if string(got) != tt.want {
			t.Errorf("ErrorReply(%+v) =\n %s\nwant\n %s", tt.v, got, tt.want)
		}
		if _, err := Decode(got, wrappers.Limits{}); err != nil {
			t.Errorf("the error reply does not decode: %v", err)
		}
	}
}

// TestBigFrameReleasesMemory checks that one big frame does not pin its
// buffer and stack for the rest of the connection.
func TestBigFrameReleasesMemory(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("{")
	for range 20000 {
		in.WriteString("1 ")
	}
	in.WriteString("}$\n")
	in.WriteString("1000000~")
	in.Write(make([]byte, 1000000))
	in.WriteString("~$\n1$\n")
	d := NewDecoder(&in, wrappers.Limits{})
	for range 3 {
		if _, _, err := d.Frame(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := d.Frame(); err != io.EOF {
		t.Fatal(err)
	}
	if cap(d.rd.Buf) > bufread.ShrinkAbove || cap(d.stack) > keepSlots {
		t.Fatalf("after the big frames the decoder holds a %d-byte buffer and %d stack slots", cap(d.rd.Buf), cap(d.stack))
	}
}

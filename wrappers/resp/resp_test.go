package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

// msg is a decoded message in a comparable form.
type msg struct {
	kind wrappers.Kind
	text string // the term in text notation; "" for filler
	raw  string
}

func (m msg) String() string {
	return m.kind.String() + " " + m.text + " raw=" + strings.ReplaceAll(m.raw, "\r\n", "\\r\\n")
}

// drain reads every message of d, copying what Next only lends.
func drain(t *testing.T, d wrappers.Decoder) ([]msg, error) {
	t.Helper()
	var out []msg
	for range 100000 {
		m, err := d.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		text := ""
		if m.Term != nil {
			text = m.Term.String()
		}
		out = append(out, msg{m.Kind, text, string(m.Raw)})
	}
	t.Fatal("decoder does not stop")
	return nil, nil
}

func newSession() *Session {
	return Wire{}.NewSession(wrappers.Options{}).(*Session)
}

func TestServerValues(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"simple string", "+OK\r\n", "ok"},
		{"simple string lowercased", "+PONG\r\n", "pong"},
		{"simple string with space", "+Hello World\r\n", "'hello world'"},
		{"empty simple string", "+\r\n", "''"},
		{"error", "-ERR unknown command 'foo'\r\n", `{error, <<"ERR unknown command 'foo'">>}`},
		{"wrongtype", "-WRONGTYPE Operation against a key\r\n", `{error, <<"WRONGTYPE Operation against a key">>}`},
		{"integer", ":1000\r\n", "1000"},
		{"negative integer", ":-42\r\n", "-42"},
		{"bulk", "$5\r\nhello\r\n", `<<"hello">>`},
		{"empty bulk", "$0\r\n\r\n", `<<>>`},
		{"bulk with CRLF inside", "$4\r\na\r\nb\r\n", `<<"a\r\nb">>`},
		{"binary bulk", "$3\r\n\x00\xff\x01\r\n", `<<0,255,1>>`},
		{"null bulk (RESP2)", "$-1\r\n", "nil"},
		{"null array (RESP2)", "*-1\r\n", "nil"},
		{"empty array", "*0\r\n", "[]"},
		{"array", "*3\r\n:1\r\n$1\r\na\r\n+ok\r\n", `[1, <<"a">>, ok]`},
		{"nested array", "*2\r\n*1\r\n:1\r\n*0\r\n", `[[1], []]`},
		{"array with null", "*2\r\n$1\r\nv\r\n$-1\r\n", `[<<"v">>, nil]`},
		{"null (RESP3)", "_\r\n", "nil"},
		{"double", ",3.25\r\n", "3.25"},
		{"double exponent", ",1.5e3\r\n", "1500.0"},
		{"double integer-valued", ",10\r\n", "10.0"},
		{"boolean true", "#t\r\n", "true"},
		{"boolean false", "#f\r\n", "false"},
		{"big number", "(3492890328409238509324850943850943825024385\r\n", "3492890328409238509324850943850943825024385"},
		{"negative big number", "(-3492890328409238509324850943850943825024385\r\n", "-3492890328409238509324850943850943825024385"},
		{"blob error", "!21\r\nSYNTAX invalid syntax\r\n", `{error, <<"SYNTAX invalid syntax">>}`},
		{"verbatim", "=15\r\ntxt:Some string\r\n", `<<"Some string">>`},
		{"verbatim markdown", "=8\r\nmkd:# hi\r\n", `<<"# hi">>`},
		{"map", "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n:2\r\n", `#{first => 1, <<"second">> => 2}`},
		{"empty map", "%0\r\n", `#{}`},
		{"set", "~3\r\n+a\r\n+b\r\n:3\r\n", `[a, b, 3]`},
		{"attribute dropped", "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n", `[2039123, 9543892]`},
		{"attribute inside array", "*2\r\n|1\r\n+ttl\r\n:10\r\n:1\r\n:2\r\n", `[1, 2]`},
		{"streamed string", "$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n", `<<"Hello word">>`},
		{"streamed array", "*?\r\n:1\r\n:2\r\n.\r\n", `[1, 2]`},
		{"streamed map", "%?\r\n+a\r\n:1\r\n.\r\n", `#{a => 1}`},
		{"streamed set", "~?\r\n.\r\n", `[]`},
		{"hello reply", "%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n",
			`#{<<"server">> => <<"redis">>, <<"proto">> => 3, <<"modules">> => []}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession()
			// One outstanding call so the frame is a reply.
			if _, err := drainString(t, s.ClientDecoder(strings.NewReader("GET x\r\n"))); err != nil {
				t.Fatal(err)
			}
			got, err := drain(t, s.ServerDecoder(strings.NewReader(tc.in)))
			if err != nil {
				t.Fatalf("decode %q: %v", tc.in, err)
			}
			if len(got) != 1 {
				t.Fatalf("decode %q: got %d messages %v, want 1", tc.in, len(got), got)
			}
			if got[0].kind != wrappers.Reply || got[0].text != tc.want || got[0].raw != tc.in {
				t.Errorf("decode %q:\n got %v\nwant reply %s", tc.in, got[0], tc.want)
			}
		})
	}
}

func drainString(t *testing.T, d wrappers.Decoder) ([]msg, error) { return drain(t, d) }

func TestSpecialDoubles(t *testing.T) {
	for in, check := range map[string]func(float64) bool{
		",inf\r\n":  func(f float64) bool { return math.IsInf(f, 1) },
		",-inf\r\n": func(f float64) bool { return math.IsInf(f, -1) },
		",nan\r\n":  func(f float64) bool { return math.IsNaN(f) },
	} {
		d := newSession().ServerDecoder(strings.NewReader(in))
		m, err := d.Next()
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		f, ok := m.Term.(term.Float)
		if !ok || !check(float64(f)) {
			t.Errorf("%q: got %v", in, m.Term)
		}
	}
}

func TestClientCommands(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // text of each call; "" for filler
	}{
		{"set", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", []string{`{set, <<"k">>, <<"v">>}`}},
		{"no arguments is an atom", "*1\r\n$4\r\nPING\r\n", []string{`ping`}},
		{"mixed case name", "*2\r\n$3\r\ngEt\r\n$3\r\nKey\r\n", []string{`{get, <<"Key">>}`}},
		{"binary argument", "*2\r\n$3\r\nGET\r\n$4\r\n\x00\r\n\xff\r\n", []string{`{get, <<0,13,10,255>>}`}},
		{"empty argument", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", []string{`{echo, <<>>}`}},
		{"empty array skipped", "*0\r\n*1\r\n$4\r\nPING\r\n", []string{"", "ping"}},
		{"null array skipped", "*-1\r\n", []string{""}},
		{"inline", "PING\r\n", []string{"ping"}},
		{"inline LF", "set a b\n", []string{`{set, <<"a">>, <<"b">>}`}},
		{"inline spaces", "  SET   a\t b  \r\n", []string{`{set, <<"a">>, <<"b">>}`}},
		{"inline double quotes", `SET "a b" "x\ny\x41\"z"` + "\r\n", []string{`{set, <<"a b">>, <<"x\nyA\"z">>}`}},
		{"inline single quotes", `SET 'it\'s' '\n'` + "\r\n", []string{`{set, <<"it's">>, <<"\\n">>}`}},
		{"inline empty quoted", `ECHO ""` + "\r\n", []string{`{echo, <<>>}`}},
		{"inline quote inside word", `SET a"b c"` + "\r\n", []string{`{set, <<"ab c">>}`}},
		{"blank inline line is filler", "\r\n\nPING\r\n", []string{"", "", "ping"}},
		{"pipelined", "*1\r\n$4\r\nPING\r\nGET k\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n", []string{"ping", `{get, <<"k">>}`, `{incr, <<"n">>}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := drain(t, newSession().ClientDecoder(strings.NewReader(tc.in)))
			if err != nil {
				t.Fatalf("decode %q: %v", tc.in, err)
			}
			var raw strings.Builder
			var texts []string
			for _, m := range got {
				raw.WriteString(m.raw)
				texts = append(texts, m.text)
				if (m.text == "") != (m.kind == wrappers.Filler) || m.kind != wrappers.Filler && m.kind != wrappers.Call {
					t.Errorf("message %v has the wrong kind", m)
				}
			}
			if strings.Join(texts, " ; ") != strings.Join(tc.want, " ; ") {
				t.Errorf("decode %q:\n got %q\nwant %q", tc.in, texts, tc.want)
			}
			if raw.String() != tc.in {
				t.Errorf("raw bytes %q do not reproduce the input %q", raw.String(), tc.in)
			}
		})
	}
}

// clientStream and serverStream are one pipelined exchange with every
// shape the decoders handle, for the split tests.
const clientStream = "*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n" +
	"PING\r\n" +
	"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n" +
	"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" +
	"\r\n" +
	"*1\r\n$5\r\nHELLO\r\n" +
	"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n" +
	"*1\r\n$4\r\nPING\r\n" +
	"UNSUBSCRIBE\r\n"

const serverStream = "+OK\r\n" +
	"+PONG\r\n" +
	"+OK\r\n" +
	"$5\r\nva\r\nl\r\n" +
	"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n" +
	"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n" +
	"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n" +
	">3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$3\r\nyo!\r\n" +
	"*2\r\n$4\r\npong\r\n$0\r\n\r\n" +
	"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n" +
	"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"

var wantClient = []string{
	`call {auth, <<"secret">>}`, `call ping`, `call {set, <<"k">>, <<"va\r\nl">>}`, `call {get, <<"k">>}`,
	`filler`, `call hello`, `call {subscribe, <<"a">>, <<"b">>}`, `call ping`, `call unsubscribe`,
}

var wantServer = []string{
	`reply ok`, `reply pong`, `reply ok`, `reply <<"va\r\nl">>`,
	`reply #{<<"server">> => <<"redis">>, <<"proto">> => 3}`,
	`reply {subscribe, [<<"a">>, <<"b">>], 2}`,
	`event {message, <<"a">>, <<"hi">>}`,
	`event {message, <<"b">>, <<"yo!">>}`,
	`reply {pong, <<>>}`,
	`reply {unsubscribe, [<<"a">>, <<"b">>], 0}`,
	// No longer subscribed: an array that looks like a message is a reply
	// to nothing, so an event of its plain value.
	`event [<<"message">>, <<"a">>, <<"hi">>]`,
}

func summary(ms []msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.kind.String() + " " + m.text
	}
	return out
}

func joinRaw(ms []msg) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.raw)
	}
	return b.String()
}

// exchange decodes a client stream and then a server stream through one
// session, each through wrap.
func exchange(t *testing.T, client, server string, wrap func(io.Reader) io.Reader) (c, s []msg) {
	t.Helper()
	sess := newSession()
	c, err := drain(t, sess.ClientDecoder(wrap(strings.NewReader(client))))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	s, err = drain(t, sess.ServerDecoder(wrap(strings.NewReader(server))))
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	return c, s
}

func check(t *testing.T, label string, got []msg, want []string, stream string) {
	t.Helper()
	if g := strings.Join(summary(got), "\n"); g != strings.Join(want, "\n") {
		t.Errorf("%s:\n got:\n%s\nwant:\n%s", label, g, strings.Join(want, "\n"))
	}
	if r := joinRaw(got); r != stream {
		t.Errorf("%s: raw bytes do not reproduce the stream:\n got %q\nwant %q", label, r, stream)
	}
}

// TestWire checks the pipelined exchange with wiretest: decoded the
// same, and forwarded byte for byte, however the bytes arrive.
func TestWire(t *testing.T) {
	err := wiretest.TestWire(Wire{}, wiretest.Conversation{Name: "pipelined exchange", Turns: []wiretest.Turn{
		{Side: wrappers.Client, In: clientStream, Want: wantClient},
		{Side: wrappers.Server, In: serverStream, Want: wantServer},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name   string
		client bool
		in     string
		want   string // in the error text
		offset int64
		limit  bool
	}{
		{"unknown type byte", false, "+OK\r\n@x\r\n", `unknown RESP type byte "@"`, 5, false},
		{"bad bulk length", false, "$abc\r\nxyz\r\n", `invalid bulk string length "abc"`, 1, false},
		{"negative bulk length", false, "$-2\r\n", `invalid bulk string length "-2"`, 1, false},
		{"bulk without CRLF", false, "$3\r\nabcde\r\n", "bulk string of 3 bytes is not followed by CRLF", 7, false},
		{"LF only header", false, "$3\nabc\r\n", "bulk string header is not ended by CRLF", 0, false},
		{"bad integer", false, ":12a\r\n", `invalid integer "12a"`, 1, false},
		{"integer overflow", false, ":99999999999999999999\r\n", `invalid integer "99999999999999999999"`, 1, false},
		{"bad boolean", false, "#x\r\n", `invalid boolean "x"`, 1, false},
		{"bad double", false, ",1.2.3\r\n", `invalid double "1.2.3"`, 1, false},
		{"bad big number", false, "(12x\r\n", `invalid big number "12x"`, 1, false},
		{"null with payload", false, "_x\r\n", `null followed by "x"`, 1, false},
		{"verbatim without format", false, "=2\r\nab\r\n", "verbatim string does not start", 0, false},
		{"null map", false, "%-1\r\n", "map cannot be null", 1, false},
		{"stray end marker", false, ".\r\n", "end marker '.' outside a streamed aggregate", 0, false},
		{"end marker in counted array", false, "*2\r\n:1\r\n.\r\n", "end marker inside a array of declared length 2", 8, false},
		{"truncated bulk", false, "$10\r\nabc", "stream ended inside bulk string (frame started at byte 0)", 8, false},
		{"truncated array", false, "+OK\r\n*3\r\n:1\r\n", "stream ended inside a value (frame started at byte 5)", 13, false},
		{"client non-bulk argument", true, "*2\r\n$3\r\nGET\r\n:1\r\n", `argument 2 of 2 of a command is ":", not a bulk string`, 13, false},
		{"client streamed command", true, "*?\r\n", "a command cannot be a streamed array", 1, false},
		{"client unbalanced quotes", true, "PING\r\nSET \"a b\r\n", "unbalanced quotes in inline command", 10, false},
		{"client quote then letter", true, "SET 'a'b\r\n", "unbalanced quotes in inline command", 7, false},
		{"client truncated inline", true, "PING", "stream ended inside inline command (frame started at byte 0)", 4, false},
		{"huge bulk refused", false, "$99999999999\r\n", "bulk string of 99999999999 bytes exceeds the limit of 16777216 bytes", 0, true},
		{"huge array refused", false, "*99999999999\r\n", "array of 99999999999 elements cannot fit in the frame limit", 0, true},
		{"huge client array refused", true, "*5000000\r\n", "command array of 5000000 elements cannot fit", 0, true},
		{"huge client argument refused", true, "*2\r\n$3\r\nGET\r\n$99999999999\r\n", "argument of 99999999999 bytes exceeds the limit", 13, true},
		{"huge map refused", false, "%9999999999\r\n", "map of 9999999999 elements cannot fit", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession()
			var d wrappers.Decoder
			if tc.client {
				d = s.ClientDecoder(strings.NewReader(tc.in))
			} else {
				s.push(call{})
				s.push(call{})
				d = s.ServerDecoder(strings.NewReader(tc.in))
			}
			_, err := drain(t, d)
			var fe *wrappers.FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("decode %q: got error %v, want a FrameError", tc.in, err)
			}
			if !strings.Contains(fe.Msg, tc.want) || fe.Offset != tc.offset || fe.Limit != tc.limit {
				t.Errorf("decode %q:\n got %q at %d (limit %v)\nwant %q at %d (limit %v)", tc.in, fe.Msg, fe.Offset, fe.Limit, tc.want, tc.offset, tc.limit)
			}
		})
	}
}

// failAfter serves data, then fails the test if read again: a limit must
// be enforced from the header alone.
type failAfter struct {
	t    *testing.T
	data []byte
}

func (r *failAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		r.t.Error("decoder read past a header it should have refused")
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestLimits(t *testing.T) {
	lim := wrappers.Limits{MaxFrame: 1000, MaxDepth: 3, MaxBinary: 10}
	tests := []struct {
		name, in, want string
	}{
		{"bulk over MaxBinary", "$11\r\n", "bulk string of 11 bytes exceeds the limit of 10 bytes"},
		{"array over frame", "*400\r\n", "array of 400 elements cannot fit in the frame limit of 1000 bytes"},
		{"nesting", "*1\r\n*1\r\n*1\r\n*1\r\n", "array nested 4 deep exceeds the depth limit of 3"},
		{"simple string over MaxBinary", "+abcdefghijkl\r\n", "simple string of 12 bytes exceeds the limit of 10 bytes"},
		{"line over frame", "+" + strings.Repeat("a", 1200), "simple string is longer than the frame limit of 1000 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Wire{}.NewSession(wrappers.Options{Limits: lim}).(*Session)
			s.push(call{})
			_, err := s.ServerDecoder(&failAfter{t: t, data: []byte(tc.in)}).Next()
			var fe *wrappers.FrameError
			if !errors.As(err, &fe) || !fe.Limit || !strings.Contains(fe.Msg, tc.want) {
				t.Fatalf("got %v, want a limit error %q", err, tc.want)
			}
		})
	}
	// A frame of exactly the limit passes.
	s := Wire{}.NewSession(wrappers.Options{Limits: wrappers.Limits{MaxFrame: 17, MaxBinary: 10}}).(*Session)
	s.push(call{})
	if m, err := s.ServerDecoder(strings.NewReader("$10\r\n0123456789\r\n")).Next(); err != nil || m.Kind != wrappers.Reply {
		t.Fatalf("frame at the limit: %v %v", m, err)
	}
}

func TestPubSubMerging(t *testing.T) {
	tests := []struct {
		name           string
		client, server string
		want           []string
	}{
		{
			"psubscribe and pmessage",
			"PSUBSCRIBE news.* sport.*\r\n",
			"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n*3\r\n$10\r\npsubscribe\r\n$7\r\nsport.*\r\n:2\r\n" +
				"*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$7\r\nnews.it\r\n$5\r\nhello\r\n",
			[]string{`reply {psubscribe, [<<"news.*">>, <<"sport.*">>], 2}`, `event {pmessage, <<"news.*">>, <<"news.it">>, <<"hello">>}`},
		},
		{
			"unsubscribe all channels keeps patterns",
			"SUBSCRIBE a b\r\nPSUBSCRIBE p*\r\nUNSUBSCRIBE\r\n",
			"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n" +
				"*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n" +
				"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n" +
				"*3\r\n$7\r\nmessage\r\n$2\r\npx\r\n$1\r\nm\r\n",
			[]string{
				`reply {subscribe, [<<"a">>, <<"b">>], 2}`, `reply {psubscribe, [<<"p*">>], 3}`,
				`reply {unsubscribe, [<<"b">>, <<"a">>], 1}`, `event {message, <<"px">>, <<"m">>}`,
			},
		},
		{
			"unsubscribe when subscribed to nothing",
			"UNSUBSCRIBE\r\nGET k\r\n",
			"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n$1\r\nv\r\n",
			[]string{`reply {unsubscribe, [nil], 0}`, `reply <<"v">>`},
		},
		{
			"subscribe refused with an error",
			"SUBSCRIBE a\r\nGET k\r\n",
			"-NOAUTH Authentication required.\r\n$-1\r\n",
			[]string{`reply {error, <<"NOAUTH Authentication required.">>}`, `reply nil`},
		},
		{
			"pipelined subscribes",
			"SUBSCRIBE a\r\nSUBSCRIBE b c\r\n",
			"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:3\r\n",
			[]string{`reply {subscribe, [<<"a">>], 1}`, `reply {subscribe, [<<"b">>, <<"c">>], 3}`},
		},
		{
			"RESP3 push confirmations",
			"HELLO 3\r\nSUBSCRIBE a b\r\nGET k\r\n",
			"%1\r\n$5\r\nproto\r\n:3\r\n" +
				">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n" +
				">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n" + "$1\r\nv\r\n" +
				">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n",
			[]string{
				`reply #{<<"proto">> => 3}`, `reply {subscribe, [<<"a">>, <<"b">>], 2}`,
				`event {message, <<"a">>, <<"x">>}`, `reply <<"v">>`, `event {invalidate, [<<"k">>]}`,
			},
		},
		{
			"sharded",
			"SSUBSCRIBE s1\r\nSUNSUBSCRIBE\r\n",
			"*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n*3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$1\r\nz\r\n*3\r\n$12\r\nsunsubscribe\r\n$2\r\ns1\r\n:0\r\n",
			[]string{`reply {ssubscribe, [<<"s1">>], 1}`, `event {smessage, <<"s1">>, <<"z">>}`, `reply {sunsubscribe, [<<"s1">>], 0}`},
		},
		{
			"confirmation cut short: the rest are events",
			"SUBSCRIBE a b\r\n",
			"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
			[]string{`reply {subscribe, [<<"a">>], 1}`, `event {message, <<"a">>, <<"x">>}`, `event {subscribe, <<"b">>, 2}`},
		},
		{
			"confirmation cut short by the end of the stream",
			"SUBSCRIBE a b\r\n",
			"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n",
			[]string{`reply {subscribe, [<<"a">>], 1}`},
		},
		{
			"monitor feed",
			"MONITOR\r\nRESET\r\nPING\r\n",
			"+OK\r\n+1700000000.123456 [0 127.0.0.1:5000] \"get\" \"k\"\r\n+RESET\r\n+PONG\r\n",
			[]string{`reply ok`, `event {monitor, <<"1700000000.123456 [0 127.0.0.1:5000] \"get\" \"k\"">>}`, `reply reset`, `reply pong`},
		},
		{
			"monitor feed while another call waits, and after RESET",
			"MONITOR\r\nGET k\r\nRESET\r\nPING\r\n",
			"+OK\r\n+1700000000.1 [0 127.0.0.1:5000] \"get\" \"k\"\r\n+QUEUED x\r\n$1\r\nv\r\n+RESET\r\n+A B\r\n",
			[]string{`reply ok`, `event {monitor, <<"1700000000.1 [0 127.0.0.1:5000] \"get\" \"k\"">>}`, `event {monitor, <<"QUEUED x">>}`, `reply <<"v">>`, `reply reset`, `reply 'a b'`},
		},
		{
			"reply before any command is an event",
			"",
			"-ERR max number of clients reached\r\n",
			[]string{`event {error, <<"ERR max number of clients reached">>}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, s := exchange(t, tc.client, tc.server, func(r io.Reader) io.Reader { return r })
			check(t, "server", s, tc.want, tc.server)
		})
	}
}

func TestDropped(t *testing.T) {
	sess := newSession()
	c := sess.ClientDecoder(strings.NewReader("SUBSCRIBE a\r\nFLUSHALL\r\nSUBSCRIBE b\r\n"))
	for i := range 3 {
		m, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			sess.Dropped(wrappers.Client, m) // reject mode: FLUSHALL never reaches the server
		}
	}
	got, err := drain(t, sess.ServerDecoder(strings.NewReader(
		"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`reply {subscribe, [<<"a">>], 1}`, `reply {subscribe, [<<"b">>], 2}`}
	if strings.Join(summary(got), "\n") != strings.Join(want, "\n") {
		t.Errorf("got %v, want %v", summary(got), want)
	}
}

func TestErrorReply(t *testing.T) {
	v := wrappers.Violation{
		Side:        wrappers.Client,
		Message:     term.MustParse("flushall"),
		States:      []string{"ready"},
		Expected:    []string{"{get, key()}", "{set, key(), value()}"},
		Explanation: "no rule of state ready accepts flushall\r\nsecond line",
	}
	got := string(newSession().ErrorReply(v))
	want := "-ERR contract: client broke the contract in state ready: sent flushall: no rule of state ready accepts flushall  second line\r\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	noExpl := v
	noExpl.Explanation = ""
	if got, want := string(newSession().ErrorReply(noExpl)), "-ERR contract: client broke the contract in state ready: sent flushall; expected {get, key()} | {set, key(), value()}\r\n"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	long := v
	long.Explanation = strings.Repeat("x", 5000)
	b := newSession().ErrorReply(long)
	if len(b) > maxErrorReply+3 || bytes.Count(b, []byte("\r\n")) != 1 || !bytes.HasSuffix(b, []byte("...\r\n")) {
		t.Errorf("long reply not bounded to one line: %d bytes", len(b))
	}
	// The error reply is itself a well-formed RESP error.
	s := newSession()
	s.push(call{})
	m, err := s.ServerDecoder(bytes.NewReader(b)).Next()
	if err != nil || m.Kind != wrappers.Reply {
		t.Fatalf("error reply does not decode: %v", err)
	}
	if tag, _ := term.Tag(m.Term); tag != "error" {
		t.Errorf("error reply decodes to %v", m.Term)
	}
}

func TestBuffersAreReused(t *testing.T) {
	var stream bytes.Buffer
	for range 2000 {
		stream.WriteString("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
	}
	d := newSession().ClientDecoder(bytes.NewReader(stream.Bytes())).(*clientDecoder)
	var first term.Term
	for i := 0; ; i++ {
		m, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = m.Term
		}
	}
	if cap(d.p.rd.Buf) > 64<<10 {
		t.Errorf("buffer grew to %d bytes for 30-byte frames", cap(d.p.rd.Buf))
	}
	if first.String() != `{set, <<"key">>, <<"value">>}` {
		t.Errorf("an earlier term changed when the buffer was reused: %v", first)
	}
}

func TestOffsetsAfterTheBufferMoves(t *testing.T) {
	// Enough good frames that the buffer is compacted many times before
	// the bad one; the offset must still count from the start of the stream.
	prefix := strings.Repeat("+OK\r\n", 10000)
	s := newSession()
	for range 10001 {
		s.push(call{})
	}
	_, err := drain(t, s.ServerDecoder(iotest.HalfReader(strings.NewReader(prefix+"*2\r\n:1\r\n@\r\n"))))
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || fe.Offset != int64(len(prefix)+8) {
		t.Fatalf("got %v, want a FrameError at %d", err, len(prefix)+8)
	}
}

// BenchmarkDecode measures decoding a pipelined stream of SET and GET
// commands and their replies, as redis-benchmark sends them.
func BenchmarkDecode(b *testing.B) {
	var client, server bytes.Buffer
	const n = 1000
	for i := range n {
		client.WriteString(fmt.Sprintf("*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$3\r\nxxx\r\n*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n", i, i))
		server.WriteString("+OK\r\n$3\r\nxxx\r\n")
	}
	b.Run("client", func(b *testing.B) {
		b.SetBytes(int64(client.Len()))
		b.ReportAllocs()
		for b.Loop() {
			s := newSession()
			d := s.ClientDecoder(bytes.NewReader(client.Bytes()))
			for {
				if _, err := d.Next(); err != nil {
					break
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*n), "ns/msg")
	})
	b.Run("server", func(b *testing.B) {
		b.SetBytes(int64(server.Len()))
		b.ReportAllocs()
		for b.Loop() {
			s := newSession()
			for range 2 * n {
				s.push(call{})
			}
			d := s.ServerDecoder(bytes.NewReader(server.Bytes()))
			for {
				if _, err := d.Next(); err != nil {
					break
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*n), "ns/msg")
	})
}

var (
	_ wrappers.Bufferer = (*clientDecoder)(nil)
	_ wrappers.Bufferer = (*serverDecoder)(nil)
	_ wrappers.Dropper  = (*Session)(nil)
)

func TestBufferedAndShrink(t *testing.T) {
	big := "*2\r\n$3\r\nGET\r\n$1000000\r\n" + strings.Repeat("k", 1000000) + "\r\n"
	stream := cmd3("PING") + cmd3("PING") + big + cmd3("PING")
	d := newSession().ClientDecoder(strings.NewReader(stream)).(*clientDecoder)
	var left []int
	for {
		if _, err := d.Next(); err != nil {
			break
		}
		left = append(left, d.Buffered())
	}
	// The first read takes the whole stream up to the buffer size: the
	// second PING is still buffered after the first.
	if len(left) != 4 || left[0] == 0 || left[3] != 0 {
		t.Errorf("Buffered after each message: %v", left)
	}
	if cap(d.p.rd.Buf) > bufread.ShrinkAbove {
		t.Errorf("the buffer grown by a 1 MB frame is kept: %d bytes", cap(d.p.rd.Buf))
	}
}

func cmd3(name string) string { return fmt.Sprintf("*1\r\n$%d\r\n%s\r\n", len(name), name) }

func TestLongStreamedAggregate(t *testing.T) {
	// A streamed array of 2000 elements in a 8 KB frame limit: the limit
	// is on bytes, not on a count estimated from the bytes left.
	in := "*?\r\n" + strings.Repeat(":1\r\n", 2000) + ".\r\n"
	s := Wire{}.NewSession(wrappers.Options{Limits: wrappers.Limits{MaxFrame: 8100}}).(*Session)
	s.push(call{})
	m, err := s.ServerDecoder(strings.NewReader(in)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := m.Term.(term.List); !ok || len(l) != 2000 {
		t.Fatalf("got %v", m.Term)
	}
	_, err = s.ServerDecoder(strings.NewReader("*?\r\n" + strings.Repeat(":1\r\n", 3000) + ".\r\n")).Next()
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || !fe.Limit {
		t.Fatalf("a streamed array over the frame limit: %v", err)
	}
}

// batchReader returns the whole batch on every Read, as a socket returns
// what a pipelining client sent since the last read.
type batchReader struct{ batch []byte }

func (r *batchReader) Read(p []byte) (int, error) { return copy(p, r.batch), nil }

// pipelineDepth is the batch of BenchmarkPipelined: redis-benchmark -P 16.
const pipelineDepth = 16

// BenchmarkPipelined measures what the proxy's hot path decodes per
// message under a pipelining client: a read of pipelineDepth GET commands
// (client), of as many short bulk replies (server). Each op is one batch;
// ns/msg is per message.
func BenchmarkPipelined(b *testing.B) {
	b.Run("client", func(b *testing.B) {
		s := newSession()
		d := s.ClientDecoder(&batchReader{[]byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", pipelineDepth))})
		b.ReportAllocs()
		for b.Loop() {
			for range pipelineDepth {
				if _, err := d.Next(); err != nil {
					b.Fatal(err)
				}
			}
			s.queued = s.queued[:0] // the replies came
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pipelineDepth), "ns/msg")
	})
	b.Run("server", func(b *testing.B) {
		s := newSession()
		calls := make([]call, pipelineDepth)
		d := s.ServerDecoder(&batchReader{[]byte(strings.Repeat("$3\r\nxxx\r\n", pipelineDepth))})
		b.ReportAllocs()
		for b.Loop() {
			s.queued = calls // the calls went out
			for range pipelineDepth {
				if _, err := d.Next(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pipelineDepth), "ns/msg")
	})
}

// BenchmarkPipelinedRecycled measures what the proxy's hot path decodes
// per GET under a pipelining client, both directions, with the terms given
// back as the proxy gives them (proxy/session_state.go): a read of
// pipelineDepth GET commands, then a read of as many short bulk replies,
// each reply given back once judged and its request kept for the client
// decoder, which takes the batch back before its next command. Each op is
// one batch; ns/msg is per GET (a command and its reply).
func BenchmarkPipelinedRecycled(b *testing.B) {
	s := newSession()
	cd := s.ClientDecoder(&batchReader{[]byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", pipelineDepth))})
	sd := s.ServerDecoder(&batchReader{[]byte(strings.Repeat("$3\r\nxxx\r\n", pipelineDepth))})
	cr, sr := cd.(wrappers.Recycler), sd.(wrappers.Recycler)
	reqs := make([]term.Term, pipelineDepth)
	freed := make([]term.Term, 0, pipelineDepth)
	b.ReportAllocs()
	for b.Loop() {
		for k := range reqs {
			for i, t := range freed {
				cr.Recycle(t)
				freed[i] = nil
			}
			freed = freed[:0]
			m, err := cd.Next()
			if err != nil {
				b.Fatal(err)
			}
			reqs[k] = m.Term
		}
		for k := range reqs {
			m, err := sd.Next()
			if err != nil {
				b.Fatal(err)
			}
			freed = append(freed, reqs[k])
			sr.Recycle(m.Term)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pipelineDepth), "ns/msg")
}

// TestStraysSaturate: stray confirmations added past what an int32 holds
// stay at the cap, positive, rather than wrap round to a negative count,
// which would have the confirmations still due taken for replies; and
// none are taken away below zero.
func TestStraysSaturate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start int32
		add   int
		want  int32
	}{
		{"small", 3, 4, 7},
		{"to the cap", math.MaxInt32 - 5, 5, math.MaxInt32},
		{"past the cap", math.MaxInt32 - 5, 1 << 20, math.MaxInt32},
		{"at the cap", math.MaxInt32, math.MaxInt32, math.MaxInt32},
		{"nothing", 0, 0, 0},
		{"not below zero", 2, -7, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession()
			*s.strays(opSubscribe) = tc.start
			s.addStrays(opSubscribe, tc.add)
			if got := *s.strays(opSubscribe); got != tc.want {
				t.Errorf("strays = %d, want %d", got, tc.want)
			}
			if other := *s.strays(opPsubscribe); other != 0 {
				t.Errorf("psubscribe strays = %d, want 0: only subscribe's count moves", other)
			}
		})
	}
}

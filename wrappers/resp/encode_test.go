package resp_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
)

// TestEncodeRoundTrip encodes terms of each side and decodes them again
// with the proxy's decoders: the terms come back.
func TestEncodeRoundTrip(t *testing.T) {
	tests := []struct {
		side wrappers.Side
		in   string
		want string // the term decoded, when it differs from in
		wire string
	}{
		{wrappers.Client, `{set, <<"k">>, <<"hello">>}`, "", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"},
		{wrappers.Client, `ping`, "", "*1\r\n$4\r\nPING\r\n"},
		{wrappers.Client, `{get, "k"}`, `{get, <<"k">>}`, ""},
		{wrappers.Client, `{expire, <<"k">>, 10}`, `{expire, <<"k">>, <<"10">>}`, ""},
		{wrappers.Server, `ok`, "", "+OK\r\n"},
		{wrappers.Server, `{error, <<"ERR x">>}`, "", "-ERR x\r\n"},
		{wrappers.Server, `42`, "", ":42\r\n"},
		{wrappers.Server, `nil`, "", "$-1\r\n"},
		{wrappers.Server, `<<"v">>`, "", "$1\r\nv\r\n"},
		{wrappers.Server, `[<<"a">>, nil, 3]`, "", ""},
		{wrappers.Server, `true`, "", "#t\r\n"},
	}
	for _, tt := range tests {
		in, err := term.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := resp.AppendEncode(nil, tt.side, in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if tt.wire != "" && string(b) != tt.wire {
			t.Errorf("%s: encoded %q, want %q", tt.in, b, tt.wire)
		}
		s := resp.Wire{}.NewSession(wrappers.Options{})
		var dec wrappers.Decoder
		if tt.side == wrappers.Client {
			dec = s.ClientDecoder(bytes.NewReader(b))
		} else {
			dec = s.ServerDecoder(bytes.NewReader(b))
		}
		m, err := dec.Next()
		if err != nil && err != io.EOF {
			t.Fatalf("%s: decoding %q: %v", tt.in, b, err)
		}
		want := tt.want
		if want == "" {
			want = tt.in
		}
		if got := term.String(m.Term.String()); string(got) != want {
			t.Errorf("%s: decoded %s, want %s", tt.in, got, want)
		}
	}
	for _, bad := range []string{`{1, 2}`, `[a]`, `{set, [1]}`} {
		in, _ := term.Parse(bad)
		if _, err := resp.AppendEncode(nil, wrappers.Client, in); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

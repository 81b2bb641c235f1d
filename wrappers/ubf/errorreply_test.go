package ubf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestErrorReplyShapes: ubf's {Req, Reply} when the request is known, and
// the explanation (a frame error: what and where) rather than 'undefined'
// when there was no message.
func TestErrorReplyShapes(t *testing.T) {
	tests := []struct {
		v    wrappers.Violation
		want string
	}{
		{wrappers.Violation{Side: wrappers.Server, Message: term.String("x"), Request: term.Atom("info"), States: []string{"start"}, Expected: []string{"string()"}},
			`{{'serverBrokeContract',{'info',"x"},#"string()"&},'start'}$` + "\n"},
		{wrappers.Violation{Side: wrappers.Client, States: []string{"start"}, Explanation: "ubf: byte 7: unexpected '.'"},
			`{{'clientBrokeContract',"ubf: byte 7: unexpected '.'",#},'start'}$` + "\n"},
		{wrappers.Violation{Side: wrappers.Server, Request: term.Atom("ls"), States: []string{"start"}, Explanation: "no reply within 5s"},
			`{{'serverBrokeContract',{'ls',"no reply within 5s"},#},'start'}$` + "\n"},
		// An event that ends the session (kill mode) is answered as a
		// request is: the client may be waiting for a reply.
		{wrappers.Violation{Side: wrappers.Client, Message: term.Atom("ping"), Event: true, States: []string{"active"}},
			`{{'clientBrokeContract','ping',#},'active'}$` + "\n"},
		{wrappers.Violation{Side: wrappers.Server, Message: term.Atom("tock"), Event: true, States: []string{"active"}, Expected: []string{"tick"}},
			`{{'serverBrokeContract','tock',#"tick"&},'active'}$` + "\n"},
	}
	for _, tt := range tests {
		got := ErrorReply(tt.v)
		if string(got) != tt.want {
			t.Errorf("ErrorReply(%+v) =\n %s\nwant\n %s", tt.v, got, tt.want)
		}
	}
}

// TestSimpleRPCErrorReply: in simple rpc, ubf's own error replies are bare
// (no state), and so are the proxy's.
func TestSimpleRPCErrorReply(t *testing.T) {
	v := wrappers.Violation{Side: wrappers.Client, Message: term.MustParse("{get, 42}"), States: []string{"start"}, Expected: []string{"{get, string()}"}}
	want := `{'clientBrokeContract',{'get',42},#"{get, string()}"&}$` + "\n"
	if got := (Wire{SimpleRPC: true}).NewSession(wrappers.Options{}).ErrorReply(v); string(got) != want {
		t.Errorf("simple rpc session: got %s want %s", got, want)
	}
	if got := (Wire{}).NewSession(wrappers.Options{}).ErrorReply(v); !strings.HasSuffix(string(got), ",'start'}$\n") {
		t.Errorf("with state: got %s", got)
	}
}

// TestErrorReplyBounded: a 13 KB UBF(A) frame whose registers stand for a
// term of 16 MB gets an error reply of about MaxEcho bytes, not one that
// echoes the whole term re-encoded.
func TestErrorReplyBounded(t *testing.T) {
	var in bytes.Buffer
	in.WriteString(`"` + strings.Repeat("x", 10000) + `">a #`)
	in.WriteString(strings.Repeat("a&", 1600))
	in.WriteString("$")
	s := NewSession(wrappers.Options{})
	m, err := s.ClientDecoder(bytes.NewReader(in.Bytes())).Next()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []wrappers.Violation{
		{Side: wrappers.Client, Message: m.Term, States: []string{"start"}},
		{Side: wrappers.Server, Message: m.Term, Request: m.Term, States: []string{"start"}},
	} {
		reply := s.ErrorReply(v)
		if len(reply) > 3*wrappers.MaxEcho {
			t.Errorf("%s: a frame of %d bytes got an error reply of %d bytes", v.Side, len(m.Raw), len(reply))
		}
		got, err := Decode(reply, wrappers.Limits{})
		if err != nil {
			t.Fatalf("the error reply does not decode: %v", err)
		}
		if !strings.Contains(got.String(), `...`) {
			t.Errorf("the echoed message is not marked as truncated: %s", term.Truncated(got, 200))
		}
	}
	// A message that fits is echoed as the term itself.
	small := term.MustParse(`{get, "a.txt"}`)
	if got, _ := Decode(ErrorReply(wrappers.Violation{Message: small}), wrappers.Limits{}); !strings.Contains(got.String(), small.String()) {
		t.Errorf("got %s", got)
	}
}

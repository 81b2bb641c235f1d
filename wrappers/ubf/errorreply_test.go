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
		// UBF(C) never answers an event: an illegal one, either way, has
		// no error reply (a client with a call in flight would take it
		// for that call's reply).
		{wrappers.Violation{Side: wrappers.Client, Message: term.Atom("ping"), Event: true, States: []string{"active"}}, ""},
		{wrappers.Violation{Side: wrappers.Server, Message: term.Atom("tock"), Event: true, States: []string{"active"}}, ""},
	}
	for _, tt := range tests {
		got := ErrorReply(tt.v)
		if string(got) != tt.want {
			t.Errorf("ErrorReply(%+v) =\n %s\nwant\n %s", tt.v, got, tt.want)
		}
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

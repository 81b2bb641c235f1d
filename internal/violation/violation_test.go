package violation

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

func TestLine(t *testing.T) {
	msg := term.MustParse(`{read_line, "x"}`)
	long := term.String(strings.Repeat("a", 300))
	tests := []struct {
		st          Style
		side        Side
		states      []string
		msg         term.Term
		explanation string
		expected    []string
		want        string
	}{
		{Plain, Client, []string{"ready"}, msg, "expected fileHandle()", nil,
			`client broke the contract in state ready: {read_line, "x"}: expected fileHandle()`},
		{Plain, Client, []string{"ready", "stop"}, msg, "", []string{"info"},
			`client broke the contract in states ready, stop: {read_line, "x"}`},
		{Plain, Server, nil, nil, "", nil, `server broke the contract`},
		{Reply, Client, []string{"ready", "stop"}, msg, "why", []string{"info"},
			`client broke the contract in state ready | stop: sent {read_line, "x"}: why`},
		{Reply, Server, []string{"ready"}, msg, "", []string{"ok", "{error, term()}"},
			`server broke the contract in state ready: replied {read_line, "x"}; expected ok | {error, term()}`},
		{Reply, Server, nil, nil, "", nil, `server broke the contract`},
		{Plain, Client, nil, long, "", nil, `client broke the contract: ` + term.Truncated(long, MaxMessage)},
	}
	for _, tc := range tests {
		var b strings.Builder
		Line(&b, tc.st, tc.side, tc.states, tc.msg, tc.explanation, tc.expected)
		if b.String() != tc.want {
			t.Errorf("Line =\n%s\nwant\n%s", b.String(), tc.want)
		}
	}
}

func TestKindNames(t *testing.T) {
	seen := map[string]Kind{}
	for k := BadRequest; k <= ServiceReported; k++ {
		n := k.String()
		if n == "unknown" || n == "" {
			t.Errorf("kind %d has no name", k)
		}
		if prev, ok := seen[n]; ok {
			t.Errorf("kinds %d and %d are both %q", prev, k, n)
		}
		seen[n] = k
	}
	if Kind(0).String() != "unknown" || (ServiceReported+1).String() != "unknown" {
		t.Error("a kind out of range has a name")
	}
	for k := BadRequest; k <= ServiceReported; k++ {
		if k.Event() != (k == BadEvent || k == WrongDirection) {
			t.Errorf("%s.Event() = %v", k, k.Event())
		}
	}
	if Client.String() != "client" || Server.String() != "server" {
		t.Errorf("sides %s %s", Client, Server)
	}
}

package ubf

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

func TestPrelude(t *testing.T) {
	if _, _, ok := (Wire{}).PreludeContract(); ok {
		t.Error("a Wire without Meta has a prelude")
	}
	if file, src, ok := (Wire{Meta: true}).PreludeContract(); !ok || file != "meta.con" || len(src) == 0 {
		t.Errorf("PreludeContract() = %q, %d bytes, %v", file, len(src), ok)
	}
	for _, tc := range []struct {
		req  string
		name string
		ok   bool
	}{
		{`{startSession, "counter", []}`, "counter", true},
		{`{startSession, <<"counter">>, x}`, "counter", true},
		{`{startSession, counter, []}`, "", false},
		{`{startSession, "counter"}`, "", false},
		{`{restartService, "counter", []}`, "", false},
		{`startSession`, "", false},
	} {
		if name, ok := (Wire{}).StartRequest(term.MustParse(tc.req)); name != tc.name || ok != tc.ok {
			t.Errorf("StartRequest(%s) = %q, %v; want %q, %v", tc.req, name, ok, tc.name, tc.ok)
		}
	}
	for _, tc := range []struct {
		reply string
		want  bool
	}{{`{ok, x}`, true}, {`{ok, x, y}`, false}, {`{error, x}`, false}, {`ok`, false}} {
		if got := (Wire{}).Started(term.MustParse(tc.reply)); got != tc.want {
			t.Errorf("Started(%s) = %v", tc.reply, got)
		}
	}
	if got := (Wire{}).StartExpected("counter"); got != `{startSession, "counter", term()}` {
		t.Errorf("StartExpected = %s", got)
	}
}

func TestSelfReport(t *testing.T) {
	for _, tc := range []struct {
		reply, req string
		ok         bool
		side       wrappers.Side
		msg, rq    string // "" for nil
	}{
		{`{clientBrokeContract, {add, 7}, []}`, `{add, 7}`, true, wrappers.Client, `{add, 7}`, ""},
		{`{clientBrokeContract, {add, 8}, []}`, `{add, 7}`, false, 0, "", ""},
		{`{serverBrokeContract, {info, "I am"}, []}`, `info`, true, wrappers.Server, `"I am"`, `info`},
		{`{serverBrokeContract, {help, "I am"}, []}`, `info`, false, 0, "", ""},
		{`{serverBrokeContract, info, []}`, `info`, false, 0, "", ""},
		{`{ok, 1, 2}`, `info`, false, 0, "", ""},
		{`{clientBrokeContract, x}`, `x`, false, 0, "", ""},
	} {
		v, ok := (Wire{}).SelfReport(term.MustParse(tc.reply), term.MustParse(tc.req))
		if ok != tc.ok {
			t.Errorf("SelfReport(%s, %s) ok = %v", tc.reply, tc.req, ok)
			continue
		}
		if !ok {
			continue
		}
		termOf := func(s string) term.Term {
			if s == "" {
				return nil
			}
			return term.MustParse(s)
		}
		if v.Side != tc.side || !term.Equal(v.Message, termOf(tc.msg)) || !term.Equal(v.Request, termOf(tc.rq)) || v.Explanation == "" {
			t.Errorf("SelfReport(%s, %s) = %+v", tc.reply, tc.req, v)
		}
	}
}

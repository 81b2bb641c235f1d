package checker

import (
	"errors"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// sessionContract is the file server of the talk plus what the session
// tests need: an +anystate rule that overlaps a state rule (precedence), a
// request whose reply is none(), a reply leading to two states, events in
// both directions.
const sessionContract = `
+deftype fileName()   = string().
+deftype fileHandle() = integer().

+state start x {open, fileName(), read | write} ->
      {ok, fileHandle()} x ready
    | {error, string()}  x stop.
+state ready x {read_line, fileHandle()} ->
      {ok, string()} x ready
    | eof            x atEof.
+state ready | atEof x {close, fileHandle()}  -> true x stop.
+state ready | atEof x {rewind, fileHandle()} -> true x ready.
+state ready x {shutdown, fileHandle()} -> no_return() x stop.
+state start x {fork, fileName()} -> ok x ready | ok x atEof.
+anystate info -> string().
+anystate {read_line, fileHandle()} -> eof.
+event ready out {msg, string()}.
+event ready in ping.
+anystate event out tick.
`

func compileContract(t testing.TB, src string) *contract.Contract {
	t.Helper()
	c, diags := contract.Compile("test.con", []byte(src), contract.Options{})
	if diags.HasErrors() || c == nil {
		t.Fatalf("test contract does not compile: %v", diags)
	}
	return c
}

// step is one message of a conversation, or a close.
type step struct {
	op     string // call, reply, reply@STATE, in, out, close-client, close-server
	msg    string
	want   string // "" when legal, else the violation's Error()
	kind   Kind   // checked when want != ""
	states string // States() after the step, comma separated; "" to skip
}

func runSteps(t *testing.T, s *Session, steps []step) {
	t.Helper()
	for i, st := range steps {
		var msg term.Term
		if st.msg != "" {
			msg = term.MustParse(st.msg)
		}
		var v *Violation
		switch {
		case st.op == "call":
			v = s.Call(msg)
		case st.op == "reply":
			v = s.Reply(msg)
		case strings.HasPrefix(st.op, "reply@"):
			v = s.ReplyState(msg, strings.TrimPrefix(st.op, "reply@"))
		case st.op == "in":
			v = s.EventIn(msg)
		case st.op == "out":
			v = s.EventOut(msg)
		case st.op == "close-client":
			v = s.Close(Client)
		case st.op == "close-server":
			v = s.Close(Server)
		default:
			t.Fatalf("step %d: unknown op %q", i+1, st.op)
		}
		switch {
		case v == nil && st.want != "":
			t.Fatalf("step %d (%s %s): legal, want violation %q", i+1, st.op, st.msg, st.want)
		case v != nil && st.want == "":
			t.Fatalf("step %d (%s %s): unexpected violation: %v", i+1, st.op, st.msg, v)
		case v != nil && v.Error() != st.want:
			t.Fatalf("step %d (%s %s):\n got: %s\nwant: %s", i+1, st.op, st.msg, v.Error(), st.want)
		case v != nil && v.Kind != st.kind:
			t.Fatalf("step %d (%s %s): kind %v, want %v", i+1, st.op, st.msg, v.Kind, st.kind)
		}
		if st.states != "" {
			if got := strings.Join(s.States(), ","); got != st.states {
				t.Fatalf("step %d (%s %s): states %s, want %s", i+1, st.op, st.msg, got, st.states)
			}
		}
	}
}

func TestSession(t *testing.T) {
	c := compileContract(t, sessionContract)
	m := Prepare(c)
	cases := []struct {
		name  string
		opts  Options
		steps []step
		done  bool
	}{
		{name: "whole conversation", done: true, steps: []step{
			{op: "call", msg: `{open, "foo.dat", read}`},
			{op: "reply", msg: `{ok, 7}`, states: "ready"},
			{op: "call", msg: `{read_line, 7}`},
			{op: "reply", msg: `{ok, "line 1"}`, states: "ready"},
			{op: "call", msg: `{read_line, 7}`},
			{op: "reply", msg: `eof`, states: "atEof"},
			{op: "call", msg: `{close, 7}`},
			{op: "reply", msg: `true`, states: "stop"},
		}},
		{name: "client breaks it", steps: []step{
			{op: "call", msg: `{open, "f", append}`, kind: BadRequest, states: "start",
				want: `client broke the contract in state start: {open, "f", append}: element 3 of {open, "f", append}: expected read | write, got append`},
		}},
		{name: "explanation follows the named type", steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{read_line, "x"}`, kind: BadRequest,
				want: `client broke the contract in state ready: {read_line, "x"}: element 2 of {read_line, "x"}: expected fileHandle() = integer(), got "x"`},
		}},
		{name: "unknown message", steps: []step{
			{op: "call", msg: `hello`, kind: BadRequest,
				want: `client broke the contract in state start: hello: expected {open, fileName(), read | write} | {fork, fileName()} | info | {read_line, fileHandle()}, got hello`},
		}},
		{name: "server breaks it", steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, "seven"}`, kind: BadReply, states: "start",
				want: `server broke the contract in state start: {ok, "seven"}: element 2 of {ok, "seven"}: expected fileHandle() = integer(), got "seven" (reply to {open, "f", read})`},
		}},
		{name: "anystate applies when no state rule does, keeping the state", steps: []step{
			{op: "call", msg: `info`},
			{op: "reply", msg: `"file server 1.0"`, states: "start"},
			{op: "call", msg: `{read_line, 7}`}, // only the +anystate rule accepts it in start
			{op: "reply", msg: `{ok, "x"}`, kind: BadReply,
				want: `server broke the contract in state start: {ok, "x"}: expected eof, got {ok, "x"} (reply to {read_line, 7})`},
			{op: "reply", msg: `eof`, states: "start"},
		}},
		{name: "state rule takes precedence over anystate", steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{read_line, 7}`},
			// eof fits both; the state rule wins and leads to atEof.
			{op: "reply", msg: `eof`, states: "atEof"},
		}},
		{name: "terminal state ends the conversation", done: true, steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{error, "enoent"}`, states: "stop"},
			{op: "call", msg: `info`, kind: AfterEnd,
				want: `client broke the contract in state stop: info: the conversation ended in a terminal state; no message may follow`},
			{op: "out", msg: `tick`, kind: AfterEnd,
				want: `server broke the contract in state stop: tick: the conversation ended in a terminal state; no message may follow`},
		}},
		{name: "several matching outputs are followed as a set", steps: []step{
			{op: "call", msg: `{fork, "f"}`},
			{op: "reply", msg: `ok`, states: "ready,atEof"},
			// ready: its own rule; atEof: only +anystate.
			{op: "call", msg: `{read_line, 1}`},
			{op: "reply", msg: `{ok, "l"}`, states: "ready"},
		}},
		{name: "a set collapses when both lead to one state", steps: []step{
			{op: "call", msg: `{fork, "f"}`},
			{op: "reply", msg: `ok`, states: "ready,atEof"},
			{op: "call", msg: `{read_line, 1}`},
			{op: "reply", msg: `eof`, states: "atEof"},
		}},
		{name: "a request legal in one state of the set", done: true, steps: []step{
			{op: "call", msg: `{fork, "f"}`},
			{op: "reply", msg: `ok`},
			{op: "call", msg: `{shutdown, 1}`},
			{op: "reply", msg: `anything`, states: "stop"},
		}},
		{name: "announced next state", steps: []step{
			{op: "call", msg: `{fork, "f"}`},
			{op: "reply@atEof", msg: `ok`, states: "atEof"},
		}},
		{name: "announced next state not allowed", steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply@atEof", msg: `{ok, 7}`, kind: BadNextState, states: "start",
				want: `server broke the contract in state start: {ok, 7}: announced next state atEof, but the contract allows only ready after this reply`},
			{op: "reply@nowhere", msg: `{ok, 7}`, kind: BadNextState,
				want: `server broke the contract in state start: {ok, 7}: announced next state nowhere, but the contract allows only ready after this reply`},
			{op: "reply@ready", msg: `{ok, 7}`, states: "ready"},
		}},
		{name: "events in both directions", steps: []step{
			{op: "out", msg: `tick`}, // +anystate event
			{op: "out", msg: `{msg, "hi"}`, kind: BadEvent,
				want: `server broke the contract in state start: {msg, "hi"}: expected tick, got {msg, "hi"}`},
			{op: "in", msg: `ping`, kind: BadEvent,
				want: `client broke the contract in state start: ping: no client event (in) is allowed here`},
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`},
			{op: "out", msg: `{msg, "hi"}`},
			{op: "in", msg: `ping`},
			{op: "out", msg: `tick`, states: "ready"},
		}},
		{name: "events in the wrong direction", steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`},
			{op: "out", msg: `ping`, kind: WrongDirection,
				want: `server broke the contract in state ready: ping: declared as an event from the client (in), not from the server (out)`},
			{op: "in", msg: `tick`, kind: WrongDirection,
				want: `client broke the contract in state ready: tick: declared as an event from the server (out), not from the client (in)`},
			{op: "in", msg: `pong`, kind: BadEvent,
				want: `client broke the contract in state ready: pong: expected ping, got pong`},
		}},
		{name: "reply without a request", steps: []step{
			{op: "reply", msg: `{ok, 1}`, kind: UnexpectedReply,
				want: `server broke the contract in state start: {ok, 1}: a reply with no request outstanding`},
		}},
		{name: "pipelined requests", done: true, steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "call", msg: `{read_line, 7}`}, // legal once the reply leads to ready
			{op: "call", msg: `{close, 7}`},
			{op: "reply", msg: `{ok, 7}`, states: "ready"},
			{op: "reply", msg: `{ok, "l"}`, states: "ready"},
			{op: "reply", msg: `true`, states: "stop"},
		}},
		{name: "pipelined request illegal wherever the reply leads", steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "call", msg: `{open, "g", read}`, kind: BadRequest,
				want: `client broke the contract in states ready, stop: {open, "g", read}: expected {read_line, fileHandle()} | {close, fileHandle()} | {rewind, fileHandle()} | {shutdown, fileHandle()} | info, got {open, "g", read} (checked against the states the pending replies may lead to)`},
		}},
		{name: "pipelined request made illegal by the reply", done: true, steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "call", msg: `{close, 7}`},
			{op: "reply", msg: `{error, "enoent"}`, kind: PipelinedRequest, states: "stop",
				want: `client broke the contract in state stop: {close, 7}: request pipelined before the reply that ended the conversation`},
		}},
		{name: "pipelined request illegal in the state reached", steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{read_line, 7}`},
			{op: "call", msg: `{shutdown, 7}`}, // legal in ready, not in atEof
			{op: "reply", msg: `eof`, kind: PipelinedRequest, states: "atEof",
				want: `client broke the contract in state atEof: {shutdown, 7}: request pipelined before the reply that led here, and not legal here: expected {close, fileHandle()} | {rewind, fileHandle()} | info | {read_line, fileHandle()}, got {shutdown, 7}`},
		}},
		{name: "too many pending", opts: Options{MaxPending: 2}, steps: []step{
			{op: "call", msg: `info`},
			{op: "call", msg: `info`},
			{op: "call", msg: `info`, kind: TooManyPending,
				want: `client broke the contract in state start: info: 2 requests already await their reply (the limit)`},
			{op: "reply", msg: `"a"`},
			{op: "call", msg: `info`},
		}},
		{name: "server closes with a request unanswered", done: true, steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "close-server", kind: Unanswered,
				want: `server broke the contract in state start: {open, "f", read}: the server closed the connection without replying`},
			{op: "call", msg: `info`, kind: AfterEnd,
				want: `client broke the contract in state start: info: the connection was closed; no message may follow`},
		}},
		{name: "server closes instead of answering none()", done: true, steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{shutdown, 7}`},
			{op: "close-server"},
		}},
		{name: "server closes when idle", done: true, steps: []step{
			{op: "close-server"},
		}},
		{name: "client closes with a request pending", done: true, steps: []step{
			{op: "call", msg: `{open, "f", read}`},
			{op: "close-client"},
			{op: "reply", msg: `{ok, 7}`, kind: AfterEnd,
				want: `server broke the contract in state start: {ok, 7}: the connection was closed; no message may follow`},
		}},
		{name: "initial state from options", opts: Options{Initial: "ready"}, steps: []step{
			{op: "call", msg: `{rewind, 1}`, states: "ready"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := m.NewSession(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			runSteps(t, s, tc.steps)
			if s.Done() != tc.done {
				t.Errorf("Done() = %v, want %v", s.Done(), tc.done)
			}
		})
	}
}

// TestStatelessContract: a contract that declares no state, only the
// talk's stateless API form and +anystate rules and events, accepts its
// requests for as long as the conversation lasts (it used to start in stop
// and refuse everything), in the state none that ubf's stateless services
// announce.
func TestStatelessContract(t *testing.T) {
	c := compileContract(t, `
+type file:info() -> string().
+type file:stat(string()) -> {ok, integer()} | {error, string()}.
+anystate ping -> pong.
+anystate event out {tick, integer()}.
`)
	s, err := Prepare(c).NewSession(Options{})
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, s, []step{
		{op: "call", msg: `{info}`, states: "none"},
		{op: "reply", msg: `"v1"`, states: "none"},
		{op: "out", msg: `{tick, 1}`},
		{op: "call", msg: `{stat, "f"}`},
		{op: "call", msg: `ping`},
		{op: "reply", msg: `{ok, 7}`},
		{op: "reply", msg: `pong`, states: "none"},
		// ubf's statelessrpc services announce none with every reply.
		{op: "call", msg: `ping`},
		{op: "reply@none", msg: `pong`, states: "none"},
		{op: "call", msg: `{stat, 1}`, kind: BadRequest,
			want: `client broke the contract in state none: {stat, 1}: element 2 of {stat, 1}: expected string(), got 1`},
		{op: "call", msg: `{info}`},
		{op: "reply", msg: `42`, kind: BadReply,
			want: `server broke the contract in state none: 42: expected string(), got 42 (reply to {info})`},
	})
	if s.Done() {
		t.Error("a stateless conversation is never done by the contract")
	}
}

func TestSessionUnknownInitial(t *testing.T) {
	c := compileContract(t, sessionContract)
	if _, err := Prepare(c).NewSession(Options{Initial: "nowhere"}); err == nil || err.Error() != `checker: the contract has no state "nowhere"` {
		t.Fatalf("err = %v", err)
	}
	s := NewSession(c, Options{Initial: "nowhere"})
	v := s.Call(term.Atom("info"))
	if v == nil || v.Kind != InvalidSession || v.Error() != `client broke the contract: info: checker: the contract has no state "nowhere"` {
		t.Fatalf("violation = %v", v)
	}
	if !s.Done() {
		t.Error("an invalid session should be done")
	}
}

// TestMachineSessionsShareTheIndex: the sessions of one Machine share its
// rule index, and a bad initial state gives an error together with a
// session that refuses everything, never a nil one.
func TestMachineSessionsShareTheIndex(t *testing.T) {
	m := Prepare(compileContract(t, sessionContract))
	a, errA := m.NewSession(Options{})
	b, errB := m.NewSession(Options{})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a.m != b.m {
		t.Fatal("two sessions of one Machine have their own index")
	}
	if v := a.Call(term.MustParse(`{open, "f", read}`)); v != nil {
		t.Fatal(v)
	}
	bad, err := m.NewSession(Options{Initial: "nowhere"})
	if err == nil || bad == nil {
		t.Fatalf("initial state nowhere: session %v, error %v", bad, err)
	}
	if v := bad.Call(term.Atom("info")); v == nil || v.Kind != InvalidSession {
		t.Fatalf("a session with an unknown initial state accepted a call: %v", v)
	}
}

func TestViolationExpected(t *testing.T) {
	c := compileContract(t, sessionContract)
	s := NewSession(c, Options{})
	v := s.Call(term.MustParse(`{open, "f", append}`))
	if v == nil {
		t.Fatal("no violation")
	}
	got := strings.Join(v.ExpectedStrings(), "; ")
	want := "{open, fileName(), read | write}; {fork, fileName()}; info; {read_line, fileHandle()}"
	if got != want {
		t.Errorf("ExpectedStrings = %s, want %s", got, want)
	}
	if v.Side != Client || v.Kind.String() != "bad-request" {
		t.Errorf("side %v kind %v", v.Side, v.Kind)
	}
	if v := s.Call(term.MustParse(`{open, "f", read}`)); v != nil {
		t.Fatal(v)
	}
	v = s.Reply(term.MustParse(`{ok, x}`))
	if got := strings.Join(v.ExpectedStrings(), "; "); got != "{ok, fileHandle()}; {error, string()}" {
		t.Errorf("reply ExpectedStrings = %s", got)
	}
	if v.Request.String() != `{open, "f", read}` {
		t.Errorf("Request = %v", v.Request)
	}
}

// TestManyRulesIndexed: a state with 1,000 rules answers by index, and the
// explanation of a bad request names the candidate with the same tag.
func TestManyRulesIndexed(t *testing.T) {
	c := compileContract(t, manyRules(1000))
	s := NewSession(c, Options{})
	if v := s.Call(term.MustParse(`{op777, 1, <<"x">>}`)); v != nil {
		t.Fatal(v)
	}
	if v := s.Reply(term.MustParse(`{ok777, 5}`)); v != nil {
		t.Fatal(v)
	}
	v := s.Call(term.MustParse(`{op777, x, <<"x">>}`))
	want := `client broke the contract in state s: {op777, x, <<"x">>}: element 2 of {op777, x, <<"x">>}: expected integer(), got x`
	if v == nil || v.Error() != want {
		t.Fatalf("got %v\nwant %s", v, want)
	}
	if len(v.Expected) != 1000 {
		t.Errorf("%d expected types, want 1000", len(v.Expected))
	}
	m := Prepare(c)
	if n := len(m.core.states[m.core.index["s"]].rules.lookup(term.MustParse(`{op5, 1, <<>>}`))); n != 1 {
		t.Errorf("lookup gives %d candidate rules, want 1", n)
	}
}

func manyRules(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("+state s x {op")
		b.WriteString(itoa(i))
		b.WriteString(", integer(), binary()} -> {ok")
		b.WriteString(itoa(i))
		b.WriteString(", integer()} x s | {error, string()} x s.\n")
	}
	return b.String()
}

func itoa(i int) string { return term.Int(int64(i)).String() }

// TestCallReplyDoesNotAllocate: the hot path of the proxy, a request and
// its reply, allocates nothing once the session is warm.
func TestCallReplyDoesNotAllocate(t *testing.T) {
	s := start(t, Prepare(compileContract(t, sessionContract)), Options{})
	open := term.MustParse(`{open, "f", read}`)
	ok := term.MustParse(`{ok, 7}`)
	read := term.MustParse(`{read_line, 7}`)
	line := term.MustParse(`{ok, "l"}`)
	info := term.MustParse(`info`)
	str := term.MustParse(`"v"`)
	if s.Call(open) != nil || s.Reply(ok) != nil {
		t.Fatal("open refused")
	}
	n := testing.AllocsPerRun(200, func() {
		if s.Call(read) != nil || s.Reply(line) != nil || s.Call(info) != nil || s.Reply(str) != nil {
			t.Fatal("refused")
		}
		// Two calls, then their two replies: each check is a step.
		call1, call2 := s.Call(read), s.Call(read)
		reply1, reply2 := s.Reply(line), s.Reply(line)
		if call1 != nil || call2 != nil || reply1 != nil || reply2 != nil {
			t.Fatal("pipelined refused")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per request and reply", n)
	}
}

// TestMachineSharedBySessions runs conversations on one Machine from
// several goroutines (go test -race checks that the index is read-only).
func TestMachineSharedBySessions(t *testing.T) {
	c := compileContract(t, sessionContract)
	m := Prepare(c)
	msgs := []string{`{open, "f", read}`, `{ok, 7}`, `{read_line, 7}`, `eof`, `{close, 7}`, `true`}
	terms := make([]term.Term, len(msgs))
	for i, s := range msgs {
		terms[i] = term.MustParse(s)
	}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for n := 0; n < 200; n++ {
				s, err := m.NewSession(Options{})
				if err != nil {
					errs <- err
					return
				}
				for i := 0; i < len(terms); i += 2 {
					if v := s.Call(terms[i]); v != nil {
						errs <- v
						return
					}
					if v := s.Reply(terms[i+1]); v != nil {
						errs <- v
						return
					}
				}
				if !s.Done() {
					errs <- errors.New("conversation did not end")
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

package checker

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

// transitionsContract speaks like FTP and IRC: a greeting, a call with two
// replies in a row (150 then 226 as an out transition), client messages
// with no reply, events, and a call that need not be answered.
const transitionsContract = `
+deftype word() = string(pattern("[^ ]+")).
+state start out {220, string()} x ready.
+state ready x {retr, string()} -> {150, string()} x sending | {550, string()} x ready.
+state sending out {226, string()} x ready | {426, string()} x ready.
+state ready in {say, word(), ..[word()]} x ready.
+state ready in {part, word()} x parted.
+state parted x {join, word()} -> ok x ready.
+event ready out {notice, string()}.
+state ready x {fire, string()} -> none() x ready.
+state ready x quit -> {221, string()} x stop.
+anystate event in ping.
`

// varsContract is the file server with a handle variable, and a nick
// bound by a request and used in its own reply.
const varsContract = `
+deftype fileName()   = string().
+deftype fileHandle() = integer().
+deftype nick()       = string(pattern("[a-z]+")).
+state start x {open, fileName(), read | write} ->
      {ok, H = fileHandle()} x ready | {error, string()} x stop.
+state start x {nick, N = nick()} -> {welcome, N} x start.
+state ready x {read_line, H} -> {ok, string()} x ready | eof x atEof.
+state ready | atEof x {close, H} -> true x stop.
+state ready x {reopen, fileName()} -> {ok, H = fileHandle()} x ready.
+state start x {fork, fileName()} -> {ok, H = fileHandle()} x ready | {ok, H = fileHandle(), other} x atEof.
+state atEof x {rewind, H} -> true x ready.
+state start x {whoami, N} -> ok x start.
`

// roleStep is a message checked with Client or Server (or an explicit
// method), with the role it should be given.
type roleStep struct {
	op     string // client, server, call, reply, in, out, close-server
	msg    string
	role   Role   // for client and server, when legal
	want   string // "" when legal, else a substring of the violation's Error()
	kind   Kind   // checked when want != ""
	states string // States() after the step, comma separated; "" to skip
}

func runRoles(t *testing.T, s *Session, steps []roleStep) {
	t.Helper()
	for i, st := range steps {
		var msg term.Term
		if st.msg != "" {
			msg = term.MustParse(st.msg)
		}
		var v *Violation
		var role Role
		switch st.op {
		case "client":
			role, v = s.Client(msg)
		case "server":
			role, v = s.Server(msg)
		case "call":
			v = s.Call(msg)
		case "reply":
			v = s.Reply(msg)
		case "in":
			v = s.EventIn(msg)
		case "out":
			v = s.EventOut(msg)
		case "close-server":
			v = s.Close(Server)
		default:
			t.Fatalf("step %d: unknown op %q", i+1, st.op)
		}
		switch {
		case v == nil && st.want != "":
			t.Fatalf("step %d (%s %s): legal (%v), want violation %q", i+1, st.op, st.msg, role, st.want)
		case v != nil && st.want == "":
			t.Fatalf("step %d (%s %s): unexpected violation: %v", i+1, st.op, st.msg, v)
		case v != nil && !strings.Contains(v.Error(), st.want):
			t.Fatalf("step %d (%s %s):\n got: %s\nwant it to contain: %s", i+1, st.op, st.msg, v.Error(), st.want)
		case v != nil && v.Kind != st.kind:
			t.Fatalf("step %d (%s %s): kind %v, want %v (%v)", i+1, st.op, st.msg, v.Kind, st.kind, v)
		case v == nil && st.role != 0 && role != st.role:
			t.Fatalf("step %d (%s %s): role %v, want %v", i+1, st.op, st.msg, role, st.role)
		}
		if st.states != "" {
			if got := strings.Join(s.States(), ","); got != st.states {
				t.Fatalf("step %d (%s %s): states %s, want %s", i+1, st.op, st.msg, got, st.states)
			}
		}
	}
}

func TestTransitions(t *testing.T) {
	m := Prepare(compileContract(t, transitionsContract))
	greet := roleStep{op: "server", msg: `{220, "hello"}`, role: RoleTransition, states: "ready"}
	cases := []struct {
		name  string
		steps []roleStep
	}{
		{"greeting is an out transition", []roleStep{greet}},
		{"client speaks before the greeting", []roleStep{
			{op: "client", msg: `quit`, kind: BadRequest, states: "start",
				want: "client broke the contract in state start: quit: the server speaks next in this state (it defines only out transitions); expected ping, got quit"},
		}},
		{"a call with two replies in a row", []roleStep{
			greet,
			{op: "client", msg: `{retr, "f"}`, role: RoleCall},
			{op: "server", msg: `{150, "opening"}`, role: RoleReply, states: "sending"},
			{op: "server", msg: `{226, "done"}`, role: RoleTransition, states: "ready"},
			{op: "client", msg: `{retr, "g"}`, role: RoleCall},
			{op: "server", msg: `{550, "no"}`, role: RoleReply, states: "ready"},
		}},
		{"the client may not speak while the server sends", []roleStep{
			greet,
			{op: "client", msg: `{retr, "f"}`},
			{op: "server", msg: `{150, "opening"}`},
			{op: "client", msg: `{say, "hi"}`, kind: BadRequest, states: "sending",
				want: "the server speaks next in this state"},
			{op: "client", msg: `ping`, role: RoleEvent, states: "sending"},
		}},
		{"in transitions and events", []roleStep{
			greet,
			{op: "client", msg: `{say, "hello", "world", "again"}`, role: RoleEvent, states: "ready"},
			{op: "client", msg: `{say, "hello"}`, role: RoleEvent},
			{op: "client", msg: `{say, "two words"}`, kind: BadRequest,
				want: `element 2 of {say, "two words"}: expected word() = string(pattern("[^ ]+")), got "two words"`},
			{op: "server", msg: `{notice, "x"}`, role: RoleEvent, states: "ready"},
			{op: "client", msg: `{part, "#c"}`, role: RoleTransition, states: "parted"},
			{op: "client", msg: `{say, "hi"}`, kind: BadRequest, states: "parted",
				want: `expected {join, word()} | ping, got {say, "hi"}`},
			{op: "client", msg: `{join, "#c"}`, role: RoleCall},
			{op: "server", msg: `ok`, role: RoleReply, states: "ready"},
		}},
		{"a server message no call and no transition accepts", []roleStep{
			greet,
			{op: "server", msg: `{notice, 7}`, kind: BadEvent,
				want: `element 2 of {notice, 7}: expected string(), got 7`},
		}},
		{"a bad reply is the pending call's", []roleStep{
			greet,
			{op: "client", msg: `{retr, "f"}`},
			{op: "server", msg: `{226, "done"}`, kind: BadReply, states: "ready",
				want: `(reply to {retr, "f"})`},
		}},
		{"an event while a call is pending keeps the call pending", []roleStep{
			greet,
			{op: "client", msg: `{retr, "f"}`},
			{op: "server", msg: `{notice, "busy"}`, role: RoleEvent},
			{op: "server", msg: `{150, "opening"}`, role: RoleReply, states: "sending"},
		}},
		{"explicit methods", []roleStep{
			{op: "out", msg: `{220, "hello"}`, states: "ready"},
			{op: "call", msg: `{say, "x"}`, kind: BadRequest, want: `expected {retr, string()} | {fire, string()} | quit, got {say, "x"}`},
			{op: "in", msg: `{say, "x"}`, states: "ready"},
			{op: "in", msg: `{notice, "x"}`, kind: WrongDirection, want: "declared as an event from the server (out)"},
			{op: "out", msg: `ping`, kind: WrongDirection, want: "declared as an event from the client (in)"},
			{op: "call", msg: `quit`},
			{op: "reply", msg: `{221, "bye"}`, states: "stop"},
			{op: "server", msg: `{notice, "x"}`, kind: AfterEnd, want: "the conversation ended in a terminal state"},
		}},
		{"a reply with nothing pending", []roleStep{
			greet,
			{op: "reply", msg: `{221, "bye"}`, kind: UnexpectedReply, want: "a reply with no request outstanding"},
		}},
		{"none() need not be answered", []roleStep{
			greet,
			{op: "client", msg: `{fire, "x"}`, role: RoleCall},
			{op: "close-server"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := m.NewSession(Options{})
			if err != nil {
				t.Fatal(err)
			}
			runRoles(t, s, c.steps)
		})
	}
}

// TestReplyDue: the reply time-out applies to calls whose reply is not
// none(), never to transitions.
func TestReplyDue(t *testing.T) {
	s := start(t, Prepare(compileContract(t, transitionsContract)), Options{})
	for _, st := range []struct{ op, msg string }{{"server", `{220, "hi"}`}, {"client", `{retr, "f"}`}, {"client", `{fire, "x"}`}} {
		var v *Violation
		if st.op == "server" {
			_, v = s.Server(term.MustParse(st.msg))
		} else {
			_, v = s.Client(term.MustParse(st.msg))
		}
		if v != nil {
			t.Fatal(v)
		}
	}
	if s.Pending() != 2 || !s.ReplyDue(0) || s.ReplyDue(1) || s.ReplyDue(2) {
		t.Errorf("pending %d, due %v %v %v; want 2, true false false", s.Pending(), s.ReplyDue(0), s.ReplyDue(1), s.ReplyDue(2))
	}
}

// TestReplyDueFromBothEnds: ReplyDue finds the i-th pending call whichever
// end of the queue it counts from, with in transitions and events queued
// between the calls and the queue wrapped round its ring.
func TestReplyDueFromBothEnds(t *testing.T) {
	s := start(t, Prepare(compileContract(t, transitionsContract)), Options{MaxPending: 8})
	if _, v := s.Server(term.MustParse(`{220, "hi"}`)); v != nil {
		t.Fatal(v)
	}
	var due []bool // what ReplyDue must say of each pending call, oldest first
	send := func(msg string) {
		t.Helper()
		role, v := s.Client(term.MustParse(msg))
		if v != nil {
			t.Fatalf("%s: %v", msg, v)
		}
		if role == RoleCall {
			due = append(due, msg != `{fire, "x"}`)
		}
	}
	check := func() {
		t.Helper()
		if s.Pending() != len(due) {
			t.Fatalf("pending %d, want %d", s.Pending(), len(due))
		}
		for i, want := range due {
			if got := s.ReplyDue(i); got != want {
				t.Errorf("ReplyDue(%d) of %d = %v, want %v", i, len(due), got, want)
			}
		}
		if s.ReplyDue(-1) || s.ReplyDue(len(due)) {
			t.Errorf("ReplyDue out of range is true")
		}
	}
	reply := func() {
		t.Helper()
		if v := s.Reply(term.MustParse(`{550, "no"}`)); v != nil {
			t.Fatal(v)
		}
		due = due[1:]
	}
	for _, msg := range []string{`{retr, "a"}`, `{say, "w"}`, `{retr, "b"}`, `ping`, `{retr, "c"}`} {
		send(msg)
	}
	check()
	reply()
	reply()
	for _, msg := range []string{`{say, "w"}`, `{retr, "d"}`, `ping`, `{retr, "e"}`, `{retr, "f"}`} {
		send(msg)
	}
	check() // the queue now wraps round the ring's end
	reply()
	send(`{retr, "g"}`)
	check()
	// A call the service need never answer (none()) is not due: the
	// newest, counted from the queue's end.
	send(`{fire, "x"}`)
	check()

	// A contract with no none() reply: every pending call is due,
	// transitions queued between them are not counted.
	s, _ = Prepare(compileContract(t, `
+state s x {op, integer()} -> ok x s.
+state s in note x s.
`)).NewSession(Options{})
	due = nil
	for _, msg := range []string{`{op, 1}`, `note`, `{op, 2}`, `note`, `{op, 3}`} {
		send(msg)
	}
	check()
}

func TestVariables(t *testing.T) {
	m := Prepare(compileContract(t, varsContract))
	cases := []struct {
		name  string
		steps []roleStep
	}{
		{"the handle open gave", []roleStep{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`, states: "ready"},
			{op: "call", msg: `{read_line, 7}`},
			{op: "reply", msg: `eof`, states: "atEof"},
			{op: "call", msg: `{rewind, 7}`},
			{op: "reply", msg: `true`, states: "ready"},
			{op: "call", msg: `{close, 7}`},
			{op: "reply", msg: `true`, states: "stop"},
		}},
		{"a handle the service never gave", []roleStep{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{read_line, 8}`, kind: BadRequest, states: "ready",
				want: `element 2 of {read_line, 8}: expected H (bound to 7), got 8; H is bound to 7 by the reply (message 2)`},
		}},
		{"unbound matches nothing", []roleStep{
			{op: "call", msg: `{whoami, "joe"}`, kind: BadRequest,
				want: `expected N, got "joe" (N is not bound, so it matches nothing); N is not bound`},
		}},
		{"a request's binding is visible in its reply", []roleStep{
			{op: "call", msg: `{nick, "joe"}`},
			{op: "reply", msg: `{welcome, "joe"}`},
			{op: "call", msg: `{whoami, "joe"}`},
			{op: "reply", msg: `ok`},
			{op: "call", msg: `{nick, "ann"}`},
			{op: "reply", msg: `{welcome, "joe"}`, kind: BadReply,
				want: `expected N (bound to "ann"), got "joe" (reply to {nick, "ann"}); N is bound to "ann" by the call (message 5)`},
		}},
		{"a refused request binds nothing", []roleStep{
			{op: "call", msg: `{nick, "Joe"}`, kind: BadRequest, want: `expected nick() = string(pattern("[a-z]+")), got "Joe"`},
			{op: "call", msg: `{whoami, "Joe"}`, kind: BadRequest, want: "N is not bound"},
		}},
		{"rebinding", []roleStep{
			{op: "call", msg: `{open, "f", read}`},
			{op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{reopen, "g"}`},
			{op: "reply", msg: `{ok, 9}`},
			{op: "call", msg: `{read_line, 7}`, kind: BadRequest, want: "H is bound to 9 by the reply (message 4)"},
			{op: "call", msg: `{read_line, 9}`},
		}},
		{"each state keeps its own bindings", []roleStep{
			{op: "call", msg: `{fork, "f"}`},
			{op: "reply", msg: `{ok, 7}`, states: "ready"},
			{op: "call", msg: `{close, 8}`, kind: BadRequest, states: "ready",
				want: "H is bound to 7 by the reply (message 2)"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := m.NewSession(Options{})
			if err != nil {
				t.Fatal(err)
			}
			runRoles(t, s, c.steps)
		})
	}
}

// TestBindingsPerState: a reply that leads to two states binds in each
// what its own output says.
func TestBindingsPerState(t *testing.T) {
	src := `
+state start x go -> {ok, H = integer()} x a | {ok, H = integer(), ..[any()]} x b.
+state a x {use, H} -> ok x a.
+state b x {use, H} -> ok x b.
+state start x twice -> {two, H = integer(), G = integer()} x a | {two, G = integer(), H = integer()} x b.
+state a x {pair, G} -> ok x a.
+state b x {pair, G} -> ok x b.
`
	m := Prepare(compileContract(t, src))
	s := start(t, m, Options{})
	for _, st := range []roleStep{
		{op: "call", msg: `twice`},
		{op: "reply", msg: `{two, 1, 2}`, states: "a,b"},
	} {
		runRoles(t, s, []roleStep{st})
	}
	got := ""
	for _, b := range s.Bindings() {
		got += b.State + ":" + b.Var + "=" + b.Value.String() + " "
	}
	if want := "a:H=1 a:G=2 b:H=2 b:G=1 "; got != want {
		t.Fatalf("bindings %q, want %q", got, want)
	}
	// {pair, 2} is legal in a only: the session goes on there.
	runRoles(t, s, []roleStep{
		{op: "call", msg: `{pair, 2}`},
		{op: "reply", msg: `ok`, states: "a"},
	})
	s = start(t, m, Options{})
	runRoles(t, s, []roleStep{
		{op: "call", msg: `twice`},
		{op: "reply", msg: `{two, 1, 2}`},
		{op: "call", msg: `{pair, 3}`, kind: BadRequest, want: "in a, G is bound to 2 by the reply (message 2), in b, G is bound to 1"},
	})
}

// TestPipeliningWithVariables: a request pipelined behind a reply that
// binds what it uses is accepted on trust and checked again, exactly,
// when the reply arrives.
func TestPipeliningWithVariables(t *testing.T) {
	m := Prepare(compileContract(t, varsContract))
	s := start(t, m, Options{})
	runRoles(t, s, []roleStep{
		{op: "call", msg: `{open, "f", read}`},
		{op: "call", msg: `{read_line, 8}`},
		{op: "reply", msg: `{ok, 7}`, kind: PipelinedRequest, states: "ready",
			want: "H is bound to 7 by the reply (message 3)"},
	})
	s = start(t, m, Options{})
	runRoles(t, s, []roleStep{
		{op: "call", msg: `{open, "f", read}`},
		{op: "call", msg: `{read_line, 7}`},
		{op: "call", msg: `{close, 7}`},
		{op: "reply", msg: `{ok, 7}`, states: "ready"},
		{op: "reply", msg: `{ok, "line"}`, states: "ready"},
		{op: "reply", msg: `true`, states: "stop"},
	})
}

func TestForesee(t *testing.T) {
	file := Prepare(compileContract(t, varsContract))
	tr := Prepare(compileContract(t, transitionsContract))
	cases := []struct {
		name  string
		m     *Machine
		setup []roleStep
		msg   string
		want  Outlook
	}{
		{"nothing pending, legal", file, nil, `{open, "f", read}`, Legal},
		{"nothing pending, illegal", file, nil, `{read_line, 7}`, Illegal},
		{"depends on which reply", tr, []roleStep{{op: "server", msg: `{220, "hi"}`}, {op: "client", msg: `{retr, "f"}`}},
			`{retr, "g"}`, Undecided},
		{"legal after every reply", tr, []roleStep{{op: "server", msg: `{220, "hi"}`}, {op: "client", msg: `{part, "#c"}`},
			{op: "client", msg: `{join, "#c"}`}}, `quit`, Legal},
		{"legal after no reply", tr, []roleStep{{op: "server", msg: `{220, "hi"}`}, {op: "client", msg: `{part, "#c"}`},
			{op: "client", msg: `{join, "#c"}`}}, `{join, "#d"}`, Illegal},
		{"in transition after a call", tr, []roleStep{{op: "server", msg: `{220, "hi"}`}, {op: "client", msg: `{fire, "x"}`}},
			`{say, "x"}`, Legal},
		{"depends on the reply's state", file, []roleStep{{op: "client", msg: `{open, "f", read}`}},
			`{reopen, "g"}`, Undecided},
		{"depends on a binding", file, []roleStep{{op: "call", msg: `{open, "f", read}`}, {op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{reopen, "g"}`}}, `{read_line, 7}`, Undecided},
		{"a binding no pending reply changes", file, []roleStep{{op: "call", msg: `{open, "f", read}`}, {op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{read_line, 7}`}}, `{close, 7}`, Legal},
		{"a binding no pending reply changes, other value", file, []roleStep{{op: "call", msg: `{open, "f", read}`}, {op: "reply", msg: `{ok, 7}`},
			{op: "call", msg: `{read_line, 7}`}}, `{close, 8}`, Illegal},
		{"illegal whatever the reply", file, []roleStep{{op: "client", msg: `{open, "f", read}`}}, `{open, "g", read}`, Illegal},
		{"after the end", file, []roleStep{{op: "call", msg: `{open, "f", read}`}, {op: "reply", msg: `{error, "no"}`}},
			`{open, "g", read}`, Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, c.m, Options{})
			runRoles(t, s, c.setup)
			states, pending := strings.Join(s.States(), ","), s.Pending()
			if got := s.Foresee(term.MustParse(c.msg)); got != c.want {
				t.Errorf("Foresee(%s) = %v, want %v", c.msg, got, c.want)
			}
			if strings.Join(s.States(), ",") != states || s.Pending() != pending {
				t.Errorf("Foresee changed the session")
			}
		})
	}
}

// TestCallReplyWithVariablesDoesNotAllocate: binding a handle and checking
// it, request after request, allocates nothing once warm.
func TestCallReplyWithVariablesDoesNotAllocate(t *testing.T) {
	s := start(t, Prepare(compileContract(t, varsContract)), Options{})
	open, ok := term.MustParse(`{open, "f", read}`), term.MustParse(`{ok, 7}`)
	read, line := term.MustParse(`{read_line, 7}`), term.MustParse(`{ok, "x"}`)
	reopen := term.MustParse(`{reopen, "g"}`)
	if s.Call(open) != nil || s.Reply(ok) != nil {
		t.Fatal("open refused")
	}
	if n := testing.AllocsPerRun(100, func() {
		if v := s.Call(read); v != nil {
			t.Fatal(v)
		}
		if v := s.Reply(line); v != nil {
			t.Fatal(v)
		}
		if v := s.Call(reopen); v != nil {
			t.Fatal(v)
		}
		if v := s.Reply(ok); v != nil {
			t.Fatal(v)
		}
	}); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

// TestPipelinedTransition: an in transition sent behind a call waits its
// turn: it is applied once the reply arrives, and reported then when the
// reply's state does not allow it.
func TestPipelinedTransition(t *testing.T) {
	m := Prepare(compileContract(t, transitionsContract))
	s := start(t, m, Options{})
	runRoles(t, s, []roleStep{
		{op: "server", msg: `{220, "hi"}`},
		{op: "client", msg: `{fire, "x"}`, role: RoleCall},
		{op: "client", msg: `{part, "#c"}`, role: RoleTransition, states: "ready"},
		{op: "server", msg: `ok`, role: RoleReply, states: "parted"},
		{op: "client", msg: `{join, "#c"}`, role: RoleCall},
	})
	if s.Pending() != 1 {
		t.Errorf("pending %d, want 1", s.Pending())
	}
	s = start(t, m, Options{})
	runRoles(t, s, []roleStep{
		{op: "server", msg: `{220, "hi"}`},
		{op: "client", msg: `{retr, "f"}`, role: RoleCall},
		{op: "client", msg: `{say, "x"}`, role: RoleEvent},
		{op: "server", msg: `{150, "opening"}`, kind: PipelinedRequest, states: "sending",
			want: `{say, "x"}: request pipelined before the reply that led here, and not legal here: expected ping, got {say, "x"}`},
	})
	if s.Pending() != 0 {
		t.Errorf("pending %d after the refused transition, want 0", s.Pending())
	}
}

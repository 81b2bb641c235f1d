package checker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// edgesContract puts the session's short ways (callPlain, foreseePlain,
// callForeseenPlain, reply's for one rule) at their edges: a rule looping
// back beside one that leaves, two rules accepting one message (two
// candidates), a rule whose replies lead to different states, +anystate
// rules taken where no rule of the state is, a reply that may be none(),
// a terminal state reached by a call, in transitions queued behind calls,
// and unions that take every term of a kind (binary(), any()).
const edgesContract = `
+state a x {get, binary()} -> binary() | nil | {error, binary()} x a.
+state a x {get, <<"both">>} -> ok x a.
+state a x {go, integer()} -> ok x b | error x a.
+state a x {hop, integer()} -> ok x b.
+state a x {fire, binary()} -> none() x a.
+state a x {any, any()} -> any() x a.
+state a x {nonempty, binary(nonempty) | atom(nonempty)} -> integer() | atom() x a.
+state b x {get, binary()} -> binary() | integer() x b.
+state b x back -> ok x a.
+state b x {hop, integer()} -> ok x a.
+state a | b x quit -> ok x stop.
+state a in {part, binary()} x b.
+state b in {join, binary()} x a.
+state a in {note, binary()} x a.
+event b out {push, binary()}.
+anystate {get, integer()} -> integer().
+anystate ping -> pong.
`

// fastOp is one step of a conversation checked twice: by the session's
// API, which takes its short ways where they apply, and by the general
// way alone.
type fastOp struct {
	name    string
	server  bool // the message is the server's
	fast    func(s *Session, t term.Term) (string, *Violation)
	general func(s *Session, t term.Term) (string, *Violation)
}

var fastOps = []fastOp{
	{"foresee+callForeseen", false,
		func(s *Session, t term.Term) (string, *Violation) {
			o := s.Foresee(t)
			return o.String(), s.CallForeseen()
		},
		func(s *Session, t term.Term) (string, *Violation) {
			o := generalForesee(s, t)
			_, v := s.clientForeseen(true, false)
			return o.String(), v
		}},
	{"foresee+clientForeseen", false,
		func(s *Session, t term.Term) (string, *Violation) {
			o := s.Foresee(t)
			r, v := s.ClientForeseen()
			return o.String() + " " + r.String(), v
		},
		func(s *Session, t term.Term) (string, *Violation) {
			o := generalForesee(s, t)
			r, v := s.clientForeseen(true, true)
			return o.String() + " " + r.String(), v
		}},
	{"call", false,
		func(s *Session, t term.Term) (string, *Violation) { return "", s.Call(t) },
		func(s *Session, t term.Term) (string, *Violation) {
			_, v := s.client(t, true, false, false)
			return "", v
		}},
	{"reply", true,
		func(s *Session, t term.Term) (string, *Violation) { return "", s.Reply(t) },
		func(s *Session, t term.Term) (string, *Violation) {
			_, v := s.server(t, "", false, true, false)
			return "", v
		}},
	{"server", true,
		func(s *Session, t term.Term) (string, *Violation) {
			r, v := s.Server(t)
			return r.String(), v
		},
		func(s *Session, t term.Term) (string, *Violation) {
			r, v := s.server(t, "", false, true, true)
			return r.String(), v
		}},
	// No short ways: what the others take over from.
	{"client", false, viaClient, viaClient},
}

func viaClient(s *Session, t term.Term) (string, *Violation) {
	r, v := s.Client(t)
	return r.String(), v
}

// generalForesee is Foresee without its short way.
func generalForesee(s *Session, t term.Term) Outlook {
	s.fore = foresight{msg: t, has: true, seq: s.seq}
	if s.Done() {
		return Illegal
	}
	return s.foresee(t)
}

// fastConversation drives two sessions of m through one conversation,
// each step chosen by next (a number below the bound it is given): the
// first session is checked through the API, the second by the general
// way alone. Both must say the same of every message and be left in the
// same state, down to the candidates of each pending message.
func fastConversation(t *testing.T, m *Machine, steps int, next func(int) int) {
	t.Helper()
	c := m.Contract()
	ins, outs := ruleTypes(c)
	opts := Options{MaxPending: 1 + next(6)}
	fast := start(t, m, opts)
	gen := start(t, m, opts)
	r := rand.New(rand.NewPCG(uint64(next(1<<30)), 7))
	pick := func(from []contract.Type) term.Term {
		if len(from) == 0 || next(10) == 0 {
			return RandomTerm(r, 3)
		}
		return Generate(r, from[next(len(from))], 3)
	}
	var log []string
	for step := 0; step < steps; step++ {
		var what string
		var v1, v2 *Violation
		var s1, s2 string
		switch k := next(len(fastOps) + 2); {
		case k < len(fastOps):
			op := fastOps[k]
			from := ins
			if op.server {
				from = outs
			}
			msg := pick(from)
			what = fmt.Sprint(op.name, " ", msg)
			s1, v1 = op.fast(fast, msg)
			s2, v2 = op.general(gen, msg)
		case k == len(fastOps):
			// A server message between Foresee and the check of what
			// it foresaw spoils the foresight.
			msg, srv := pick(ins), pick(outs)
			what = fmt.Sprint("foresee ", msg, ", server ", srv, ", callForeseen")
			o1, o2 := fast.Foresee(msg), generalForesee(gen, msg)
			r1, w1 := fast.Server(srv)
			r2, w2 := gen.Server(srv)
			s1, s2 = fmt.Sprint(o1, r1, w1), fmt.Sprint(o2, r2, w2)
			v1 = fast.CallForeseen()
			_, v2 = gen.clientForeseen(true, false)
		default:
			if next(8) != 0 {
				continue
			}
			// Closing between Foresee and the check ends the
			// session all the same.
			msg := pick(ins)
			what = fmt.Sprint("foresee ", msg, ", close, callForeseen")
			o1, o2 := fast.Foresee(msg), generalForesee(gen, msg)
			s1, s2 = o1.String(), o2.String()
			fast.Close(Client)
			gen.Close(Client)
			v1 = fast.CallForeseen()
			_, v2 = gen.clientForeseen(true, false)
		}
		log = append(log, what)
		if s1 != s2 || (v1 == nil) != (v2 == nil) || v1 != nil && (v1.Kind != v2.Kind || v1.Error() != v2.Error()) {
			t.Fatalf("%s: fast %q %v, general %q %v\n%v", c.Name, s1, v1, s2, v2, log)
		}
		sameSession(t, c.Name, log, gen, fast)
		if a, b := ringOf(fast), ringOf(gen); a != b {
			t.Fatalf("%s: pending fast %s, general %s\n%v", c.Name, a, b, log)
		}
	}
}

// ringOf prints the pending messages of s with their candidates.
func ringOf(s *Session) string {
	out := ""
	for i := range int(s.n) {
		e := s.at(i)
		out += fmt.Sprintf("[%v call %v spec %v alone %d seq %d:", e.msg, e.call, e.spec, e.alone, e.seq)
		for _, c := range e.cands {
			out += fmt.Sprintf(" %d/%p", c.state, c.info)
		}
		out += "]"
	}
	return out
}

// TestFastPathsAgree: the session's short ways say what its general way
// says of every message of random pipelined conversations, over every
// contract of the repository and the tests.
func TestFastPathsAgree(t *testing.T) {
	_, _, contracts := typesUnderTest(t)
	// A model built by hand may mark a state with rules terminal: they
	// are never taken.
	terminalB := compileContract(t, edgesContract)
	terminalB.Name = "edges with b terminal"
	terminalB.State("b").Terminal = true
	contracts = append(contracts, compileContract(t, varsContract), compileContract(t, transitionsContract),
		compileContract(t, edgesContract), terminalB)
	r := rand.New(rand.NewPCG(19, 20))
	for _, c := range contracts {
		m := Prepare(c)
		for range 80 {
			fastConversation(t, m, 60, r.IntN)
		}
	}
}

// TestFastPathsTaken: each short way takes the messages its brief says,
// so that TestFastPathsAgree compares something. A request pipelined
// behind others, then one sent alone, each with its reply, of a state's
// rule (a GET of contracts/redis.con) and of a +anystate one (NOOP of
// contracts/ftp.con, ping of the edge contract). Each short way is called
// where its caller calls it first, and must take the message: Foresee's
// (foreseePlain), CallForeseen's (callForeseenPlain), Call's (callPlain),
// and Reply's and Server's (replyPlain).
func TestFastPathsTaken(t *testing.T) {
	cases := []struct {
		name         string
		s            *Session
		call, answer term.Term
		state        string
	}{
		{"redis GET", redisSession(t), term.Tuple{term.Atom("get"), term.Binary("k")}, term.Binary("v"), "ready"},
		{"ftp NOOP (+anystate)", newSession(t, loadContract(t, "ftp.con"), Options{Initial: "session"}),
			term.Atom("noop"), term.Tuple{term.Int(200), term.String("ok")}, "session"},
		{"edges ping (+anystate)", newSession(t, compileContract(t, edgesContract), Options{}),
			term.Atom("ping"), term.Atom("pong"), "a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			reply := func(i int) {
				t.Helper()
				if !s.replyPlain(tc.answer) {
					t.Fatalf("reply %d not taken by replyPlain", i)
				}
			}
			const pipelined = 3
			for i := range pipelined {
				s.fore = foresight{msg: tc.call, has: true, seq: s.seq} // as Foresee, before its short way
				if s.Done() || !s.foreseePlain(tc.call) {
					t.Fatalf("request %d not foreseen by foreseePlain", i)
				}
				if !s.callForeseenPlain() {
					t.Fatalf("request %d not taken by callForeseenPlain", i)
				}
			}
			if s.x != nil {
				t.Fatal("the general way worked out the states after the pending replies")
			}
			for i := range pipelined {
				reply(i)
			}
			if !s.callPlain(tc.call) {
				t.Fatal("a request alone not taken by callPlain")
			}
			reply(pipelined)
			if s.Pending() != 0 || fmt.Sprint(s.States()) != "["+tc.state+"]" {
				t.Fatalf("pending %d in %v", s.Pending(), s.States())
			}
		})
	}
}

// TestAlwaysKinds: a union takes every term of a kind without trying its
// alternatives only when one of them takes every term of that kind.
func TestAlwaysKinds(t *testing.T) {
	cases := []struct {
		typ  string
		want kindSet
	}{
		{`binary() | nil`, kindBit(term.KindBinary)},
		{`binary(nonempty) | nil`, 0},
		{`binary(pattern("a+")) | integer()`, kindBit(term.KindInteger)},
		{`atom() | {error, binary()}`, kindBit(term.KindAtom)},
		{`atom(nonempty) | 1..3`, 0},
		{`ok | any()`, allKinds},
		{`[binary()] | integer()`, kindBit(term.KindInteger)},
		{`b()? | nil`, kindBit(term.KindBinary)},
		{`{x, binary()}`, 0},
		{`V = binary() | nil`, 0},
	}
	for _, tc := range cases {
		c := compileContract(t, "+deftype b() = binary().\n+state s x {t, V = integer()} -> ok x s.\n+state s x {u, "+tc.typ+"} -> ok x s.\n")
		typ := c.State("s").Rules[1].In.(*contract.TupleType).Elems[1]
		n := newCompiler(Prepare(c).core.pats).compile(typ)
		if n.always != tc.want {
			t.Errorf("%s: always %b, want %b", tc.typ, n.always, tc.want)
		}
	}
}

// FuzzFastPaths drives the conversations of TestFastPathsAgree by the
// fuzzer's bytes over the edge contract, contracts/redis.con and
// contracts/ftp.con. Seeds:
// testdata/fuzz/FuzzFastPaths.
//
//	go test -run '^$' -fuzz FuzzFastPaths -fuzztime 20s ./checker/
func FuzzFastPaths(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 1, 3, 3, 3, 3})
	f.Add([]byte{1, 0, 2, 0, 0, 0, 0, 4, 4, 4, 5, 6, 7})
	f.Add([]byte("pipelined gets, replies, a server message between"))
	// The edge contract's and ftp.con's +anystate rules, redis.con's
	// pipelined commands.
	machines := []*Machine{Prepare(compileContract(f, edgesContract)), Prepare(loadRedis(f)), Prepare(loadContract(f, "ftp.con"))}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		m := machines[int(data[0])%len(machines)]
		i := 1
		next := func(n int) int {
			if n <= 1 {
				return 0
			}
			b := 0
			if i < len(data) {
				b = int(data[i])
			}
			i++
			return b % n
		}
		fastConversation(t, m, len(data), next)
	})
}

// TestLastKey: the session's lookup, which remembers the last key slot it
// found, lists the rules ruleIndex.lookup lists, for messages of random
// tags, arities and first arguments tried against every index of every
// contract in turn, the same tag coming back in another string, with
// another arity, or against another index; every rule it lists that is
// tagged has the message's tag; and tryPlain accepts by the rules it
// lists what the interpreter accepts of all the index's rules.
func TestLastKey(t *testing.T) {
	_, _, contracts := typesUnderTest(t)
	contracts = append(contracts, compileContract(t, edgesContract), compileContract(t, sharedTagRules(20)))
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range contracts {
		m := Prepare(c)
		var ixs []*ruleIndex
		for i := range m.core.states {
			st := &m.core.states[i]
			ixs = append(ixs, &st.rules, &st.tr[contract.In], &st.tr[contract.Out])
		}
		ixs = append(ixs, &m.core.any, &m.core.anyTr[contract.In], &m.core.anyTr[contract.Out])
		ins, outs := ruleTypes(c)
		msgs := []term.Term{term.Atom("ping"), term.Tuple{}, term.Tuple{term.Int(1)}, term.Int(3)}
		for _, typ := range append(ins, outs...) {
			for range 4 {
				msgs = append(msgs, Generate(r, typ, 3))
			}
		}
		for _, msg := range msgs[:len(msgs):len(msgs)] {
			// The same tag in another string, and with one element
			// more or less.
			if tu, ok := msg.(term.Tuple); ok && len(tu) > 0 {
				if a, ok := tu[0].(term.Atom); ok {
					copied := append(term.Tuple{term.Atom(string(append([]byte(nil), a...)))}, tu[1:]...)
					msgs = append(msgs, copied, append(copied[:len(copied):len(copied)], term.Atom("x")), copied[:len(copied)-1])
				}
			}
		}
		s := start(t, m, Options{})
		s.grow() // as the first message would: the ring, and lastKey with it
		if s.act == nil {
			t.Fatal("no active (lastKey) with the ring")
		}
		for range 2000 {
			ix, msg := ixs[r.IntN(len(ixs))], msgs[r.IntN(len(msgs))]
			rules := ix.lookup(msg)
			if got, want := fmt.Sprint(s.lookup(ix, msg)), fmt.Sprint(rules); got != want {
				t.Fatalf("%s: %v looked up %s, want %s", c.Name, msg, got, want)
			}
			// tryPlain does not compare a tagged rule's tag, and it
			// accepts what the interpreter does of all the index's
			// rules (none of a variable: a bare one matches nothing
			// without a session's bindings).
			for _, ri := range rules {
				r := &ix.rules[ri]
				if tag, _, _ := keyOf(msg); r.tagged && (tag != r.inC.atom || msg.Kind() != term.KindTuple) {
					t.Fatalf("%s: %v listed a rule tagged %s", c.Name, msg, r.inC.atom)
				}
			}
			var e pending
			s.tryPlain(&e, msg, 0, ix, nil)
			var got, want []*ruleInfo
			for _, c := range e.cands {
				got = append(got, c.info)
			}
			for i := range ix.rules {
				if Match(msg, ix.rules[i].in) {
					want = append(want, &ix.rules[i])
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %v accepted by %d rules of the index, the interpreter %d", c.Name, msg, len(got), len(want))
			}
		}
	}
}

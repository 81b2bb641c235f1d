package checker

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Run: go test -run '^$' -bench . -benchmem ./checker/

// BenchmarkMatch matches typical messages against their rule's type.
// Baseline: term.Equal of the same message with itself, the least any
// check must do.
func BenchmarkMatch(b *testing.B) {
	c := compileContract(b, sessionContract+`
+deftype person() = #person{name :: string(), age :: 0..150, tags :: [atom()]}.
+deftype json() = #{name := string(), age => non_neg_integer(), tags => [string()], ..}.
+state other x {store, person(), json()} -> ok x other.
`)
	in := func(state string, i int) contract.Type { return c.State(state).Rules[i].In }
	cases := []struct {
		name string
		msg  term.Term
		typ  contract.Type
	}{
		{"tag-only", term.MustParse(`info`), c.Anystate[0].In},
		{"small-tuple", term.MustParse(`{read_line, 7}`), in("ready", 0)},
		{"open", term.MustParse(`{open, "foo.dat", read}`), in("start", 0)},
		{"record-and-map", term.MustParse(`{store, {person, "Joe", 42, [a, b]}, #{name => "Joe", "age" => 42, tags => ["x"], extra => 1}}`), in("other", 0)},
	}
	for _, tc := range cases {
		b.Run("equal-baseline/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				if !term.Equal(tc.msg, tc.msg) {
					b.Fatal("not equal")
				}
			}
		})
		b.Run(tc.name, func(b *testing.B) {
			if !Match(tc.msg, tc.typ) {
				b.Fatalf("%s does not match %s: %s", tc.msg, tc.typ, Explain(tc.msg, tc.typ))
			}
			for b.Loop() {
				Match(tc.msg, tc.typ)
			}
		})
	}
}

// BenchmarkCallReply checks a request and its reply in a state with 10 and
// with 1,000 rules; the index makes them cost about the same.
func BenchmarkCallReply(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run("rules="+itoa(n), func(b *testing.B) {
			m := Prepare(compileContract(b, manyRules(n)))
			s, err := m.NewSession(Options{})
			if err != nil {
				b.Fatal(err)
			}
			call := term.MustParse(`{op5, 1, <<"x">>}`)
			reply := term.MustParse(`{ok5, 5}`)
			for b.Loop() {
				if v := s.Call(call); v != nil {
					b.Fatal(v)
				}
				if v := s.Reply(reply); v != nil {
					b.Fatal(v)
				}
			}
		})
	}
}

// BenchmarkSharedTag checks a request and its reply in a state whose rules
// all share one tag and arity and differ by their first argument (as a
// command with sub-commands: {config, get, ...}, {config, set, ...}), with
// 10 and 5,000 such rules, the request matching the first rule and the last.
func BenchmarkSharedTag(b *testing.B) {
	for _, n := range []int{10, 5000} {
		m := Prepare(compileContract(b, sharedTagRules(n)))
		for _, which := range []int{0, n - 1} {
			b.Run("rules="+itoa(n)+"/rule="+itoa(which), func(b *testing.B) {
				s, err := m.NewSession(Options{})
				if err != nil {
					b.Fatal(err)
				}
				// Terms, not Tuples: a Tuple passed as a Term would be
				// converted (allocated) on every call.
				var call term.Term = term.Tuple{term.Atom("op"), term.Atom("k" + itoa(which)), term.Int(1)}
				var reply term.Term = term.Tuple{term.Atom("ok"), term.Int(int64(which))}
				for b.Loop() {
					if v := s.Call(call); v != nil {
						b.Fatal(v)
					}
					if v := s.Reply(reply); v != nil {
						b.Fatal(v)
					}
				}
			})
		}
	}
}

// sharedTagRules is a contract of n rules in state s for {op, kI, integer()}.
func sharedTagRules(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "+state s x {op, k%d, integer()} -> {ok, %d} x s.\n", i, i)
	}
	return b.String()
}

// BenchmarkPipelined sends 8 requests before their replies.
func BenchmarkPipelined(b *testing.B) {
	m := Prepare(compileContract(b, manyRules(10)))
	s := start(b, m, Options{})
	call := term.MustParse(`{op5, 1, <<"x">>}`)
	reply := term.MustParse(`{ok5, 5}`)
	for b.Loop() {
		for i := 0; i < 8; i++ {
			if v := s.Call(call); v != nil {
				b.Fatal(v)
			}
		}
		for i := 0; i < 8; i++ {
			if v := s.Reply(reply); v != nil {
				b.Fatal(v)
			}
		}
	}
}

// BenchmarkPipelinedRedis is what the proxy asks of a session of
// contracts/redis.con for a batch of 16 pipelined GETs (redis-benchmark
// -P 16). foreseen: as the proxy in kill or reject mode (see pipeline);
// call: as in monitor mode, which foresees nothing and checks each request
// with Call.
func BenchmarkPipelinedRedis(b *testing.B) {
	var get term.Term = term.Tuple{term.Atom("get"), term.Binary("key")}
	var value term.Term = term.Binary("xxx")
	for _, foreseen := range []bool{false, true} {
		name := "call"
		if foreseen {
			name = "foreseen"
		}
		b.Run(name, func(b *testing.B) {
			s := redisSession(b)
			for b.Loop() {
				pipeline(b, s, get, value, foreseen)
			}
		})
	}
}

// pipeline checks a batch of 16 requests, call, then their replies,
// answer, with the calls proxy/ makes for each (session_client.go,
// session_service.go, session_state.go): the first request, read with
// nothing in flight, is checked at once (Call); each one after it is
// foreseen (Foresee) and then checked by what Foresee matched
// (CallForeseen), or, when !foreseen, checked by Call alone. Each request's
// reply time-out is looked up (ReplyDue of the newest pending call); each
// reply is checked (Reply), then the proxy asks whether the terms may be
// reused (KeepsTerms) and whether the conversation is over (Done).
func pipeline(b *testing.B, s *Session, call, answer term.Term, foreseen bool) {
	const batch = 16
	for i := range batch {
		var v *Violation
		switch {
		case i > 0 && foreseen:
			if o := s.Foresee(call); o != Legal {
				b.Fatalf("%v foreseen %s", call, o)
			}
			v = s.CallForeseen()
		default:
			v = s.Call(call)
		}
		if v != nil {
			b.Fatal(v)
		}
		if !s.ReplyDue(s.Pending() - 1) {
			b.Fatalf("%v: reply not due", call)
		}
	}
	for range batch {
		if v := s.Reply(answer); v != nil {
			b.Fatal(v)
		}
		if s.KeepsTerms() || s.Done() {
			b.Fatal("the session keeps terms, or is over")
		}
	}
}

// BenchmarkDeepRecursive matches a balanced tree of depth 10 (2,047 nodes)
// and a list nested 1,000 deep against recursive types.
func BenchmarkDeepRecursive(b *testing.B) {
	c := compileContract(b, `
+deftype tree() = {node, tree(), tree()} | {leaf, integer()}.
+deftype nested() = [nested()] | integer().
+state s x {t, tree()} -> ok x s.
+state s x {n, nested()} -> ok x s.
`)
	treeT := c.Types["tree"].Type
	nestedT := c.Types["nested"].Type
	var build func(d int) term.Term
	build = func(d int) term.Term {
		if d == 0 {
			return term.Tuple{term.Atom("leaf"), term.Int(int64(d))}
		}
		return term.Tuple{term.Atom("node"), build(d - 1), build(d - 1)}
	}
	tree := build(10)
	var nested term.Term = term.Int(1)
	for i := 0; i < 1000; i++ {
		nested = term.List{nested}
	}
	b.Run("tree-2047-nodes", func(b *testing.B) {
		for b.Loop() {
			if !Match(tree, treeT) {
				b.Fatal("no match")
			}
		}
	})
	b.Run("list-1000-deep", func(b *testing.B) {
		for b.Loop() {
			if !Match(nested, nestedT) {
				b.Fatal("no match")
			}
		}
	})
}

// BenchmarkExplain is the slow path taken once per violation.
func BenchmarkExplain(b *testing.B) {
	c := compileContract(b, sessionContract)
	typ := c.State("ready").Rules[0].In
	msg := term.MustParse(`{read_line, "x"}`)
	for b.Loop() {
		if Explain(msg, typ) == "" {
			b.Fatal("matched")
		}
	}
}

// sessionBytes measures the heap bytes per session: idle ones just
// started, and active ones after a request and its reply. The count is
// the process's (runtime.MemStats), so what other goroutines allocate
// meanwhile (tests running in parallel) adds to it, never takes away: the
// least of three tries is the figure.
func sessionBytes(tb testing.TB, n int, active bool) float64 {
	least := math.Inf(1)
	for range 3 {
		least = min(least, sessionBytesOnce(tb, n, active))
	}
	return least
}

func sessionBytesOnce(tb testing.TB, n int, active bool) float64 {
	m := Prepare(compileContract(tb, sessionContract))
	call := term.MustParse(`{open, "f", read}`)
	reply := term.MustParse(`{ok, 7}`)
	sessions := make([]*Session, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range sessions {
		s := start(tb, m, Options{})
		if active {
			if v := s.Call(call); v != nil {
				tb.Fatal(v)
			}
			if v := s.Reply(reply); v != nil {
				tb.Fatal(v)
			}
		}
		sessions[i] = s
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(sessions)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// TestSessionIsCheap: thousands of sessions cost little memory.
func TestSessionIsCheap(t *testing.T) {
	idle := sessionBytes(t, 10000, false)
	active := sessionBytes(t, 10000, true)
	t.Logf("bytes per session: idle %.0f, after one request and reply %.0f", idle, active)
	if idle > 256 {
		t.Errorf("an idle session costs %.0f bytes, want at most 256", idle)
	}
	if active > 512 {
		t.Errorf("an active session costs %.0f bytes, want at most 512", active)
	}
}

// BenchmarkSessionMemory reports bytes per session (the loop itself is
// empty; the metrics are what matters).
func BenchmarkSessionMemory(b *testing.B) {
	idle, active := sessionBytes(b, 10000, false), sessionBytes(b, 10000, true)
	for b.Loop() {
	}
	// After the loop: b.Loop resets the timer, which drops earlier metrics.
	b.ReportMetric(idle, "idle-bytes/session")
	b.ReportMetric(active, "active-bytes/session")
}

// BenchmarkLang2 measures the forms of language 2 against the first
// release's Call+Reply in the same run (call-reply-baseline: the request
// and reply of BenchmarkCallReply with 10 rules):
//
//   - call-reply-variable: a request that checks a bound variable and a
//     reply that binds it again ({read, H} -> {ok, H = integer()});
//   - pattern-64: a 64-byte string against a pattern, with the machine's
//     automaton (pattern-64-regexp: by Go's regexp alone);
//   - tail-100: a tuple with a 100-element tail.
func BenchmarkLang2(b *testing.B) {
	b.Run("call-reply-baseline", func(b *testing.B) {
		s := start(b, Prepare(compileContract(b, manyRules(10))), Options{})
		callReply(b, s, term.MustParse(`{op5, 1, <<"x">>}`), term.MustParse(`{ok5, 5}`))
	})
	b.Run("call-reply-variable", func(b *testing.B) {
		s, _ := Prepare(compileContract(b, `
+state start x {open, string()} -> {ok, H = integer()} x ready.
+state ready x {read, H} -> {ok, H = integer()} x ready | eof x ready.
+state ready x {close, H} -> true x stop.
`)).NewSession(Options{})
		if s.Call(term.MustParse(`{open, "f"}`)) != nil || s.Reply(term.MustParse(`{ok, 7}`)) != nil {
			b.Fatal("open refused")
		}
		callReply(b, s, term.MustParse(`{read, 7}`), term.MustParse(`{ok, 7}`))
	})
	c := compileContract(b, `
+deftype addr() = string(pattern("[a-z0-9_.+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*")).
+deftype key() = binary(nonempty).
+state s x {mail, addr()} -> ok x s.
+state s x {mget, ..[key()]} -> ok x s.
`)
	rules := c.State("s").Rules
	text := strings.Repeat("a", 39) + "@example-mail.example.org"
	if len(text) != 64 {
		b.Fatalf("address of %d bytes", len(text))
	}
	var addr term.Term = term.String(text) // a Term: converting a String would allocate
	addrT := rules[0].In.(*contract.TupleType).Elems[1]
	m := Prepare(c)
	b.Run("pattern-64", func(b *testing.B) {
		// As a session checks it: with the machine's automaton.
		if !m.Match(addr, addrT) {
			b.Fatal("no match")
		}
		for b.Loop() {
			m.Match(addr, addrT)
		}
	})
	b.Run("pattern-64-regexp", func(b *testing.B) {
		// The same check by Go's regexp alone (Match, outside a
		// machine).
		if !Match(addr, addrT) {
			b.Fatal("no match")
		}
		for b.Loop() {
			Match(addr, addrT)
		}
	})
	keys := term.Tuple{term.Atom("mget")}
	for i := range 100 {
		keys = append(keys, term.Binary("key:"+itoa(i)))
	}
	var msg term.Term = keys
	b.Run("tail-100", func(b *testing.B) {
		if !Match(msg, rules[1].In) {
			b.Fatal("no match")
		}
		for b.Loop() {
			Match(msg, rules[1].In)
		}
	})
}

func callReply(b *testing.B, s *Session, call, reply term.Term) {
	b.Helper()
	for b.Loop() {
		if v := s.Call(call); v != nil {
			b.Fatal(v)
		}
		if v := s.Reply(reply); v != nil {
			b.Fatal(v)
		}
	}
}

// redisSession is a session of contracts/redis.con after AUTH, as the
// proxy checks a Redis connection (--wire resp).
func redisSession(tb testing.TB) *Session {
	tb.Helper()
	s, err := Prepare(loadRedis(tb)).NewSession(Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if v := s.Call(term.Tuple{term.Atom("auth"), term.Binary("pw")}); v != nil {
		tb.Fatal(v)
	}
	if v := s.Reply(term.Atom("ok")); v != nil {
		tb.Fatal(v)
	}
	return s
}

// loadRedis loads contracts/redis.con.
func loadRedis(tb testing.TB) *contract.Contract { return loadContract(tb, "redis.con") }

// loadContract loads a contract of the repository's contracts/.
func loadContract(tb testing.TB, name string) *contract.Contract {
	tb.Helper()
	c, diags, err := contract.Load(filepath.Join("..", "contracts", name), contract.Options{})
	if err != nil || diags.HasErrors() {
		tb.Fatalf("contracts/%s: %v %v", name, err, diags)
	}
	return c
}

// newSession starts a session of c.
func newSession(tb testing.TB, c *contract.Contract, opts Options) *Session {
	tb.Helper()
	return start(tb, Prepare(c), opts)
}

// start is m.NewSession(opts), failing the test when it fails.
func start(tb testing.TB, m *Machine, opts Options) *Session {
	tb.Helper()
	s, err := m.NewSession(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkRedisGet checks a GET and its reply as the proxy does for
// Redis: contracts/redis.con, the terms the RESP wrapper decodes
// (scripts/callgrind-per-request.sh counts the same exchange).
func BenchmarkRedisGet(b *testing.B) {
	s := redisSession(b)
	// Terms, not Tuples: a Tuple passed as a Term would be converted
	// (allocated) on every call.
	var call term.Term = term.Tuple{term.Atom("get"), term.Binary("key")}
	var reply term.Term = term.Binary("xxx")
	callReply(b, s, call, reply)
}

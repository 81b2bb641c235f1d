package coverage

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// contractsUnderTest are the repository's contracts and the one of
// TestTracker.
func contractsUnderTest(t *testing.T) []*contract.Contract {
	t.Helper()
	c, diags := contract.Compile("t.con", []byte(src), contract.Options{})
	if c == nil {
		t.Fatal(diags)
	}
	out := []*contract.Contract{c}
	files, _ := filepath.Glob(filepath.Join("..", "..", "contracts", "*.con"))
	for _, f := range files {
		c, diags, err := contract.Load(f, contract.Options{})
		if err != nil || diags.HasErrors() {
			t.Fatalf("%s: %v %v", f, err, diags)
		}
		out = append(out, c)
	}
	if len(out) < 5 {
		t.Fatalf("only %d contracts", len(out))
	}
	return out
}

// walkExercised is the oracle of what Tracker.Call and Tracker.Message
// count, and of AppendTaken: the contract's model walked rule by rule,
// every type matched by shape (Machine.MatchShape), none of the machine's
// indexes or compiled types used. It answers with the items' keys (see
// itemKey), sorted; nothing for a reply.
func walkExercised(m *checker.Machine, states []string, client bool, role checker.Role, msg term.Term) []string {
	c := m.Contract()
	dir := contract.Out
	if client {
		dir = contract.In
	}
	// of lists what msg may exercise in state (AnyState: the +anystate
	// rules or events), each with its key and the type msg must match.
	of := func(state string) (keys []string, types []contract.Type) {
		var rules []*contract.Rule
		var evs []*contract.Event
		if state == AnyState {
			rules, evs = c.Anystate, c.AnyEvents
		} else if st := c.State(state); st != nil {
			rules, evs = st.Rules, st.Events
		}
		switch role {
		case checker.RoleCall:
			for _, r := range rules {
				keys, types = append(keys, fmt.Sprintf("%s %s %d", state, r.In, r.Pos.Line)), append(types, r.In)
			}
		case checker.RoleTransition, checker.RoleEvent:
			for _, e := range evs {
				if e.Dir == dir {
					keys, types = append(keys, fmt.Sprintf("%s %s %s %d", state, dir, e.Type, e.Type.Position().Line)), append(types, e.Type)
				}
			}
		}
		return keys, types
	}
	var found []string
	match := func(state string) bool {
		keys, types := of(state)
		hit := false
		for i, typ := range types {
			if m.MatchShape(msg, typ) {
				hit = true
				if !slices.Contains(found, keys[i]) {
					found = append(found, keys[i])
				}
			}
		}
		return hit
	}
	for _, st := range states {
		if !match(st) {
			match(AnyState)
		}
	}
	slices.Sort(found)
	return found
}

// itemKey is what walkExercised says of an item: its state, its request
// type (a rule) or its direction and type (a transition or event, whose
// next state is left out), and its line.
func itemKey(it Item) string {
	text := it.Rule
	if it.Kind == KindTransition {
		text = text[:strings.LastIndex(text, " x ")]
	}
	return fmt.Sprintf("%s %s %d", it.State, text, it.Line)
}

// keysOf is the sorted keys of the items numbered nums.
func keysOf(tr *Tracker, nums []int) []string {
	keys := []string{}
	for _, i := range nums {
		keys = append(keys, itemKey(tr.Item(i)))
	}
	slices.Sort(keys)
	return keys
}

// messages are terms of the shapes contract c's rules and transitions
// take, and a few of none.
func messages(r *rand.Rand, c *contract.Contract) []term.Term {
	var types []contract.Type
	contract.Walk(c, contract.Visitor{
		Rule: func(_ *contract.State, rule *contract.Rule) {
			types = append(types, rule.In)
			for _, o := range rule.Outs {
				types = append(types, o.Type)
			}
		},
		Event: func(_ *contract.State, ev *contract.Event) { types = append(types, ev.Type) },
	})
	msgs := []term.Term{term.Atom("nothing_of_the_kind"), term.Int(7), term.Tuple{}}
	for _, typ := range types {
		for range 3 {
			msgs = append(msgs, checker.Generate(r, typ, 3))
		}
	}
	return msgs
}

// TestCountsAgainstWalk: Observe counts (Tracker.Call, Tracker.Message),
// for messages of every shape of every contract, in every state and every
// pair of states, as a call and as a transition or event from either
// side, the items the walk of the contract's model finds, and nothing for
// a reply with no call pending.
func TestCountsAgainstWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	roles := []checker.Role{checker.RoleCall, checker.RoleTransition, checker.RoleEvent, checker.RoleReply}
	checked, found := 0, 0
	for _, c := range contractsUnderTest(t) {
		m := checker.Prepare(c)
		tr := New(m)
		var sets [][]string
		for _, a := range c.States {
			sets = append(sets, []string{a.Name})
			b := c.States[r.IntN(len(c.States))]
			if b != a {
				sets = append(sets, []string{a.Name, b.Name})
			}
		}
		for _, msg := range messages(r, c) {
			for _, states := range sets {
				for _, role := range roles {
					for _, client := range []bool{true, false} {
						want := walkExercised(m, states, client, role, msg)
						got := []string{}
						for _, it := range tr.Observe(states, client, role, msg) {
							got = append(got, itemKey(it))
						}
						tr.Reset() // a call leaves its rules for its reply
						slices.Sort(got)
						if !slices.Equal(got, want) {
							t.Fatalf("%s: %v in %v as %v (client %v): counted %q, the walk %q", c.Name, msg, states, role, client, got, want)
						}
						checked++
						found += len(want)
					}
				}
			}
		}
	}
	// The walk must have found something, or the comparison says little.
	if found < checked/20 {
		t.Fatalf("%d items found in %d cases", found, checked)
	}
	t.Logf("%d cases, %d items found", checked, found)
}

// TestAppendTakenAgrees: what a session took each message it accepted by
// (AppendTaken) is what the walk of the contract's model finds for it in
// the states the session was in, over random conversations of every
// contract, one request at a time; with variables, the walk matches by
// shape and may find more, never less. After a reply, or a message that was not
// legal, AppendTaken finds nothing.
func TestAppendTakenAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	taken := 0
	for _, c := range contractsUnderTest(t) {
		m := checker.Prepare(c)
		tr := New(m)
		msgs := messages(r, c)
		for range 30 {
			s := start(t, m, checker.Options{})
			for range 40 {
				msg := msgs[r.IntN(len(msgs))]
				client := s.Pending() == 0 && r.IntN(2) == 0
				before := s.States()
				role, v := check(s, client, msg)
				got := tr.AppendTaken(nil, s)
				if v != nil || role == checker.RoleReply {
					if len(got) != 0 {
						t.Fatalf("%s: %v (%v, %v): taken by %v", c.Name, msg, role, v, keysOf(tr, got))
					}
					if v != nil && v.Kind == checker.AfterEnd {
						break
					}
					continue
				}
				want := walkExercised(m, before, client, role, msg)
				g := keysOf(tr, got)
				if len(c.Vars) == 0 && !slices.Equal(g, want) || len(g) == 0 || !subset(g, want) {
					t.Fatalf("%s: %v in %v as %v: taken by %q, exercised %q", c.Name, msg, before, role, g, want)
				}
				taken++
			}
		}
	}
	if taken < 200 {
		t.Fatalf("only %d messages taken", taken)
	}
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestAppendTakenPipelined: a call pipelined behind one that changes the
// state counts in the state it is checked in, where the walk (and Call),
// told the states before the pending reply, finds nothing.
func TestAppendTakenPipelined(t *testing.T) {
	m, tr := tracked(t, "p.con", `
+state out x login -> ok x in.
+state in x get -> value x in.
+anystate ping -> pong.
`)
	s := start(t, m, checker.Options{})
	for _, step := range []struct {
		msg   term.Term
		taken string
	}{
		{term.Atom("login"), "out login"},
		{term.Atom("get"), "in get"},
		{term.Atom("ping"), "+anystate ping"},
	} {
		before := s.States()
		if v := s.Call(step.msg); v != nil {
			t.Fatal(v)
		}
		got := keysOf(tr, tr.AppendTaken(nil, s))
		if len(got) != 1 || !strings.HasPrefix(got[0], step.taken+" ") {
			t.Fatalf("%v taken by %q, want %s", step.msg, got, step.taken)
		}
		if step.msg == term.Atom("get") {
			if ex := walkExercised(m, before, true, checker.RoleCall, step.msg); len(ex) != 0 {
				t.Fatalf("get exercised %v in %v", ex, before)
			}
		}
	}
}

// TestNoAllocation: a call of a contract without variables, and a
// transition, are counted by AppendTaken without allocating when dst has
// room.
func TestNoAllocation(t *testing.T) {
	tr, s := redisAfterGet(t)
	var buf [4]int
	if n := len(tr.AppendTaken(buf[:0], s)); n != 1 {
		t.Fatalf("the call counted %d items", n)
	}
	if a := testing.AllocsPerRun(100, func() { tr.AppendTaken(buf[:0], s) }); a != 0 {
		t.Errorf("AppendTaken of a call: %v allocations", a)
	}
	// A transition: the edge of a state taken by an out message.
	src := `+state a x go -> ok x a.
+state a out {moved, integer()} x b.
+state b in back x a.
`
	m2, tr2 := tracked(t, "e.con", src)
	s2 := start(t, m2, checker.Options{})
	var moved term.Term = term.Tuple{term.Atom("moved"), term.Int(1)}
	if v := s2.EventOut(moved); v != nil {
		t.Fatal(v)
	}
	if n := len(tr2.AppendTaken(buf[:0], s2)); n != 1 {
		t.Fatalf("the transition counted %d items", n)
	}
	if a := testing.AllocsPerRun(100, func() { tr2.AppendTaken(buf[:0], s2) }); a != 0 {
		t.Errorf("AppendTaken of a transition: %v allocations", a)
	}
}

// BenchmarkCountGet is what the proxy's ubfproxy_transitions_total costs
// per GET of contracts/redis.con: reading what the session took it by.
//
//	go test -run '^$' -bench CountGet -benchmem ./checker/coverage/
func BenchmarkCountGet(b *testing.B) {
	tr, s := redisAfterGet(b)
	var buf [4]int
	for b.Loop() {
		if len(tr.AppendTaken(buf[:0], s)) != 1 {
			b.Fatal("GET not counted")
		}
	}
}

// redisAfterGet is a tracker of contracts/redis.con and a session of it,
// started in ready, that has just checked a GET: what the proxy counts
// after each GET.
func redisAfterGet(tb testing.TB) (*Tracker, *checker.Session) {
	tb.Helper()
	c, diags, err := contract.Load(filepath.Join("..", "..", "contracts", "redis.con"), contract.Options{})
	if err != nil || diags.HasErrors() {
		tb.Fatal(err, diags)
	}
	m := checker.Prepare(c)
	s := start(tb, m, checker.Options{Initial: "ready"})
	if v := s.Call(term.Tuple{term.Atom("get"), term.Binary("key")}); v != nil {
		tb.Fatal(v)
	}
	return New(m), s
}

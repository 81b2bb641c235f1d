package checker

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// TestForeseenChecksAsClient drives two sessions of each contract through
// the same random conversations, pipelined up to 4 deep: one checks each
// client message with Call or Client, the other foresees it first and
// checks it with CallForeseen or ClientForeseen, sometimes after a server
// message (which spoils the match Foresee made). Both must say the same
// of every message and end in the same states with the same bindings.
func TestForeseenChecksAsClient(t *testing.T) {
	_, _, contracts := typesUnderTest(t)
	contracts = append(contracts, compileContract(t, varsContract), compileContract(t, transitionsContract))
	r := rand.New(rand.NewPCG(15, 16))
	for _, c := range contracts {
		m := Prepare(c)
		ins, outs := ruleTypes(c)
		for conv := 0; conv < 60; conv++ {
			plain := start(t, m, Options{MaxPending: 4})
			fore := start(t, m, Options{MaxPending: 4})
			var log []string
			pick := func(from []contract.Type) term.Term {
				if len(from) == 0 || r.IntN(8) == 0 {
					return RandomTerm(r, 3)
				}
				return Generate(r, from[r.IntN(len(from))], 3)
			}
			server := func() {
				msg := pick(outs)
				log = append(log, fmt.Sprint("server ", msg))
				r1, v1 := plain.Server(msg)
				r2, v2 := fore.Server(msg)
				sameCheck(t, c.Name, log, r1, v1, r2, v2)
				sameSession(t, c.Name, log, plain, fore)
			}
			for step := 0; step < 40; step++ {
				if r.IntN(3) == 0 {
					server()
					continue
				}
				msg := pick(ins)
				asCall := r.IntN(3) == 0
				log = append(log, fmt.Sprintf("client (call %v) %s", asCall, msg))
				o := fore.Foresee(msg)
				pending, full := plain.Pending(), plain.n >= plain.maxPending
				between := r.IntN(6) == 0
				if between {
					server()
				}
				var r1, r2 Role
				var v1, v2 *Violation
				if asCall {
					r1, v1 = RoleCall, plain.Call(msg)
					r2, v2 = RoleCall, fore.CallForeseen()
				} else {
					r1, v1 = plain.Client(msg)
					r2, v2 = fore.ClientForeseen()
				}
				sameCheck(t, c.Name, log, r1, v1, r2, v2)
				sameSession(t, c.Name, log, plain, fore)
				if !between && !asCall && !full && (o == Legal) != (v1 == nil) && (o == Illegal) != (v1 != nil) {
					t.Fatalf("%s: foreseen %v with %d pending, checked %v\n%v", c.Name, o, pending, v1, log)
				}
			}
		}
	}
}

// ruleTypes returns the types of c's client messages (calls, in
// transitions, in events) and of its server messages.
func ruleTypes(c *contract.Contract) (ins, outs []contract.Type) {
	add := func(r *contract.Rule) {
		ins = append(ins, r.In)
		for _, o := range r.Outs {
			outs = append(outs, o.Type)
		}
	}
	for _, st := range c.States {
		for _, r := range st.Rules {
			add(r)
		}
		for _, ev := range st.Events {
			if ev.Dir == contract.In {
				ins = append(ins, ev.Type)
			} else {
				outs = append(outs, ev.Type)
			}
		}
	}
	for _, r := range c.Anystate {
		add(r)
	}
	return ins, outs
}

// sameCheck fails t unless the two sessions said the same of a message.
func sameCheck(t *testing.T, name string, log []string, r1 Role, v1 *Violation, r2 Role, v2 *Violation) {
	t.Helper()
	if (v1 == nil) != (v2 == nil) || v1 != nil && (v1.Kind != v2.Kind || v1.Error() != v2.Error()) || v1 == nil && r1 != r2 {
		t.Fatalf("%s: checked %v %v, foreseen %v %v\n%v", name, r1, v1, r2, v2, log)
	}
}

// sameSession fails t unless the two sessions are in the same states with
// the same bindings and the same calls pending.
func sameSession(t *testing.T, name string, log []string, a, b *Session) {
	t.Helper()
	sa := fmt.Sprint(a.States(), a.Bindings(), a.Pending(), a.Seq(), a.Done())
	sb := fmt.Sprint(b.States(), b.Bindings(), b.Pending(), b.Seq(), b.Done())
	for i := range a.Pending() {
		sa += fmt.Sprint(a.ReplyDue(i))
		sb += fmt.Sprint(b.ReplyDue(i))
	}
	if sa != sb {
		t.Fatalf("%s: checked %s, foreseen %s\n%v", name, sa, sb, log)
	}
	// afterPending's answer kept from the last message must be what it
	// works out afresh.
	if b.n > 0 {
		kept := fmt.Sprint(b.afterPending())
		b.x.after = afterKey{}
		if fresh := fmt.Sprint(b.afterPending()); kept != fresh {
			t.Fatalf("%s: states after the pending replies %s, worked out afresh %s\n%v", name, kept, fresh, log)
		}
	}
}

// TestSettleAsWithVariables: a request checked behind pending replies in
// the one state they lead to is not matched again when they arrive if the
// contract has no variables (settle). Each contract without variables is
// run beside a twin that has one, in a state no conversation reaches, so
// that its requests are matched again; both must say the same of every
// message of random pipelined conversations.
func TestSettleAsWithVariables(t *testing.T) {
	sources := map[string]string{"session": sessionContract, "transitions": transitionsContract}
	files, _ := filepath.Glob(filepath.Join("..", "contracts", "*.con"))
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[filepath.Base(f)] = string(src)
	}
	const twin = "\n+state unreachableTwin x {twin, V = integer()} -> {twin, V} x unreachableTwin.\n"
	r := rand.New(rand.NewPCG(17, 18))
	tried := 0
	for name, src := range sources {
		c, diags := contract.Compile(name, []byte(src), contract.Options{})
		if diags.HasErrors() || c == nil {
			continue
		}
		m := Prepare(c)
		if len(m.core.vars) > 0 {
			continue
		}
		m2 := Prepare(compileContract(t, src+twin))
		if len(m2.core.vars) != 1 {
			t.Fatalf("%s: the twin has %d variables", name, len(m2.core.vars))
		}
		tried++
		ins, outs := ruleTypes(c)
		for conv := 0; conv < 60; conv++ {
			a := start(t, m, Options{MaxPending: 4})
			b := start(t, m2, Options{MaxPending: 4})
			var log []string
			for step := 0; step < 40; step++ {
				var msg term.Term
				from, client := ins, r.IntN(2) == 0
				if !client {
					from = outs
				}
				if len(from) == 0 || r.IntN(8) == 0 {
					msg = RandomTerm(r, 3)
				} else {
					msg = Generate(r, from[r.IntN(len(from))], 3)
				}
				log = append(log, fmt.Sprint(client, msg))
				var r1, r2 Role
				var v1, v2 *Violation
				if client {
					r1, v1 = a.Client(msg)
					r2, v2 = b.Client(msg)
				} else {
					r1, v1 = a.Server(msg)
					r2, v2 = b.Server(msg)
				}
				sameCheck(t, name, log, r1, v1, r2, v2)
				sameSession(t, name, log, a, b)
			}
		}
	}
	if tried < 5 {
		t.Fatalf("only %d contracts without variables", tried)
	}
}

// TestForeseenUsedUp: CallForeseen and ClientForeseen check the message
// foreseen last, once; a check of another client message uses the
// foresight up.
func TestForeseenUsedUp(t *testing.T) {
	s := start(t, Prepare(compileContract(t, transitionsContract)), Options{})
	if _, v := s.Server(term.MustParse(`{220, "hi"}`)); v != nil {
		t.Fatal(v)
	}
	if v := s.CallForeseen(); v == nil || v.Kind != InvalidSession {
		t.Fatalf("CallForeseen with nothing foreseen: %v", v)
	}
	s.Foresee(term.MustParse(`{retr, "f"}`))
	if role, v := s.ClientForeseen(); v != nil || role != RoleCall || s.Pending() != 1 {
		t.Fatalf("ClientForeseen: %v %v, pending %d", role, v, s.Pending())
	}
	if _, v := s.ClientForeseen(); v == nil || v.Kind != InvalidSession {
		t.Fatalf("ClientForeseen twice: %v", v)
	}
	s.Foresee(term.MustParse(`{say, "x"}`))
	if _, v := s.Client(term.MustParse(`ping`)); v != nil {
		t.Fatal(v)
	}
	if v := s.CallForeseen(); v == nil || v.Kind != InvalidSession {
		t.Fatalf("CallForeseen after another client message: %v", v)
	}
	if s.Pending() != 1 {
		t.Fatalf("pending %d, want 1", s.Pending())
	}
}

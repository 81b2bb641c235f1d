package conformance

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// mutate holds one conversation: a legal prefix of random length, then one
// off-spec request, and says how the service answered it. It returns nil
// when no off-spec request could be made (every term is legal).
func mutate(ctx context.Context, cfg Config, seed uint64) (*Mutant, error) {
	rng := rand.New(rand.NewPCG(seed, 3))
	w := &walk{cfg: cfg, rng: rng}
	// The legal prefix: a walk of up to half the steps.
	prefixCfg := cfg
	prefixCfg.Steps = rng.IntN(max(1, cfg.Steps/2) + 1)
	w.cfg = prefixCfg
	res, err := w.start(ctx)
	if err != nil {
		return nil, err
	}
	defer w.close()
	w.loop(ctx, nil, prefixCfg.Steps)
	if res := w.res; res.fail != nil || w.s.Done() || w.s.Pending() > 0 {
		// The service broke the contract or ended the conversation
		// before the mutant (the walks report violations).
		return nil, nil
	}
	_ = res
	if !w.serverTurn() || w.res.fail != nil {
		return nil, nil
	}
	msg := w.offSpec()
	if msg == nil {
		return nil, nil
	}
	m := &Mutant{Prefix: slices.Clone(w.res.steps), States: w.s.States(), Request: msg}
	b, err := cfg.Encode(nil, msg, false)
	if err != nil {
		return nil, nil // the wire cannot carry it: not a test of the service
	}
	if w.write(b) != nil {
		m.Outcome = Crashed
		return m, nil
	}
	select {
	case sm, ok := <-w.in:
		switch {
		case !ok || sm.err != nil:
			m.Outcome = Crashed
		default:
			m.Reply = sm.m.Term
			m.Outcome = w.judge(sm.m.Term)
		}
	case <-time.After(cfg.Timeout):
		m.Outcome = Refused
	}
	if m.Outcome != Crashed {
		return m, nil
	}
	// Closing one connection on bad input is a refusal; a service that
	// no longer accepts connections crashed.
	d := net.Dialer{Timeout: cfg.Timeout}
	if c, err := d.DialContext(ctx, "tcp", cfg.Addr); err == nil {
		c.Close()
		m.Outcome = Refused
	}
	return m, nil
}

// offSpec makes a client message the contract does not allow in the
// session's states: a request of another state (the order broken), a
// legal request with one element of the wrong type, or a random term.
func (w *walk) offSpec() term.Term {
	c := w.cfg.Machine.Contract()
	var others []contract.Type
	for _, st := range c.States {
		for _, r := range st.Rules {
			others = append(others, r.In)
		}
	}
	for try := 0; try < 50; try++ {
		var t term.Term
		switch try % 3 {
		case 0:
			if len(others) > 0 {
				t = checker.GenerateIn(w.rng, others[w.rng.IntN(len(others))], w.cfg.Depth, w.env())
			}
		case 1:
			if cands := w.candidates(); len(cands) > 0 {
				t = checker.GenerateIn(w.rng, cands[w.rng.IntN(len(cands))].eventType(), w.cfg.Depth, w.env())
				if tu, ok := t.(term.Tuple); ok && len(tu) > 1 {
					tu = slices.Clone(tu)
					tu[1+w.rng.IntN(len(tu)-1)] = checker.RandomTerm(w.rng, 2)
					t = tu
				}
			}
		default:
			t = checker.RandomTerm(w.rng, 2)
		}
		if t != nil && w.s.Foresee(t) == checker.Illegal {
			return t
		}
	}
	return nil
}

func (w *walk) env() checker.Env {
	env := checker.Env{}
	for _, b := range w.s.Bindings() {
		if _, ok := env[b.Var]; !ok {
			env[b.Var] = b.Value
		}
	}
	return env
}

// judge classifies the reply to an off-spec request: an error (an atom
// error or err, or a tuple starting with one) refuses it; a reply that
// some rule of the session's states allows answers it as if it were
// legal; anything else refuses it too, in the service's own words.
func (w *walk) judge(reply term.Term) Outcome {
	if isErrorTerm(reply) {
		return Refused
	}
	c := w.cfg.Machine.Contract()
	var rules []*contract.Rule
	for _, name := range w.s.States() {
		if st := c.State(name); st != nil {
			rules = append(rules, st.Rules...)
		}
	}
	rules = append(rules, c.Anystate...)
	for _, r := range rules {
		for _, o := range r.Outs {
			if w.cfg.Machine.MatchShape(reply, o.Type) {
				return AnsweredLegal
			}
		}
	}
	return Refused
}

func isErrorTerm(t term.Term) bool {
	isErr := func(x term.Term) bool {
		a, ok := x.(term.Atom)
		return ok && (a == "error" || a == "err" || a == "badarg" || a == "undefined")
	}
	if tu, ok := t.(term.Tuple); ok && len(tu) > 0 {
		return isErr(tu[0])
	}
	return isErr(t)
}

package conformance

import (
	"context"
	"math/rand/v2"
	"slices"
)

// maxShrinkRuns bounds the conversations shrinking holds.
const maxShrinkRuns = 300

// shrink makes the failing conversation res as short as it can: it leaves
// out runs of client messages, longest first, and keeps a shorter
// conversation when the service still breaks the contract with the same
// kind of violation; then it generates each message's value again from
// other seeds and keeps shorter values that still fail. Each try is a new conversation with the service, its
// values generated from the same seeds (and the variables bound to what
// the service answers in that conversation).
func shrink(ctx context.Context, cfg Config, res walkResult) *Failure {
	best := res
	runs := 0
	fails := func(cs []choice) (walkResult, bool) {
		runs++
		w := &walk{cfg: cfg, rng: rand.New(rand.NewPCG(0, 0))}
		r, err := w.run(ctx, cs)
		if err != nil || r.fail == nil || r.fail.Kind != res.fail.Kind {
			return r, false
		}
		return r, true
	}
	// The first run shows whether the failure reproduces at all; a
	// service that fails only now and then keeps its conversation as found.
	if r, ok := fails(best.choices); ok {
		best = r
		for n := len(best.choices) / 2; n >= 1 && runs < maxShrinkRuns && ctx.Err() == nil; {
			shorter := false
			for i := 0; i+n <= len(best.choices) && runs < maxShrinkRuns; i++ {
				cand := slices.Concat(best.choices[:i], best.choices[i+n:])
				if r, ok := fails(cand); ok {
					best, shorter = r, true
					i--
				}
			}
			if !shorter {
				n /= 2
			} else {
				n = min(n, len(best.choices)/2)
				if n == 0 {
					n = 1
				}
				if len(best.choices) <= 1 {
					break
				}
			}
		}
		// Then the values: each message is generated again from other
		// seeds, and a conversation whose messages are shorter (as text)
		// that still fails is kept.
		for i := range best.choices {
			for seed := uint64(1); seed <= 16 && runs < maxShrinkRuns && ctx.Err() == nil; seed++ {
				cand := slices.Clone(best.choices)
				cand[i].seed = seed
				if r, ok := fails(cand); ok && size(r.steps) < size(best.steps) {
					best = r
				}
			}
		}
	}
	f := *best.fail
	f.Steps = best.steps
	f.Found = len(res.choices)
	f.Shrunk = len(best.choices)
	return &f
}

// size is the length of the client's messages as text: what shrinking
// values makes smaller.
func size(steps []Step) int {
	n := 0
	for _, st := range steps {
		if st.Dir == ">" || st.Dir == ">!" {
			n += len(st.Term.String())
		}
	}
	return n
}

package compat

import (
	"math/big"
	"slices"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// interval is a set of integers lo..hi, ends included; a nil end is open.
type interval struct{ lo, hi *big.Int }

func rangeInterval(r *contract.Range) interval {
	var iv interval
	if r.Lo != nil {
		iv.lo = r.Lo.Big()
	}
	if r.Hi != nil {
		iv.hi = r.Hi.Big()
	}
	return iv
}

// rangeIn decides an integer range within a type that is not a union.
func rangeIn(a *contract.Range, b contract.Type) Verdict {
	iv := rangeInterval(a)
	var ivs []interval
	switch tb := b.(type) {
	case *contract.Range:
		ivs = []interval{rangeInterval(tb)}
	case *contract.Predef:
		if tb.Kind != contract.IntegerT {
			return No
		}
		return Yes
	case *contract.Literal:
		if n, ok := tb.Value.(term.Integer); ok {
			ivs = []interval{{n.Big(), n.Big()}}
		}
	}
	if covered([]interval{iv}, ivs) {
		return Yes
	}
	return No
}

// integerSet is the integers a matches, when a matches only integers.
func (in *Includer) integerSet(a contract.Type, depth int) ([]interval, bool) {
	switch ta := a.(type) {
	case *contract.Range:
		return []interval{rangeInterval(ta)}, true
	case *contract.Predef:
		if ta.Kind == contract.IntegerT {
			return []interval{{}}, true
		}
	}
	return nil, false
}

// unionIntegers is the integers the alternatives of u match.
func (in *Includer) unionIntegers(u *contract.Union, depth int) []interval {
	var out []interval
	for _, alt := range in.alternatives(u, in.varsB, depth) {
		switch t := alt.(type) {
		case *contract.Range:
			out = append(out, rangeInterval(t))
		case *contract.Predef:
			if t.Kind == contract.IntegerT || t.Kind == contract.Any && t.Attrs&contract.NonUndefined == 0 ||
				t.Kind == contract.Any {
				out = append(out, interval{})
			}
		case *contract.Literal:
			if n, ok := t.Value.(term.Integer); ok {
				out = append(out, interval{n.Big(), n.Big()})
			}
		}
	}
	return out
}

// covered reports whether every interval of want lies within the union of
// have.
func covered(want, have []interval) bool {
	merged := mergeIntervals(have)
	for _, w := range want {
		ok := false
		for _, h := range merged {
			if lessEqLo(h.lo, w.lo) && lessEqHi(w.hi, h.hi) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// mergeIntervals sorts intervals and joins those that overlap or touch.
func mergeIntervals(ivs []interval) []interval {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b interval) int {
		switch {
		case a.lo == nil && b.lo == nil:
			return 0
		case a.lo == nil:
			return -1
		case b.lo == nil:
			return 1
		}
		return a.lo.Cmp(b.lo)
	})
	var out []interval
	one := big.NewInt(1)
	for _, iv := range ivs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.hi == nil {
				continue
			}
			next := new(big.Int).Add(last.hi, one)
			if iv.lo == nil || iv.lo.Cmp(next) <= 0 {
				if iv.hi == nil || iv.hi.Cmp(last.hi) > 0 {
					last.hi = iv.hi
				}
				continue
			}
		}
		out = append(out, iv)
	}
	return out
}

// lessEqLo compares lower ends, nil being minus infinity.
func lessEqLo(a, b *big.Int) bool {
	if a == nil {
		return true
	}
	return b != nil && a.Cmp(b) <= 0
}

// lessEqHi compares upper ends, nil being plus infinity.
func lessEqHi(a, b *big.Int) bool {
	if b == nil {
		return true
	}
	return a != nil && a.Cmp(b) <= 0
}

package term

import (
	"bytes"
	"math/big"
)

// Equal reports whether a and b are the same term. Integers and floats are
// never equal to each other (1 and 1.0 differ, as with Erlang's =:=); a
// String and a List of character codes differ too. Maps are equal when they
// hold the same keys with equal values, in any order.
func Equal(a, b Term) bool {
	switch x := a.(type) {
	case Atom:
		y, ok := b.(Atom)
		return ok && x == y
	case Integer:
		y, ok := b.(Integer)
		return ok && x.Cmp(y) == 0
	case Float:
		y, ok := b.(Float)
		return ok && x == y
	case String:
		y, ok := b.(String)
		return ok && x == y
	case Binary:
		y, ok := b.(Binary)
		return ok && bytes.Equal(x, y)
	case Tuple:
		y, ok := b.(Tuple)
		return ok && equalSeq(x, y)
	case List:
		y, ok := b.(List)
		return ok && equalSeq(x, y)
	case Map:
		y, ok := b.(Map)
		if !ok || len(x) != len(y) {
			return false
		}
		for _, e := range x {
			v, found := y.Get(e.Key)
			if !found || !Equal(e.Value, v) {
				return false
			}
		}
		return true
	}
	return a == nil && b == nil
}

func equalSeq(x, y []Term) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !Equal(x[i], y[i]) {
			return false
		}
	}
	return true
}

// order ranks kinds as Erlang's term order does: numbers < atoms < tuples <
// maps < lists < binaries. Strings sort with lists, after them on a tie.
func order(k Kind) int {
	switch k {
	case KindInteger, KindFloat:
		return 0
	case KindAtom:
		return 1
	case KindTuple:
		return 2
	case KindMap:
		return 3
	case KindList:
		return 4
	case KindString:
		return 5
	case KindBinary:
		return 6
	}
	return 7
}

// Compare orders terms and returns -1, 0 or +1. It follows Erlang's term
// order where the two agree; the canonical printer uses it to sort map keys.
func Compare(a, b Term) int {
	oa, ob := order(a.Kind()), order(b.Kind())
	if oa != ob {
		return sign(oa - ob)
	}
	switch x := a.(type) {
	case Integer:
		switch y := b.(type) {
		case Integer:
			return x.Cmp(y)
		case Float:
			return compareIntFloat(x, float64(y))
		}
	case Float:
		switch y := b.(type) {
		case Float:
			return compareFloat(float64(x), float64(y))
		case Integer:
			return -compareIntFloat(y, float64(x))
		}
	case Atom:
		return compareString(string(x), string(b.(Atom)))
	case String:
		return compareString(string(x), string(b.(String)))
	case Binary:
		return bytes.Compare(x, b.(Binary))
	case Tuple:
		y := b.(Tuple)
		if len(x) != len(y) {
			return sign(len(x) - len(y))
		}
		return compareSeq(x, y)
	case List:
		return compareSeq(x, b.(List))
	case Map:
		y := b.(Map)
		if len(x) != len(y) {
			return sign(len(x) - len(y))
		}
		xs, ys := x.Sorted(), y.Sorted()
		for i := range xs {
			if c := Compare(xs[i].Key, ys[i].Key); c != 0 {
				return c
			}
		}
		for i := range xs {
			if c := Compare(xs[i].Value, ys[i].Value); c != 0 {
				return c
			}
		}
		return 0
	}
	return 0
}

// Sorted returns a copy of m with its entries in key order.
func (m Map) Sorted() Map {
	out := make(Map, len(m))
	copy(out, m)
	// Insertion sort: maps in messages are small, and it keeps this package
	// free of sort's reflection-based helpers.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && Compare(out[j-1].Key, out[j].Key) > 0; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out
}

func compareSeq(x, y []Term) int {
	for i := 0; i < len(x) && i < len(y); i++ {
		if c := Compare(x[i], y[i]); c != 0 {
			return c
		}
	}
	return sign(len(x) - len(y))
}

func compareString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareIntFloat(i Integer, f float64) int {
	bf := new(big.Float).SetInt(i.Big())
	return bf.Cmp(big.NewFloat(f))
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

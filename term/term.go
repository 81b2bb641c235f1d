// Package term owns the value model shared by every part of ubfproxy: atoms,
// integers of any size, floats, strings, binaries, tuples, lists and maps;
// their equality and ordering; and the literal text notation that commands
// print and read ({ok, "Joe", <<"bytes">>, 42, 1.5, [a, b], #{k => v}}).
//
// A Term is one of the concrete types of this package. The set is closed
// (Term has an unexported method, as go/ast's Expr has): code that switches
// on a Term's dynamic type may rely on it.
package term

import (
	"math/big"
)

// Kind names the concrete type of a Term.
type Kind uint8

// The kinds of terms.
const (
	KindAtom Kind = iota + 1
	KindInteger
	KindFloat
	KindString
	KindBinary
	KindTuple
	KindList
	KindMap
)

var kindNames = [...]string{
	KindAtom:    "atom",
	KindInteger: "integer",
	KindFloat:   "float",
	KindString:  "string",
	KindBinary:  "binary",
	KindTuple:   "tuple",
	KindList:    "list",
	KindMap:     "map",
}

// String returns the kind's name as the contract language spells it.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "invalid"
}

// Term is a value that travels in a message.
type Term interface {
	// Kind reports which concrete type the term is.
	Kind() Kind
	// String returns the term in the literal text notation.
	String() string
	// termNode seals the interface: only the types of this package
	// implement it.
	termNode()
}

// Atom is a symbolic constant such as ok or 'Quoted atom'.
type Atom string

// Float is an IEEE 754 double.
type Float float64

// String is a character string as carried by a wire format (UBF(A) "...",
// a JSON string). It holds the bytes unchanged; it need not be UTF-8.
type String string

// Binary is a sequence of bytes (UBF(A) N~...~).
type Binary []byte

// Tuple is a fixed-size sequence of terms.
type Tuple []Term

// List is a variable-size sequence of terms.
type List []Term

// MapEntry is one key and its value in a Map.
type MapEntry struct {
	Key   Term
	Value Term
}

// Map is a set of keys with their values. Entries keep the order in which
// they were read; equality ignores that order.
type Map []MapEntry

// Integer is an integer of any size. The zero value is 0. Values that fit in
// an int64 are held without allocating a big.Int.
type Integer struct {
	small int64
	big   *big.Int // non-nil only when the value does not fit in an int64
}

// Kind implements Term.
func (Atom) Kind() Kind { return KindAtom }

// Kind implements Term.
func (Integer) Kind() Kind { return KindInteger }

// Kind implements Term.
func (Float) Kind() Kind { return KindFloat }

// Kind implements Term.
func (String) Kind() Kind { return KindString }

// Kind implements Term.
func (Binary) Kind() Kind { return KindBinary }

// Kind implements Term.
func (Tuple) Kind() Kind { return KindTuple }

// Kind implements Term.
func (List) Kind() Kind { return KindList }

// Kind implements Term.
func (Map) Kind() Kind { return KindMap }

func (Atom) termNode()    {}
func (Integer) termNode() {}
func (Float) termNode()   {}
func (String) termNode()  {}
func (Binary) termNode()  {}
func (Tuple) termNode()   {}
func (List) termNode()    {}
func (Map) termNode()     {}

// Int returns the Integer with value v.
func Int(v int64) Integer { return Integer{small: v} }

// BigInt returns the Integer with value v. It does not keep v.
func BigInt(v *big.Int) Integer {
	if v.IsInt64() {
		return Integer{small: v.Int64()}
	}
	return Integer{big: new(big.Int).Set(v)}
}

// ParseInteger reads an integer written in base 10 with an optional sign,
// of any length.
func ParseInteger(s string) (Integer, bool) {
	return parseIntegerBase(s, 10)
}

func parseIntegerBase(s string, base int) (Integer, bool) {
	if s == "" {
		return Integer{}, false
	}
	if len(s) < 18 && base == 10 {
		neg := false
		digits := s
		if digits[0] == '-' || digits[0] == '+' {
			neg = digits[0] == '-'
			digits = digits[1:]
		}
		if digits == "" {
			return Integer{}, false
		}
		var v int64
		for i := 0; i < len(digits); i++ {
			c := digits[i]
			if c < '0' || c > '9' {
				return Integer{}, false
			}
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return Integer{small: v}, true
	}
	b, ok := new(big.Int).SetString(s, base)
	if !ok {
		return Integer{}, false
	}
	return BigInt(b), true
}

// IsInt64 reports whether the value fits in an int64.
func (i Integer) IsInt64() bool { return i.big == nil }

// Int64 returns the value; it is meaningful only when IsInt64 is true.
func (i Integer) Int64() int64 { return i.small }

// Big returns the value as a new big.Int.
func (i Integer) Big() *big.Int {
	if i.big != nil {
		return new(big.Int).Set(i.big)
	}
	return big.NewInt(i.small)
}

// Sign returns -1, 0 or +1.
func (i Integer) Sign() int {
	if i.big != nil {
		return i.big.Sign()
	}
	switch {
	case i.small < 0:
		return -1
	case i.small > 0:
		return 1
	}
	return 0
}

// Cmp compares i and j and returns -1, 0 or +1.
func (i Integer) Cmp(j Integer) int {
	if i.big == nil && j.big == nil {
		switch {
		case i.small < j.small:
			return -1
		case i.small > j.small:
			return 1
		}
		return 0
	}
	return i.Big().Cmp(j.Big())
}

// Text returns the value in base 10.
func (i Integer) Text() string {
	if i.big != nil {
		return i.big.String()
	}
	return formatInt(i.small)
}

// IsString reports whether l is a list of character codes (0..0x10FFFF),
// which ubf accepts wherever a string is expected. The empty list is one.
func (l List) IsString() bool {
	for _, e := range l {
		c, ok := e.(Integer)
		if !ok || !c.IsInt64() || c.small < 0 || c.small > 0x10FFFF {
			return false
		}
	}
	return true
}

// Get returns the value stored under key, and whether there is one.
func (m Map) Get(key Term) (Term, bool) {
	for _, e := range m {
		if Equal(e.Key, key) {
			return e.Value, true
		}
	}
	return nil, false
}

// Tag returns the first element of a tuple whose first element is an atom,
// as a message's tag ({read_line, 3} has tag read_line). For an atom it
// returns the atom itself. ok is false for every other term.
func Tag(t Term) (tag Atom, ok bool) {
	switch v := t.(type) {
	case Atom:
		return v, true
	case Tuple:
		if len(v) > 0 {
			a, ok := v[0].(Atom)
			return a, ok
		}
	}
	return "", false
}

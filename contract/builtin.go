package contract

import "github.com/ubfproxy/ubfproxy/term"

// predefKinds maps the predefined type names to their kinds. These names are
// part of the language: a contract may not define a type with one of them.
var predefKinds = map[string]PredefKind{
	"any": Any, "none": None, "atom": AtomT, "binary": BinaryT, "float": FloatT,
	"integer": IntegerT, "list": ListT, "tuple": TupleT, "string": StringT, "map": MapT,
}

// allowedAttrs lists the attributes each predefined type accepts, following
// ubf's contracts:isTypeAttr/2 (plus nonempty maps, the JSON extension).
var allowedAttrs = map[PredefKind]Attr{
	Any:      NonEmpty | NonUndefined,
	AtomT:    Ascii | AsciiPrintable | NonEmpty | NonUndefined,
	BinaryT:  Ascii | AsciiPrintable | NonEmpty | Secret,
	ListT:    NonEmpty,
	StringT:  Ascii | AsciiPrintable | NonEmpty | Secret,
	TupleT:   NonEmpty,
	MapT:     NonEmpty,
	None:     0,
	FloatT:   0,
	IntegerT: 0,
}

var attrByName = map[string]Attr{
	"ascii": Ascii, "asciiprintable": AsciiPrintable, "nonempty": NonEmpty, "nonundefined": NonUndefined,
	"secret": Secret,
}

// patternAttr is the one attribute with an argument, pattern("RE"),
// allowed on the types whose values have a text (patternKinds).
const patternAttr = "pattern"

var patternKinds = map[PredefKind]bool{StringT: true, BinaryT: true, AtomT: true}

// builtinNames lists the built-in named types of section 3 of the language
// (and ubf's void() and proplist()) in a stable order.
var builtinNames = [...]string{
	"term", "boolean", "byte", "char", "non_neg_integer", "pos_integer", "neg_integer",
	"number", "nil", "nonempty_string", "module", "node", "mfa", "timeout", "no_return",
	"ubfstring", "ubfproplist", "int", "pid", "void", "proplist",
}

// BuiltinNames returns the names (without "()") of the built-in named
// types, in a stable order.
func BuiltinNames() []string { return append([]string(nil), builtinNames[:]...) }

// IsReserved reports whether name (without "()") is a predefined or built-in
// type name that contracts may not redefine.
func IsReserved(name string) bool {
	if _, ok := predefKinds[name]; ok {
		return true
	}
	for _, n := range builtinNames {
		if n == name {
			return true
		}
	}
	return false
}

// builtinTypes returns fresh definitions of the built-in named types. They
// are rebuilt per contract so that no two contracts share mutable values.
func builtinTypes() map[string]*TypeDef {
	p := func(k PredefKind, a Attr) Type { return &Predef{Kind: k, Attrs: a} }
	i := func(v int64) *term.Integer { x := term.Int(v); return &x }
	atom := func(s string) Type { return &Literal{Value: term.Atom(s)} }
	byteT := &Range{Lo: i(0), Hi: i(255)}
	defs := map[string]Type{
		"term":            p(Any, 0),
		"boolean":         &Union{Alts: []Type{atom("true"), atom("false")}},
		"byte":            byteT,
		"char":            &Range{Lo: i(0), Hi: i(0x10ffff)},
		"non_neg_integer": &Range{Lo: i(0)},
		"pos_integer":     &Range{Lo: i(1)},
		"neg_integer":     &Range{Hi: i(-1)},
		"number":          &Union{Alts: []Type{p(IntegerT, 0), p(FloatT, 0)}},
		"nil":             &Literal{Value: term.List{}},
		"nonempty_string": p(StringT, NonEmpty),
		"module":          p(AtomT, 0),
		"node":            p(AtomT, 0),
		"mfa":             &TupleType{Elems: []Type{p(AtomT, 0), p(AtomT, 0), &Range{Lo: i(0), Hi: i(255)}}},
		"timeout":         &Union{Alts: []Type{atom("infinity"), &Range{Lo: i(0)}}},
		"no_return":       p(None, 0),
		// A string on the wire is a term.String: ubf's {'#S', [byte()]}
		// is how UBF(A) strings look inside ubf, not on the wire, and ubf
		// refuses a list of character codes where it expects one.
		"ubfstring": p(StringT, WireString),
		"ubfproplist": &TupleType{Elems: []Type{
			&Literal{Value: term.Atom("#P")},
			&ListType{Elem: &TupleType{Elems: []Type{p(Any, 0), p(Any, 0)}}, Min: 0, Max: -1},
		}},
		"int": p(IntegerT, 0),
		"pid": p(Any, 0),
		// ubf's own predefined types, used by real contracts: void() is
		// its older spelling of none() (a call that need not return),
		// proplist() a list of {Key, Value} pairs.
		"void":     p(None, 0),
		"proplist": proplistType(0),
	}
	out := make(map[string]*TypeDef, len(defs))
	for _, n := range builtinNames {
		out[n] = &TypeDef{Name: n, Type: defs[n], Builtin: true}
	}
	return out
}

func proplistType(min int) Type {
	return &ListType{Elem: &TupleType{Elems: []Type{&Predef{Kind: Any}, &Predef{Kind: Any}}}, Min: min, Max: -1}
}

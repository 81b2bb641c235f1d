package contract

import (
	"strconv"
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
)

// Position implements Type.
func (t *Literal) Position() Pos { return t.Pos }

// Position implements Type.
func (t *Range) Position() Pos { return t.Pos }

// Position implements Type.
func (t *TupleType) Position() Pos { return t.Pos }

// Position implements Type.
func (t *ListType) Position() Pos { return t.Pos }

// Position implements Type.
func (t *Union) Position() Pos { return t.Pos }

// Position implements Type.
func (t *Ref) Position() Pos { return t.Pos }

// Position implements Type.
func (t *RecordType) Position() Pos { return t.Pos }

// Position implements Type.
func (t *MapType) Position() Pos { return t.Pos }

// Position implements Type.
func (t *Predef) Position() Pos { return t.Pos }

// Position implements Type.
func (t *Bind) Position() Pos { return t.Pos }

// Position implements Type.
func (t *Var) Position() Pos { return t.Pos }

// String implements Type.
func (t *Bind) String() string { return t.Name + " = " + t.Type.String() }

// String implements Type.
func (t *Var) String() string { return t.Name }

// String implements Type.
func (t *Literal) String() string { return t.Value.String() }

// String implements Type.
func (t *Range) String() string {
	var b strings.Builder
	if t.Lo != nil {
		b.WriteString(t.Lo.Text())
	}
	b.WriteString("..")
	if t.Hi != nil {
		b.WriteString(t.Hi.Text())
	}
	return b.String()
}

// String implements Type.
func (t *TupleType) String() string {
	if t.Tail == nil {
		return "{" + joinTypes(t.Elems, ", ") + "}"
	}
	var tail Type = t.Tail
	if t.TailRef != nil {
		tail = t.TailRef
	}
	if len(t.Elems) == 0 {
		return "{.." + tail.String() + "}"
	}
	return "{" + joinTypes(t.Elems, ", ") + ", .." + tail.String() + "}"
}

// String implements Type.
func (t *ListType) String() string {
	s := "[" + t.Elem.String() + "]"
	switch {
	case t.Min == 0 && t.Max < 0:
	case t.Min == 1 && t.Max < 0:
		s += "+"
	case t.Min == 0 && t.Max == 1:
		s += "?"
	case t.Min == t.Max:
		s += "{" + strconv.Itoa(t.Min) + "}"
	case t.Max < 0:
		s += "{" + strconv.Itoa(t.Min) + ",}"
	case t.Min == 0:
		s += "{," + strconv.Itoa(t.Max) + "}"
	default:
		s += "{" + strconv.Itoa(t.Min) + "," + strconv.Itoa(t.Max) + "}"
	}
	return s
}

// String implements Type.
func (t *Union) String() string { return joinTypes(t.Alts, " | ") }

// String implements Type.
func (t *Ref) String() string {
	if t.Optional {
		return t.Name + "()?"
	}
	return t.Name + "()"
}

// String implements Type.
func (t *RecordType) String() string {
	var b strings.Builder
	b.WriteString("#")
	if t.Extended {
		b.WriteString("#")
	}
	b.WriteString(string(term.AppendText(nil, term.Atom(t.Name))))
	b.WriteString("{")
	for i, f := range t.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(term.AppendText(nil, term.Atom(f.Name))))
		if f.Default != nil {
			b.WriteString(" = ")
			b.WriteString(f.Default.String())
		}
		b.WriteString(" :: ")
		b.WriteString(f.Type.String())
	}
	b.WriteString("}")
	return b.String()
}

// String implements Type.
func (t *MapType) String() string {
	var b strings.Builder
	b.WriteString("#{")
	for i, f := range t.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Key.String())
		if f.Required {
			b.WriteString(" := ")
		} else {
			b.WriteString(" => ")
		}
		b.WriteString(f.Value.String())
	}
	if t.Open {
		if len(t.Fields) > 0 {
			b.WriteString(", ")
		}
		b.WriteString("..")
	}
	b.WriteString("}")
	return b.String()
}

var predefNames = [...]string{
	Any: "any", None: "none", AtomT: "atom", BinaryT: "binary", FloatT: "float",
	IntegerT: "integer", ListT: "list", TupleT: "tuple", StringT: "string", MapT: "map",
}

// String returns the predefined type's name.
func (k PredefKind) String() string {
	if int(k) < len(predefNames) {
		return predefNames[k]
	}
	return "invalid"
}

var attrNames = []struct {
	a    Attr
	name string
}{{Ascii, "ascii"}, {AsciiPrintable, "asciiprintable"}, {NonEmpty, "nonempty"}, {NonUndefined, "nonundefined"}, {Secret, "secret"}}

// String implements Type.
func (t *Predef) String() string {
	var attrs []string
	for _, an := range attrNames {
		if t.Attrs&an.a != 0 {
			attrs = append(attrs, an.name)
		}
	}
	if t.Pattern != nil {
		attrs = append(attrs, "pattern("+quotePattern(t.PatternText)+")")
	}
	return t.Kind.String() + "(" + strings.Join(attrs, ", ") + ")"
}

func joinTypes(ts []Type, sep string) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.String()
	}
	return strings.Join(parts, sep)
}

// quotePattern writes a pattern as the language reads it: between double
// quotes, with only the double quote escaped (see compiler.pattern).
func quotePattern(re string) string {
	return `"` + strings.ReplaceAll(re, `"`, `\"`) + `"`
}

package contract

import (
	"sort"

	"github.com/ubfproxy/ubfproxy/term"
)

// This file decides about a definition of a predefined or built-in type
// name. ubf ships its built-in types as a contract of their own
// (src/ubf_types_builtin.con: string() :: [char()], byte() :: 0..255,
// ubfstring() :: {'#S', [byte()]}, ...), which real contracts import. A
// definition that means what the name means is accepted and changes
// nothing; one that means something else is an error that says both.

// checkBuiltinRedef compiles the definition src of a reserved name and
// reports it unless it means the same as the built-in.
func (cp *compiler) checkBuiltinRedef(src *typeSource) {
	name := src.def.Name
	got := cp.sourceType(src)
	var builtin Type
	if kind, ok := predefKinds[name]; ok {
		pd := &Predef{Kind: kind}
		if kind == StringT && src.ubf {
			// string() in the definition's own dialect.
			pd.Attrs = CodeList
		}
		builtin = pd
	} else {
		builtin = cp.types[name].Type
	}
	want, have := cp.canonical(builtin, 0), cp.canonical(got, 0)
	if name == "ubfstring" && have == ubfInternalString {
		// ubf's internal form of a "..." string: what ubfstring() is.
		return
	}
	if want == have {
		return
	}
	if pd, ok := builtin.(*Predef); ok && pd.Kind == StringT && pd.Attrs == 0 {
		want = "string(), text: a string on the wire or a list of character codes (in the Armstrong dialect)"
	}
	kind := "built in"
	if _, ok := predefKinds[name]; ok {
		kind = "predefined"
	}
	cp.reportf(src.nameAt, CodeRedefinedBuiltin, "type %s() is %s as %s, but this definition means %s; a built-in name may be defined again only with its meaning (use the built-in type or rename this one)",
		name, kind, want, have)
}

// ubfInternalString is ubfstring() as ubf defines it inside its own code,
// {'#S', [byte()]}, in canonical form.
const ubfInternalString = "{'#S', [0..255]}"

// maxCanonicalDepth bounds the unfolding of built-in names (which do not
// refer to themselves; the bound guards against a definition that does).
const maxCanonicalDepth = 16

// canonical returns the text of t with the built-in names it uses
// unfolded, string() as ubf means it written as the list of character
// codes it is, and alternatives in a fixed order, so that two types that
// mean the same built-in type have the same text.
func (cp *compiler) canonical(t Type, depth int) string {
	return cp.unfold(t, depth).String()
}

func (cp *compiler) unfold(t Type, depth int) Type {
	if depth > maxCanonicalDepth {
		return t
	}
	switch v := t.(type) {
	case *Ref:
		if d := cp.types[v.Name]; d != nil && d.Builtin && !v.Optional {
			return cp.unfold(d.Type, depth+1)
		}
	case *Predef:
		if v.Kind == StringT && v.Attrs&CodeList != 0 && v.Attrs&^(CodeList|NonEmpty) == 0 && v.Pattern == nil {
			min := 0
			if v.Attrs&NonEmpty != 0 {
				min = 1
			}
			return &ListType{Elem: &Range{Lo: intp(0), Hi: intp(0x10ffff)}, Min: min, Max: -1}
		}
	case *Union:
		alts := make([]Type, 0, len(v.Alts))
		seen := map[string]bool{}
		for _, a := range v.Alts {
			u := cp.unfold(a, depth+1)
			if s := u.String(); !seen[s] {
				seen[s] = true
				alts = append(alts, u)
			}
		}
		sort.Slice(alts, func(i, j int) bool { return alts[i].String() < alts[j].String() })
		if len(alts) == 1 {
			return alts[0]
		}
		return &Union{Alts: alts}
	case *TupleType:
		if v.Tail != nil {
			return t
		}
		elems := make([]Type, len(v.Elems))
		for i, e := range v.Elems {
			elems[i] = cp.unfold(e, depth+1)
		}
		return &TupleType{Elems: elems}
	case *ListType:
		if v.Max == 0 {
			return &Literal{Value: term.List{}}
		}
		return &ListType{Elem: cp.unfold(v.Elem, depth+1), Min: v.Min, Max: v.Max}
	}
	return t
}

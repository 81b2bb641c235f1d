package checker

import (
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Builders for hand-made models, so that matching is tested independently
// of the contract compiler.

func lit(s string) contract.Type { return &contract.Literal{Value: term.MustParse(s)} }

func intp(v int64) *term.Integer { i := term.Int(v); return &i }

func rng(lo, hi *term.Integer) contract.Type { return &contract.Range{Lo: lo, Hi: hi} }

func tup(elems ...contract.Type) contract.Type { return &contract.TupleType{Elems: elems} }

func list(e contract.Type, min, max int) contract.Type {
	return &contract.ListType{Elem: e, Min: min, Max: max}
}

func union(alts ...contract.Type) contract.Type { return &contract.Union{Alts: alts} }

func predef(k contract.PredefKind, a contract.Attr) contract.Type {
	return &contract.Predef{Kind: k, Attrs: a}
}

func def(name string, t contract.Type) *contract.TypeDef {
	return &contract.TypeDef{Name: name, Type: t}
}

func ref(d *contract.TypeDef) contract.Type { return &contract.Ref{Name: d.Name, Def: d} }

func optref(d *contract.TypeDef) contract.Type {
	return &contract.Ref{Name: d.Name, Def: d, Optional: true}
}

func record(name string, ext bool, fields ...contract.Field) contract.Type {
	return &contract.RecordType{Name: name, Fields: fields, Extended: ext}
}

func field(name string, t contract.Type) contract.Field { return contract.Field{Name: name, Type: t} }

func mapT(open bool, fields ...contract.MapField) contract.Type {
	return &contract.MapType{Fields: fields, Open: open}
}

func req(key string, t contract.Type) contract.MapField {
	return contract.MapField{Key: term.Atom(key), Required: true, Value: t}
}

func opt(key string, t contract.Type) contract.MapField {
	return contract.MapField{Key: term.Atom(key), Value: t}
}

var (
	anyT     = predef(contract.Any, 0)
	noneT    = predef(contract.None, 0)
	atomT    = predef(contract.AtomT, 0)
	intT     = predef(contract.IntegerT, 0)
	stringT  = predef(contract.StringT, 0)
	binaryT  = predef(contract.BinaryT, 0)
	floatT   = predef(contract.FloatT, 0)
	listT    = predef(contract.ListT, 0)
	tupleT   = predef(contract.TupleT, 0)
	mapPredT = predef(contract.MapT, 0)
)

package compat

import (
	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
)

// rewriter copies a type with its bare variables replaced, for matching
// with checker.Match outside a session: by the types the variable is
// bound to (inclusion, "variables by their types"), or by the value a
// session bound it to.
type rewriter struct {
	vars map[int][]contract.Type
	env  checker.Env
	defs map[*contract.TypeDef]*contract.TypeDef
}

// byTypes is t with every bare variable standing for its types.
func (in *Includer) byTypes(t contract.Type, vars map[int][]contract.Type) contract.Type {
	rw := &rewriter{vars: vars, defs: make(map[*contract.TypeDef]*contract.TypeDef)}
	return rw.rewrite(t)
}

// withEnv is t with every bare variable bound in env standing for its
// value, and the others for their types.
func withEnv(t contract.Type, vars map[int][]contract.Type, env checker.Env) contract.Type {
	rw := &rewriter{vars: vars, env: env, defs: make(map[*contract.TypeDef]*contract.TypeDef)}
	return rw.rewrite(t)
}

func (rw *rewriter) rewrite(t contract.Type) contract.Type {
	if !hasVar(t, make(map[*contract.TypeDef]bool)) {
		return t
	}
	switch ty := t.(type) {
	case *contract.Var:
		if v, ok := rw.env[ty.Name]; ok && v != nil {
			return &contract.Literal{Value: v, Pos: ty.Pos}
		}
		alts := make([]contract.Type, 0, len(rw.vars[ty.Slot]))
		for _, a := range rw.vars[ty.Slot] {
			alts = append(alts, rw.rewrite(a))
		}
		return &contract.Union{Alts: alts, Pos: ty.Pos}
	case *contract.Bind:
		c := *ty
		c.Type = rw.rewrite(ty.Type)
		return &c
	case *contract.Ref:
		if d, ok := rw.defs[ty.Def]; ok {
			c := *ty
			c.Def = d
			return &c
		}
		d := *ty.Def
		rw.defs[ty.Def] = &d
		d.Type = rw.rewrite(ty.Def.Type)
		c := *ty
		c.Def = &d
		return &c
	case *contract.Union:
		c := &contract.Union{Pos: ty.Pos}
		for _, a := range ty.Alts {
			c.Alts = append(c.Alts, rw.rewrite(a))
		}
		return c
	case *contract.TupleType:
		c := *ty
		c.Elems = nil
		for _, e := range ty.Elems {
			c.Elems = append(c.Elems, rw.rewrite(e))
		}
		if ty.Tail != nil {
			c.Tail = rw.rewrite(ty.Tail).(*contract.ListType)
		}
		return &c
	case *contract.ListType:
		c := *ty
		c.Elem = rw.rewrite(ty.Elem)
		return &c
	case *contract.RecordType:
		c := *ty
		c.Fields = nil
		for _, f := range ty.Fields {
			f.Type = rw.rewrite(f.Type)
			c.Fields = append(c.Fields, f)
		}
		return &c
	case *contract.MapType:
		c := *ty
		c.Fields = nil
		for _, f := range ty.Fields {
			f.Value = rw.rewrite(f.Value)
			c.Fields = append(c.Fields, f)
		}
		return &c
	}
	return t
}

// hasVar reports whether a bare variable occurs in t.
func hasVar(t contract.Type, seen map[*contract.TypeDef]bool) bool {
	switch ty := t.(type) {
	case *contract.Var:
		return true
	case *contract.Bind:
		return hasVar(ty.Type, seen)
	case *contract.Ref:
		if ty.Def == nil || seen[ty.Def] {
			return false
		}
		seen[ty.Def] = true
		return hasVar(ty.Def.Type, seen)
	case *contract.Union:
		for _, a := range ty.Alts {
			if hasVar(a, seen) {
				return true
			}
		}
	case *contract.TupleType:
		for _, e := range ty.Elems {
			if hasVar(e, seen) {
				return true
			}
		}
		return ty.Tail != nil && hasVar(ty.Tail, seen)
	case *contract.ListType:
		return hasVar(ty.Elem, seen)
	case *contract.RecordType:
		for _, f := range ty.Fields {
			if hasVar(f.Type, seen) {
				return true
			}
		}
	case *contract.MapType:
		for _, f := range ty.Fields {
			if hasVar(f.Value, seen) {
				return true
			}
		}
	}
	return false
}

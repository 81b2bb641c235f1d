package proxy

import "github.com/ubfproxy/ubfproxy/contract"

// recordFields indexes the record types of c by name, with their field
// names in the contract's order, for wire formats that carry records as
// named fields (wrappers.Options.RecordFields). When two record types share
// a name, the first one found wins.
func recordFields(c *contract.Contract) map[string][]string {
	out := map[string][]string{}
	seen := map[contract.Type]bool{}
	var walk func(t contract.Type)
	walk = func(t contract.Type) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		switch t := t.(type) {
		case *contract.RecordType:
			if _, ok := out[t.Name]; !ok {
				names := make([]string, len(t.Fields))
				for i, f := range t.Fields {
					names[i] = f.Name
				}
				out[t.Name] = names
			}
			for _, f := range t.Fields {
				walk(f.Type)
			}
		case *contract.TupleType:
			for _, e := range t.Elems {
				walk(e)
			}
		case *contract.ListType:
			walk(t.Elem)
		case *contract.Union:
			for _, a := range t.Alts {
				walk(a)
			}
		case *contract.MapType:
			for _, f := range t.Fields {
				walk(f.Value)
			}
		case *contract.Ref:
			if t.Def != nil {
				walk(t.Def.Type)
			}
		}
	}
	rules := func(rs []*contract.Rule) {
		for _, r := range rs {
			walk(r.In)
			for _, o := range r.Outs {
				walk(o.Type)
			}
		}
	}
	for _, st := range c.States {
		rules(st.Rules)
		for _, e := range st.Events {
			walk(e.Type)
		}
	}
	rules(c.Anystate)
	for _, e := range c.AnyEvents {
		walk(e.Type)
	}
	for _, d := range c.Types {
		walk(d.Type)
	}
	return out
}

package contract

import "github.com/ubfproxy/ubfproxy/grammar"

// varInfo is what the compiler knows of one variable: its slot and where
// it is bound and used, for the checks of section 14.
type varInfo struct {
	slot  int
	binds []Pos
	uses  []Pos
}

// slot returns the variable's slot, giving a new name the next one.
func (cp *compiler) slot(name string) *varInfo {
	if v, ok := cp.vars[name]; ok {
		return v
	}
	v := &varInfo{slot: len(cp.varOrder)}
	cp.vars[name] = v
	cp.varOrder = append(cp.varOrder, name)
	return v
}

// bind compiles V = T.
func (cp *compiler) bind(b *grammar.Bind) Type {
	at := cp.pos(b.Pos)
	v := cp.slot(b.Var)
	v.binds = append(v.binds, at)
	return &Bind{Name: b.Var, Slot: v.slot, Type: cp.typ(b.Type), Pos: at}
}

// variable compiles a bare V.
func (cp *compiler) variable(name string, p grammar.Pos) Type {
	at := cp.pos(p)
	v := cp.slot(name)
	v.uses = append(v.uses, at)
	return &Var{Name: name, Slot: v.slot, Pos: at}
}

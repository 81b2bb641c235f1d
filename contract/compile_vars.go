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

// checkVars reports each variable used but bound nowhere in the contract
// (an error: it could never match), at every use.
func (cp *compiler) checkVars() {
	for _, name := range cp.varOrder {
		v := cp.vars[name]
		if len(v.binds) > 0 {
			continue
		}
		for _, at := range v.uses {
			cp.reportf(at, CodeUnboundVariable, "variable %s is used but bound nowhere: it can never match (bind it where its value first appears, as in {ok, %s = T})", name, name)
		}
	}
}

// warnUnusedVars reports each variable of the contract itself that is
// bound but never used: the binding has no effect. Variables bound in an
// imported type library are not reported, as unused imported types are
// not.
func (cp *compiler) warnUnusedVars() {
	for _, name := range cp.varOrder {
		v := cp.vars[name]
		if len(v.uses) > 0 || len(v.binds) == 0 || v.binds[0].File != cp.main {
			continue
		}
		cp.reportf(v.binds[0], CodeUnusedVariable, "variable %s is bound but never used: the binding has no effect (use %s where the value must come back, or drop \"%s =\")", name, name, name)
	}
}

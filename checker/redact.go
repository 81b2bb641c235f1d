package checker

import (
	"strings"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// SecretText is how records, replay output and error replies write a
// value whose type is secret (binary(secret), string(secret)): the atom
// '<secret>' that stands for it in a redacted term, as printed.
const SecretText = "'<secret>'"

// secretAtom stands for a secret value in a redacted term.
var secretAtom = term.Atom("<secret>")

// redactor hides the values of secret types. It is nil for a contract
// without one, so that sessions of such contracts pay nothing.
type redactor struct {
	msgs  []contract.Type            // the types of the messages that may hold a secret
	binds map[string][]contract.Type // variables bound to a type that may hold a secret
	// vars are the variables bound to a secret type: a value checked
	// against one (a wrong password) is as secret as the value it is
	// bound to.
	vars map[string]bool
	// While newRedactor works: what hasSecret found for named types whose
	// walk was not cut short (by maxRedactDepth or a cycle), and how many
	// cuts it made. Named types shared over and over would otherwise be
	// walked once per path to them, exponentially many.
	known map[*contract.TypeDef]bool
	cuts  int
}

// maxRedactDepth bounds the walk through recursive types.
const maxRedactDepth = 64

// newRedactor collects the message types of c that reach a secret type.
func newRedactor(c *contract.Contract) *redactor {
	r := &redactor{}
	// Twice: a variable may be used before the declaration that binds it.
	for range 2 {
		r.msgs, r.binds = nil, map[string][]contract.Type{}
		r.known = map[*contract.TypeDef]bool{} // r.vars changes what a named type reaches
		add := func(t contract.Type) {
			if r.hasSecret(t, 0, map[*contract.TypeDef]bool{}) {
				r.msgs = append(r.msgs, t)
			}
		}
		contract.Walk(c, contract.Visitor{
			Rule: func(_ *contract.State, rl *contract.Rule) {
				add(rl.In)
				for _, o := range rl.Outs {
					add(o.Type)
				}
			},
			Event: func(_ *contract.State, ev *contract.Event) { add(ev.Type) },
		})
		r.vars = map[string]bool{}
		for name := range r.binds {
			r.vars[name] = true
		}
	}
	r.known = nil
	if len(r.msgs) == 0 {
		return nil
	}
	return r
}

// hasSecret reports whether t reaches a secret type, and records the
// variables bound to such a type.
func (r *redactor) hasSecret(t contract.Type, depth int, seen map[*contract.TypeDef]bool) bool {
	if depth > maxRedactDepth {
		r.cuts++
		return false
	}
	switch ty := t.(type) {
	case *contract.Predef:
		return ty.Attrs&contract.Secret != 0
	case *contract.Var:
		return r.vars[ty.Name]
	case *contract.Ref:
		if ty.Def == nil {
			return false
		}
		if seen[ty.Def] {
			r.cuts++
			return false
		}
		if found, ok := r.known[ty.Def]; ok {
			return found // and its bindings are recorded already
		}
		cuts := r.cuts
		seen[ty.Def] = true
		found := r.hasSecret(ty.Def.Type, depth+1, seen)
		delete(seen, ty.Def)
		if r.cuts == cuts {
			r.known[ty.Def] = found
		}
		return found
	case *contract.Bind:
		found := r.hasSecret(ty.Type, depth+1, seen)
		if found {
			r.binds[ty.Name] = append(r.binds[ty.Name], ty.Type)
		}
		return found
	case *contract.Union:
		found := false
		for _, a := range ty.Alts {
			found = r.hasSecret(a, depth+1, seen) || found
		}
		return found
	case *contract.TupleType:
		found := false
		for _, e := range ty.Elems {
			found = r.hasSecret(e, depth+1, seen) || found
		}
		if ty.Tail != nil {
			found = r.hasSecret(ty.Tail, depth+1, seen) || found
		}
		if ty.TailRef != nil {
			found = r.hasSecret(ty.TailRef, depth+1, seen) || found
		}
		return found
	case *contract.ListType:
		return r.hasSecret(ty.Elem, depth+1, seen)
	case *contract.RecordType:
		found := false
		for _, f := range ty.Fields {
			found = r.hasSecret(f.Type, depth+1, seen) || found
		}
		return found
	case *contract.MapType:
		found := false
		for _, f := range ty.Fields {
			found = r.hasSecret(f.Value, depth+1, seen) || found
		}
		return found
	}
	return false
}

// term returns t with every value at a position whose type is secret, in
// any message type that fits t's shape, replaced by <secret>. It errs on
// the side of hiding: a union hides what any of its alternatives would.
func (r *redactor) term(t term.Term) term.Term {
	if r == nil || t == nil {
		return t
	}
	for _, ty := range r.msgs {
		t = r.walk(t, ty, 0)
	}
	return t
}

// bound is term for the value of variable name.
func (r *redactor) bound(name string, t term.Term) term.Term {
	if r == nil || t == nil {
		return t
	}
	for _, ty := range r.binds[name] {
		t = r.walk(t, ty, 0)
	}
	return t
}

func (r *redactor) walk(t term.Term, typ contract.Type, depth int) term.Term {
	v, _ := r.hide(t, typ, depth)
	return v
}

// hide is walk that also says whether it hid anything (terms holding
// slices cannot be compared with ==).
func (r *redactor) hide(t term.Term, typ contract.Type, depth int) (term.Term, bool) {
	if depth > maxRedactDepth || isSecretAtom(t) {
		return t, false
	}
	switch ty := typ.(type) {
	case *contract.Predef:
		if ty.Attrs&contract.Secret != 0 {
			return secretAtom, true
		}
	case *contract.Var:
		if r.vars[ty.Name] {
			return secretAtom, true
		}
	case *contract.Ref:
		if ty.Def != nil {
			return r.hide(t, ty.Def.Type, depth+1)
		}
	case *contract.Bind:
		return r.hide(t, ty.Type, depth+1)
	case *contract.Union:
		any := false
		for _, a := range ty.Alts {
			var changed bool
			t, changed = r.hide(t, a, depth+1)
			any = any || changed
		}
		return t, any
	case *contract.TupleType:
		xs, ok := t.(term.Tuple)
		if !ok || !arityFits(len(xs), ty) || !literalsFit(xs, ty.Elems) {
			return t, false
		}
		var tail contract.Type
		if ty.Tail != nil {
			tail = ty.Tail.Elem
		} else if ty.TailRef != nil {
			// A tail named by a type: a list type whose elements the
			// rest of the tuple are.
			if lt, ok := plainType(ty.TailRef).(*contract.ListType); ok {
				tail = lt.Elem
			}
		}
		out, changed := r.hideEach(xs, func(i int) contract.Type {
			if i < len(ty.Elems) {
				return ty.Elems[i]
			}
			return tail
		}, depth)
		if changed {
			return term.Tuple(out), true
		}
	case *contract.RecordType:
		xs, ok := recordShape(t, ty)
		if !ok {
			return t, false
		}
		out, changed := r.hideEach(xs, func(i int) contract.Type {
			if i == 0 || i > len(ty.Fields) {
				return nil // the tag, and an extended record's field names
			}
			return ty.Fields[i-1].Type
		}, depth)
		if changed {
			return term.Tuple(out), true
		}
	case *contract.ListType:
		xs, ok := t.(term.List)
		if !ok {
			return t, false
		}
		out, changed := r.hideEach(xs, func(int) contract.Type { return ty.Elem }, depth)
		if changed {
			return term.List(out), true
		}
	case *contract.MapType:
		mp, ok := t.(term.Map)
		if !ok {
			return t, false
		}
		find := newFieldFinder(ty, len(mp))
		var out term.Map
		for i, e := range mp {
			fi := find.find(e.Key)
			if fi < 0 {
				continue
			}
			if v, changed := r.hide(e.Value, ty.Fields[fi].Value, depth+1); changed {
				if out == nil {
					out = append(term.Map(nil), mp...)
				}
				out[i].Value = v
			}
		}
		if out != nil {
			return out, true
		}
	}
	return t, false
}

// hideEach is hide for the elements of a tuple, record or list: xs[i]
// against typeAt(i), nil leaving it as it is. xs is copied the first time
// an element changes, never written.
func (r *redactor) hideEach(xs []term.Term, typeAt func(i int) contract.Type, depth int) ([]term.Term, bool) {
	var out []term.Term
	for i, x := range xs {
		et := typeAt(i)
		if et == nil {
			continue
		}
		if v, changed := r.hide(x, et, depth+1); changed {
			if out == nil {
				out = append([]term.Term(nil), xs...)
			}
			out[i] = v
		}
	}
	return out, out != nil
}

func isSecretAtom(t term.Term) bool {
	a, ok := t.(term.Atom)
	return ok && a == secretAtom
}

// literalsFit reports whether the literal elements of a tuple type (its
// tag, a sub-command) are those of xs, so that a message is walked only
// against the types of its own kind.
func literalsFit(xs term.Tuple, elems []contract.Type) bool {
	for i, e := range elems {
		if i >= len(xs) {
			break
		}
		if lit, ok := e.(*contract.Literal); ok && !matchLiteral(xs[i], lit.Value) {
			return false
		}
	}
	return true
}

// secrets returns the values of orig that redacted hides (where the two
// differ and redacted holds <secret>).
func secrets(orig, redacted term.Term, out []term.Term) []term.Term {
	if isSecretAtom(redacted) && !isSecretAtom(orig) {
		return append(out, orig)
	}
	switch o := orig.(type) {
	case term.Tuple:
		if r, ok := redacted.(term.Tuple); ok && len(r) == len(o) {
			for i := range o {
				out = secrets(o[i], r[i], out)
			}
		}
	case term.List:
		if r, ok := redacted.(term.List); ok && len(r) == len(o) {
			for i := range o {
				out = secrets(o[i], r[i], out)
			}
		}
	case term.Map:
		if r, ok := redacted.(term.Map); ok && len(r) == len(o) {
			for i := range o {
				out = secrets(o[i].Value, r[i].Value, out)
			}
		}
	}
	return out
}

// hideText replaces the printed forms of vals in s by <secret>, and the
// cut-off prints of them ("<<\"supers..." where an explanation truncated
// the term around a secret).
func hideText(s string, vals []term.Term) string {
	for _, v := range vals {
		p := string(term.AppendText(nil, v))
		s = strings.ReplaceAll(s, p, SecretText)
		s = hideCut(s, p)
	}
	return s
}

// hideCut replaces each longest prefix of p that ends at a "..." in s.
func hideCut(s, p string) string {
	var b strings.Builder
	last := 0
	for j := 0; ; {
		k := strings.Index(s[j:], "...")
		if k < 0 {
			break
		}
		j += k
		for n := min(len(p)-1, j-last); n >= 2; n-- {
			if s[j-n:j] == p[:n] {
				b.WriteString(s[last : j-n])
				b.WriteString(SecretText)
				last = j
				break
			}
		}
		j += 3
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// redact hides the secret values in v: its message, request, the values
// of its bindings, and their prints in its explanation.
func (s *Session) redact(v *Violation) *Violation {
	if v == nil || s.m == nil || s.m.secrets == nil {
		return v // small enough to inline: no cost for an accepted message
	}
	return s.hideSecrets(v)
}

// hideSecrets is redact for a violation of a contract with secret types.
func (s *Session) hideSecrets(v *Violation) *Violation {
	r := s.m.secrets
	var hidden []term.Term
	if v.Message != nil {
		m := r.term(v.Message)
		hidden = secrets(v.Message, m, hidden)
		v.Message = m
	}
	if v.Request != nil {
		q := r.term(v.Request)
		hidden = secrets(v.Request, q, hidden)
		v.Request = q
	}
	for i, b := range v.Bindings {
		if b.Value == nil {
			continue
		}
		val := r.bound(b.Var, b.Value)
		hidden = secrets(b.Value, val, hidden)
		v.Bindings[i].Value = val
	}
	if len(hidden) > 0 {
		v.Explanation = hideText(v.Explanation, hidden)
	}
	return v
}

// Redact returns t with the values of its contract's secret types
// (binary(secret), string(secret)) written <secret>, for callers that
// print messages the checker did not report (the proxy's own records of
// frames and pending requests). It returns t itself when the contract has
// no secret type or t holds no secret.
func (s *Session) Redact(t term.Term) term.Term {
	if s == nil {
		return t
	}
	return s.m.redact(t)
}

// Redact is Session.Redact for the contract of m, for callers that have no
// session at hand or must not touch one another goroutine may replace.
func (m *Machine) Redact(t term.Term) term.Term {
	if m == nil {
		return t
	}
	return m.core.redact(t)
}

// redact is Redact for the contract of c (nil: none).
func (c *core) redact(t term.Term) term.Term {
	if c == nil {
		return t
	}
	return c.secrets.term(t)
}

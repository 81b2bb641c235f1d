package ubf

import (
	"math"

	"github.com/ubfproxy/ubfproxy/term"
)

// This file holds the decoder's stack machine: the items of the stack,
// their sizes and depths, tuples closed from them, and lists built by '&'.

// comp records the expanded size and the depth of a composite item of the
// stack (a non-empty tuple or list, or a list under construction).
// Scalars and empty tuples and lists have none: scalarMeta derives them.
type comp struct {
	at       int32 // index of the item in the stack
	n, depth uint32
}

// building is a list under construction: the index of its item in the
// stack, where it stands as nil (no term does). d.builds holds the open
// ones in stack order, so the one on top of the stack, if any, is the
// last; the elements of d.builds[k], last first, are d.lists[k]. Not
// being a term.Term, it cannot leave the decoder.
type building int32

// sizeOf is the expanded size of a string, atom or binary of n bytes.
func sizeOf(n int) uint32 {
	return uint32(min(int64(n)+1, math.MaxUint32))
}

// scalarMeta is the expanded size and the depth of a stack item that has
// no entry in d.comps: a scalar, or an empty tuple or list.
func scalarMeta(t term.Term) (n, depth uint32) {
	switch v := t.(type) {
	case term.Integer:
		return 1, 0
	case term.Atom:
		return sizeOf(len(v)), 0
	case term.String:
		return sizeOf(len(v)), 0
	case term.Binary:
		return sizeOf(len(v)), 0
	case term.Tuple, term.List:
		return 1, 1
	}
	return 1, 0
}

// frameBottom is the index of the first stack entry that belongs to the
// innermost open tuple (or to the top level).
func (d *Decoder) frameBottom() int {
	if len(d.marks) == 0 {
		return 0
	}
	return d.marks[len(d.marks)-1]
}

// push puts t, of expanded size n and depth depth, on the stack. The
// stack grows by a quarter once it is large (not by doubling), so that
// its unused end stays a small part of what the frame is charged.
func (d *Decoder) push(t term.Term, n, depth uint32, at int) error {
	if len(d.stack) < cap(d.stack) && depth == 0 {
		// A scalar on a stack with room: the common case, inlined.
		d.started = true
		d.stack = append(d.stack, t)
		return nil
	}
	return d.pushSlow(t, n, depth, at)
}

func (d *Decoder) pushSlow(t term.Term, n, depth uint32, at int) error {
	if int64(n) > d.maxN() {
		return d.limitAt(at, "object expands to more than %d bytes through registers", d.rd.Lim.MaxFrame)
	}
	d.started = true
	if len(d.stack) == cap(d.stack) {
		if err := d.growStack(at); err != nil {
			return err
		}
	}
	if depth > 0 && n > 1 {
		if len(d.comps) == cap(d.comps) {
			if err := d.growComps(at); err != nil {
				return err
			}
		}
		d.comps = append(d.comps, comp{at: int32(len(d.stack)), n: n, depth: depth})
	}
	d.stack = append(d.stack, t)
	return nil
}

// grown is the capacity a slice of capacity c grows to: twice as much
// while it is small, a quarter more once it is large, so that its unused
// end stays a small part of what the frame is charged.
func grown(c, least int) int {
	if c >= 1024 {
		return c + c/4
	}
	return max(2*c, least)
}

func (d *Decoder) growStack(at int) error {
	c := cap(d.stack)
	nc := grown(c, 16)
	if err := d.charge(int64(nc-c)*termBytes, at); err != nil {
		return err
	}
	ns := make([]term.Term, len(d.stack), nc)
	copy(ns, d.stack)
	d.stack = ns
	return nil
}

func (d *Decoder) growComps(at int) error {
	c := cap(d.comps)
	nc := grown(c, 8)
	if err := d.charge(int64(nc-c)*compBytes, at); err != nil {
		return err
	}
	ns := make([]comp, len(d.comps), nc)
	copy(ns, d.comps)
	d.comps = ns
	return nil
}

func (d *Decoder) addComp(c comp, at int) error {
	if len(d.comps) == cap(d.comps) {
		if err := d.growComps(at); err != nil {
			return err
		}
	}
	d.comps = append(d.comps, c)
	return nil
}

// meta returns the expanded size and the depth of stack item i, and the
// index of its entry in d.comps (-1 if it has none). Items are looked at
// from the top, so this is quick for the top two.
func (d *Decoder) meta(i int) (n, depth uint32, ci int) {
	ci = len(d.comps) - 1
	for ci >= 0 && int(d.comps[ci].at) > i {
		ci--
	}
	if ci >= 0 && int(d.comps[ci].at) == i {
		return d.comps[ci].n, d.comps[ci].depth, ci
	}
	n, depth = scalarMeta(d.stack[i])
	return n, depth, -1
}

// pop takes the top item off the stack (finishTop must have been called
// for a list under construction).
func (d *Decoder) pop() (t term.Term, n, depth uint32) {
	i := len(d.stack) - 1
	n, depth, ci := d.meta(i)
	if ci >= 0 {
		d.comps = d.comps[:ci]
	}
	t = d.stack[i]
	d.stack[i] = nil
	d.stack = d.stack[:i]
	return t, n, depth
}

// finishTop turns the top item into a term.List if it is a list under
// construction.
func (d *Decoder) finishTop() error {
	if len(d.builds) == 0 {
		return nil
	}
	return d.finishTopList()
}

func (d *Decoder) finishTopList() error {
	last := len(d.builds) - 1
	if int(d.builds[last]) == len(d.stack)-1 {
		err := d.finishList(last)
		d.builds = d.builds[:last]
		return err
	}
	return nil
}

// finishList turns the list under construction d.builds[k] into a
// term.List in place; the caller takes it off d.builds.
func (d *Decoder) finishList(k int) error {
	rl := d.lists[k]
	if err := d.charge(sliceBytes+int64(len(rl))*termBytes, d.rd.Pos); err != nil {
		return err
	}
	l := term.List(d.elems.Cut(len(rl), elemsBlock))
	for j, e := range rl {
		l[len(rl)-1-j] = e
	}
	d.stack[d.builds[k]] = l
	clear(rl)
	if cap(rl) > keepSlots {
		// The elements now live in l: let the scratch go, and give the
		// frame its cost back.
		d.mem -= int64(cap(rl)) * termBytes
		rl = nil
	}
	d.lists[k] = rl[:0]
	return nil
}

// newList opens a list under construction at stack item i and returns
// its index in d.builds and d.lists. A slot of d.lists is charged with
// the slot of d.builds that goes with it.
func (d *Decoder) newList(i, at int) (int, error) {
	k := len(d.builds)
	if k == len(d.lists) {
		if n := cap(d.lists); len(d.lists) == n {
			if err := d.charge(int64(max(n, 4))*(sliceBytes+4), at); err != nil {
				return 0, err
			}
		}
		d.lists = append(d.lists, nil)
	}
	d.builds = append(d.builds, building(i))
	return k, nil
}

// elemsBlock is the size of the blocks small tuples and lists are cut
// from (see package carve).
const elemsBlock = 128

func (d *Decoder) closeTuple() error {
	m := d.marks[len(d.marks)-1]
	d.marks = d.marks[:len(d.marks)-1]
	elems := d.stack[m:]
	ci := len(d.comps)
	for ci > 0 && int(d.comps[ci-1].at) >= m {
		ci--
	}
	n, depth := int64(1), uint32(1)
	t := emptyTuple
	if len(elems) > 0 {
		if err := d.charge(sliceBytes+int64(len(elems))*termBytes, d.rd.Pos); err != nil {
			return err
		}
		tu := term.Tuple(d.elems.Cut(len(elems), elemsBlock))
		if ci == len(d.comps) && len(d.builds) == 0 {
			// Only scalars (and empty tuples and lists): the common
			// case of a record or a message, and a quicker loop.
			// (An assignment per element: copy would cost a call
			// and a bulk write barrier, slower for a few elements.)
			for i, e := range elems {
				en, ed := scalarMeta(e)
				n += int64(en)
				depth = max(depth, ed+1)
				tu[i] = e
			}
		} else {
			var err error
			if n, depth, err = d.closeMixed(tu, elems, m, ci); err != nil {
				return err
			}
		}
		t = tu
	}
	clear(elems)
	d.stack = d.stack[:m]
	d.comps = d.comps[:ci]
	if int64(depth) > int64(d.rd.Lim.MaxDepth) {
		return d.limitAt(d.rd.Pos, "terms nested more than %d deep", d.rd.Lim.MaxDepth)
	}
	if n > d.maxN() {
		return d.limitAt(d.rd.Pos, "object expands to more than %d bytes through registers", d.rd.Lim.MaxFrame)
	}
	if len(d.stack) < cap(d.stack) && len(d.comps) < cap(d.comps) {
		// The tuple's elements were just taken off: there is room.
		if n > 1 {
			d.comps = append(d.comps, comp{at: int32(len(d.stack)), n: uint32(n), depth: depth})
		}
		d.stack = append(d.stack, t)
		return nil
	}
	return d.push(t, uint32(n), depth, d.rd.Pos)
}

// closeMixed fills tu with the elements of a tuple, stack items m and up,
// some of them composite (their entries in d.comps start at ci), and adds
// up their sizes and depths.
func (d *Decoder) closeMixed(tu term.Tuple, elems []term.Term, m, ci int) (n int64, depth uint32, err error) {
	n, depth = 1, 1
	cj := ci
	bottom := len(d.builds)
	for bottom > 0 && int(d.builds[bottom-1]) >= m {
		bottom--
	}
	bk := bottom
	for i := range elems {
		if bk < len(d.builds) && int(d.builds[bk]) == m+i {
			if err := d.finishList(bk); err != nil {
				return 0, 0, err
			}
			bk++
		}
		var en, ed uint32
		if cj < len(d.comps) && int(d.comps[cj].at) == m+i {
			en, ed = d.comps[cj].n, d.comps[cj].depth
			cj++
		} else {
			en, ed = scalarMeta(elems[i])
		}
		n += int64(en)
		depth = max(depth, ed+1)
		tu[i] = elems[i]
	}
	d.builds = d.builds[:bottom]
	return n, depth, nil
}

// cons implements '&': the top of the stack is put at the front of the
// list under it (lists are written last element first).
func (d *Decoder) cons() error {
	if len(d.stack)-d.frameBottom() < 2 {
		return d.errorAt(d.rd.Pos, "'&' needs an element on top of a list, but the stack holds %d item(s) here", len(d.stack)-d.frameBottom())
	}
	if err := d.finishTop(); err != nil {
		return err
	}
	e, en, ed := d.pop()
	i := len(d.stack) - 1
	if d.stack[i] == nil {
		// The common case: consing onto a list under construction,
		// whose entries are the last in d.builds and d.comps.
		k := len(d.builds) - 1
		c := &d.comps[len(d.comps)-1]
		rl := d.lists[k]
		if len(rl) == cap(rl) {
			var err error
			if rl, err = d.appendElem(rl, e); err != nil {
				return err
			}
		} else {
			rl = append(rl, e)
		}
		d.lists[k] = rl
		n := int64(c.n) + int64(en)
		depth := max(c.depth, ed+1)
		if int64(depth) > int64(d.rd.Lim.MaxDepth) {
			return d.limitAt(d.rd.Pos, "terms nested more than %d deep", d.rd.Lim.MaxDepth)
		}
		if n > d.maxN() {
			return d.limitAt(d.rd.Pos, "object expands to more than %d bytes through registers", d.rd.Lim.MaxFrame)
		}
		c.n, c.depth = uint32(n), depth
		return nil
	}
	ln, ld, ci := d.meta(i)
	old, ok := d.stack[i].(term.List)
	if !ok {
		return d.errorAt(d.rd.Pos, "'&' needs a list under the top of the stack, found %s", d.stack[i].Kind())
	}
	// Consing onto a list from a register copies it; charge the copy to
	// the frame, or "l 1 & l 1 & ..." with a long list in l would cost
	// time and memory quadratic in the frame.
	d.work += int64(len(old))
	if d.work > int64(d.rd.Lim.MaxFrame) {
		return d.limitAt(d.rd.Pos, "object expands to more than %d bytes through registers", d.rd.Lim.MaxFrame)
	}
	j, err := d.newList(i, d.rd.Pos)
	if err != nil {
		return err
	}
	d.stack[i] = nil
	rl := d.lists[j]
	for k := len(old) - 1; k >= 0; k-- {
		if rl, err = d.appendElem(rl, old[k]); err != nil {
			return err
		}
	}
	if rl, err = d.appendElem(rl, e); err != nil {
		return err
	}
	d.lists[j] = rl
	n := int64(ln) + int64(en)
	depth := max(ld, ed+1)
	if int64(depth) > int64(d.rd.Lim.MaxDepth) {
		return d.limitAt(d.rd.Pos, "terms nested more than %d deep", d.rd.Lim.MaxDepth)
	}
	if n > d.maxN() {
		return d.limitAt(d.rd.Pos, "object expands to more than %d bytes through registers", d.rd.Lim.MaxFrame)
	}
	if ci >= 0 {
		d.comps[ci].n, d.comps[ci].depth = uint32(n), depth
		return nil
	}
	return d.addComp(comp{at: int32(i), n: uint32(n), depth: depth}, d.rd.Pos)
}

// appendElem appends e to the elements of a list under construction,
// charging the frame for the growth. Like the stack, a large list grows
// by a quarter.
func (d *Decoder) appendElem(rl []term.Term, e term.Term) ([]term.Term, error) {
	if c := cap(rl); len(rl) == c {
		nc := max(2*c, 8)
		if c >= 1024 {
			nc = c + c/4
		}
		if err := d.charge(int64(nc-c)*termBytes, d.rd.Pos); err != nil {
			return rl, err
		}
		nl := make([]term.Term, len(rl), nc)
		copy(nl, rl)
		rl = nl
	}
	return append(rl, e), nil
}

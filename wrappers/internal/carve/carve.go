// Package carve hands out the small slices of decoded terms (the elements
// of tuples and lists, the entries of maps) cut from shared blocks, so
// that a message costs one allocation for all its small slices rather
// than one each.
//
// A block is only ever cut from, never written again through the
// Slices, and is replaced, not reused, when used up: terms handed out
// may be kept (the proxy keeps a request until its reply) and must not
// change. A block stays alive while any slice cut from it does, which
// for messages that are checked and dropped is soon.
package carve

// Small is the longest slice cut from a block; longer ones get their own
// allocation.
const Small = 16

// Slices cuts slices of T from blocks of up to block elements (at least
// Small): the first block is Small long and each new one twice the last,
// so that a connection that decoded one small message holds a small
// block. The zero value is ready to use.
type Slices[T any] struct {
	free []T // the unused end of the current block
	next int // the size of the next block
}

// Cut returns n zeroed elements, with capacity exactly n so that an
// append past them cannot reach into another slice's elements. It never
// returns nil.
func (s *Slices[T]) Cut(n, block int) []T {
	if n > Small {
		return make([]T, n)
	}
	if len(s.free) < n || s.free == nil {
		size := min(max(s.next, Small), block)
		s.free, s.next = make([]T, size), 2*size
	}
	c := s.free[:n:n]
	s.free = s.free[n:]
	return c
}

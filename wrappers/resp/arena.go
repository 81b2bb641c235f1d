package resp

import (
	"bytes"
	"encoding/binary"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/carve"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/intern"
)

// A decoded message's term outlives the decoder's next step: the proxy
// keeps a request's term until its reply arrives (for the report of a bad
// reply), and the checker may keep terms in its state. So nothing handed
// out may be written again. The arena below still makes one allocation
// serve many messages: it carves the pieces of terms — argument bytes,
// tuple and list elements, and the interface boxes of binaries, tuples,
// lists, maps and integers — from blocks that are only ever appended to
// and are replaced, not reused, when full. A block is collected when no
// term cut from it is alive any more.
//
// Boxing is where the allocations were: storing a term.Binary (a 24-byte
// slice header) in a term.Term makes Go allocate a copy of the header on
// every conversion. box instead points the interface at a header already
// stored in a block (see box).

// Block sizes: a block of headers or elements is up to about 2 KiB, the
// byte chunk up to 8 KiB; the first ones are small and each new one twice
// the last, so that an idle connection after a few small messages holds
// little. A retained term pins at most one block of each kind.
const (
	firstChunk  = 256
	bytesChunk  = 8 << 10
	maxCarved   = bytesChunk / 8 // longer byte strings get their own allocation
	elemsBlock  = 128
	maxElems    = carve.Small // longer tuples and lists get their own allocation
	headerBlock = 64
	firstBlock  = 4
)

// iface is the layout of a non-empty interface value such as term.Term:
// the type word (the itab) and a pointer to the value. Values that are not
// pointer-shaped — all the term types boxed here are slices or structs of
// two words — are always held indirectly, through the data pointer.
type iface struct {
	tab  unsafe.Pointer
	data unsafe.Pointer
}

// box returns proto's dynamic type with the value at p, which must hold a
// value of that type, never be written again and stay reachable through the
// returned term (a pointer into a heap block does keep the block alive). It
// is what the conversion term.Term(*p) does, minus the copy to a fresh
// allocation. proto is one of the prototypes below: a multi-word type
// (held indirectly, through the data pointer), boxed once.
// TestBoxAssumptions checks the layout box relies on.
func box(proto term.Term, p unsafe.Pointer) term.Term {
	(*iface)(unsafe.Pointer(&proto)).data = p
	return proto
}

// block hands out the elements of a fixed-size array one at a time, each
// written once before it is handed out.
type block[T any] struct {
	buf  []T
	used int
}

func (b *block[T]) put(v T) *T {
	p := b.next()
	*p = v
	return p
}

// next returns the next element, zero, for the caller to write once.
func (b *block[T]) next() *T {
	if b.used == len(b.buf) {
		b.buf, b.used = make([]T, min(max(2*len(b.buf), firstBlock), headerBlock)), 0
	}
	p := &b.buf[b.used]
	b.used++
	return p
}

// arena carves the terms of one decoder's messages; see the top of this file.
type arena struct {
	// bytes is the current chunk of argument bytes, of which the first
	// used are handed out: a byte string costs an index update, not a
	// slice header written back (with its pointer) as an append would.
	bytes []byte
	used  int
	elems carve.Slices[term.Term] // tuple and list elements
	bins  block[term.Binary]
	tups  block[term.Tuple]
	lists block[term.List]
	maps  block[term.Map]
	ints  block[term.Integer]
	cmd1s block[cmd1]
	cmd2s block[cmd2]
	short block[shortBinary]
	// free1 and free2 are records given back by recycle, taken before
	// the blocks are carved further.
	free1 []*cmd1
	free2 []*cmd2
}

// maxFree bounds each free list: enough for the commands a pipelining
// client keeps in flight; records given back past it are left to the
// garbage collector.
const maxFree = 64

// cmd1 and cmd2 are the pieces of the term of a command with one or two
// arguments (GET k, SET k v, most commands), carved as one: the tuple's
// header and elements, the headers of its binaries, and their bytes when
// they are short (see copyShort).
type cmd1 struct {
	tup   term.Tuple
	elems [2]term.Term
	bins  [1]term.Binary
	data  [1][16]byte
}

type cmd2 struct {
	tup   term.Tuple
	elems [3]term.Term
	bins  [2]term.Binary
	data  [2][16]byte
}

// shortBinary is a binary of at most 16 bytes and its header, carved as
// one.
type shortBinary struct {
	bin  term.Binary
	data [16]byte
}

// copyShort copies b to dst when it is 1 to 16 bytes long and in a
// buffer with 16 bytes from its start (a key or a short value in a read
// buffer): one 16-byte move, no call of memmove. The bytes copied past
// len(b) are not handed out.
func copyShort(dst *[16]byte, b []byte) (term.Binary, bool) {
	if uint(len(b)-1) < 16 && cap(b) >= 16 {
		*dst = *(*[16]byte)(b[:16])
		return dst[:len(b):len(b)], true
	}
	return nil, false
}

// command1 returns the boxed tuple {name, <<a>>}.
func (a *arena) command1(name term.Term, x []byte) term.Term {
	r := takeFree(&a.free1)
	if r == nil {
		r = a.cmd1s.next()
	}
	var ok bool
	if r.bins[0], ok = copyShort(&r.data[0], x); !ok {
		r.bins[0] = a.copyBytes(x)
	}
	r.elems[0] = name
	r.elems[1] = box(protoBinary, unsafe.Pointer(&r.bins[0]))
	r.tup = r.elems[:]
	return box(protoTuple, unsafe.Pointer(&r.tup))
}

// command2 returns the boxed tuple {name, <<x>>, <<y>>}.
func (a *arena) command2(name term.Term, x, y []byte) term.Term {
	r := takeFree(&a.free2)
	if r == nil {
		r = a.cmd2s.next()
	}
	var ok bool
	if r.bins[0], ok = copyShort(&r.data[0], x); !ok {
		r.bins[0] = a.copyBytes(x)
	}
	if r.bins[1], ok = copyShort(&r.data[1], y); !ok {
		r.bins[1] = a.copyBytes(y)
	}
	r.elems[0] = name
	r.elems[1] = box(protoBinary, unsafe.Pointer(&r.bins[0]))
	r.elems[2] = box(protoBinary, unsafe.Pointer(&r.bins[1]))
	r.tup = r.elems[:]
	return box(protoTuple, unsafe.Pointer(&r.tup))
}

// takeFree pops a record off a free list, or returns nil.
func takeFree[T any](free *[]*T) *T {
	n := len(*free)
	if n == 0 {
		return nil
	}
	r := (*free)[n-1]
	*free = (*free)[:n-1]
	return r
}

// recycle takes back the record of a command term that command1 or
// command2 made (see wrappers.Recycler), and ignores any other term. The
// record is zeroed at once: a holder the caller forgot then sees an empty
// tuple, not another command's arguments, until the record is reused.
//
// A term is known by its layout, compared as addresses only (no pointer
// is made to what may not be a record): a tuple whose elements start
// right after its own header, which no other tuple has — the arena's
// other tuples keep headers and elements in separate blocks, and Go
// allocates a slice header and its array apart.
func (a *arena) recycle(t term.Term) {
	i := (*iface)(unsafe.Pointer(&t))
	if i.tab != (*iface)(unsafe.Pointer(&protoTuple)).tab {
		return
	}
	tup := *(*term.Tuple)(i.data)
	if uintptr(unsafe.Pointer(unsafe.SliceData(tup)))-uintptr(i.data) != unsafe.Offsetof(cmd1{}.elems) {
		return
	}
	switch {
	case len(tup) == 2 && cap(tup) == 2 && len(a.free1) < maxFree:
		r := (*cmd1)(i.data)
		*r = cmd1{}
		a.free1 = append(a.free1, r)
	case len(tup) == 3 && cap(tup) == 3 && len(a.free2) < maxFree:
		r := (*cmd2)(i.data)
		*r = cmd2{}
		a.free2 = append(a.free2, r)
	}
}

// The prototypes box is given: zero values of each boxed type, converted
// once (a conversion, even of a zero value, is a runtime call).
var (
	protoBinary  term.Term = term.Binary(nil)
	protoTuple   term.Term = term.Tuple(nil)
	protoList    term.Term = term.List(nil)
	protoMap     term.Term = term.Map(nil)
	protoInteger term.Term = term.Integer{}
)

// binary returns a copy of b as a boxed term.Binary.
func (a *arena) binary(b []byte) term.Term {
	if uint(len(b)-1) < 16 && cap(b) >= 16 {
		r := a.short.next()
		r.bin, _ = copyShort(&r.data, b)
		return box(protoBinary, unsafe.Pointer(&r.bin))
	}
	p := a.bins.next()
	*p = a.copyBytes(b)
	return box(protoBinary, unsafe.Pointer(p))
}

// copyBytes returns a copy of b that no later call writes over.
func (a *arena) copyBytes(b []byte) term.Binary {
	if len(b) > maxCarved {
		c := make([]byte, len(b))
		copy(c, b)
		return c
	}
	if len(a.bytes)-a.used < len(b) || a.bytes == nil {
		a.bytes, a.used = make([]byte, min(max(2*len(a.bytes), firstChunk, len(b)), bytesChunk)), 0
	}
	n := a.used
	a.used += copy(a.bytes[n:], b)
	return term.Binary(a.bytes[n:a.used:a.used])
}

// slots returns n zeroed elements, with capacity exactly n so that an
// append past them cannot reach into another term's elements.
func (a *arena) slots(n int) []term.Term { return a.elems.Cut(n, elemsBlock) }

// tuple boxes tu, whose elements come from slots.
func (a *arena) tuple(tu term.Tuple) term.Term {
	return box(protoTuple, unsafe.Pointer(a.tups.put(tu)))
}

// tuple2 returns the boxed tuple {x, y}.
func (a *arena) tuple2(x, y term.Term) term.Term {
	s := a.slots(2)
	s[0], s[1] = x, y
	return a.tuple(s)
}

// list boxes l.
func (a *arena) list(l term.List) term.Term {
	return box(protoList, unsafe.Pointer(a.lists.put(l)))
}

// mapTerm boxes m.
func (a *arena) mapTerm(m term.Map) term.Term {
	return box(protoMap, unsafe.Pointer(a.maps.put(m)))
}

// integer returns v as a boxed term.Integer.
func (a *arena) integer(v int64) term.Term {
	return box(protoInteger, unsafe.Pointer(a.ints.put(term.Int(v))))
}

// name is what an interned name read from the wire stands for: its
// lowercased atom (boxed once) and what it means as a command.
type name struct {
	atom term.Term
	op   op
}

// Names are cached per decoder (see package intern): a connection repeats
// a few command names and simple strings. Longer strings are made each time.
const (
	nameSlots  = 256
	maxNameLen = 64
)

func newNames() intern.Cache[name] { return intern.New[name](nameSlots, maxNameLen) }

func makeName(spelling string) name {
	a := term.Atom(bytes.ToLower([]byte(spelling)))
	return name{atom: a, op: opOf(a)}
}

// lookup returns the name spelt b: one of the last few spellings of at
// most 8 bytes from recent, a known one from the shared table (see
// names.go), any other through the decoder's cache.
func (p *parser) lookup(b []byte) name {
	if uint(len(b)-1) < 8 && cap(b) >= 8 {
		// One load, as in pack: the bytes past len(b) are masked off.
		w := binary.LittleEndian.Uint64(b[:8]) & (1<<(8*len(b)) - 1)
		r := &p.hotState().recent[(w+uint64(len(b)))*0x9e3779b97f4a7c15>>(64-recentBits)]
		if r.word == w && int(r.n) == len(b) {
			return name{atom: r.atom, op: r.op}
		}
		n := p.lookupSlow(b)
		*r = recentName{word: w, atom: n.atom, n: uint8(len(b)), op: n.op}
		return n
	}
	return p.lookupSlow(b)
}

func (p *parser) lookupSlow(b []byte) name {
	if n, ok := knownName(b); ok {
		return n
	}
	n, _ := p.names.Get(b, makeName)
	return n
}

// parserHot is what the quick paths of a parser remember of the last
// frames (see parser.hot).
type parserHot struct {
	recent [1 << recentBits]recentName // see lookup
	memo   commandMemo                 // the client decoder's (see quickCommand)
}

// hotState returns p.hot, made if need be.
func (p *parser) hotState() *parserHot {
	if p.hot == nil {
		p.hot = new(parserHot)
	}
	return p.hot
}

// recentBits is the log2 of the entries of parserHot.recent: a pipelining
// client repeats one command, or a few (the client decoder's memo takes
// the first), and a server's replies have few simple strings; a
// connection holds them while it is busy (Trim lets them go).
const recentBits = 1

// recentName is an entry of parserHot.recent: the name (atom and op) spelt
// by the n bytes packed in word, as they came (not lowered). An entry
// with n 0 is free: the empty spelling is not looked up there.
type recentName struct {
	word uint64
	atom term.Term
	n    uint8
	op   op
}

// atom returns the lowercased atom of b.
func (p *parser) atom(b []byte) term.Term { return p.lookup(b).atom }

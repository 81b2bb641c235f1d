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
	cmds  block[commandRecord]
	short block[shortBinary]
	// rc is what recycle needs, made by the first recycle: a decoder
	// whose terms are never given back pays nothing for it.
	rc *recycling
}

// recycling is an arena's memory for reusing records (see recycle).
type recycling struct {
	// issued are the records handed out since the first recycle, oldest
	// first from first, at most maxIssued, and kinds their kinds (apart,
	// so that a pointer is not padded to 16 bytes): recycle takes back
	// only a record found here, so that only memory this arena carved for
	// a whole term is ever reused, whatever term it is given.
	issued       [maxIssued]unsafe.Pointer
	kinds        [maxIssued]recordKind
	first, count uint
	// free are the records given back, by kind, for reuse to hand out
	// again, the last given back first, at most maxFree of a kind: a
	// record given back to a full list is left to the garbage collector.
	free  [numKinds][maxFree]unsafe.Pointer
	nfree [numKinds]uint
}

// maxFree bounds a kind's free list below maxIssued, so that a recycling
// and the 8-byte header the Go runtime puts before an object of more than
// 512 bytes that holds pointers fit in the 768-byte size class
// (TestRecyclingSizeClass). In the 896-byte class, the proxy's own
// session's, each parked session left the slot of its freed recycling
// beside it, half-used spans that the heap kept: 0.9 KiB per idle RESP
// session in BenchmarkIdleSessionMemory. 24 is more than a pipelining
// client gives back at once (16 with redis-benchmark -P 16).
const maxFree = 24

// recordKind says which type a record is.
type recordKind uint8

const (
	kindCommand recordKind = iota // *commandRecord
	kindShort                     // *shortBinary
	numKinds
)

// maxIssued bounds the records recycle can take back (a power of two, for
// the ring's index): more than the
// commands a pipelining client keeps in flight (16 for redis-benchmark
// -P 16). Records handed out past it, and those given back too late, are
// left to the garbage collector.
const maxIssued = 32

// commandRecord holds the pieces of the term of a command with one or two
// arguments (GET k, SET k v, most commands), carved as one: the tuple's
// header and elements, the headers of its binaries, and their bytes when
// they are short (see copyShort). One type serves both counts, so that a
// record given back by a SET can be reused by a GET.
type commandRecord struct {
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

// command returns the boxed tuple {name, <<x>>}, or {name, <<x>>, <<y>>}
// when two is set.
func (a *arena) command(name term.Term, x, y []byte, two bool) term.Term {
	r := (*commandRecord)(a.rc.reuse(kindCommand))
	if r == nil {
		r = a.cmds.next()
	}
	a.rc.note(unsafe.Pointer(r), kindCommand)
	r.elems[0] = name
	r.elems[1] = a.binaryIn(&r.bins[0], &r.data[0], x)
	r.tup = r.elems[:2:2]
	if two {
		r.elems[2] = a.binaryIn(&r.bins[1], &r.data[1], y)
		r.tup = r.elems[:3:3]
	}
	return box(protoTuple, unsafe.Pointer(&r.tup))
}

// binaryIn returns a copy of b as a boxed term.Binary whose header is h,
// its bytes in data when copyShort takes them.
func (a *arena) binaryIn(h *term.Binary, data *[16]byte, b []byte) term.Term {
	var ok bool
	if *h, ok = copyShort(data, b); !ok {
		*h = a.copyBytes(b)
	}
	return box(protoBinary, unsafe.Pointer(h))
}

// reuse returns a record of kind k given back, to build the next term
// in, once recycling started; nil when there is none (the caller then
// makes one). Either way the caller notes the record (note).
func (rc *recycling) reuse(k recordKind) unsafe.Pointer {
	if rc == nil || rc.nfree[k] == 0 {
		return nil
	}
	rc.nfree[k]--
	return rc.free[k][rc.nfree[k]]
}

// note notes p, a record of kind k about to be handed out, as issued,
// once recycling started: the oldest issued is forgotten when maxIssued
// are.
func (rc *recycling) note(p unsafe.Pointer, k recordKind) {
	if rc == nil {
		return
	}
	if rc.count == maxIssued {
		rc.first, rc.count = rc.first+1, rc.count-1 // the oldest will not come back
	}
	i := (rc.first + rc.count) % maxIssued
	rc.issued[i], rc.kinds[i] = p, k
	rc.count++
}

// recycle takes back the record of a term it handed out (see
// wrappers.Recycler): a command with one or two arguments (command) or a
// short bulk reply (replyBinary). Any other term, or one handed out
// before the first recycle, too long ago or given back already, is left
// alone: only a record found out in the ring is taken. The record is
// zeroed at once, as far as a holder can see: the headers of its tuple and
// binaries (the elements point into the record, the bytes are reached
// through the binaries' headers). A holder the caller forgot then sees an
// empty term, not another message, until the record is reused.
//
// Terms come back in the order they were handed out (requests as their
// replies come, a reply once it is judged), so the one given back is
// looked for from the oldest out, and the older ones skipped over are
// forgotten: they were not given back in their turn and will not be.
func (a *arena) recycle(t term.Term) {
	rc := a.rc
	if rc == nil {
		a.rc = new(recycling)
		return // t was handed out before anything was issued
	}
	p := (*iface)(unsafe.Pointer(&t)).data
	for i := range rc.count {
		if j := (rc.first + i) % maxIssued; rc.issued[j] == p {
			// The entries skipped over keep their records alive until
			// overwritten: at most maxIssued of them.
			k := rc.kinds[j]
			rc.first, rc.count = rc.first+i+1, rc.count-i-1
			k.empty(p)
			if rc.nfree[k] < maxFree {
				rc.free[k][rc.nfree[k]] = p
				rc.nfree[k]++
			}
			return
		}
	}
}

// empty zeroes the headers of the record p of kind k (see recycle).
func (k recordKind) empty(p unsafe.Pointer) {
	switch k {
	case kindCommand:
		r := (*commandRecord)(p)
		r.tup, r.bins = nil, [2]term.Binary{}
	case kindShort:
		(*shortBinary)(p).bin = nil
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

// binary returns a copy of b as a boxed term.Binary, a part of a term
// (an argument, an element): its record is not issued, since only a whole
// term is ever given back (see replyBinary).
func (a *arena) binary(b []byte) term.Term {
	if uint(len(b)-1) < 16 && cap(b) >= 16 {
		r := a.short.next()
		r.bin, _ = copyShort(&r.data, b)
		return box(protoBinary, unsafe.Pointer(&r.bin))
	}
	return a.longBinary(b)
}

// replyBinary is binary for a reply that is a binary alone (a bulk
// string: the usual answer to GET), which the proxy may give back: its
// record is issued (see recycle). Parts of terms do not go through here,
// or a reply of many elements would push every record in flight out of
// the ring, and recycling would stop.
func (a *arena) replyBinary(b []byte) term.Term {
	if uint(len(b)-1) >= 16 || cap(b) < 16 {
		return a.longBinary(b)
	}
	r := (*shortBinary)(a.rc.reuse(kindShort))
	if r == nil {
		r = a.short.next()
	}
	a.rc.note(unsafe.Pointer(r), kindShort)
	r.bin, _ = copyShort(&r.data, b)
	return box(protoBinary, unsafe.Pointer(&r.bin))
}

// longBinary is binary for what copyShort does not take.
func (a *arena) longBinary(b []byte) term.Term {
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

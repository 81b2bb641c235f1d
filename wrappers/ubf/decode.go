package ubf

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// Decoder reads UBF(A) objects from a byte stream, one frame (object
// ended by '$') at a time. It keeps the bytes of the frame in a buffer it
// reuses, so a frame may arrive in any number of reads, split anywhere.
//
// A Decoder used on its own does not classify frames; Frame returns the
// decoded object and its bytes. The decoders of a Session classify them as
// UBF(C) messages.
type Decoder struct {
	r   io.Reader
	lim wrappers.Limits

	buf   []byte
	start int   // first byte of the current frame in buf
	pos   int   // next byte to scan
	end   int   // end of the buffered data
	base  int64 // stream offset of buf[0]
	eof   bool  // the reader returned io.EOF
	rerr  error // a read error other than io.EOF, reported once buffered data is used
	err   error // sticky error: the stream cannot be read further

	// lexer state, kept across reads
	mode    uint8
	quote   byte  // the closing byte in modeQuoted
	hasEsc  bool  // a backslash was seen in the current quoted token
	tok     int   // first byte of the current token in buf
	binLeft int   // bytes of the binary still expected (modeBinary)
	started bool  // the frame holds something other than separators and comments
	work    int64 // list elements copied in this frame to cons onto lists from registers

	// The machine's stack holds terms only; a list under construction
	// is a building value there. The size and depth of an item that
	// cannot be read off the term (a non-empty tuple or list) are kept
	// aside in comps, so that the stack costs 16 bytes an item: it is
	// the decoder's main scratch, and what a flood of tokens fills.
	stack []term.Term
	comps []comp // sizes of the composite items on the stack, in stack order
	marks []int  // index in stack of each open tuple's first element
	// Registers set in this frame: regs[c] is 1 + the index in regVals
	// of register c's value, 0 when it is not set. The table is
	// allocated by the first '>' a decoder meets: most streams never
	// use registers.
	regs    *[256]uint8
	regVals []regValue
	lists   [][]term.Term // elements, last first, of lists under construction
	free    []int32       // indexes of d.lists not in use
	arena   []term.Term   // the unused end of the current block for small tuples and lists
	atoms   *[cacheSize]cacheEntry
	strs    *[cacheSize]cacheEntry

	open int // lists under construction on the stack

	// Memory accounting (see Limits.MaxFrameMemory): mem is what the
	// current frame has cost so far, and it may reach allow before the
	// budget, which grows with the bytes of the frame, is computed again.
	mem, allow int64
	floor      int64 // the budget of a frame before its first byte
	maxN       int64 // bound on the expanded size of a term: MaxFrame, at most 2^32-1
}

// comp records the expanded size and the depth of a composite item of the
// stack (a non-empty tuple or list, or a list under construction).
// Scalars and empty tuples and lists have none: scalarMeta derives them.
type comp struct {
	at       int32 // index of the item in the stack
	n, depth uint32
}

// regValue is a term stored in a register, with its expanded size and
// depth.
type regValue struct {
	t        term.Term
	n, depth uint32
	key      byte
}

// building stands on the stack for a list under construction: it is the
// index in d.lists of its elements. It never leaves the decoder.
type building int32

// Kind implements term.Term.
func (building) Kind() term.Kind { return term.KindList }

// String implements term.Term.
func (building) String() string { return "[...]" }

const (
	modeNormal uint8 = iota
	modeInt
	modeQuoted
	modeBinary
	modeTilde
)

const (
	initialBuffer   = 4096
	readChunk       = 4096
	keepBuffer      = 64 << 10 // a larger buffer is dropped between frames
	keepSlots       = 1024     // and so is larger scratch
	maxCachedAtom   = 64
	maxCachedString = 32

	// memFloor is the memory any frame may cost, however short (but
	// never more than MaxFrameMemory): a small frame may legitimately
	// cost many times its size (registers, '#'), and the floor keeps
	// the per-byte budget from refusing it.
	memFloor = wrappers.MemoryFloor
	// Costs charged to a frame's budget, in bytes: what the Go runtime
	// allocates for each thing on 64-bit platforms.
	termBytes  = 16 // an element of a tuple or list, or a stack item (an interface)
	boxBytes   = 16 // a boxed integer or string header
	sliceBytes = 24 // a boxed tuple, list or binary header
	compBytes  = 12
)

// NewDecoder returns a decoder reading UBF(A) from r within the limits l
// (zero limits take their defaults).
func NewDecoder(r io.Reader, l wrappers.Limits) *Decoder {
	d := &Decoder{r: r, lim: l.WithDefaults()}
	d.maxN = min(int64(d.lim.MaxFrame), math.MaxUint32)
	d.floor = d.budget(0)
	d.allow = d.floor
	return d
}

// budget is the memory a frame may cost once b bytes of it were read: it
// grows linearly from memFloor (or MaxFrameMemory, if less) at the start
// of a frame to MaxFrameMemory at MaxFrame bytes.
func (d *Decoder) budget(b int64) int64 {
	lim := int64(d.lim.MaxFrameMemory)
	floor := min(memFloor, lim)
	return min(lim, floor+int64(d.perByte()*float64(b)))
}

// perByte is the memory a frame may cost per byte beyond the floor.
func (d *Decoder) perByte() float64 {
	return float64(int64(d.lim.MaxFrameMemory)-min(memFloor, int64(d.lim.MaxFrameMemory))) / float64(d.lim.MaxFrame)
}

// charge adds k bytes to the memory the frame costs, and refuses the
// frame when that is over its budget. at is where in buf the frame has
// got to.
func (d *Decoder) charge(k int64, at int) error {
	d.mem += k
	if d.mem <= d.allow {
		return nil
	}
	return d.overBudget(at)
}

// overBudget computes the budget again for the bytes read so far, and
// refuses the frame if it is still over.
func (d *Decoder) overBudget(at int) error {
	b := max(int64(at-d.start), 0)
	d.allow = d.budget(b)
	if d.mem <= d.allow {
		return nil
	}
	return d.limitAt(at, "decoding the frame takes more than %d bytes of memory after %d bytes of it "+
		"(MaxFrameMemory %d: %.3g bytes per byte of the frame plus %d)",
		d.allow, b, d.lim.MaxFrameMemory, d.perByte(), min(memFloor, d.lim.MaxFrameMemory))
}

// Frame returns the next object and every byte consumed for it (the
// separators and comments before it, the object, its '$', and the
// separators after '$' up to and including a newline when they were
// already read). raw is only valid until the next call. At the end of the
// stream, trailing separators are returned once with a nil term, then
// io.EOF. A malformed or over-limit frame gives a *wrappers.FrameError, and
// every later call returns it again.
func (d *Decoder) Frame() (t term.Term, raw []byte, err error) {
	if d.err != nil {
		return nil, nil, d.err
	}
	if d.start == d.end && d.start > 0 && d.mode == modeNormal && !d.started {
		// The previous frame used up the buffer: start at its beginning
		// again so reads fill it from the front.
		d.base += int64(d.start)
		d.start, d.pos, d.end = 0, 0, 0
		if cap(d.buf) > keepBuffer {
			// One big frame should not pin its buffer for the life of
			// the connection.
			d.buf = nil
		}
	}
	for {
		t, done, err := d.scan()
		if err != nil {
			d.err = err
			return nil, nil, err
		}
		if done {
			raw = d.buf[d.start:d.pos]
			d.start = d.pos
			return t, raw, nil
		}
		if d.eof || d.rerr != nil {
			return d.atEnd()
		}
		if err := d.fill(); err != nil {
			d.err = err
			return nil, nil, err
		}
	}
}

// atEnd handles the end of the input with the current frame incomplete.
func (d *Decoder) atEnd() (term.Term, []byte, error) {
	if d.rerr != nil {
		d.err = d.rerr
		return nil, nil, d.err
	}
	if d.mode == modeNormal && d.pos < d.end {
		// Only a '>' waits for the byte after it.
		d.err = d.errorAt(d.pos, "stream ended after '>' without a register name")
		return nil, nil, d.err
	}
	if !d.started && d.mode == modeNormal {
		if d.start == d.end {
			d.err = io.EOF
			return nil, nil, io.EOF
		}
		raw := d.buf[d.start:d.end]
		d.start, d.pos = d.end, d.end
		return nil, raw, nil
	}
	var what string
	switch d.mode {
	case modeQuoted:
		what = "inside " + quotedName(d.quote) + " opened at byte " + strconv.FormatInt(d.base+int64(d.tok-1), 10)
	case modeBinary, modeTilde:
		what = "inside a binary opened at byte " + strconv.FormatInt(d.base+int64(d.tok-1), 10)
	default:
		if len(d.marks) > 0 {
			what = fmt.Sprintf("with %d tuple(s) still open", len(d.marks))
		} else {
			what = "before the '$' that ends the object"
		}
	}
	d.err = d.errorAt(d.end, "stream ended %s", what)
	return nil, nil, d.err
}

func quotedName(q byte) string {
	switch q {
	case '"':
		return "a string"
	case '\'':
		return "an atom"
	case '%':
		return "a comment"
	}
	return "a tag"
}

// fill reads more input, making room in the buffer first. It refuses to
// hold more than one frame's limit.
func (d *Decoder) fill() error {
	if d.end == len(d.buf) {
		if d.start > 0 {
			n := copy(d.buf, d.buf[d.start:d.end])
			shift := d.start
			d.base += int64(shift)
			d.start = 0
			d.pos -= shift
			d.tok -= shift
			d.end = n
		}
		if d.end == len(d.buf) {
			if d.end-d.start > d.lim.MaxFrame {
				return d.limitAt(d.end, "frame longer than %d bytes", d.lim.MaxFrame)
			}
			size := 2 * len(d.buf)
			if size < initialBuffer {
				size = initialBuffer
			}
			if ceiling := d.lim.MaxFrame + readChunk; size > ceiling {
				size = ceiling
			}
			if size <= d.end {
				return d.limitAt(d.end, "frame longer than %d bytes", d.lim.MaxFrame)
			}
			nb := make([]byte, size)
			copy(nb, d.buf[:d.end])
			d.buf = nb
		}
	}
	for tries := 0; tries < 100; tries++ {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if err == io.EOF {
			d.eof = true
		} else if err != nil {
			d.rerr = fmt.Errorf("ubf: reading: %w", err)
		}
		if n > 0 || err != nil {
			return nil
		}
	}
	d.rerr = fmt.Errorf("ubf: reading: %w", io.ErrNoProgress)
	return nil
}

func (d *Decoder) errorAt(i int, format string, args ...any) error {
	return &wrappers.FrameError{Offset: d.base + int64(i), Msg: fmt.Sprintf(format, args...)}
}

func (d *Decoder) limitAt(i int, format string, args ...any) error {
	return &wrappers.FrameError{Offset: d.base + int64(i), Msg: fmt.Sprintf(format, args...), Limit: true}
}

// scan runs the UBF(A) machine over the buffered bytes. It returns done
// when a '$' completed an object; otherwise it has consumed everything it
// can and needs more input.
func (d *Decoder) scan() (term.Term, bool, error) {
	buf := d.buf[:d.end]
	for d.pos < len(buf) {
		switch d.mode {
		case modeInt:
			i := d.pos
			for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
				i++
			}
			if i-d.tok > d.lim.MaxIntDigits+1 {
				return nil, false, d.limitAt(d.tok, "integer longer than %d digits", d.lim.MaxIntDigits)
			}
			d.pos = i
			if i == len(buf) {
				return nil, false, nil
			}
			if err := d.pushInt(buf[d.tok:i]); err != nil {
				return nil, false, err
			}
			d.mode = modeNormal
			continue
		case modeQuoted:
			i := d.pos
			q := d.quote
			// Most quoted text has no backslash: find the closing quote
			// with the vectorised search, then go byte by byte only if a
			// backslash comes first.
			if j := bytes.IndexByte(buf[i:], q); j >= 0 && bytes.IndexByte(buf[i:i+j], '\\') < 0 {
				i += j
			} else if j < 0 && bytes.IndexByte(buf[i:], '\\') < 0 {
				i = len(buf)
			}
			for i < len(buf) {
				c := buf[i]
				if c == q {
					break
				}
				if c == '\\' {
					if i+1 == len(buf) {
						break
					}
					d.hasEsc = true
					i += 2
					continue
				}
				i++
			}
			if i-d.tok > d.lim.MaxBinary && q != '%' {
				return nil, false, d.limitAt(d.tok-1, "%s longer than %d bytes", quotedName(q), d.lim.MaxBinary)
			}
			d.pos = i
			if i >= len(buf) || buf[i] != q {
				return nil, false, nil
			}
			if err := d.endQuoted(buf[d.tok:i]); err != nil {
				return nil, false, err
			}
			d.pos = i + 1
			d.mode = modeNormal
			continue
		case modeBinary:
			if len(buf)-d.pos < d.binLeft {
				d.binLeft -= len(buf) - d.pos
				d.pos = len(buf)
				return nil, false, nil
			}
			d.pos += d.binLeft
			d.binLeft = 0
			d.mode = modeTilde
			continue
		case modeTilde:
			if buf[d.pos] != '~' {
				return nil, false, d.errorAt(d.pos, "binary of %d bytes opened at byte %d is not closed by '~' (found %s)", d.pos-d.tok, d.base+int64(d.tok-1), describeByte(buf[d.pos]))
			}
			var b term.Term = emptyBinary
			if d.pos > d.tok {
				if err := d.charge(sliceBytes+int64(d.pos-d.tok), d.pos); err != nil {
					return nil, false, err
				}
				b = term.Binary(bytes.Clone(buf[d.tok:d.pos]))
			}
			if err := d.push(b, sizeOf(d.pos-d.tok), 0, d.tok-1); err != nil {
				return nil, false, err
			}
			d.pos++
			d.mode = modeNormal
			continue
		}

		c := buf[d.pos]
		switch c {
		case ' ', '\n', '\r', '\t', ',':
			d.pos++
		case '{':
			if len(d.marks) >= d.lim.MaxDepth {
				return nil, false, d.limitAt(d.pos, "tuples nested more than %d deep", d.lim.MaxDepth)
			}
			d.started = true
			if len(d.marks) == cap(d.marks) {
				if err := d.charge(8*int64(max(cap(d.marks), 8)), d.pos); err != nil {
					return nil, false, err
				}
			}
			d.marks = append(d.marks, len(d.stack))
			d.pos++
		case '}':
			if len(d.marks) == 0 {
				return nil, false, d.errorAt(d.pos, "'}' closes no tuple")
			}
			if err := d.closeTuple(); err != nil {
				return nil, false, err
			}
			d.pos++
		case '#':
			d.started = true
			// An empty list costs nothing but its stack item: it
			// becomes a list under construction at its first '&'.
			if err := d.push(emptyList, 1, 1, d.pos); err != nil {
				return nil, false, err
			}
			d.pos++
		case '&':
			if err := d.cons(); err != nil {
				return nil, false, err
			}
			d.pos++
		case '"', '\'', '%', '`':
			if c != '%' {
				d.started = true
			}
			d.mode = modeQuoted
			d.quote = c
			d.hasEsc = false
			d.pos++
			d.tok = d.pos
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			d.started = true
			d.mode = modeInt
			d.tok = d.pos
			d.pos++
		case '~':
			if err := d.startBinary(); err != nil {
				return nil, false, err
			}
		case '>':
			if d.pos+1 == len(buf) {
				return nil, false, nil
			}
			if err := d.store(buf[d.pos+1]); err != nil {
				return nil, false, err
			}
			d.pos += 2
		case '$':
			t, err := d.endObject()
			if err != nil {
				return nil, false, err
			}
			d.pos++
			// Take the separators that end the line with this frame, so
			// that a frame written as "X$\n" is forwarded whole.
		trailing:
			for d.pos < len(buf) {
				switch buf[d.pos] {
				case ' ', '\t', '\r', ',':
					d.pos++
				case '\n':
					d.pos++
					break trailing
				default:
					break trailing
				}
			}
			return t, true, nil
		default:
			if c < 0x20 || c == 0x7f {
				return nil, false, d.errorAt(d.pos, "unexpected control character %s", describeByte(c))
			}
			if d.regs == nil || d.regs[c] == 0 {
				hint := ""
				if c == '.' {
					hint = "; UBF(A) has no floats"
				}
				return nil, false, d.errorAt(d.pos, "register %s is not set in this frame%s", describeByte(c), hint)
			}
			d.started = true
			r := &d.regVals[d.regs[c]-1]
			if err := d.push(r.t, r.n, r.depth, d.pos); err != nil {
				return nil, false, err
			}
			d.pos++
		}
	}
	return nil, false, nil
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// smallInts holds the boxed integers -1..255 so that decoding them does
// not allocate. It is filled once and never written again.
var smallInts = func() [257]term.Term {
	var a [257]term.Term
	for i := range a {
		a[i] = term.Int(int64(i - 1))
	}
	return a
}()

// Shared empty values: an empty tuple, list or binary costs no
// allocation. They are never written to (a slice of length 0 has no
// element to write, and appending to one allocates).
var (
	emptyList   term.Term = term.List{}
	emptyTuple  term.Term = term.Tuple{}
	emptyBinary term.Term = term.Binary{}
)

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

func (d *Decoder) pushInt(digits []byte) error {
	at := d.tok
	neg := digits[0] == '-'
	ds := digits
	if neg {
		ds = digits[1:]
	}
	if len(ds) == 0 {
		return d.errorAt(at, "'-' is not followed by digits")
	}
	var t term.Term
	if len(ds) <= 18 {
		var v int64
		for _, c := range ds {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		if v >= -1 && v <= 255 {
			t = smallInts[v+1]
		} else {
			if err := d.charge(boxBytes, at); err != nil {
				return err
			}
			t = term.Int(v)
		}
	} else {
		// The big.Int, its words (fewer bytes than digits) and the
		// text converted on the way.
		if err := d.charge(boxBytes+32+2*int64(len(digits)), at); err != nil {
			return err
		}
		i, ok := term.ParseInteger(string(digits))
		if !ok {
			return d.errorAt(at, "bad integer")
		}
		t = i
	}
	return d.push(t, 1, 0, at)
}

// endQuoted finishes a string, atom, comment or tag whose content (with
// escapes still in) is s.
func (d *Decoder) endQuoted(s []byte) error {
	at := d.tok - 1
	if d.quote == '%' {
		return nil
	}
	if d.hasEsc {
		if err := d.charge(int64(len(s)), at); err != nil {
			return err
		}
		s = unescape(s)
	}
	switch d.quote {
	case '"':
		if d.strs == nil {
			d.strs = newCache()
		}
		t := d.str(s)
		if err := d.charge(0, at); err != nil {
			return err
		}
		return d.push(t, sizeOf(len(s)), 0, at)
	case '\'':
		if d.atoms == nil {
			d.atoms = newCache()
		}
		t := d.atom(s)
		if err := d.charge(0, at); err != nil {
			return err
		}
		return d.push(t, sizeOf(len(s)), 0, at)
	}
	// A tag: X`tag` is {'$TYPE', "tag", X}, as ubf decodes it.
	if len(d.stack) == d.frameBottom() {
		return d.errorAt(at, "tag `%s` follows no object", s)
	}
	if err := d.finishTop(); err != nil {
		return err
	}
	if err := d.charge(sliceBytes+3*termBytes+boxBytes+int64(len(s)), at); err != nil {
		return err
	}
	x, xn, xd := d.pop()
	n := int64(xn) + int64(len(s)) + 3
	if n > d.maxN {
		return d.limitAt(at, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
	}
	if int64(xd)+1 > int64(d.lim.MaxDepth) {
		return d.limitAt(at, "terms nested more than %d deep", d.lim.MaxDepth)
	}
	return d.push(term.Tuple{typeAtom, term.String(s), x}, uint32(n), xd+1, at)
}

var typeAtom term.Term = term.Atom("$TYPE")

// unescape undoes UBF(A) escapes: a backslash makes the byte after it
// literal. ubf's decoder accepts a backslash before any byte, so we do too.
func unescape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		out = append(out, s[i])
	}
	return out
}

// atom returns the atom s, adding what it allocated to d.mem (the caller
// checks the budget). d.atoms must have been allocated.
func (d *Decoder) atom(s []byte) term.Term {
	if len(s) > maxCachedAtom {
		d.mem += boxBytes + int64(len(s))
		return term.Atom(s)
	}
	e := &d.atoms[cacheIndex(s)]
	if e.s != string(s) {
		d.mem += boxBytes + int64(len(s))
		e.s = string(s)
		e.t = term.Atom(e.s)
	}
	return e.t
}

// str returns the string s, adding what it allocated to d.mem (the
// caller checks the budget). d.strs must have been allocated.
func (d *Decoder) str(s []byte) term.Term {
	if len(s) > maxCachedString {
		d.mem += boxBytes + int64(len(s))
		return term.String(s)
	}
	e := &d.strs[cacheIndex(s)]
	if e.s != string(s) {
		d.mem += boxBytes + int64(len(s))
		e.s = string(s)
		e.t = term.String(e.s)
	}
	return e.t
}

// cacheEntry is one slot of a direct-mapped cache: a term and its text.
type cacheEntry struct {
	s string
	t term.Term
}

// unusedEntry is the text of a cache entry that holds no term yet: it is
// longer than any cached atom or string, so it matches none.
var unusedEntry = strings.Repeat("?", max(maxCachedAtom, maxCachedString)+1)

func newCache() *[cacheSize]cacheEntry {
	c := new([cacheSize]cacheEntry)
	for i := range c {
		c[i].s = unusedEntry
	}
	return c
}

// The atoms and short strings of a protocol repeat from message to
// message: each decoder keeps the boxed terms it made last in two small
// direct-mapped caches, so that a hit costs neither an allocation nor a
// map lookup.
const cacheSize = 128

// cacheIndex hashes s (FNV-1a) to a cache slot.
func cacheIndex(s []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range s {
		h = (h ^ uint32(c)) * 16777619
	}
	return h % cacheSize
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
	if int64(n) > d.maxN {
		return d.limitAt(at, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
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
	if d.open == 0 {
		return nil
	}
	return d.finishTopList()
}

func (d *Decoder) finishTopList() error {
	i := len(d.stack) - 1
	if _, ok := d.stack[i].(building); ok {
		return d.finishList(i)
	}
	return nil
}

// finishList turns the list under construction at stack item i into a
// term.List in place.
func (d *Decoder) finishList(i int) error {
	b := d.stack[i].(building)
	rl := d.lists[b]
	if err := d.charge(sliceBytes+int64(len(rl))*termBytes, d.pos); err != nil {
		return err
	}
	l := term.List(d.alloc(len(rl)))
	for j, e := range rl {
		l[len(rl)-1-j] = e
	}
	d.stack[i] = l
	d.open--
	clear(rl)
	if cap(rl) > keepSlots {
		// The elements now live in l: let the scratch go, and give the
		// frame its cost back.
		d.mem -= int64(cap(rl)) * termBytes
		rl = nil
	}
	d.lists[b] = rl[:0]
	d.free = append(d.free, int32(b))
	return nil
}

// newList returns the index in d.lists of a new list under construction.
func (d *Decoder) newList(at int) (int32, error) {
	if n := len(d.free); n > 0 {
		i := d.free[n-1]
		d.free = d.free[:n-1]
		return i, nil
	}
	if n := cap(d.lists); len(d.lists) == n {
		if err := d.charge(int64(max(n, 4))*(sliceBytes+4), at); err != nil {
			return 0, err
		}
	}
	d.lists = append(d.lists, nil)
	return int32(len(d.lists) - 1), nil
}

// alloc returns a slice of n terms for a tuple or list. Small ones are cut
// from a shared block so that a message costs one allocation for all its
// small tuples and lists; a block stays alive while any term cut from it
// does, which for messages that are checked and dropped is soon.
func (d *Decoder) alloc(n int) []term.Term {
	const block, small = 128, 16
	if n > small {
		return make([]term.Term, n)
	}
	if len(d.arena) < n {
		d.arena = make([]term.Term, block)
	}
	s := d.arena[:n:n]
	d.arena = d.arena[n:]
	return s
}

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
		if err := d.charge(sliceBytes+int64(len(elems))*termBytes, d.pos); err != nil {
			return err
		}
		tu := term.Tuple(d.alloc(len(elems)))
		if ci == len(d.comps) && d.open == 0 {
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
	if int64(depth) > int64(d.lim.MaxDepth) {
		return d.limitAt(d.pos, "terms nested more than %d deep", d.lim.MaxDepth)
	}
	if n > d.maxN {
		return d.limitAt(d.pos, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
	}
	if len(d.stack) < cap(d.stack) && len(d.comps) < cap(d.comps) {
		// The tuple's elements were just taken off: there is room.
		if n > 1 {
			d.comps = append(d.comps, comp{at: int32(len(d.stack)), n: uint32(n), depth: depth})
		}
		d.stack = append(d.stack, t)
		return nil
	}
	return d.push(t, uint32(n), depth, d.pos)
}

// closeMixed fills tu with the elements of a tuple, stack items m and up,
// some of them composite (their entries in d.comps start at ci), and adds
// up their sizes and depths.
func (d *Decoder) closeMixed(tu term.Tuple, elems []term.Term, m, ci int) (n int64, depth uint32, err error) {
	n, depth = 1, 1
	cj := ci
	for i := range elems {
		if d.open > 0 {
			if _, ok := elems[i].(building); ok {
				if err := d.finishList(m + i); err != nil {
					return 0, 0, err
				}
			}
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
	return n, depth, nil
}

// cons implements '&': the top of the stack is put at the front of the
// list under it (lists are written last element first).
func (d *Decoder) cons() error {
	if len(d.stack)-d.frameBottom() < 2 {
		return d.errorAt(d.pos, "'&' needs an element on top of a list, but the stack holds %d item(s) here", len(d.stack)-d.frameBottom())
	}
	if err := d.finishTop(); err != nil {
		return err
	}
	e, en, ed := d.pop()
	i := len(d.stack) - 1
	if b, ok := d.stack[i].(building); ok {
		// The common case: consing onto a list under construction,
		// whose entry is the last in d.comps.
		c := &d.comps[len(d.comps)-1]
		rl := d.lists[b]
		if len(rl) == cap(rl) {
			var err error
			if rl, err = d.appendElem(rl, e); err != nil {
				return err
			}
		} else {
			rl = append(rl, e)
		}
		d.lists[b] = rl
		n := int64(c.n) + int64(en)
		depth := max(c.depth, ed+1)
		if int64(depth) > int64(d.lim.MaxDepth) {
			return d.limitAt(d.pos, "terms nested more than %d deep", d.lim.MaxDepth)
		}
		if n > d.maxN {
			return d.limitAt(d.pos, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
		}
		c.n, c.depth = uint32(n), depth
		return nil
	}
	ln, ld, ci := d.meta(i)
	b, ok := d.stack[i].(building)
	if !ok {
		old, ok := d.stack[i].(term.List)
		if !ok {
			return d.errorAt(d.pos, "'&' needs a list under the top of the stack, found %s", d.stack[i].Kind())
		}
		// Consing onto a list from a register copies it; charge the
		// copy to the frame, or "l 1 & l 1 & ..." with a long list in l
		// would cost time and memory quadratic in the frame.
		d.work += int64(len(old))
		if d.work > int64(d.lim.MaxFrame) {
			return d.limitAt(d.pos, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
		}
		j, err := d.newList(d.pos)
		if err != nil {
			return err
		}
		b = building(j)
		d.open++
		rl := d.lists[b]
		for k := len(old) - 1; k >= 0; k-- {
			if rl, err = d.appendElem(rl, old[k]); err != nil {
				return err
			}
		}
		d.lists[b] = rl
		d.stack[i] = b
	}
	rl, err := d.appendElem(d.lists[b], e)
	if err != nil {
		return err
	}
	d.lists[b] = rl
	n := int64(ln) + int64(en)
	depth := max(ld, ed+1)
	if int64(depth) > int64(d.lim.MaxDepth) {
		return d.limitAt(d.pos, "terms nested more than %d deep", d.lim.MaxDepth)
	}
	if n > d.maxN {
		return d.limitAt(d.pos, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
	}
	if ci >= 0 {
		d.comps[ci].n, d.comps[ci].depth = uint32(n), depth
		return nil
	}
	return d.addComp(comp{at: int32(i), n: uint32(n), depth: depth}, d.pos)
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
		if err := d.charge(int64(nc-c)*termBytes, d.pos); err != nil {
			return rl, err
		}
		nl := make([]term.Term, len(rl), nc)
		copy(nl, rl)
		rl = nl
	}
	return append(rl, e), nil
}

// startBinary handles '~' after a length: the length is the integer on top
// of the stack. The limits are checked here, before any byte of the binary
// is buffered.
func (d *Decoder) startBinary() error {
	at := d.pos
	if len(d.stack) == d.frameBottom() {
		return d.errorAt(at, "'~' is not preceded by a binary's length")
	}
	i, ok := d.stack[len(d.stack)-1].(term.Integer)
	if !ok {
		return d.errorAt(at, "'~' is not preceded by a binary's length")
	}
	if i.Sign() < 0 {
		return d.errorAt(at, "binary length %s is negative", i.Text())
	}
	if !i.IsInt64() || i.Int64() > int64(d.lim.MaxBinary) {
		return d.limitAt(at, "binary of %s bytes is longer than the limit of %d", i.Text(), d.lim.MaxBinary)
	}
	n := int(i.Int64())
	if int64(at-d.start)+int64(n)+2 > int64(d.lim.MaxFrame) {
		return d.limitAt(at, "binary of %d bytes makes the frame longer than %d bytes", n, d.lim.MaxFrame)
	}
	d.pop()
	d.pos++
	d.tok = d.pos
	d.binLeft = n
	d.mode = modeBinary
	return nil
}

// store implements '>C': the top of the stack goes into register C.
func (d *Decoder) store(key byte) error {
	if key < 0x20 || key == 0x7f {
		return d.errorAt(d.pos+1, "register name is the control character %s", describeByte(key))
	}
	if len(d.stack) == d.frameBottom() {
		return d.errorAt(d.pos, "'>' stores into register %s but there is nothing to store", describeByte(key))
	}
	if err := d.finishTop(); err != nil {
		return err
	}
	t, n, depth := d.pop()
	if d.regs == nil {
		d.regs = new([256]uint8)
	}
	v := regValue{t: t, n: n, depth: depth, key: key}
	if i := d.regs[key]; i != 0 {
		d.regVals[i-1] = v
		return nil
	}
	d.regVals = append(d.regVals, v)
	d.regs[key] = uint8(len(d.regVals))
	return nil
}

// endObject handles '$': exactly one object must be on the stack.
func (d *Decoder) endObject() (term.Term, error) {
	if len(d.marks) > 0 {
		return nil, d.errorAt(d.pos, "'$' inside a tuple (%d still open)", len(d.marks))
	}
	if len(d.stack) != 1 {
		return nil, d.errorAt(d.pos, "'$' needs exactly one object on the stack, found %d", len(d.stack))
	}
	if d.pos-d.start > d.lim.MaxFrame {
		return nil, d.limitAt(d.pos, "frame longer than %d bytes", d.lim.MaxFrame)
	}
	if err := d.finishTop(); err != nil {
		return nil, err
	}
	t := d.stack[0]
	d.stack[0] = nil
	d.stack = d.stack[:0]
	d.comps = d.comps[:0]
	// Registers last for one object: ubf's driver starts every object
	// with an empty register table (ubf_driver:decode/4 calls
	// ubf:decode_init/2 after each one).
	if len(d.regVals) > 0 {
		for _, v := range d.regVals {
			d.regs[v.key] = 0
		}
		clear(d.regVals)
		d.regVals = d.regVals[:0]
	}
	d.started = false
	d.work = 0
	d.mem = 0
	d.allow = d.floor
	// Every list is finished now; let the scratch of a big object go.
	if cap(d.stack) > keepSlots {
		d.stack = nil
	}
	if cap(d.comps) > keepSlots {
		d.comps = nil
	}
	if cap(d.marks) > keepSlots {
		d.marks = nil
	}
	if len(d.lists) > 64 {
		d.lists, d.free = nil, nil
	}
	for i, l := range d.lists {
		if cap(l) > keepSlots {
			d.lists[i] = nil
		}
	}
	return t, nil
}

// Decode reads exactly one UBF(A) object from b (ending with '$'; only
// separators and comments may follow it) within the limits l.
func Decode(b []byte, l wrappers.Limits) (term.Term, error) {
	d := NewDecoder(nil, l)
	d.buf, d.end, d.eof = b, len(b), true
	var t term.Term
	for {
		at := d.base + int64(d.start)
		t2, _, err := d.Frame()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if t2 == nil {
			continue
		}
		if t != nil {
			return nil, &wrappers.FrameError{Offset: at, Msg: "more than one object in the input"}
		}
		t = t2
	}
	if t == nil {
		return nil, &wrappers.FrameError{Offset: int64(len(b)), Msg: "no object in the input"}
	}
	return t, nil
}

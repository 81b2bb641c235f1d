package ubf

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/carve"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/intern"
)

// Decoder reads UBF(A) objects from a byte stream, one frame (object
// ended by '$') at a time. It keeps the bytes of the frame in a buffer it
// reuses, so a frame may arrive in any number of reads, split anywhere.
//
// A Decoder used on its own does not classify frames; Frame returns the
// decoded object and its bytes. The decoders of a Session classify them as
// UBF(C) messages.
type Decoder struct {
	// rd holds the frame: rd.Start is its first byte, rd.Pos the next
	// byte to scan.
	rd  bufread.Reader
	err error // sticky error: the stream cannot be read further

	// lexer state, kept across reads (the small fields together: an
	// idle decoder's size counts)
	mode    uint8
	quote   byte  // the closing byte in modeQuoted
	hasEsc  bool  // a backslash was seen in the current quoted token
	started bool  // the frame holds something other than separators and comments
	tok     int   // first byte of the current token in rd.Buf
	binLeft int   // bytes of the binary still expected (modeBinary)
	work    int64 // list elements copied in this frame to cons onto lists from registers

	// The machine's stack holds terms only; a list under construction
	// is a nil item there (see building). The size and depth of an item
	// that cannot be read off the term (a non-empty tuple or list) are
	// kept aside in comps, so that the stack costs 16 bytes an item: it
	// is the decoder's main scratch, and what a flood of tokens fills.
	stack []term.Term
	comps []comp // sizes of the composite items on the stack, in stack order
	marks []int  // index in stack of each open tuple's first element
	// Registers set in this frame: regs[c] is 1 + the index in regVals
	// of register c's value, 0 when it is not set. The table is
	// allocated by the first '>' a decoder meets: most streams never
	// use registers.
	regs    *[256]uint8
	regVals []regValue
	builds  []building              // the lists under construction on the stack
	lists   [][]term.Term           // elements, last first, of builds[k] in lists[k]; scratch beyond
	elems   carve.Slices[term.Term] // the elements of small tuples and lists
	atoms   intern.Cache[term.Term]
	strs    intern.Cache[term.Term]

	// Memory accounting (see Limits.MaxFrameMemory): mem is what the
	// current frame has cost so far, and it may reach allow before the
	// budget, which grows with the bytes of the frame, is computed again.
	// shared is what the frame took from Limits.Budget, which it needs
	// once mem is past wrappers.BudgetFree.
	mem, allow, shared int64
}

// regValue is a term stored in a register, with its expanded size and
// depth.
type regValue struct {
	t        term.Term
	n, depth uint32
	key      byte
}

const (
	modeNormal uint8 = iota
	modeInt
	modeQuoted
	modeBinary
	modeTilde
)

const (
	keepSlots       = 1024 // larger scratch is dropped between frames
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
	return newDecoder(bufread.New(r, l.WithDefaults(), "ubf"))
}

// newDecoder returns a decoder reading rd.
func newDecoder(rd bufread.Reader) *Decoder {
	d := &Decoder{rd: rd, atoms: intern.New[term.Term](cacheSize, maxCachedAtom), strs: intern.New[term.Term](cacheSize, maxCachedString)}
	d.allow = d.firstAllow()
	return d
}

// park returns what a decoder that goes on with the stream needs (see
// wrappers.Parker), when it holds nothing else: it is between frames, no
// error kept, nothing taken from the shared budget, and its reader has
// nothing buffered.
func (d *Decoder) park() (bufread.Parked, bool) {
	if d.err != nil || d.mode != modeNormal || d.started || d.shared != 0 {
		return bufread.Parked{}, false
	}
	return d.rd.Park()
}

// firstAllow is what a frame may cost before the budget is computed
// again: its floor, and no more than it may cost without asking the
// shared budget.
func (d *Decoder) firstAllow() int64 {
	if d.rd.Lim.Budget != nil {
		return min(d.floor(), wrappers.BudgetFree)
	}
	return d.floor()
}

// sharedChunk is the least a frame asks of the shared budget at once.
const sharedChunk = 1 << 20

// maxN bounds the expanded size of a term: MaxFrame, at most 2^32-1.
func (d *Decoder) maxN() int64 { return min(int64(d.rd.Lim.MaxFrame), math.MaxUint32) }

// floor is the budget of a frame before its first byte.
func (d *Decoder) floor() int64 { return min(memFloor, int64(d.rd.Lim.MaxFrameMemory)) }

// budget is the memory a frame may cost once b bytes of it were read: it
// grows linearly from memFloor (or MaxFrameMemory, if less) at the start
// of a frame to MaxFrameMemory at MaxFrame bytes.
func (d *Decoder) budget(b int64) int64 {
	lim := int64(d.rd.Lim.MaxFrameMemory)
	floor := min(memFloor, lim)
	return min(lim, floor+int64(d.perByte()*float64(b)))
}

// perByte is the memory a frame may cost per byte beyond the floor.
func (d *Decoder) perByte() float64 {
	return float64(int64(d.rd.Lim.MaxFrameMemory)-min(memFloor, int64(d.rd.Lim.MaxFrameMemory))) / float64(d.rd.Lim.MaxFrame)
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
	b := max(int64(at-d.rd.Start), 0)
	d.allow = d.budget(b)
	if d.mem > d.allow {
		return d.limitAt(at, "decoding the frame takes more than %d bytes of memory after %d bytes of it "+
			"(MaxFrameMemory %d: %.3g bytes per byte of the frame plus %d)",
			d.allow, b, d.rd.Lim.MaxFrameMemory, d.perByte(), min(memFloor, d.rd.Lim.MaxFrameMemory))
	}
	bud := d.rd.Lim.Budget
	if bud == nil {
		return nil
	}
	if paid := wrappers.BudgetFree + d.shared; d.mem > paid {
		// Ask for a chunk at once, but never for more than the frame may
		// still cost.
		more := min(max(d.mem-paid, sharedChunk), d.allow-paid)
		if !bud.Take(more) {
			return d.limitAt(at, "the proxy's shared memory budget cannot hold the %d bytes decoding this frame takes after %d bytes of it", d.mem, b)
		}
		d.shared += more
	}
	d.allow = min(d.allow, wrappers.BudgetFree+d.shared)
	return nil
}

// giveShared returns what the frame took from the shared budget.
func (d *Decoder) giveShared() {
	if d.shared > 0 {
		d.rd.Lim.Budget.Give(d.shared)
		d.shared = 0
	}
}

// Frame returns the next object and every byte consumed for it (the
// separators and comments before it, the object, its '$', and the
// separators after '$' up to and including a newline when they were
// already read). raw is only valid until the next call. At the end of the
// stream, trailing separators are returned once with a nil term, then
// io.EOF. A malformed or over-limit frame gives a *wrappers.FrameError, and
// every later call returns it again. wrappers.ErrWouldBlock from the
// reader is returned (wrapped) and not kept: the machine keeps its state,
// and the next call scans on from where the stream stopped.
func (d *Decoder) Frame() (t term.Term, raw []byte, err error) {
	if d.err != nil {
		return nil, nil, d.err
	}
	// Between frames the mode is normal and nothing is started; after
	// wrappers.ErrWouldBlock, Begin keeps the frame and the scan goes on
	// with the state it left.
	d.rd.Begin()
	for {
		t, done, err := d.scan()
		if err != nil {
			d.err = err
			return nil, nil, err
		}
		if done {
			return t, d.rd.Raw(), nil
		}
		if d.rd.End-d.rd.Start > d.rd.Lim.MaxFrame {
			// scan stopped at the limit (see scan), whatever was read
			// past it.
			d.err = d.limitAt(d.rd.Start+d.rd.Lim.MaxFrame, "frame longer than %d bytes", d.rd.Lim.MaxFrame)
			return nil, nil, d.err
		}
		if d.rd.Err() != nil {
			return d.atEnd()
		}
		if err := d.fill(); wrappers.IsWouldBlock(err) {
			d.rd.Hold()
			// Bare, not wrapped: the usual end of a wakeup allocates
			// nothing (and it is not kept, see wrappers.ErrWouldBlock).
			return nil, nil, err
		}
	}
}

// atEnd handles the end of the input with the current frame incomplete.
func (d *Decoder) atEnd() (term.Term, []byte, error) {
	if err := d.rd.Err(); err != io.EOF {
		if err == wrappers.ErrParked {
			return nil, nil, fmt.Errorf("ubf: reading: %w", err) // not kept (see wrappers.ErrParked)
		}
		d.err = fmt.Errorf("ubf: reading: %w", err)
		return nil, nil, d.err
	}
	if d.mode == modeNormal && d.rd.Pos < d.rd.End {
		// Only a '>' waits for the byte after it.
		d.err = d.rd.EndedAt(d.rd.Offset(d.rd.Pos), "stream ended after '>' without a register name")
		return nil, nil, d.err
	}
	if !d.started && d.mode == modeNormal {
		if d.rd.Start == d.rd.End {
			d.err = io.EOF
			return nil, nil, io.EOF
		}
		d.rd.Pos = d.rd.End
		return nil, d.rd.Raw(), nil
	}
	var what string
	switch d.mode {
	case modeQuoted:
		what = "inside " + quotedName(d.quote) + " opened at byte " + strconv.FormatInt(d.rd.Offset(d.tok-1), 10)
	case modeBinary, modeTilde:
		what = "inside a binary opened at byte " + strconv.FormatInt(d.rd.Offset(d.tok-1), 10)
	default:
		if len(d.marks) > 0 {
			what = fmt.Sprintf("with %d tuple(s) still open", len(d.marks))
		} else {
			what = "before the '$' that ends the object"
		}
	}
	d.err = d.rd.EndedAt(d.rd.Offset(d.rd.End), "stream ended %s", what)
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

// fill reads more input, keeping d.tok on its byte. A read error is
// d.rd.Err(), handled once the bytes before it are used, but for
// wrappers.ErrWouldBlock, which is returned and not kept.
func (d *Decoder) fill() error {
	tok := d.tok - d.rd.Start
	err := d.rd.Fill()
	d.tok = d.rd.Start + tok
	return err
}

func (d *Decoder) errorAt(i int, format string, args ...any) error {
	return d.rd.ErrAt(d.rd.Offset(i), format, args...)
}

func (d *Decoder) limitAt(i int, format string, args ...any) error {
	return d.rd.LimitAt(d.rd.Offset(i), format, args...)
}

// scan runs the UBF(A) machine over the buffered bytes. It returns done
// when a '$' completed an object; otherwise it has consumed everything it
// can and needs more input.
//
// It sees no byte past the frame limit (but the '$' that ends a frame of
// the limit): where a frame is refused for its length must not depend on
// how much was read past it.
func (d *Decoder) scan() (term.Term, bool, error) {
	end := d.rd.End
	if end-d.rd.Start > d.rd.Lim.MaxFrame {
		end = d.rd.Start + d.rd.Lim.MaxFrame + 1
	}
	buf := d.rd.Buf[:end]
	for d.rd.Pos < len(buf) {
		switch d.mode {
		case modeInt:
			i := d.rd.Pos
			for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
				i++
			}
			if i-d.tok > d.rd.Lim.MaxIntDigits+1 {
				return nil, false, d.limitAt(d.tok, "integer longer than %d digits", d.rd.Lim.MaxIntDigits)
			}
			d.rd.Pos = i
			if i == len(buf) {
				return nil, false, nil
			}
			if err := d.pushInt(buf[d.tok:i]); err != nil {
				return nil, false, err
			}
			d.mode = modeNormal
			continue
		case modeQuoted:
			i := d.rd.Pos
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
			if i-d.tok > d.rd.Lim.MaxBinary && q != '%' {
				return nil, false, d.limitAt(d.tok-1, "%s longer than %d bytes", quotedName(q), d.rd.Lim.MaxBinary)
			}
			d.rd.Pos = i
			if i >= len(buf) || buf[i] != q {
				return nil, false, nil
			}
			if err := d.endQuoted(buf[d.tok:i]); err != nil {
				return nil, false, err
			}
			d.rd.Pos = i + 1
			d.mode = modeNormal
			continue
		case modeBinary:
			if len(buf)-d.rd.Pos < d.binLeft {
				d.binLeft -= len(buf) - d.rd.Pos
				d.rd.Pos = len(buf)
				return nil, false, nil
			}
			d.rd.Pos += d.binLeft
			d.binLeft = 0
			d.mode = modeTilde
			continue
		case modeTilde:
			if buf[d.rd.Pos] != '~' {
				return nil, false, d.errorAt(d.rd.Pos, "binary of %d bytes opened at byte %d is not closed by '~' (found %s)", d.rd.Pos-d.tok, d.rd.Offset(d.tok-1), describeByte(buf[d.rd.Pos]))
			}
			var b term.Term = emptyBinary
			if d.rd.Pos > d.tok {
				if err := d.charge(sliceBytes+int64(d.rd.Pos-d.tok), d.rd.Pos); err != nil {
					return nil, false, err
				}
				b = term.Binary(bytes.Clone(buf[d.tok:d.rd.Pos]))
			}
			if err := d.push(b, sizeOf(d.rd.Pos-d.tok), 0, d.tok-1); err != nil {
				return nil, false, err
			}
			d.rd.Pos++
			d.mode = modeNormal
			continue
		}

		c := buf[d.rd.Pos]
		switch c {
		case ' ', '\n', '\r', '\t', ',':
			d.rd.Pos++
		case '{':
			if len(d.marks) >= d.rd.Lim.MaxDepth {
				return nil, false, d.limitAt(d.rd.Pos, "tuples nested more than %d deep", d.rd.Lim.MaxDepth)
			}
			d.started = true
			if len(d.marks) == cap(d.marks) {
				if err := d.charge(8*int64(max(cap(d.marks), 8)), d.rd.Pos); err != nil {
					return nil, false, err
				}
			}
			d.marks = append(d.marks, len(d.stack))
			d.rd.Pos++
		case '}':
			if len(d.marks) == 0 {
				return nil, false, d.errorAt(d.rd.Pos, "'}' closes no tuple")
			}
			if err := d.closeTuple(); err != nil {
				return nil, false, err
			}
			d.rd.Pos++
		case '#':
			d.started = true
			// An empty list costs nothing but its stack item: it
			// becomes a list under construction at its first '&'.
			if err := d.push(emptyList, 1, 1, d.rd.Pos); err != nil {
				return nil, false, err
			}
			d.rd.Pos++
		case '&':
			if err := d.cons(); err != nil {
				return nil, false, err
			}
			d.rd.Pos++
		case '"', '\'', '%', '`':
			if c != '%' {
				d.started = true
			}
			d.mode = modeQuoted
			d.quote = c
			d.hasEsc = false
			d.rd.Pos++
			d.tok = d.rd.Pos
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			d.started = true
			d.mode = modeInt
			d.tok = d.rd.Pos
			d.rd.Pos++
		case '~':
			if err := d.startBinary(); err != nil {
				return nil, false, err
			}
		case '>':
			if d.rd.Pos+1 == len(buf) {
				return nil, false, nil
			}
			if err := d.store(buf[d.rd.Pos+1]); err != nil {
				return nil, false, err
			}
			d.rd.Pos += 2
		case '$':
			t, err := d.endObject()
			if err != nil {
				return nil, false, err
			}
			d.rd.Pos++
			// Take the separators that end the line with this frame, so
			// that a frame written as "X$\n" is forwarded whole.
		trailing:
			for d.rd.Pos < len(buf) {
				switch buf[d.rd.Pos] {
				case ' ', '\t', '\r', ',':
					d.rd.Pos++
				case '\n':
					d.rd.Pos++
					break trailing
				default:
					break trailing
				}
			}
			return t, true, nil
		default:
			if c < 0x20 || c == 0x7f {
				return nil, false, d.errorAt(d.rd.Pos, "unexpected control character %s", describeByte(c))
			}
			if d.regs == nil || d.regs[c] == 0 {
				hint := ""
				if c == '.' {
					hint = "; UBF(A) has no floats"
				}
				return nil, false, d.errorAt(d.rd.Pos, "register %s is not set in this frame%s", describeByte(c), hint)
			}
			d.started = true
			r := &d.regVals[d.regs[c]-1]
			if err := d.push(r.t, r.n, r.depth, d.rd.Pos); err != nil {
				return nil, false, err
			}
			d.rd.Pos++
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
//
// Its memory is charged at its end (end, in buf): the budget grows with the
// bytes read, and a long string's bytes are all read by then; charging at
// its start refused every string over MemoryFloor.
func (d *Decoder) endQuoted(s []byte) error {
	at, end := d.tok-1, d.rd.Pos
	if d.quote == '%' {
		return nil
	}
	if d.hasEsc {
		if err := d.charge(int64(len(s)), end); err != nil {
			return err
		}
		s = unescape(s)
	}
	switch d.quote {
	case '"':
		t := d.str(s)
		if err := d.charge(0, end); err != nil {
			return err
		}
		return d.push(t, sizeOf(len(s)), 0, at)
	case '\'':
		t := d.atom(s)
		if err := d.charge(0, end); err != nil {
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
	if n > d.maxN() {
		return d.limitAt(at, "object expands to more than %d bytes through registers", d.rd.Lim.MaxFrame)
	}
	if int64(xd)+1 > int64(d.rd.Lim.MaxDepth) {
		return d.limitAt(at, "terms nested more than %d deep", d.rd.Lim.MaxDepth)
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
// checks the budget).
func (d *Decoder) atom(s []byte) term.Term {
	t, made := d.atoms.Get(s, newAtom)
	if made {
		d.mem += boxBytes + int64(len(s))
	}
	return t
}

// str returns the string s, adding what it allocated to d.mem (the
// caller checks the budget).
func (d *Decoder) str(s []byte) term.Term {
	t, made := d.strs.Get(s, newString)
	if made {
		d.mem += boxBytes + int64(len(s))
	}
	return t
}

func newAtom(s string) term.Term   { return term.Atom(s) }
func newString(s string) term.Term { return term.String(s) }

// The atoms and short strings of a protocol repeat from message to
// message: each decoder keeps the boxed terms it made last in two small
// caches (see package intern).
const cacheSize = 128

// startBinary handles '~' after a length: the length is the integer on top
// of the stack. The limits are checked here, before any byte of the binary
// is buffered.
func (d *Decoder) startBinary() error {
	at := d.rd.Pos
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
	if !i.IsInt64() || i.Int64() > int64(d.rd.Lim.MaxBinary) {
		return d.limitAt(at, "binary of %s bytes is longer than the limit of %d", i.Text(), d.rd.Lim.MaxBinary)
	}
	n := int(i.Int64())
	if int64(at-d.rd.Start)+int64(n)+2 > int64(d.rd.Lim.MaxFrame) {
		return d.limitAt(at, "binary of %d bytes makes the frame longer than %d bytes", n, d.rd.Lim.MaxFrame)
	}
	d.pop()
	d.rd.Pos++
	d.tok = d.rd.Pos
	d.binLeft = n
	d.mode = modeBinary
	return nil
}

// store implements '>C': the top of the stack goes into register C.
func (d *Decoder) store(key byte) error {
	if key < 0x20 || key == 0x7f {
		return d.errorAt(d.rd.Pos+1, "register name is the control character %s", describeByte(key))
	}
	if len(d.stack) == d.frameBottom() {
		return d.errorAt(d.rd.Pos, "'>' stores into register %s but there is nothing to store", describeByte(key))
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
		return nil, d.errorAt(d.rd.Pos, "'$' inside a tuple (%d still open)", len(d.marks))
	}
	if len(d.stack) != 1 {
		return nil, d.errorAt(d.rd.Pos, "'$' needs exactly one object on the stack, found %d", len(d.stack))
	}
	if d.rd.Pos-d.rd.Start > d.rd.Lim.MaxFrame {
		return nil, d.limitAt(d.rd.Pos, "frame longer than %d bytes", d.rd.Lim.MaxFrame)
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
	d.allow = d.firstAllow()
	d.giveShared()
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
		d.lists, d.builds = nil, nil
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
	d.rd = bufread.Bytes(b, d.rd.Lim, "ubf")
	var t term.Term
	for {
		at := d.rd.Off()
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

// Trim implements wrappers.Trimmer.
func (d *Decoder) Trim() {
	d.stack, d.comps, d.marks = nil, nil, nil
	d.regs, d.regVals = nil, nil
	d.builds, d.lists = nil, nil
	d.elems = carve.Slices[term.Term]{}
	d.atoms.Reset()
	d.strs.Reset()
}

package ubf

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

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

	stack []slot
	marks []int // index in stack of each open tuple's first element
	regs  [256]slot
	isReg [256]bool
	used  []byte        // registers set in this frame, to clear them at its end
	lists [][]term.Term // elements, last first, of lists under construction
	free  []int32       // indexes of d.lists not in use
	arena []term.Term   // the unused end of the current block for small tuples and lists
	atoms *[cacheSize]cacheEntry
	strs  *[cacheSize]cacheEntry
}

// slot is an entry of the decoder's stack. A list under construction (by
// '#' and '&') keeps its elements last-first in d.lists[list-1] until
// something takes it off the stack; then it becomes a term.List.
type slot struct {
	t     term.Term
	n     int64 // size of the term with registers expanded (nodes plus payload bytes)
	depth int32 // nesting of tuples and lists in the term
	list  int32 // 1 + index in d.lists of the list under construction; 0 for a finished term
}

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
	keepSlots       = 4096     // and so is larger scratch
	maxCachedAtom   = 64
	maxCachedString = 32
)

// NewDecoder returns a decoder reading UBF(A) from r within the limits l
// (zero limits take their defaults).
func NewDecoder(r io.Reader, l wrappers.Limits) *Decoder {
	return &Decoder{r: r, lim: l.WithDefaults()}
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
			b := make(term.Binary, d.pos-d.tok)
			copy(b, buf[d.tok:d.pos])
			n := int64(len(b)) + 1
			if err := d.push(slot{t: b, n: n}, d.tok-1); err != nil {
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
			if err := d.push(slot{list: d.newList(), depth: 1, n: 1}, d.pos); err != nil {
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
			if !d.isReg[c] {
				hint := ""
				if c == '.' {
					hint = "; UBF(A) has no floats"
				}
				return nil, false, d.errorAt(d.pos, "register %s is not set in this frame%s", describeByte(c), hint)
			}
			d.started = true
			if err := d.push(d.regs[c], d.pos); err != nil {
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

var emptyList term.Term = term.List{}

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
			t = term.Int(v)
		}
	} else {
		i, ok := term.ParseInteger(string(digits))
		if !ok {
			return d.errorAt(at, "bad integer")
		}
		t = i
	}
	return d.push(slot{t: t, n: 1}, at)
}

// endQuoted finishes a string, atom, comment or tag whose content (with
// escapes still in) is s.
func (d *Decoder) endQuoted(s []byte) error {
	at := d.tok - 1
	if d.quote == '%' {
		return nil
	}
	if d.hasEsc {
		s = unescape(s)
	}
	switch d.quote {
	case '"':
		return d.push(slot{t: d.str(s), n: int64(len(s)) + 1}, at)
	case '\'':
		return d.push(slot{t: d.atom(s), n: int64(len(s)) + 1}, at)
	}
	// A tag: X`tag` is {'$TYPE', "tag", X}, as ubf decodes it.
	top := d.frameBottom()
	if len(d.stack) == top {
		return d.errorAt(at, "tag `%s` follows no object", s)
	}
	d.finish(&d.stack[len(d.stack)-1])
	x := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	s2 := slot{t: term.Tuple{typeAtom, term.String(s), x.t}, depth: x.depth + 1, n: x.n + int64(len(s)) + 3}
	if int(s2.depth) > d.lim.MaxDepth {
		return d.limitAt(at, "terms nested more than %d deep", d.lim.MaxDepth)
	}
	return d.push(s2, at)
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

func (d *Decoder) atom(s []byte) term.Term {
	if len(s) > maxCachedAtom {
		return term.Atom(s)
	}
	if d.atoms == nil {
		d.atoms = new([cacheSize]cacheEntry)
	}
	e := &d.atoms[cacheIndex(s)]
	if e.t == nil || e.s != string(s) {
		e.s = string(s)
		e.t = term.Atom(e.s)
	}
	return e.t
}

func (d *Decoder) str(s []byte) term.Term {
	if len(s) > maxCachedString {
		return term.String(s)
	}
	if d.strs == nil {
		d.strs = new([cacheSize]cacheEntry)
	}
	e := &d.strs[cacheIndex(s)]
	if e.t == nil || e.s != string(s) {
		e.s = string(s)
		e.t = term.String(e.s)
	}
	return e.t
}

// cacheEntry is one slot of a direct-mapped cache of boxed terms: the
// atoms and short strings of a protocol repeat from message to message,
// and a hit costs neither an allocation nor a map lookup.
type cacheEntry struct {
	s string
	t term.Term
}

const cacheSize = 256

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

func (d *Decoder) push(s slot, at int) error {
	if s.n > int64(d.lim.MaxFrame) {
		return d.limitAt(at, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
	}
	d.started = true
	d.stack = append(d.stack, s)
	return nil
}

// finish turns a list under construction into a term.List in place;
// other slots are left as they are.
func (d *Decoder) finish(s *slot) {
	if s.list != 0 {
		d.finishList(s)
	}
}

func (d *Decoder) finishList(s *slot) {
	rl := d.lists[s.list-1]
	if len(rl) == 0 {
		s.t = emptyList
	} else {
		l := term.List(d.alloc(len(rl)))
		for i, e := range rl {
			l[len(rl)-1-i] = e
		}
		s.t = l
	}
	clear(rl)
	d.lists[s.list-1] = rl[:0]
	d.free = append(d.free, s.list-1)
	s.list = 0
}

// newList returns the list number (1 + index in d.lists) of a new empty
// list under construction.
func (d *Decoder) newList() int32 {
	if n := len(d.free); n > 0 {
		i := d.free[n-1]
		d.free = d.free[:n-1]
		return i + 1
	}
	d.lists = append(d.lists, nil)
	return int32(len(d.lists))
}

// alloc returns a slice of n terms for a tuple or list. Small ones are cut
// from a shared block so that a message costs one allocation for all its
// small tuples and lists; a block stays alive while any term cut from it
// does, which for messages that are checked and dropped is soon.
func (d *Decoder) alloc(n int) []term.Term {
	const block, small = 128, 16
	if n == 0 {
		return []term.Term{}
	}
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
	t := term.Tuple(d.alloc(len(elems)))
	s := slot{depth: 1, n: 1}
	for i := range elems {
		e := &elems[i]
		if e.list != 0 {
			d.finishList(e)
		}
		t[i] = e.t
		s.n += e.n
		if e.depth+1 > s.depth {
			s.depth = e.depth + 1
		}
	}
	clear(elems)
	d.stack = d.stack[:m]
	s.t = t
	if int(s.depth) > d.lim.MaxDepth {
		return d.limitAt(d.pos, "terms nested more than %d deep", d.lim.MaxDepth)
	}
	return d.push(s, d.pos)
}

// cons implements '&': the top of the stack is put at the front of the
// list under it (lists are written last element first).
func (d *Decoder) cons() error {
	if len(d.stack)-d.frameBottom() < 2 {
		return d.errorAt(d.pos, "'&' needs an element on top of a list, but the stack holds %d item(s) here", len(d.stack)-d.frameBottom())
	}
	d.finish(&d.stack[len(d.stack)-1])
	e := d.stack[len(d.stack)-1]
	l := &d.stack[len(d.stack)-2]
	if l.list == 0 {
		old, ok := l.t.(term.List)
		if !ok {
			return d.errorAt(d.pos, "'&' needs a list under the top of the stack, found %s", l.t.Kind())
		}
		// Consing onto a list from a register copies it; charge the
		// copy to the frame, or "l 1 & l 1 & ..." with a long list in l
		// would cost time and memory quadratic in the frame.
		d.work += int64(len(old))
		if d.work > int64(d.lim.MaxFrame) {
			return d.limitAt(d.pos, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
		}
		l.list = d.newList()
		rl := d.lists[l.list-1]
		for i := len(old) - 1; i >= 0; i-- {
			rl = append(rl, old[i])
		}
		d.lists[l.list-1] = rl
		l.t = nil
	}
	d.lists[l.list-1] = append(d.lists[l.list-1], e.t)
	l.n += e.n
	if e.depth+1 > l.depth {
		l.depth = e.depth + 1
	}
	d.stack[len(d.stack)-1] = slot{}
	d.stack = d.stack[:len(d.stack)-1]
	if int(l.depth) > d.lim.MaxDepth {
		return d.limitAt(d.pos, "terms nested more than %d deep", d.lim.MaxDepth)
	}
	if l.n > int64(d.lim.MaxFrame) {
		return d.limitAt(d.pos, "object expands to more than %d bytes through registers", d.lim.MaxFrame)
	}
	return nil
}

// startBinary handles '~' after a length: the length is the integer on top
// of the stack. The limits are checked here, before any byte of the binary
// is buffered.
func (d *Decoder) startBinary() error {
	at := d.pos
	if len(d.stack) == d.frameBottom() {
		return d.errorAt(at, "'~' is not preceded by a binary's length")
	}
	top := d.stack[len(d.stack)-1]
	i, ok := top.t.(term.Integer)
	if !ok || top.list != 0 {
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
	d.stack = d.stack[:len(d.stack)-1]
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
	d.finish(&d.stack[len(d.stack)-1])
	s := d.stack[len(d.stack)-1]
	d.stack[len(d.stack)-1] = slot{}
	d.stack = d.stack[:len(d.stack)-1]
	if !d.isReg[key] {
		d.isReg[key] = true
		d.used = append(d.used, key)
	}
	d.regs[key] = s
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
	d.finish(&d.stack[0])
	s := d.stack[0]
	d.stack[0] = slot{}
	d.stack = d.stack[:0]
	// Registers last for one object: ubf's driver starts every object
	// with an empty register table (ubf_driver:decode/4 calls
	// ubf:decode_init/2 after each one).
	for _, k := range d.used {
		d.isReg[k] = false
		d.regs[k] = slot{}
	}
	d.used = d.used[:0]
	d.started = false
	d.work = 0
	// Every list is finished now; let the scratch of a big object go.
	if cap(d.stack) > keepSlots {
		d.stack = nil
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
	return s.t, nil
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

// Package bufread is the buffered reader every wrapper frames its stream
// with: one contiguous, reused buffer per direction, so that a frame's raw
// bytes are a sub-slice and need no copy, with the frame and binary limits
// of wrappers.Limits checked as bytes arrive. The line-oriented wires
// (resp, line) use its Line and Need; the others (ubf, json) scan the
// buffer themselves and use it for the buffer, offsets and errors.
package bufread

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// Buffer sizes. A proxy holds two readers per connection, most of them
// idle between small messages: the first buffer is small, and one that a
// big frame grew is let go.
const (
	// firstBuffer is the size of the buffer made by the first read.
	firstBuffer = 4096
	// minRead is the least free space handed to the underlying Read:
	// below it, the buffer is compacted or grown first.
	minRead = 512
)

// Reader buffers one direction of a stream so that a whole frame sits in
// one contiguous slice: the frame's Raw is then a sub-slice of the buffer
// and needs no copy. The buffer is reused across frames; bytes before the
// current frame are dropped only when room is needed.
//
// The parsers of the wrappers work on Buf[Pos:End] directly; they may
// advance Pos but must not hold indexes into Buf across a call that reads
// (Fill, Need, Line, Frame), because reading may move the frame.
type Reader struct {
	Buf   []byte          // the buffer; Buf[Start:End] holds the current frame and what follows
	Start int             // first byte of the current frame
	Pos   int             // next byte to parse
	End   int             // end of the bytes read so far
	Lim   wrappers.Limits // the limits frames are checked against
	r     io.Reader
	// lender is r when it lends buffers (wrappers.Lender): Buf is then
	// given back whenever nothing is buffered, and lent says whether Buf
	// is the lender's.
	lender wrappers.Lender
	lent   bool
	base   int64 // stream offset of Buf[0]
	// charged is what Buf took from Lim.Budget: its size once past
	// wrappers.BudgetFree, else nothing.
	charged int64
	// err is the sticky error of the underlying reader, but for
	// wrappers.ErrParked, which the next Begin forgets, and
	// wrappers.ErrWouldBlock, which is never kept.
	err  error
	name string // prefix of read errors: the wrapper's name
	// held says how the current frame was interrupted by
	// wrappers.ErrWouldBlock (see Hold and Rewind); heldNone otherwise.
	held uint8
	// wait is what the read that would have blocked wanted, for a frame
	// the decoder rewinds (see Rewind): made by the first such read
	// through Need, Line or Frame, so that a decoder that resumes, or is
	// never cut, does not carry it.
	wait *wanted
}

// wanted is what the read that would have blocked was for, relative to
// Start: the frame's first n bytes, or (lf >= 0) an LF at or after lf, or
// (find) the end the decoder's Finder looks for (WaitFor). A rewound frame
// is parsed again only once it is buffered (see Frame).
type wanted struct {
	n, lf int
	find  Finder
}

// wanted returns b.wait, made when it is not, wanting the first n bytes
// of the frame.
func (b *Reader) wanted(n int) *wanted {
	if b.wait == nil {
		b.wait = &wanted{}
	}
	b.wait.n, b.wait.lf, b.wait.find = n, -1, nil
	return b.wait
}

// A Finder finds where a frame that a read that would block interrupted
// ends, for a decoder that parses the frame again (Rewind) and whose
// frames are made of many parts: a multi-line body, an aggregate of many
// values. Without one, a frame arriving in k pieces that each take the
// parse past its last stop is parsed k times; with one, it is scanned once
// as it arrives and parsed again once it ended.
type Finder interface {
	// Ended reports whether the frame, b.Buf[b.Start:b.End], has ended,
	// or has reached a point past which its parse must see it again (a
	// malformed part, a limit). It is asked again each time bytes arrive,
	// with the frame possibly moved in the buffer but the bytes already
	// seen unchanged: it keeps its place, relative to b.Start, and scans
	// only the new ones. A finder that says true early costs one parse
	// more, never a different result; one that says false where the
	// parse would stop holds the frame back until the stream ends or the
	// frame passes Lim.MaxFrame.
	Ended(b *Reader) bool
}

// How an interrupted frame goes on.
const (
	heldNone   uint8 = iota
	heldResume       // the decoder kept its scan state: Begin keeps Start and Pos
	heldRewind       // the decoder parses the frame again from Start: Frame waits for the bytes wanted first
)

// Hold marks the current frame as interrupted by wrappers.ErrWouldBlock
// by a decoder that keeps its scan state: the next Begin keeps the frame
// as it is (Start and Pos), so that scanning goes on from Pos, and until
// then Buffered counts the frame's bytes from Start.
func (b *Reader) Hold() { b.held = heldResume }

// Rewind marks the current frame as interrupted by wrappers.ErrWouldBlock
// by a decoder that parses it again: the parse position goes back to
// Start, and the next Frame first reads until the bytes the interrupted
// read wanted are buffered (Need's count, Line's line end, the end a
// Finder given to WaitFor finds; or the frame is past the limit, or the
// stream failed), so that the frame is parsed again only when the parse
// can get past the point where it stopped. A single long line or blob is
// thus parsed twice at most; a frame of many small parts that arrives in
// k pieces, each taking the parse past its last stop, is parsed up to k
// times unless its decoder gives a Finder (as resp's skipper and the text
// protocols' dot-terminated bodies do) or keeps what its parse took and
// goes on after it (as the text protocols' multi-line answers do).
func (b *Reader) Rewind() {
	if b.wait == nil {
		b.wanted(b.End - b.Start + 1) // the read was for a byte more
	}
	b.Pos = b.Start
	b.held = heldRewind
}

// WaitFor says that the read that would have blocked was for the end
// that f finds (see Finder): a rewound frame is parsed again only once f
// found it. The decoder calls it, then Rewind, after a read returned
// wrappers.ErrWouldBlock; f is let go once the frame is parsed again.
func (b *Reader) WaitFor(f Finder) {
	w := b.wait
	if w == nil {
		w = b.wanted(b.End - b.Start + 1)
	}
	w.find = f
}

// await reads until what the read a rewound frame stopped at wanted is
// buffered. It returns wrappers.ErrWouldBlock when reading would block
// again, and nil otherwise, with any other error of the reader kept for
// the parse to meet where it met it before.
func (b *Reader) await() error {
	w := b.wait
	for b.End-b.Start <= b.Lim.MaxFrame {
		if w.find != nil {
			if w.find.Ended(b) {
				break
			}
		} else if w.lf >= 0 {
			if bytes.IndexByte(b.Buf[b.Start+w.lf:b.End], '\n') >= 0 {
				break
			}
			w.lf = b.End - b.Start
		} else if b.End-b.Start >= w.n {
			break
		}
		if err := b.Fill(); err != nil {
			if wrappers.IsWouldBlock(err) {
				return err
			}
			break
		}
	}
	w.find = nil
	b.held = heldNone
	return nil
}

// New returns a Reader of r checked against lim; name (the wrapper's
// name: "resp", "line", "json" or "ubf") prefixes the errors of the
// underlying reader. When r is a wrappers.Lender, the Reader reads into
// its buffers and holds none while nothing is buffered.
func New(r io.Reader, lim wrappers.Limits, name string) Reader {
	l, _ := r.(wrappers.Lender)
	return Reader{r: r, lender: l, Lim: lim, name: name}
}

// Bytes returns a Reader of b alone, as if a reader had returned b and
// then io.EOF. The Reader never writes to b.
func Bytes(b []byte, lim wrappers.Limits, name string) Reader {
	return Reader{Buf: b, End: len(b), Lim: lim, name: name, err: io.EOF}
}

// ShrinkAbove is the buffer size past which Begin lets go of a buffer that
// one big frame grew, so that it is not pinned for the life of the
// connection.
const ShrinkAbove = 64 << 10

// Begin starts a new frame at the parse position. When nothing is
// buffered past it, the buffer starts over from its front (and a grown
// one is let go, a lent one given back), so that later reads need not
// move the frame.
func (b *Reader) Begin() {
	if b.held == heldResume {
		b.held = heldNone
		return
	}
	switch {
	case b.Pos == b.End && b.Pos > 0:
		b.base += int64(b.Pos)
		b.Pos, b.End = 0, 0
		if b.lent {
			b.lender.Return(b.Buf)
			b.Buf, b.lent = nil, false
		} else if len(b.Buf) > ShrinkAbove || b.lender != nil {
			b.Buf = nil // the next read borrows one
			b.uncharge()
		}
	case len(b.Buf) > ShrinkAbove && b.End-b.Pos < minRead:
		nb := make([]byte, firstBuffer)
		n := copy(nb, b.Buf[b.Pos:b.End])
		b.base += int64(b.Pos)
		b.Buf, b.Pos, b.End = nb, 0, n
		b.uncharge()
	}
	b.Start = b.Pos
	if b.err == wrappers.ErrParked {
		// The lender stopped waiting with nothing buffered (it is only
		// asked then): the new frame reads again.
		b.err = nil
	}
}

// uncharge gives back what the buffer took from the budget (the buffer
// was let go).
func (b *Reader) uncharge() {
	if b.charged > 0 {
		b.Lim.Budget.Give(b.charged)
		b.charged = 0
	}
}

// Release lets go of the buffer and gives back what it took from the
// budget, for a reader that will not be read again.
func (b *Reader) Release() {
	if b.lent {
		b.lender.Return(b.Buf)
		b.lent = false
	}
	b.Buf, b.Start, b.Pos, b.End = nil, 0, 0, 0
	b.uncharge()
}

// Parked is what a Reader that parked keeps: the stream offset it
// stopped at (its reader is the caller's, see wrappers.Parked).
type Parked struct {
	off int64
}

// Park reports whether a Reader that Parked.Resume makes would go on
// exactly as b, and returns what it needs: nothing is buffered (a lender
// has its buffer back), no frame is held, nothing is charged to the budget
// and no error is kept but wrappers.ErrParked, which the next frame
// forgets anyway. A decoder that parks (wrappers.Parker) asks it. A
// frame that wrappers.ErrWouldBlock interrupted before any of its bytes
// came (Hold or Rewind with Start at End, as a reader run by an event
// loop stops between frames) holds nothing either: a new Reader starts
// that frame the same way.
func (b *Reader) Park() (Parked, bool) {
	if b.Buf != nil || b.lent || b.charged != 0 || b.Start != b.End ||
		(b.err != nil && b.err != wrappers.ErrParked) {
		return Parked{}, false
	}
	return Parked{off: b.Offset(b.End)}, true
}

// Resume returns the Reader of r, the reader of the one that parked, that
// goes on where that one stopped, checked against lim, its errors
// prefixed with name (as New).
func (p Parked) Resume(r io.Reader, lim wrappers.Limits, name string) Reader {
	b := New(r, lim, name)
	b.base = p.off
	return b
}

// Err returns the error the underlying reader returned, io.EOF at the end
// of the stream, or nil while it may give more bytes. Bytes read with the
// error are in the buffer before it is returned here.
func (b *Reader) Err() error { return b.err }

// Buffered returns how many bytes were read but not yet decoded.
func (b *Reader) Buffered() int {
	if b.held == heldResume {
		return b.End - b.Start
	}
	return b.End - b.Pos
}

// Raw returns the bytes of the current frame.
func (b *Reader) Raw() []byte { return b.Buf[b.Start:b.Pos] }

// Offset returns the stream offset of buffer index i.
func (b *Reader) Offset(i int) int64 { return b.base + int64(i) }

// Off returns the stream offset of the parse position. Positions kept
// across reads are stream offsets: buffer indexes move when fill makes room.
func (b *Reader) Off() int64 { return b.Offset(b.Pos) }

// ErrAt builds a syntax error at stream offset at.
func (b *Reader) ErrAt(at int64, format string, args ...any) *wrappers.FrameError {
	return &wrappers.FrameError{Offset: at, Msg: fmt.Sprintf(format, args...)}
}

// EndedAt builds the error of a stream that ended inside a frame, at
// stream offset at.
func (b *Reader) EndedAt(at int64, format string, args ...any) *wrappers.FrameError {
	return &wrappers.FrameError{Offset: at, Msg: fmt.Sprintf(format, args...), Truncated: true}
}

// LimitAt builds a limit error at stream offset at.
func (b *Reader) LimitAt(at int64, format string, args ...any) *wrappers.FrameError {
	return &wrappers.FrameError{Offset: at, Msg: fmt.Sprintf(format, args...), Limit: true}
}

// Fill reads at least one more byte into the buffer. It moves the current
// frame to the front of the buffer, or grows the buffer, when the free
// space at the end runs short. Indexes into buf held by callers are stale
// after fill; only b.Start, b.Pos and b.End are kept up to date (a caller
// keeps others relative to b.Start). It returns the reader's error once
// every byte read before it is in the buffer.
func (b *Reader) Fill() error {
	if b.err != nil {
		return b.err
	}
	if b.Buf == nil && b.lender != nil {
		// Nothing is buffered: wait for bytes without a buffer.
		buf, n, err := b.lender.ReadLent()
		if buf != nil {
			b.Buf, b.lent = buf, true
		}
		if done, err := b.took(n, err); done {
			return err
		}
	}
	if len(b.Buf)-b.End < minRead {
		if b.Start > 0 {
			n := copy(b.Buf, b.Buf[b.Start:b.End])
			b.base += int64(b.Start)
			b.Pos -= b.Start
			b.End = n
			b.Start = 0
		}
		if len(b.Buf)-b.End < minRead {
			if err := b.grow(); err != nil {
				b.err = err
				return err
			}
		}
	}
	for range 100 {
		if done, err := b.took(b.r.Read(b.Buf[b.End:])); done {
			return err
		}
	}
	b.err = io.ErrNoProgress
	return b.err
}

// took accounts for a read of n bytes that returned err; done says whether
// Fill is done (it read bytes, or failed), with what Fill returns.
// wrappers.ErrWouldBlock is returned but not kept: by default, the read
// wanted one more byte of the frame (Need, Line and WaitFor say more),
// but for await's reads, which wait for what a read before wanted.
func (b *Reader) took(n int, err error) (done bool, _ error) {
	b.End += n
	if err != nil {
		if wrappers.IsWouldBlock(err) {
			if n > 0 {
				return true, nil // bytes came with it: the next read says it again
			}
			if b.wait != nil && b.held != heldRewind {
				b.wanted(b.End - b.Start + 1)
			}
			return true, err
		}
		b.err = err
	}
	switch {
	case n > 0:
		return true, nil
	case err != nil:
		return true, err
	}
	return false, nil
}

// grow makes room for a read of at least minRead bytes: twice the buffer,
// but no more than a frame of the limit and a read need.
// A buffer past wrappers.BudgetFree is paid for from Lim.Budget first;
// when the budget says no, the frame is refused with a limit error.
func (b *Reader) grow() error {
	size := max(2*len(b.Buf), firstBuffer)
	if ceiling := b.Lim.MaxFrame + minRead; size > ceiling && b.Lim.MaxFrame > 0 {
		size = ceiling
	}
	size = max(size, b.End+minRead)
	if b.Lim.Budget != nil && size > wrappers.BudgetFree {
		if more := int64(size) - b.charged; more > 0 {
			if !b.Lim.Budget.Take(more) {
				return b.LimitAt(b.Offset(b.End), "the proxy's shared memory budget cannot hold a %d-byte buffer for this frame (it started at byte %d)", size, b.Offset(b.Start))
			}
			b.charged += more
		}
	}
	nb := make([]byte, size)
	copy(nb, b.Buf[:b.End])
	if b.lent {
		b.lender.Return(b.Buf)
		b.lent = false
	}
	b.Buf = nb
	return nil
}

// EOFError turns the end of the stream inside a frame into a FrameError.
func (b *Reader) EOFError(err error, what string) error {
	if errors.Is(err, io.EOF) {
		return b.EndedAt(b.Offset(b.End), "stream ended inside %s (frame started at byte %d)", what, b.Offset(b.Start))
	}
	return fmt.Errorf("%s: reading %s: %w", b.name, what, err)
}

// Has reports whether n bytes from the parse position are buffered and
// within the frame limit, so that Need would return nil at once. It
// inlines, and spares the hot paths of the parsers a call.
func (b *Reader) Has(n int) bool {
	e := b.Pos + n
	return e <= b.End && e-b.Start <= b.Lim.MaxFrame
}

// Need makes n bytes available from the parse position, within the frame
// limit.
func (b *Reader) Need(n int, what string) error {
	if b.Pos+n-b.Start > b.Lim.MaxFrame {
		return b.LimitAt(b.Off(), "%s would make the frame longer than the limit of %d bytes", what, b.Lim.MaxFrame)
	}
	for b.End-b.Pos < n {
		if err := b.Fill(); err != nil {
			if wrappers.IsWouldBlock(err) {
				b.wanted(b.Pos + n - b.Start)
				return err
			}
			return b.EOFError(err, what)
		}
	}
	return nil
}

// Line returns the bytes from the parse position up to the next LF
// (excluded) and moves past the LF. The slice is valid until the next
// fill. crlf reports whether the LF was preceded by CR; the CR is not part
// of the returned line when it was.
func (b *Reader) Line(what string) (line []byte, crlf bool, err error) {
	scanned := b.Pos
	for {
		if i := bytes.IndexByte(b.Buf[scanned:b.End], '\n'); i >= 0 {
			e := scanned + i
			if e+1-b.Start > b.Lim.MaxFrame {
				// The line end may arrive in the same read as bytes far
				// past the limit: check the frame here too, not only
				// before reading more.
				return nil, false, b.lineTooLong(what)
			}
			line = b.Buf[b.Pos:e]
			b.Pos = e + 1
			if len(line) > 0 && line[len(line)-1] == '\r' {
				return line[:len(line)-1], true, nil
			}
			return line, false, nil
		}
		if b.End-b.Start > b.Lim.MaxFrame {
			return nil, false, b.lineTooLong(what)
		}
		scanned = b.End - b.Start // keep the scan position across a move
		if err := b.Fill(); err != nil {
			if wrappers.IsWouldBlock(err) {
				b.wanted(0).lf = scanned
				return nil, false, err
			}
			if errors.Is(err, io.EOF) && b.End == b.Pos && b.Pos == b.Start {
				return nil, false, io.EOF
			}
			return nil, false, b.EOFError(err, what)
		}
		scanned += b.Start
	}
}

// lineTooLong is the error of a line past the frame limit: the same
// whether its end arrived or not, so that it does not depend on how the
// bytes were read.
func (b *Reader) lineTooLong(what string) error {
	return b.LimitAt(b.Off(), "%s is longer than the frame limit of %d bytes", what, b.Lim.MaxFrame)
}

// Ready begins a frame at the parse position, as Frame does, when
// that is all Frame would do: the usual case under a pipelining peer, the
// next frame already buffered, nothing held or failed, and the buffer not
// one to let go of. It reports whether it did; if not, the caller calls
// Frame. It inlines, and spares the hot paths of the decoders a call.
func (b *Reader) Ready() bool {
	if b.held == heldNone && b.Pos < b.End && b.err == nil && len(b.Buf) <= ShrinkAbove {
		b.Start = b.Pos
		return true
	}
	return false
}

// Frame begins a frame at the parse position and makes sure it has a
// first byte, reading if needed. It returns io.EOF when the stream ends
// cleanly there (between frames), and other read errors wrapped. After
// Rewind, it begins the same frame again once the bytes the interrupted
// read wanted are buffered, and returns wrappers.ErrWouldBlock while they
// are not.
func (b *Reader) Frame() error {
	if b.Ready() {
		return nil
	}
	if b.held == heldRewind {
		if err := b.await(); err != nil {
			return err
		}
	}
	b.Begin()
	for b.Pos == b.End {
		if err := b.Fill(); err != nil {
			if wrappers.IsWouldBlock(err) {
				// The usual end of a wakeup, asked first: no allocation,
				// and no walk of the error for io.EOF.
				return err
			}
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return nil
}

// Package bufread is the buffered reader the line-oriented wrappers (resp
// and line) frame their streams with: one contiguous, reused buffer per
// direction, so that a frame's raw bytes are a sub-slice and need no copy,
// with the frame and binary limits of wrappers.Limits checked as bytes
// arrive.
package bufread

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// minRead is the smallest free space handed to the underlying Read.
const minRead = 4096

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
	base  int64  // stream offset of Buf[0]
	err   error  // sticky error of the underlying reader
	name  string // prefix of read errors: the wrapper's name
}

// New returns a Reader of r checked against lim; name (the wrapper's
// name, "resp" or "line") prefixes the errors of the underlying reader.
func New(r io.Reader, lim wrappers.Limits, name string) Reader {
	return Reader{r: r, Lim: lim, name: name}
}

// ShrinkAbove is the buffer size past which begin lets go of a buffer that
// one big frame grew, so that it is not pinned for the life of the
// connection.
const ShrinkAbove = 256 << 10

// Begin starts a new frame at the parse position.
func (b *Reader) Begin() {
	if len(b.Buf) > ShrinkAbove && b.End-b.Pos < minRead {
		nb := make([]byte, 16<<10)
		n := copy(nb, b.Buf[b.Pos:b.End])
		b.base += int64(b.Pos)
		b.Buf, b.Pos, b.End = nb, 0, n
	}
	b.Start = b.Pos
}

// Buffered returns how many bytes were read but not yet decoded.
func (b *Reader) Buffered() int { return b.End - b.Pos }

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

// LimitAt builds a limit error at stream offset at.
func (b *Reader) LimitAt(at int64, format string, args ...any) *wrappers.FrameError {
	return &wrappers.FrameError{Offset: at, Msg: fmt.Sprintf(format, args...), Limit: true}
}

// Fill reads at least one more byte into the buffer. It moves the current
// frame to the front of the buffer, or grows the buffer, when the free
// space at the end runs short. Indexes into buf held by callers are stale
// after fill; only b.Start, b.Pos and b.End are kept up to date.
func (b *Reader) Fill() error {
	if b.err != nil {
		return b.err
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
			size := 2 * len(b.Buf)
			if size < b.End+minRead {
				size = b.End + minRead
			}
			if size < 16*1024 {
				size = 16 * 1024
			}
			nb := make([]byte, size)
			copy(nb, b.Buf[:b.End])
			b.Buf = nb
		}
	}
	for range 100 {
		n, err := b.r.Read(b.Buf[b.End:])
		b.End += n
		if err != nil {
			b.err = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	b.err = io.ErrNoProgress
	return b.err
}

// EOFError turns the end of the stream inside a frame into a FrameError.
func (b *Reader) EOFError(err error, what string) error {
	if errors.Is(err, io.EOF) {
		return b.ErrAt(b.Offset(b.End), "stream ended inside %s (frame started at byte %d)", what, b.Offset(b.Start))
	}
	return fmt.Errorf("%s: reading %s: %w", b.name, what, err)
}

// Need makes n bytes available from the parse position, within the frame
// limit.
func (b *Reader) Need(n int, what string) error {
	if b.Pos+n-b.Start > b.Lim.MaxFrame {
		return b.LimitAt(b.Off(), "%s would make the frame longer than the limit of %d bytes", what, b.Lim.MaxFrame)
	}
	for b.End-b.Pos < n {
		if err := b.Fill(); err != nil {
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
				return nil, false, b.LimitAt(b.Off(), "%s would make the frame longer than the limit of %d bytes", what, b.Lim.MaxFrame)
			}
			line = b.Buf[b.Pos:e]
			b.Pos = e + 1
			if len(line) > 0 && line[len(line)-1] == '\r' {
				return line[:len(line)-1], true, nil
			}
			return line, false, nil
		}
		if b.End-b.Start > b.Lim.MaxFrame {
			return nil, false, b.LimitAt(b.Off(), "%s is longer than the frame limit of %d bytes without a line end", what, b.Lim.MaxFrame)
		}
		scanned = b.End - b.Start // keep the scan position across a move
		if err := b.Fill(); err != nil {
			if errors.Is(err, io.EOF) && b.End == b.Pos && b.Pos == b.Start {
				return nil, false, io.EOF
			}
			return nil, false, b.EOFError(err, what)
		}
		scanned += b.Start
	}
}

// Frame begins a frame at the parse position and makes sure it has a
// first byte, reading if needed. It returns io.EOF when the stream ends
// cleanly there (between frames), and other read errors wrapped.
func (b *Reader) Frame() error {
	b.Begin()
	for b.Pos == b.End {
		if err := b.Fill(); err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return nil
}

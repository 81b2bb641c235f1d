package line

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// minRead is the smallest free space handed to the underlying Read.
const minRead = 4096

// reader buffers one direction of a stream so that a whole frame sits in
// one contiguous slice: the frame's Raw is then a sub-slice of the buffer
// and needs no copy. The buffer is reused across frames; bytes before the
// current frame are dropped only when room is needed.
type reader struct {
	r     io.Reader
	buf   []byte
	start int   // first byte of the current frame
	pos   int   // next byte to parse
	end   int   // end of the bytes read so far
	base  int64 // stream offset of buf[0]
	err   error // sticky error of the underlying reader
	lim   wrappers.Limits
}

func newReader(r io.Reader, lim wrappers.Limits) reader {
	return reader{r: r, lim: lim}
}

// shrinkAbove is the buffer size past which begin lets go of a buffer that
// one big frame grew, so that it is not pinned for the life of the
// connection.
const shrinkAbove = 256 << 10

// begin starts a new frame at the parse position.
func (b *reader) begin() {
	if len(b.buf) > shrinkAbove && b.end-b.pos < minRead {
		nb := make([]byte, 16<<10)
		n := copy(nb, b.buf[b.pos:b.end])
		b.base += int64(b.pos)
		b.buf, b.pos, b.end = nb, 0, n
	}
	b.start = b.pos
}

// buffered returns how many bytes were read but not yet decoded.
func (b *reader) buffered() int { return b.end - b.pos }

// raw returns the bytes of the current frame.
func (b *reader) raw() []byte { return b.buf[b.start:b.pos] }

// offset returns the stream offset of buffer index i.
func (b *reader) offset(i int) int64 { return b.base + int64(i) }

// off returns the stream offset of the parse position. Positions kept
// across reads are stream offsets: buffer indexes move when fill makes room.
func (b *reader) off() int64 { return b.offset(b.pos) }

// errAt builds a syntax error at stream offset at.
func (b *reader) errAt(at int64, format string, args ...any) *wrappers.FrameError {
	return &wrappers.FrameError{Offset: at, Msg: fmt.Sprintf(format, args...)}
}

// limitAt builds a limit error at stream offset at.
func (b *reader) limitAt(at int64, format string, args ...any) *wrappers.FrameError {
	return &wrappers.FrameError{Offset: at, Msg: fmt.Sprintf(format, args...), Limit: true}
}

// fill reads at least one more byte into the buffer. It moves the current
// frame to the front of the buffer, or grows the buffer, when the free
// space at the end runs short. Indexes into buf held by callers are stale
// after fill; only b.start, b.pos and b.end are kept up to date.
func (b *reader) fill() error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf)-b.end < minRead {
		if b.start > 0 {
			n := copy(b.buf, b.buf[b.start:b.end])
			b.base += int64(b.start)
			b.pos -= b.start
			b.end = n
			b.start = 0
		}
		if len(b.buf)-b.end < minRead {
			size := 2 * len(b.buf)
			if size < b.end+minRead {
				size = b.end + minRead
			}
			if size < 16*1024 {
				size = 16 * 1024
			}
			nb := make([]byte, size)
			copy(nb, b.buf[:b.end])
			b.buf = nb
		}
	}
	for range 100 {
		n, err := b.r.Read(b.buf[b.end:])
		b.end += n
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

// eofError turns the end of the stream inside a frame into a FrameError.
func (b *reader) eofError(err error, what string) error {
	if errors.Is(err, io.EOF) {
		return b.errAt(b.offset(b.end), "stream ended inside %s (frame started at byte %d)", what, b.offset(b.start))
	}
	return fmt.Errorf("line: reading %s: %w", what, err)
}

// need makes n bytes available from the parse position, within the frame
// limit.
func (b *reader) need(n int, what string) error {
	if b.pos+n-b.start > b.lim.MaxFrame {
		return b.limitAt(b.off(), "%s would make the frame longer than the limit of %d bytes", what, b.lim.MaxFrame)
	}
	for b.end-b.pos < n {
		if err := b.fill(); err != nil {
			return b.eofError(err, what)
		}
	}
	return nil
}

// line returns the bytes from the parse position up to the next LF
// (excluded) and moves past the LF. The slice is valid until the next
// fill. crlf reports whether the LF was preceded by CR; the CR is not part
// of the returned line when it was.
func (b *reader) line(what string) (line []byte, crlf bool, err error) {
	scanned := b.pos
	for {
		if i := bytes.IndexByte(b.buf[scanned:b.end], '\n'); i >= 0 {
			e := scanned + i
			line = b.buf[b.pos:e]
			b.pos = e + 1
			if len(line) > 0 && line[len(line)-1] == '\r' {
				return line[:len(line)-1], true, nil
			}
			return line, false, nil
		}
		if b.end-b.start > b.lim.MaxFrame {
			return nil, false, b.limitAt(b.off(), "%s is longer than the frame limit of %d bytes without a line end", what, b.lim.MaxFrame)
		}
		scanned = b.end - b.start // keep the scan position across a move
		if err := b.fill(); err != nil {
			if errors.Is(err, io.EOF) && b.end == b.pos && b.pos == b.start {
				return nil, false, io.EOF
			}
			return nil, false, b.eofError(err, what)
		}
		scanned += b.start
	}
}

// atEOF reports whether the stream has no byte left at the parse position,
// reading more if needed. It returns a non-EOF read error as is.
func (b *reader) atEOF() (bool, error) {
	for b.pos == b.end {
		if err := b.fill(); err != nil {
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return false, fmt.Errorf("line: %w", err)
		}
	}
	return false, nil
}

package resp

import (
	"bytes"
	"strconv"

	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// skipper finds where a RESP value ends without decoding it, for a frame
// that a read that would block (wrappers.ErrWouldBlock) interrupted. The
// parser is recursive, so such a frame is parsed again from its first
// byte; were it parsed again at every read, a long array arriving in many
// pieces would cost its bytes times the pieces. Instead the skipper, the
// bufread.Finder the frame waits for, scans each new piece once, keeping
// its place across reads, and the frame is parsed again only when the
// skipper has seen it end. It frames as value does; on anything value
// would refuse, or past a limit, it stops and leaves the error to the
// parse. It is a saving only: a skipper that stopped early would cost a
// parse more, never a different result.
type skipper struct {
	from int // where the value starts, relative to rd.Start
	at   int // the next item (type byte, or chunk of a streamed string), relative to rd.Start
	lf   int // where the search for the line end of the item at at goes on, relative to rd.Start
	// open holds, for each aggregate the item at at is inside, innermost
	// last, how many more items it takes: -1 when it is streamed (it
	// takes items up to its end marker '.'). attr says which are
	// attributes, which annotate the value after them and are not one.
	open   []int64
	attr   []bool
	chunks bool // at is inside a streamed string: its chunks come next
}

// start begins skipping the value at rel (relative to rd.Start).
func (s *skipper) start(rel int) {
	*s = skipper{from: rel, at: rel, lf: rel, open: s.open[:0], attr: s.attr[:0]}
}

// Ended implements bufread.Finder: the value has ended, or may have (the
// parse decides).
func (s *skipper) Ended(rd *bufread.Reader) bool { return !s.more(rd) }

// more scans the buffered bytes, and reports whether the value needs
// more of them to end.
func (s *skipper) more(rd *bufread.Reader) bool {
	for {
		if rd.End-rd.Start > rd.Lim.MaxFrame || len(s.open) > rd.Lim.MaxDepth {
			return false
		}
		buf := rd.Buf[rd.Start:rd.End]
		if s.at >= len(buf) {
			return true
		}
		i := bytes.IndexByte(buf[s.lf:], '\n')
		if i < 0 {
			s.lf = len(buf)
			return true
		}
		line := buf[s.at : s.lf+i] // the item's line, its LF left out
		next := s.lf + i + 1
		if len(line) < 2 || line[len(line)-1] != '\r' {
			return false
		}
		c, hdr := line[0], line[1:len(line)-1]
		if s.chunks {
			if c != ';' {
				return false
			}
			n, ok := length(hdr)
			if !ok || n < 0 {
				return false
			}
			if n == 0 {
				s.chunks = false
				if !s.done(next) {
					return false
				}
				continue
			}
			if int64(len(buf)-next) < n+2 {
				return true
			}
			s.at, s.lf = next+int(n)+2, next+int(n)+2
			continue
		}
		switch c {
		case '+', '-', ':', '(', ',', '#', '_':
			if !s.done(next) {
				return false
			}
		case '.':
			k := len(s.open) - 1
			if k < 0 || s.open[k] != -1 {
				return false
			}
			wasAttr := s.attr[k]
			s.open, s.attr = s.open[:k], s.attr[:k]
			if wasAttr {
				s.at, s.lf = next, next // the value it annotates follows
			} else if !s.done(next) {
				return false
			}
		case '$', '!', '=':
			if len(hdr) == 1 && hdr[0] == '?' {
				s.chunks = true
				s.at, s.lf = next, next
				continue
			}
			n, ok := length(hdr)
			switch {
			case !ok || n > int64(rd.Lim.MaxBinary):
				return false
			case n == -1:
				if !s.done(next) {
					return false
				}
			case int64(len(buf)-next) < n+2:
				return true
			case !s.done(next + int(n) + 2):
				return false
			}
		case '*', '~', '>', '%', '|':
			if len(hdr) == 1 && hdr[0] == '?' {
				s.push(-1, c == '|', next)
				continue
			}
			n, ok := length(hdr)
			switch {
			case !ok || n > int64(rd.Lim.MaxFrame) || n == -1 && c != '*':
				return false
			case n == 0 && c == '|':
				s.at, s.lf = next, next // an empty attribute: the value it annotates follows
			case n <= 0:
				if !s.done(next) {
					return false
				}
			case c == '%' || c == '|':
				s.push(2*n, c == '|', next)
			default:
				s.push(n, false, next)
			}
		default:
			return false
		}
	}
}

// push opens an aggregate of n items (-1: streamed) whose first item is at
// next.
func (s *skipper) push(n int64, attr bool, next int) {
	s.open = append(s.open, n)
	s.attr = append(s.attr, attr)
	s.at, s.lf = next, next
}

// done records that a value ended at next, the last item of every
// aggregate it completes, and reports whether the value being skipped
// goes on. An attribute completed is not a value: the one it annotates
// follows.
func (s *skipper) done(next int) bool {
	s.at, s.lf = next, next
	for k := len(s.open) - 1; k >= 0; k-- {
		if s.open[k] == -1 {
			return true
		}
		if s.open[k]--; s.open[k] > 0 {
			return true
		}
		wasAttr := s.attr[k]
		s.open, s.attr = s.open[:k], s.attr[:k]
		if wasAttr {
			return true
		}
	}
	return false
}

// length parses a header's length or count as the parser does, or
// reports false where the parser fails.
func length(hdr []byte) (int64, bool) {
	if n, ok := digits(hdr); ok {
		return n, true
	}
	n, err := strconv.ParseInt(string(hdr), 10, 64)
	if err != nil || len(hdr) == 0 || n < -1 || hdr[0] == '+' {
		return 0, false
	}
	return n, true
}

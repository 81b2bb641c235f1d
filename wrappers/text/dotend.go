package text

import (
	"bytes"

	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// dotEnd finds the line holding a lone "." that ends a body (RFC 5321's
// DATA, RFC 1939's multi-line answers), for a frame that a read that
// would block cut inside it: the frame is parsed again only once that
// line arrived, or the body or one of its lines is too long (which the
// parse refuses), so that a long body arriving in many pieces is scanned
// once and parsed twice. It is a bufread.Finder.
//
// The body started at from in the frame that starts at stream offset
// frame; line is the start of the line not yet decided and lf where the
// search for its end goes on (both relative to the frame's start); a body
// longer than max bytes, or a line of it longer than maxLine, ends it.
type dotEnd struct {
	frame              int64
	from, max, maxLine int
	line, lf           int
}

// waitDot makes the frame, rewound, wait for the end of the body that
// starts at from (relative to the frame's start): see dotEnd. The search
// goes on where it stopped when it is the same body's.
func (in *input) waitDot(from, max, maxLine int) {
	if in.dot == nil {
		in.dot = new(dotEnd)
	}
	d := in.dot
	if frame := in.rd.Offset(in.rd.Start); d.frame != frame || d.from != from || d.max == 0 {
		*d = dotEnd{frame: frame, from: from, max: max, maxLine: maxLine, line: from, lf: from}
	}
	in.rd.WaitFor(d)
}

// Ended implements bufread.Finder.
func (d *dotEnd) Ended(rd *bufread.Reader) bool {
	buf := rd.Buf[rd.Start:rd.End]
	if len(buf)-d.from > d.max {
		return true
	}
	for {
		if rest := buf[d.line:]; len(rest) > 0 && rest[0] == '.' {
			switch {
			case len(rest) >= 2 && rest[1] == '\n', len(rest) >= 3 && rest[1] == '\r' && rest[2] == '\n':
				return true
			case len(rest) == 1, len(rest) == 2 && rest[1] == '\r':
				return false // not decided yet
			}
		}
		from := max(d.lf, d.line)
		i := bytes.IndexByte(buf[from:], '\n')
		if i < 0 {
			d.lf = len(buf)
			return false
		}
		if from+i-d.line > d.maxLine {
			return true
		}
		d.line = from + i + 1
		d.lf = d.line
	}
}

package resp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// AppendEncode appends the RESP frame that side sends for t, the inverse
// of the decoders (docs/wires/resp.md): a client's command is an array of
// bulk strings, the name upper-cased (a bare atom is a command without
// arguments; arguments may be binaries, strings, atoms or integers); a
// server's frame is the RESP2 or RESP3 value of t ({error, Text} an error,
// ok and the like a simple string, nil a null bulk, true and false
// booleans, lists arrays, maps maps). A term with no such frame is an
// error naming it.
func AppendEncode(dst []byte, side wrappers.Side, t term.Term) ([]byte, error) {
	if side == wrappers.Client {
		return appendCommand(dst, t)
	}
	return appendValue(dst, t)
}

func appendCommand(dst []byte, t term.Term) ([]byte, error) {
	var parts []term.Term
	switch v := t.(type) {
	case term.Atom:
		parts = []term.Term{v}
	case term.Tuple:
		if len(v) == 0 {
			return dst, fmt.Errorf("resp: {} is not a command")
		}
		if _, ok := v[0].(term.Atom); !ok {
			return dst, fmt.Errorf("resp: %s: a command starts with its name, an atom", term.Truncated(t, 60))
		}
		parts = v
	default:
		return dst, fmt.Errorf("resp: %s is not a command: write the atom of its name or {name, Arg, ...}", term.Truncated(t, 60))
	}
	dst = appendHeader(dst, '*', len(parts))
	for i, p := range parts {
		var b []byte
		switch v := p.(type) {
		case term.Atom:
			b = []byte(v)
			if i == 0 {
				b = []byte(strings.ToUpper(string(v)))
			}
		case term.Binary:
			b = v
		case term.String:
			b = []byte(v)
		case term.Integer:
			b = []byte(v.Text())
		default:
			return dst, fmt.Errorf("resp: %s: argument %d: %s is not a binary, string, atom or integer", term.Truncated(t, 60), i, term.Truncated(p, 60))
		}
		dst = appendBulk(dst, b)
	}
	return dst, nil
}

// appendHeader appends the line that opens a frame of kind holding n
// elements or bytes: *n, %n, >n, $n.
func appendHeader(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

func appendBulk(dst, b []byte) []byte {
	dst = appendHeader(dst, '$', len(b))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

func appendValue(dst []byte, t term.Term) ([]byte, error) {
	switch v := t.(type) {
	case term.Atom:
		switch v {
		case "nil":
			return append(dst, "$-1\r\n"...), nil
		case "true":
			return append(dst, "#t\r\n"...), nil
		case "false":
			return append(dst, "#f\r\n"...), nil
		}
		if strings.ContainsAny(string(v), "\r\n") {
			return dst, fmt.Errorf("resp: %s: a simple string cannot hold a line break", term.Truncated(t, 60))
		}
		dst = append(dst, '+')
		dst = append(dst, strings.ToUpper(string(v))...)
		return append(dst, '\r', '\n'), nil
	case term.Integer:
		dst = append(dst, ':')
		dst = append(dst, v.Text()...)
		return append(dst, '\r', '\n'), nil
	case term.Float:
		dst = append(dst, ',')
		dst = strconv.AppendFloat(dst, float64(v), 'g', -1, 64)
		return append(dst, '\r', '\n'), nil
	case term.Binary:
		return appendBulk(dst, v), nil
	case term.String:
		return appendBulk(dst, []byte(v)), nil
	case term.List:
		dst = appendHeader(dst, '*', len(v))
		for _, e := range v {
			var err error
			if dst, err = appendValue(dst, e); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case term.Map:
		dst = appendHeader(dst, '%', len(v))
		for _, e := range v {
			var err error
			if dst, err = appendValue(dst, e.Key); err != nil {
				return dst, err
			}
			if dst, err = appendValue(dst, e.Value); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case term.Tuple:
		if len(v) == 2 && v[0] == term.Atom("error") {
			var text []byte
			switch e := v[1].(type) {
			case term.Binary:
				text = e
			case term.String:
				text = []byte(e)
			}
			if text != nil && !strings.ContainsAny(string(text), "\r\n") {
				dst = append(dst, '-')
				dst = append(dst, text...)
				return append(dst, '\r', '\n'), nil
			}
		}
		// A push: its name and the rest, as the decoder reads a RESP3 >.
		if len(v) > 0 {
			if name, ok := v[0].(term.Atom); ok {
				dst = appendHeader(dst, '>', len(v))
				dst = appendBulk(dst, []byte(name))
				for _, e := range v[1:] {
					var err error
					if dst, err = appendValue(dst, e); err != nil {
						return dst, err
					}
				}
				return dst, nil
			}
		}
	}
	return dst, fmt.Errorf("resp: %s has no RESP frame", term.Truncated(t, 60))
}

package ubf

import (
	"fmt"
	"io"
	"strconv"

	"github.com/ubfproxy/ubfproxy/term"
)

// AppendEncode appends t to dst as one UBF(A) frame in canonical form — the
// object followed by '$', with no registers, no tags and no white space —
// and returns the extended slice. Tuple elements are separated by ',' as
// ubf's own encoder writes them; lists are written last element first
// ("#3&2&1&" is [1, 2, 3]). Floats and maps have no UBF(A) form and give
// an error (dst is then returned unchanged).
func AppendEncode(dst []byte, t term.Term) ([]byte, error) {
	out, err := appendObject(dst, t, 0)
	if err != nil {
		return dst, err
	}
	return append(out, '$'), nil
}

// Encode writes t to w as one canonical UBF(A) frame followed by a newline,
// as the ubf server ends every frame it sends ("X$\n").
func Encode(w io.Writer, t term.Term) error {
	b, err := AppendEncode(nil, t)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// maxEncodeDepth keeps a hostile term built in Go from exhausting the stack.
const maxEncodeDepth = 100000

func appendObject(dst []byte, t term.Term, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return dst, fmt.Errorf("ubf: term nested more than %d deep", maxEncodeDepth)
	}
	switch v := t.(type) {
	case term.Atom:
		return appendQuoted(dst, string(v), '\''), nil
	case term.String:
		return appendQuoted(dst, string(v), '"'), nil
	case term.Integer:
		if v.IsInt64() {
			return strconv.AppendInt(dst, v.Int64(), 10), nil
		}
		return append(dst, v.Text()...), nil
	case term.Binary:
		dst = strconv.AppendInt(dst, int64(len(v)), 10)
		dst = append(dst, '~')
		dst = append(dst, v...)
		return append(dst, '~'), nil
	case term.Tuple:
		dst = append(dst, '{')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendObject(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case term.List:
		dst = append(dst, '#')
		for i := len(v) - 1; i >= 0; i-- {
			var err error
			if dst, err = appendObject(dst, v[i], depth+1); err != nil {
				return dst, err
			}
			dst = append(dst, '&')
		}
		return dst, nil
	case term.Float:
		return dst, fmt.Errorf("ubf: the float %s has no UBF(A) encoding", v)
	case term.Map:
		return dst, fmt.Errorf("ubf: a map has no UBF(A) encoding: %s", term.Truncated(v, 60))
	case nil:
		return dst, fmt.Errorf("ubf: cannot encode a nil term")
	}
	return dst, fmt.Errorf("ubf: cannot encode %T", t)
}

// appendQuoted writes s between quotes, escaping only the quote and the
// backslash, which are UBF(A)'s two escapes; every other byte is written
// as it is.
func appendQuoted(dst []byte, s string, q byte) []byte {
	dst = append(dst, q)
	last := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == q || c == '\\' {
			dst = append(dst, s[last:i]...)
			dst = append(dst, '\\', c)
			last = i + 1
		}
	}
	dst = append(dst, s[last:]...)
	return append(dst, q)
}

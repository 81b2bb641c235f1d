package text

import (
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/intern"
)

// Verbs repeat from line to line: a decoder makes their atoms through a
// small cache, so a hit allocates nothing and a peer sending ever new
// words cannot grow it. The cache holds the atoms already boxed as
// terms: an Atom put into a term.Term is a new allocation each time.
func newVerbs() intern.Cache[term.Term] { return intern.New[term.Term](64, 32) }

// lower returns the atom of s in lower case.
func lower(s string) term.Term {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return term.Atom(b)
		}
	}
	return term.Atom(s)
}

// asIs returns the atom of s as it is.
func asIs(s string) term.Term { return term.Atom(s) }

// verb returns the atom of a verb, lower-cased (fold) or as written.
func verb(c *intern.Cache[term.Term], b []byte, fold bool) term.Term {
	mk := asIs
	if fold {
		mk = lower
	}
	a, _ := c.Get(b, mk)
	return a
}

// nextWord returns the word of line starting at or after i (after a run
// of spaces) and the index after it; w is nil at the end of the line.
func nextWord(line []byte, i int) (w []byte, next int) {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	j := i
	for j < len(line) && line[j] != ' ' {
		j++
	}
	if i == j {
		return nil, j
	}
	return line[i:j], j
}

// words splits a line at runs of spaces into the verb, as an atom, and
// the other words as strings: {verb, "arg", ...}, or the bare verb atom
// when there are no others, or the empty atom for a line without words.
// extra, when not nil, is appended as the last element (a data block).
// The words share one string, and the tuple is cut from a shared block:
// a line costs a few allocations however many words it has.
func (d *side) words(line []byte, fold bool, extra term.Term) term.Term {
	w, i := nextWord(line, 0)
	if w == nil {
		if extra != nil {
			return term.Tuple{term.Atom(""), extra}
		}
		return term.Atom("")
	}
	v := verb(&d.verbs, w, fold)
	n, rest := 1, i
	for j := i; ; n++ {
		if w, j = nextWord(line, j); w == nil {
			break
		}
	}
	if extra != nil {
		n++
	}
	if n == 1 {
		return v
	}
	tu := term.Tuple(d.elems.Cut(n, 128))
	tu[0] = v
	k := 1
	text := string(line[rest:])
	for j := 0; ; k++ {
		var a int
		for a = j; a < len(text) && text[a] == ' '; a++ {
		}
		if a == len(text) {
			break
		}
		for j = a; j < len(text) && text[j] != ' '; j++ {
		}
		tu[k] = term.String(text[a:j])
	}
	if extra != nil {
		tu[k] = extra
	}
	return tu
}

// coded splits a reply line "250-text", "250 text" or "250" into its
// parts: sep is '-', ' ' or 0. ok is false for a line that does not start
// with three digits followed by '-', ' ' or its end.
func coded(line []byte) (code int64, sep byte, text []byte, ok bool) {
	if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, 0, nil, false
	}
	if len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, 0, nil, false
	}
	code = int64(line[0]-'0')*100 + int64(line[1]-'0')*10 + int64(line[2]-'0')
	if len(line) == 3 {
		return code, 0, nil, true
	}
	return code, line[3], line[4:], true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits reports whether b is a non-empty run of decimal digits.
func digits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

// number returns the value of a run of at most 18 decimal digits, or -1.
func number(b []byte) int64 {
	if !digits(b) || len(b) > 18 {
		return -1
	}
	var n int64
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	return n
}

// quote shortens b for an error message.
func quote(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

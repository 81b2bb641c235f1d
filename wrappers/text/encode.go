package text

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// AppendEncode appends the wire bytes of t, a message sent by side, to b:
// the inverse of the family's decoders, so that decoding the bytes gives t
// back. It is how test input and hand-written conversations are made
// (ubfproxy encode). A term that the wire cannot carry (a word with a
// space where the family splits at spaces, a line break inside a line, a
// shape the family has no syntax for) is an error naming it.
func (f *Family) AppendEncode(b []byte, side wrappers.Side, t term.Term) ([]byte, error) {
	enc := f.encodeCommand
	if side == wrappers.Server {
		enc = f.encodeReply
	}
	out, err := enc(b, t)
	if err != nil {
		return b, fmt.Errorf("%s: %s: %w", f.Name, term.Truncated(t, 80), err)
	}
	return out, nil
}

// wordText returns the text of a word: an atom's name, a string, an integer's
// digits. upper upper-cases it (a verb).
func wordText(t term.Term, upper bool) (string, error) {
	var s string
	switch v := t.(type) {
	case term.Atom:
		s = string(v)
	case term.String:
		s = string(v)
	case term.Integer:
		s = v.String()
	default:
		return "", fmt.Errorf("%s is not a word (an atom, a string or an integer)", term.Truncated(t, 40))
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("%q holds a line break", s)
	}
	if upper {
		s = asciiUpper(s)
	}
	return s, nil
}

// asciiUpper upper-cases the ASCII letters of s and keeps every other
// byte, as the decoders lower-case verbs (strings.ToUpper would replace
// bytes that are not UTF-8).
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// appendWords appends a command line split at spaces: the verb (upper
// when upper), then each other element as one word. A word holding a
// space or empty would not come back as one: it is an error, except the
// last one when rest is true (FTP's argument, the rest of the line).
func appendWords(b []byte, t term.Term, upper, rest bool) ([]byte, error) {
	elems := term.Tuple{t}
	if tu, ok := t.(term.Tuple); ok && len(tu) > 0 {
		elems = tu
	}
	for i, e := range elems {
		s, err := wordText(e, upper && i == 0)
		if err != nil {
			return b, fmt.Errorf("element %d: %w", i+1, err)
		}
		last := i == len(elems)-1
		if i > 0 && !(rest && last) && (s == "" || strings.Contains(s, " ")) {
			return b, fmt.Errorf("element %d, %q, is not one word: this wire splits a line at spaces", i+1, s)
		}
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, s...)
	}
	return append(b, '\r', '\n'), nil
}

// appendDotted appends lines dot-stuffed and the lone "." that ends them.
// body's last line gets a CRLF if it has none.
func appendDotted(b, body []byte) []byte {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line = body[:i+1]
		}
		body = body[len(line):]
		if line[0] == '.' {
			b = append(b, '.')
		}
		b = append(b, line...)
		if line[len(line)-1] != '\n' {
			b = append(b, '\r', '\n')
		}
	}
	return append(b, '.', '\r', '\n')
}

// appendCoded appends an SMTP or FTP reply: {Code, Text} or {Code,
// [Text, ...]}, every line but the last "Code-Text". A term of another
// shape is a line without a code, written as a command line.
func appendCoded(b []byte, t term.Term) ([]byte, error) {
	tu, ok := t.(term.Tuple)
	if !ok || len(tu) != 2 {
		return appendWords(b, t, false, false)
	}
	code, ok := tu[0].(term.Integer)
	if !ok {
		return appendWords(b, t, false, false)
	}
	c := code.Int64()
	if !code.IsInt64() || c < 0 || c > 999 {
		return b, fmt.Errorf("reply code %s is not three digits", code)
	}
	lines := term.List{tu[1]}
	if l, ok := tu[1].(term.List); ok && len(l) > 0 {
		lines = l
	}
	for i, l := range lines {
		s, ok := l.(term.String)
		if !ok || strings.ContainsAny(string(s), "\r\n") {
			return b, fmt.Errorf("line %d of the reply is not a string of one line", i+1)
		}
		b = fmt.Appendf(b, "%03d", c)
		if i < len(lines)-1 {
			b = append(b, '-')
		} else if s != "" || len(lines) > 1 {
			b = append(b, ' ')
		}
		b = append(b, s...)
		b = append(b, '\r', '\n')
	}
	return b, nil
}

// tagged returns the elements of {tag, ...} with n elements in all.
func tagged(t term.Term, tag term.Atom, n int) (term.Tuple, bool) {
	tu, ok := t.(term.Tuple)
	if !ok || len(tu) != n || tu[0] != term.Term(tag) {
		return nil, false
	}
	return tu, true
}

// oneLine returns the string of a line's text.
func oneLine(t term.Term) (string, error) {
	s, ok := t.(term.String)
	if !ok || strings.ContainsAny(string(s), "\r\n") {
		return "", fmt.Errorf("%s is not a string of one line", term.Truncated(t, 40))
	}
	return string(s), nil
}

func smtpEncodeCommand(b []byte, t term.Term) ([]byte, error) {
	if tu, ok := tagged(t, atomData, 2); ok {
		if body, ok := tu[1].(term.Binary); ok {
			return appendDotted(b, body), nil
		}
	}
	if tu, ok := tagged(t, atomAuthResponse, 2); ok {
		s, err := oneLine(tu[1])
		return append(append(b, s...), '\r', '\n'), err
	}
	if tu, ok := t.(term.Tuple); ok && len(tu) >= 3 && tu[0] == term.Term(atomBdat) {
		if chunk, ok := tu[len(tu)-1].(term.Binary); ok {
			b, err := appendWords(b, tu[:len(tu)-1], true, false)
			return append(b, chunk...), err
		}
	}
	return appendWords(b, t, true, false)
}

func ftpEncodeCommand(b []byte, t term.Term) ([]byte, error) {
	if tu, ok := t.(term.Tuple); ok && len(tu) != 2 {
		return b, fmt.Errorf("an FTP command is a verb or {verb, Argument}, not a tuple of %d", len(tu))
	}
	return appendWords(b, t, true, true)
}

func pop3EncodeCommand(b []byte, t term.Term) ([]byte, error) {
	if tu, ok := tagged(t, atomAuthResponse, 2); ok {
		s, err := oneLine(tu[1])
		return append(append(b, s...), '\r', '\n'), err
	}
	return appendWords(b, t, true, false)
}

func pop3EncodeReply(b []byte, t term.Term) ([]byte, error) {
	tu, ok := t.(term.Tuple)
	if !ok || len(tu) < 2 || len(tu) > 3 {
		return appendWords(b, t, false, false)
	}
	var head string
	switch tu[0] {
	case term.Term(atomOK):
		head = "+OK"
	case term.Term(atomErr):
		head = "-ERR"
	case term.Term(atomContinue):
		head = "+"
	default:
		return appendWords(b, t, false, false)
	}
	text, err := oneLine(tu[1])
	if err != nil {
		return b, err
	}
	b = append(b, head...)
	if text != "" || head == "+" {
		b = append(append(b, ' '), text...)
	}
	b = append(b, '\r', '\n')
	if len(tu) == 2 {
		return b, nil
	}
	if head != "+OK" {
		return b, fmt.Errorf("only +OK goes on with a multi-line block")
	}
	switch v := tu[2].(type) {
	case term.Binary:
		return appendDotted(b, v), nil
	case term.List:
		var body []byte
		for i, l := range v {
			s, err := oneLine(l)
			if err != nil {
				return b, fmt.Errorf("line %d: %w", i+1, err)
			}
			body = append(append(body, s...), '\r', '\n')
		}
		return appendDotted(b, body), nil
	}
	return b, fmt.Errorf("the block of a +OK answer is a list of strings or a binary")
}

func ircEncode(b []byte, t term.Term) ([]byte, error) {
	for _, w := range []struct {
		tag  term.Atom
		mark byte
	}{{atomTags, '@'}, {atomFrom, ':'}} {
		if tu, ok := tagged(t, w.tag, 3); ok {
			s, err := wordText(tu[1], false)
			if err != nil || s == "" || strings.Contains(s, " ") {
				return b, fmt.Errorf("%s of %s is not one word", w.tag, term.Truncated(t, 40))
			}
			b = append(append(b, w.mark), s...)
			return ircEncode(append(b, ' '), tu[2])
		}
	}
	elems := term.Tuple{t}
	if tu, ok := t.(term.Tuple); ok && len(tu) > 0 {
		elems = tu
	}
	if n, ok := elems[0].(term.Integer); ok {
		c := n.Int64()
		if !n.IsInt64() || c < 0 || c > 999 {
			return b, fmt.Errorf("numeric %s is not three digits", n)
		}
		b = fmt.Appendf(b, "%03d", c)
	} else {
		s, err := wordText(elems[0], true)
		if err != nil {
			return b, err
		}
		if s == "" || strings.ContainsRune(s, ' ') || s[0] == '@' || s[0] == ':' {
			return b, fmt.Errorf("command %q is not one word that starts neither @ (tags) nor : (a prefix)", s)
		}
		b = append(b, s...)
	}
	for i, e := range elems[1:] {
		s, err := wordText(e, false)
		if err != nil {
			return b, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		b = append(b, ' ')
		if i == len(elems)-2 {
			// The last parameter goes after a colon when it must (a space,
			// empty, a leading colon) or is text (several words).
			if s == "" || strings.Contains(s, " ") || s[0] == ':' {
				b = append(b, ':')
			}
		} else if s == "" || strings.Contains(s, " ") || s[0] == ':' {
			return b, fmt.Errorf("parameter %d, %q, is not one word: only the last parameter may be", i+1, s)
		}
		b = append(b, s...)
	}
	return append(b, '\r', '\n'), nil
}

// memcachedEncodeCommand: the verb as written (memcached's verbs are
// case-sensitive); a binary last element is the data block.
func memcachedEncodeCommand(b []byte, t term.Term) ([]byte, error) {
	if tu, ok := t.(term.Tuple); ok && len(tu) > 1 {
		if block, ok := tu[len(tu)-1].(term.Binary); ok {
			b, err := appendWords(b, tu[:len(tu)-1], false, false)
			b = append(append(b, block...), '\r', '\n')
			return b, err
		}
	}
	return appendWords(b, t, false, false)
}

func memcachedEncodeReply(b []byte, t term.Term) ([]byte, error) {
	l, ok := t.(term.List)
	if !ok {
		return memcachedEncodeLine(b, t)
	}
	for i, e := range l {
		var err error
		if b, err = memcachedEncodeLine(b, e); err != nil {
			return b, fmt.Errorf("element %d: %w", i+1, err)
		}
	}
	return append(b, "END\r\n"...), nil
}

// memcachedEncodeLine writes one answer line: an integer, an atom in upper
// case, {error, Text} and the like, or {word, Word, ..., [Data]}.
func memcachedEncodeLine(b []byte, t term.Term) ([]byte, error) {
	if n, ok := t.(term.Integer); ok {
		return append(append(b, n.String()...), '\r', '\n'), nil
	}
	tu, ok := t.(term.Tuple)
	if !ok || len(tu) < 2 {
		return appendWords(b, t, true, false)
	}
	switch tu[0] {
	case term.Term(atomError), term.Term(atomClientError), term.Term(atomServerError):
		if len(tu) == 2 {
			s, err := oneLine(tu[1])
			b = append(b, asciiUpper(string(tu[0].(term.Atom)))...)
			return append(append(append(b, ' '), s...), '\r', '\n'), err
		}
	}
	if block, ok := tu[len(tu)-1].(term.Binary); ok {
		b, err := appendWords(b, tu[:len(tu)-1], true, false)
		return append(append(b, block...), '\r', '\n'), err
	}
	return appendWords(b, t, true, false)
}

// lineEncode: the first word as written (an integer's digits), the others
// one word each.
func lineEncode(b []byte, t term.Term) ([]byte, error) {
	if t == term.Term(term.Atom("")) {
		return append(b, '\r', '\n'), nil
	}
	return appendWords(b, t, false, false)
}

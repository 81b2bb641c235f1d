package json

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/carve"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/intern"
)

// Decoder reads newline-delimited JSON: one value per line. It reuses one
// buffer for the lines it reads, so a line may arrive in any number of
// reads.
type Decoder struct {
	// rd holds the lines: rd.Start is the first byte of the current
	// line, rd.Pos where to look for its end next.
	rd     bufread.Reader
	fields func(string) []string
	err    error // sticky

	p       parser
	strs    intern.Cache[term.Term]     // short strings (object keys mostly)
	atoms   intern.Cache[term.Term]     // atoms of {"$A": name}
	entries []term.MapEntry             // scratch for objects being read
	elems   []term.Term                 // scratch for arrays being read
	elemsAt carve.Slices[term.Term]     // the elements of small arrays
	entsAt  carve.Slices[term.MapEntry] // the entries of small objects
}

const (
	maxInternLen = 32
	cacheSize    = 512
	keepScratch  = 4096 // larger scratch is dropped between lines
)

// NewDecoder returns a decoder reading newline-delimited JSON from r within
// opts.Limits (zero limits take their defaults). opts.RecordFields, when
// set, orders the fields of {"$R": name, ...} objects.
func NewDecoder(r io.Reader, opts wrappers.Options) *Decoder {
	return newDecoder(bufread.New(r, opts.Limits.WithDefaults(), "json"), opts.RecordFields)
}

// newDecoder returns a decoder reading rd, fields ordering the fields of
// records.
func newDecoder(rd bufread.Reader, fields func(string) []string) *Decoder {
	d := &Decoder{rd: rd, fields: fields,
		strs: intern.New[term.Term](cacheSize, maxInternLen), atoms: intern.New[term.Term](cacheSize, maxInternLen)}
	d.p.d = d
	return d
}

// park returns what a decoder that goes on with the stream needs (see
// wrappers.Parker), when it holds nothing else: no error kept, and its
// reader has nothing buffered.
func (d *Decoder) park() (bufread.Parked, bool) {
	if d.err != nil {
		return bufread.Parked{}, false
	}
	return d.rd.Park()
}

// Frame returns the next line's value and the bytes of the line, its
// newline included. For a line holding only white space it returns a nil
// term. raw is only valid until the next call. At the end of the stream
// it returns io.EOF; a last line without a newline is read as a line. A
// malformed or over-limit line gives a *wrappers.FrameError, and every later
// call returns it again. wrappers.ErrWouldBlock from the reader is returned
// (wrapped) and not kept: the next call looks for the line's end from
// where it stopped.
func (d *Decoder) Frame() (t term.Term, raw []byte, err error) {
	if d.err != nil {
		return nil, nil, d.err
	}
	rd := &d.rd
	if rd.Pos == rd.End {
		if cap(d.elems) > keepScratch {
			d.elems = nil
		}
		if cap(d.entries) > keepScratch {
			d.entries = nil
		}
	}
	rd.Begin()
	for {
		if i := bytes.IndexByte(rd.Buf[rd.Pos:rd.End], '\n'); i >= 0 {
			lineEnd := rd.Pos + i + 1
			if lineEnd-rd.Start > rd.Lim.MaxFrame {
				return nil, nil, d.fail(d.limitAt(rd.Start+rd.Lim.MaxFrame, "line longer than %d bytes", rd.Lim.MaxFrame))
			}
			t, err := d.parseLine(rd.Start, rd.Pos+i)
			if err != nil {
				return nil, nil, d.fail(err)
			}
			rd.Pos = lineEnd
			return t, rd.Raw(), nil
		}
		rd.Pos = rd.End
		if rd.End-rd.Start > rd.Lim.MaxFrame {
			return nil, nil, d.fail(d.limitAt(rd.Start+rd.Lim.MaxFrame, "line longer than %d bytes", rd.Lim.MaxFrame))
		}
		if err := rd.Err(); err == io.EOF {
			if rd.Start == rd.End {
				return nil, nil, d.fail(io.EOF)
			}
			t, err := d.parseLine(rd.Start, rd.End)
			if err != nil {
				return nil, nil, d.fail(err)
			}
			return t, rd.Raw(), nil
		} else if err == wrappers.ErrParked {
			return nil, nil, fmt.Errorf("json: reading: %w", err) // not kept (see wrappers.ErrParked)
		} else if err != nil {
			return nil, nil, d.fail(fmt.Errorf("json: reading: %w", err))
		}
		// Fill's error is rd.Err(), handled above once the bytes before it
		// are used, but for wrappers.ErrWouldBlock, which is not kept:
		// the next call goes on looking for the newline from rd.Pos.
		if err := rd.Fill(); wrappers.IsWouldBlock(err) {
			rd.Hold()
			return nil, nil, err // bare: the usual end of a wakeup allocates nothing
		}
	}
}

func (d *Decoder) fail(err error) error {
	d.err = err
	return err
}

func (d *Decoder) errorAt(i int, format string, args ...any) error {
	return d.rd.ErrAt(d.rd.Offset(i), format, args...)
}

func (d *Decoder) limitAt(i int, format string, args ...any) error {
	return d.rd.LimitAt(d.rd.Offset(i), format, args...)
}

// parseLine reads the value in buf[from:to] (to is the newline or the end
// of the stream); nil for a blank line.
func (d *Decoder) parseLine(from, to int) (term.Term, error) {
	p := &d.p
	p.b = d.rd.Buf[:to]
	p.i = from
	p.skipSpace()
	if p.i == to {
		return nil, nil
	}
	t, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != to {
		return nil, d.errorAt(p.i, "unexpected %s after the value (one JSON value per line)", describe(p.b, p.i))
	}
	return t, nil
}

// Decode reads exactly one JSON value from b (white space may surround it,
// newlines included) within the limits of opts.
func Decode(b []byte, opts wrappers.Options) (term.Term, error) {
	d := NewDecoder(nil, opts)
	d.rd = bufread.Bytes(b, d.rd.Lim, "json")
	p := &d.p
	p.b = b
	p.skipSpaceNL()
	if p.i == len(b) {
		return nil, d.errorAt(p.i, "no JSON value in the input")
	}
	if len(b) > d.rd.Lim.MaxFrame {
		return nil, d.limitAt(d.rd.Lim.MaxFrame, "input longer than %d bytes", d.rd.Lim.MaxFrame)
	}
	t, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpaceNL()
	if p.i != len(b) {
		return nil, d.errorAt(p.i, "unexpected %s after the value", describe(b, p.i))
	}
	return t, nil
}

func describe(b []byte, i int) string {
	if i >= len(b) || b[i] == '\n' {
		return "end of line"
	}
	c := b[i]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

type parser struct {
	d *Decoder
	b []byte
	i int
}

func (p *parser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) skipSpaceNL() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
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

var (
	atomTrue  term.Term = term.Atom("true")
	atomFalse term.Term = term.Atom("false")
	atomNull  term.Term = term.Atom("null")
	emptyList term.Term = term.List{}
	emptyMap  term.Term = term.Map{}
)

func (p *parser) value(depth int) (term.Term, error) {
	if p.i >= len(p.b) {
		return nil, p.d.errorAt(p.i, "expected a value, found end of line")
	}
	switch c := p.b[p.i]; c {
	case '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return p.d.intern(s), nil
	case '{':
		return p.object(depth + 1)
	case '[':
		return p.array(depth + 1)
	case 't':
		return p.literal("true", atomTrue)
	case 'f':
		return p.literal("false", atomFalse)
	case 'n':
		return p.literal("null", atomNull)
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return p.number()
		}
	}
	return nil, p.d.errorAt(p.i, "expected a value, found %s", describe(p.b, p.i))
}

func (p *parser) literal(word string, t term.Term) (term.Term, error) {
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return t, nil
	}
	return nil, p.d.errorAt(p.i, "expected %s", word)
}

// Blocks of small arrays and objects (see package carve), 2 KiB each.
const (
	elemsBlock   = 128
	entriesBlock = 64
)

// atom returns the atom named s. Atoms and short strings go through
// caches (see package intern).
func (d *Decoder) atom(s term.String) term.Term {
	t, _ := d.atoms.GetString(string(s), newAtom)
	return t
}

func (d *Decoder) intern(s []byte) term.Term {
	t, _ := d.strs.Get(s, newString)
	return t
}

func newAtom(s string) term.Term   { return term.Atom(s) }
func newString(s string) term.Term { return term.String(s) }

// str reads a string at p.i and returns its bytes, which may alias the
// input buffer or the parser's scratch; the caller copies them.
func (p *parser) str() ([]byte, error) {
	open := p.i
	p.i++
	start := p.i
	b := p.b
	for i := start; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			if i-start > p.d.rd.Lim.MaxBinary {
				return nil, p.d.limitAt(open, "string longer than %d bytes", p.d.rd.Lim.MaxBinary)
			}
			p.i = i + 1
			return b[start:i], nil
		}
		if c == '\\' || c < 0x20 {
			p.i = i
			return p.strSlow(open, start)
		}
	}
	return nil, p.d.errorAt(open, "unterminated string")
}

func (p *parser) strSlow(open, start int) ([]byte, error) {
	b := p.b
	out := make([]byte, 0, p.i-start+16)
	out = append(out, b[start:p.i]...)
	for p.i < len(b) {
		c := b[p.i]
		switch {
		case c == '"':
			p.i++
			if len(out) > p.d.rd.Lim.MaxBinary {
				return nil, p.d.limitAt(open, "string longer than %d bytes", p.d.rd.Lim.MaxBinary)
			}
			return out, nil
		case c < 0x20:
			if c == '\n' {
				return nil, p.d.errorAt(open, "unterminated string")
			}
			return nil, p.d.errorAt(p.i, "control character 0x%02x in a string must be escaped", c)
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(b) {
			return nil, p.d.errorAt(open, "unterminated string")
		}
		e := b[p.i+1]
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, p.i+2)
			if !ok {
				return nil, p.d.errorAt(p.i, `\u needs four hex digits`)
			}
			p.i += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if p.i+1 < len(b) && b[p.i] == '\\' && b[p.i+1] == 'u' {
					r2, ok2 = hex4(b, p.i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					p.i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, p.d.errorAt(p.i, `unknown escape \%c`, e)
		}
		p.i += 2
	}
	return nil, p.d.errorAt(open, "unterminated string")
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a JSON number: without a fraction or exponent it is an
// integer of any size, otherwise a float.
func (p *parser) number() (term.Term, error) {
	b := p.b
	start := p.i
	i := p.i
	neg := false
	if b[i] == '-' {
		neg = true
		i++
	}
	ds := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	nd := i - ds
	if nd == 0 {
		return nil, p.d.errorAt(start, "'-' is not followed by digits")
	}
	if nd > 1 && b[ds] == '0' {
		return nil, p.d.errorAt(start, "a number may not start with 0")
	}
	isFloat := false
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == fs {
			return nil, p.d.errorAt(i, "expected digits after '.'")
		}
		isFloat = true
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		es := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == es {
			return nil, p.d.errorAt(i, "expected digits in the exponent")
		}
		isFloat = true
	}
	p.i = i
	if isFloat {
		if i-start > 1000 {
			return nil, p.d.limitAt(start, "number longer than 1000 characters")
		}
		f, err := strconv.ParseFloat(string(b[start:i]), 64)
		if err != nil {
			return nil, p.d.errorAt(start, "number %s is out of range for a float", b[start:i])
		}
		return term.Float(f), nil
	}
	if nd <= 18 {
		var v int64
		for _, c := range b[ds:i] {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		if v >= -1 && v <= 255 {
			return smallInts[v+1], nil
		}
		return term.Int(v), nil
	}
	if nd > p.d.rd.Lim.MaxIntDigits {
		return nil, p.d.limitAt(start, "integer longer than %d digits", p.d.rd.Lim.MaxIntDigits)
	}
	v, ok := term.ParseInteger(string(b[start:i]))
	if !ok {
		return nil, p.d.errorAt(start, "bad integer")
	}
	return v, nil
}

func (p *parser) array(depth int) (term.Term, error) {
	if depth > p.d.rd.Lim.MaxDepth {
		return nil, p.d.limitAt(p.i, "values nested more than %d deep", p.d.rd.Lim.MaxDepth)
	}
	p.i++
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return emptyList, nil
	}
	d := p.d
	mark := len(d.elems)
	for {
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			d.elems = d.elems[:mark]
			return nil, err
		}
		d.elems = append(d.elems, v)
		p.skipSpace()
		if p.i < len(p.b) {
			switch p.b[p.i] {
			case ',':
				p.i++
				continue
			case ']':
				p.i++
				l := term.List(d.elemsAt.Cut(len(d.elems)-mark, elemsBlock))
				copy(l, d.elems[mark:])
				clear(d.elems[mark:])
				d.elems = d.elems[:mark]
				return l, nil
			}
		}
		d.elems = d.elems[:mark]
		return nil, d.errorAt(p.i, "expected ',' or ']' in an array, found %s", describe(p.b, p.i))
	}
}

func (p *parser) object(depth int) (term.Term, error) {
	if depth > p.d.rd.Lim.MaxDepth {
		return nil, p.d.limitAt(p.i, "values nested more than %d deep", p.d.rd.Lim.MaxDepth)
	}
	open := p.i
	p.i++
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return emptyMap, nil
	}
	d := p.d
	mark := len(d.entries)
	fail := func(err error) (term.Term, error) {
		clear(d.entries[mark:])
		d.entries = d.entries[:mark]
		return nil, err
	}
	for {
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return fail(d.errorAt(p.i, "expected a string for an object key, found %s", describe(p.b, p.i)))
		}
		ks, err := p.str()
		if err != nil {
			return fail(err)
		}
		k := d.intern(ks)
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return fail(d.errorAt(p.i, "expected ':' after an object key, found %s", describe(p.b, p.i)))
		}
		p.i++
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return fail(err)
		}
		d.entries = append(d.entries, term.MapEntry{Key: k, Value: v})
		p.skipSpace()
		if p.i < len(p.b) {
			switch p.b[p.i] {
			case ',':
				p.i++
				continue
			case '}':
				p.i++
				t, err := d.jsf(d.entries[mark:], open)
				if err != nil {
					return fail(err)
				}
				clear(d.entries[mark:])
				d.entries = d.entries[:mark]
				return t, nil
			}
		}
		return fail(d.errorAt(p.i, "expected ',' or '}' in an object, found %s", describe(p.b, p.i)))
	}
}

// jsf turns an object into a term: the JSF forms {"$A": name} (an atom),
// {"$T": [...]} (a tuple), {"$R": name, field: value, ...} (a record) and
// our {"$B": base64} (a binary); any other object is a map. An object
// that has one of those keys but not the right shape is a map too.
func (d *Decoder) jsf(es []term.MapEntry, at int) (term.Term, error) {
	if len(es) == 1 {
		k := es[0].Key.(term.String)
		switch k {
		case "$A":
			if s, ok := es[0].Value.(term.String); ok {
				return d.atom(s), nil
			}
		case "$T":
			if l, ok := es[0].Value.(term.List); ok {
				return term.Tuple(l), nil
			}
		case "$B":
			if s, ok := es[0].Value.(term.String); ok {
				b, err := base64.StdEncoding.DecodeString(string(s))
				if err != nil {
					return nil, d.errorAt(at, "{\"$B\": ...} holds bad base64: %v", err)
				}
				return term.Binary(b), nil
			}
		}
	}
	for i, e := range es {
		if e.Key.(term.String) != "$R" {
			continue
		}
		name, ok := e.Value.(term.String)
		if !ok {
			break
		}
		return d.record(string(name), es, i, at)
	}
	m := term.Map(d.entsAt.Cut(len(es), entriesBlock))
	copy(m, es)
	return m, nil
}

// record builds {name, v1, ...}: in the contract's field order when
// RecordFields knows the record (a missing field is 'undefined', as in an
// Erlang record), otherwise in the object's order.
func (d *Decoder) record(name string, es []term.MapEntry, skip, at int) (term.Term, error) {
	var order []string
	if d.fields != nil {
		order = d.fields(name)
	}
	if order == nil {
		t := make(term.Tuple, 0, len(es))
		t = append(t, term.Atom(name))
		for i, e := range es {
			if i != skip {
				t = append(t, e.Value)
			}
		}
		return t, nil
	}
	t := make(term.Tuple, len(order)+1)
	t[0] = term.Atom(name)
	for i := range order {
		t[i+1] = term.Atom("undefined")
	}
	for i, e := range es {
		if i == skip {
			continue
		}
		k := string(e.Key.(term.String))
		found := false
		for j, f := range order {
			if f == k {
				t[j+1] = e.Value
				found = true
				break
			}
		}
		if !found {
			return nil, d.errorAt(at, "record %s has no field %q", name, k)
		}
	}
	return t, nil
}

// Trim implements wrappers.Trimmer.
func (d *Decoder) Trim() {
	d.entries, d.elems, d.p.b = nil, nil, nil
	d.elemsAt, d.entsAt = carve.Slices[term.Term]{}, carve.Slices[term.MapEntry]{}
	d.strs.Reset()
	d.atoms.Reset()
}

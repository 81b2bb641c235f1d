// Package json is the newline-delimited JSON wire format: each line holds
// one JSON value, which is one message. CRLF line ends are accepted; a line
// holding only white space is a Filler message; a value may not span lines
// and a line may not hold two values.
//
// # Values
//
// JSON becomes a term as the contract language says (section 8): a string
// is a String, a number without a fraction or exponent an Integer of any
// size (up to Limits.MaxIntDigits digits), any other number a Float, true
// and false those atoms, null the atom null, an array a List and an object
// a Map whose keys are Strings, in the object's order. ubf's JSF objects are
// understood: {"$A": "name"} is an atom, {"$T": [...]} a tuple and
// {"$R": "rec", "f1": v1, ...} the record tuple {rec, v1, ...}. A record's
// fields are put in the order wrappers.Options.RecordFields gives for rec
// (a field the object lacks is 'undefined'; a field the record lacks is an
// error); without it, or when it does not know rec, they keep the object's
// order. We add {"$B": "base64"} for a binary, which JSON lacks. An object
// with one of these keys but not the right shape ({"$A": 1}) is a map.
// Bytes in a string that are not UTF-8 are kept as they are.
//
// Encode and AppendEncode write a term back: true, false and null as JSON's
// literals, other atoms as {"$A": ...}, tuples as {"$T": [...]}, binaries
// as {"$B": ...}, maps as objects (keys must be strings or atoms, and an
// atom key comes back as a string), floats with a '.' or an exponent so
// they read back as floats. Decoding what Encode wrote gives the term back,
// except for atom map keys and for maps whose only key is "$A", "$T", "$B"
// or that have a "$R" key.
//
// # Messages
//
// Lines from the client are calls and lines from the server replies, in
// order. An event, in either direction, is the object {"$E": value}; the
// message's term is value. JSON has no greeting.
//
// # Error replies
//
// A contract violation is reported to the client as one line:
//
//	{"error": "clientBrokeContract", "message": <the offending message as JSON, or null>,
//	 "expected": ["<type in contract notation>", ...], "state": "ready | atEof",
//	 "explanation": "<why it did not match>"}
//
// with "serverBrokeContract" when the service broke it, and then also
// "request": <the request it was answering> when that is known. "state"
// names the states the session was in, joined by " | " as a contract
// writes them ("" when unknown). A message whose text is longer than
// wrappers.MaxEcho is sent as that text, truncated, as a JSON string
// (wrappers.Echo): a small frame can stand for a huge term, and an error
// reply must not amplify it.
package json

import (
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// Wire is the newline-delimited JSON wire format.
type Wire struct{}

// Name implements wrappers.Wire.
func (Wire) Name() string { return "json" }

// NewSession implements wrappers.Wire.
func (Wire) NewSession(opts wrappers.Options) wrappers.Session { return NewSession(opts) }

// Session is the codec of one JSON connection. The two directions share
// nothing, so it only holds the options.
type Session struct {
	opts wrappers.Options
}

// NewSession returns the codec of one connection.
func NewSession(opts wrappers.Options) *Session {
	opts.Limits = opts.Limits.WithDefaults()
	return &Session{opts: opts}
}

// ClientDecoder implements wrappers.Session.
func (s *Session) ClientDecoder(r io.Reader) wrappers.Decoder {
	return &msgDecoder{s: s, d: NewDecoder(r, s.opts), kind: wrappers.Call}
}

// ServerDecoder implements wrappers.Session.
func (s *Session) ServerDecoder(r io.Reader) wrappers.Decoder {
	return &msgDecoder{s: s, d: NewDecoder(r, s.opts), kind: wrappers.Reply}
}

// ErrorReply implements wrappers.Session.
func (s *Session) ErrorReply(v wrappers.Violation) []byte { return ErrorReply(v) }

type msgDecoder struct {
	s    *Session
	d    *Decoder
	kind wrappers.Kind
}

// Trim implements wrappers.Trimmer.
func (m *msgDecoder) Trim() { m.d.Trim() }

// Park implements wrappers.Parker.
func (m *msgDecoder) Park() wrappers.Parked {
	rd, ok := m.d.park()
	if !ok {
		return nil
	}
	return &parked{s: m.s, rd: rd, kind: m.kind}
}

// parked is a decoder that parked (wrappers.Parker): what a new one needs
// to go on, a few words where the decoder is several hundred bytes.
type parked struct {
	s    *Session
	rd   bufread.Parked
	kind wrappers.Kind
}

// Resume implements wrappers.Parked.
func (p *parked) Resume(r io.Reader) wrappers.Decoder {
	d := newDecoder(p.rd.Resume(r, p.s.opts.Limits, "json"), p.s.opts.RecordFields)
	return &msgDecoder{s: p.s, d: d, kind: p.kind}
}

func (m *msgDecoder) Next() (wrappers.Message, error) {
	t, raw, err := m.d.Frame()
	if err != nil {
		return wrappers.Message{}, err
	}
	if t == nil {
		return wrappers.Message{Kind: wrappers.Filler, Raw: raw}, nil
	}
	if e, ok := t.(term.Map); ok && len(e) == 1 && e[0].Key == term.Term(term.String("$E")) {
		return wrappers.Message{Kind: wrappers.Event, Term: e[0].Value, Raw: raw}, nil
	}
	return wrappers.Message{Kind: m.kind, Term: t, Raw: raw}, nil
}

// ErrorReply returns the line reporting v to the client (see the package
// documentation for its shape).
func ErrorReply(v wrappers.Violation) []byte {
	who := "clientBrokeContract"
	if v.Side == wrappers.Server {
		who = "serverBrokeContract"
	}
	b := []byte(`{"error":`)
	b = appendString(b, who)
	b = append(b, `,"message":`...)
	b = appendEcho(b, v.Message)
	if v.Side == wrappers.Server && v.Request != nil {
		b = append(b, `,"request":`...)
		b = appendEcho(b, v.Request)
	}
	b = append(b, `,"expected":[`...)
	for i, e := range v.Expected {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e)
	}
	b = append(b, `],"state":`...)
	b = appendString(b, strings.Join(v.States, " | "))
	b = append(b, `,"explanation":`...)
	b = appendString(b, v.Explanation)
	return append(b, "}\n"...)
}

// appendEcho appends t as an error reply echoes it (wrappers.Echo), or
// null for nil.
func appendEcho(b []byte, t term.Term) []byte {
	t = wrappers.Echo(t)
	if t == nil {
		return append(b, "null"...)
	}
	if mb, err := AppendEncode(b, t); err == nil {
		return mb
	}
	// Something JSON cannot carry (a NaN): send the term's text.
	return appendString(b, term.Truncated(t, wrappers.MaxEcho))
}

// Encode writes t to w as one line of JSON.
func Encode(w io.Writer, t term.Term) error {
	b, err := AppendEncode(nil, t)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// AppendEncode appends t as JSON (see the package documentation for the
// mapping) to dst and returns the extended slice, or dst unchanged and an
// error when t holds something JSON cannot carry: a float that is not
// finite, or a map key that is not a string or an atom.
func AppendEncode(dst []byte, t term.Term) ([]byte, error) {
	out, err := appendValue(dst, t, 0)
	if err != nil {
		return dst, err
	}
	return out, nil
}

const maxEncodeDepth = 100000

func appendValue(b []byte, t term.Term, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return b, fmt.Errorf("json: term nested more than %d deep", maxEncodeDepth)
	}
	var err error
	switch v := t.(type) {
	case term.Atom:
		switch v {
		case "true", "false", "null":
			return append(b, v...), nil
		}
		b = append(b, `{"$A":`...)
		b = appendString(b, string(v))
		return append(b, '}'), nil
	case term.String:
		return appendString(b, string(v)), nil
	case term.Integer:
		if v.IsInt64() {
			return strconv.AppendInt(b, v.Int64(), 10), nil
		}
		return append(b, v.Text()...), nil
	case term.Float:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return b, fmt.Errorf("json: the float %s has no JSON encoding", v)
		}
		start := len(b)
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
		for _, c := range b[start:] {
			if c == '.' || c == 'e' {
				return b, nil
			}
		}
		return append(b, ".0"...), nil
	case term.Binary:
		b = append(b, `{"$B":"`...)
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, `"}`...), nil
	case term.Tuple:
		b = append(b, `{"$T":`...)
		if b, err = appendArray(b, v, depth); err != nil {
			return b, err
		}
		return append(b, '}'), nil
	case term.List:
		return appendArray(b, v, depth)
	case term.Map:
		b = append(b, '{')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			switch k := e.Key.(type) {
			case term.String:
				b = appendString(b, string(k))
			case term.Atom:
				b = appendString(b, string(k))
			default:
				return b, fmt.Errorf("json: map key %s is not a string or an atom", term.Truncated(e.Key, 60))
			}
			b = append(b, ':')
			if b, err = appendValue(b, e.Value, depth+1); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case nil:
		return b, fmt.Errorf("json: cannot encode a nil term")
	}
	return b, fmt.Errorf("json: cannot encode %T", t)
}

func appendArray(b []byte, ts []term.Term, depth int) ([]byte, error) {
	b = append(b, '[')
	for i, e := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, e, depth+1); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string: the quote, the backslash and
// control characters are escaped, every other byte is written as it is
// (so bytes that are not UTF-8 survive a round trip through Decoder).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		b = append(b, s[last:i]...)
		last = i + 1
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	b = append(b, s[last:]...)
	return append(b, '"')
}

// Package line is the wire format of text protocols that send one message
// per line, ended by CRLF or LF: SMTP and LMTP first, and the protocols
// built the same way (FTP's control channel, NNTP, POP3).
//
// # Terms
//
// A client line is the tuple of its first word, lowercased, as an atom and
// its other words as strings: MAIL FROM:<a@b> SIZE=1000 is
// {mail, "FROM:<a@b>", "SIZE=1000"}. Words are separated by runs of spaces
// and tabs. A line of one word is the bare atom, as RESP and UBF write a
// message without arguments: QUIT is quit, DATA is data. An empty line is
// the atom with the empty name.
//
// A server line that starts with a three-digit code is {Code, Text}, Code
// an integer and Text the string after the code and its separator
// ("250 2.1.0 Ok" is {250, "2.1.0 Ok"}). A multi-line reply (250-first,
// 250-second, ... 250 last) is one message {250, ["first", "second", ...,
// "last"]}; a line in it with another code is a malformed frame. A server
// line without a code is read like a client line ("+OK ready" is
// {'+ok', "ready"}).
//
// SMTP's data phases are one message each:
//
//   - after the server's 354, the client's lines up to the lone "." are the
//     call {data, Body}: Body is a binary holding the message as the server
//     will store it — dot-stuffing undone ("..x" is ".x"), line ends kept,
//     the final "." line left out. Raw holds every byte, the "." line
//     included;
//   - after the server's 334 (an AUTH challenge), the client's next line is
//     {auth_response, "base64..."} (or {auth_response, "*"}, the cancel);
//   - BDAT Size [LAST] is read with the Size bytes that follow it, as
//     {bdat, "Size", Bytes} or {bdat, "Size", "LAST", Bytes}.
//
// # Classification
//
// Every client message is a call. A server message is the reply to the
// oldest outstanding call; the first server message is the greeting, an
// event (a contract declares it as +event start out {220, string()}.), and
// so is a server message while no call is outstanding (a 421 before the
// server closes). Wire{ClientFirst: true} is for protocols whose client
// speaks first: no greeting is expected.
//
// STARTTLS cannot be followed: once a TLS handshake starts, the bytes are
// no longer lines. A contract should not allow it (the proxy then answers
// it with the error reply), or TLS should end in front of the proxy.
package line

import (
	"io"
	"sync"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/intern"
)

// Wire is the line wire format. Its zero value expects the server to greet
// first, as SMTP, FTP, POP3, IMAP and NNTP servers do.
type Wire struct {
	// ClientFirst: the server sends no greeting; its first line is the
	// reply to the client's first line.
	ClientFirst bool
}

// Name implements wrappers.Wire.
func (Wire) Name() string { return "line" }

// NewSession implements wrappers.Wire.
func (w Wire) NewSession(opts wrappers.Options) wrappers.Session {
	return &Session{lim: opts.Limits.WithDefaults(), greeted: w.ClientFirst}
}

// next names what the client's next message is, as decided by the last
// server reply.
type next uint8

const (
	nextCommand next = iota
	nextData         // after 354
	nextAuth         // after 334
)

// Session is the codec of one connection: the server's replies decide how
// the client's next lines are read (354, 334), and the client's calls
// decide which server lines are replies. It implements wrappers.Session
// and wrappers.Dropper.
type Session struct {
	lim wrappers.Limits

	mu      sync.Mutex
	pending int  // calls without a reply yet
	greeted bool // the greeting was read (or none is expected)
	next    next
}

// ClientDecoder implements wrappers.Session.
func (s *Session) ClientDecoder(r io.Reader) wrappers.Decoder {
	return &clientDecoder{s: s, rd: bufread.New(r, s.lim, "line"), names: newInterner()}
}

// ServerDecoder implements wrappers.Session.
func (s *Session) ServerDecoder(r io.Reader) wrappers.Decoder {
	return &serverDecoder{s: s, rd: bufread.New(r, s.lim, "line"), names: newInterner()}
}

// Dropped implements wrappers.Dropper. A call the proxy did not forward
// gets no reply from the server; a 354 or 334 the client never saw does not
// make its next line a body or an AUTH response.
func (s *Session) Dropped(side wrappers.Side, m wrappers.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case side == wrappers.Client && m.Kind == wrappers.Call:
		if s.pending > 0 {
			s.pending--
		}
	case side == wrappers.Server && m.Kind == wrappers.Reply:
		if code, ok := replyCode(m.Term); ok && (code == 354 && s.next == nextData || code == 334 && s.next == nextAuth) {
			s.next = nextCommand
		}
	}
}

// replyCode returns the code of a server reply term {Code, Text}.
func replyCode(t term.Term) (int64, bool) {
	tu, ok := t.(term.Tuple)
	if !ok || len(tu) != 2 {
		return 0, false
	}
	i, ok := tu[0].(term.Integer)
	if !ok || !i.IsInt64() {
		return 0, false
	}
	return i.Int64(), true
}

// interner turns words into lowercased atoms without allocating for words
// seen before (see package intern).
type interner = intern.Cache[term.Atom]

func newInterner() interner { return intern.New[term.Atom](256, 64) }

func lowerAtom(word string) term.Atom {
	lower := make([]byte, len(word))
	for i := 0; i < len(word); i++ {
		c := word[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return term.Atom(lower)
}

// words splits a line at runs of spaces and tabs into the term described
// in the package comment.
func words(line []byte, names *interner) term.Term {
	var tu term.Tuple
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			break
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if tu == nil {
			a, _ := names.Get(line[i:j], lowerAtom)
			tu = term.Tuple{a}
		} else {
			tu = append(tu, term.String(line[i:j]))
		}
		i = j
	}
	switch len(tu) {
	case 0:
		return term.Atom("")
	case 1:
		return tu[0]
	}
	return tu
}

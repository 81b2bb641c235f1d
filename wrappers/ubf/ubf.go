// Package ubf is the wire format of Joe Armstrong's UBF: the UBF(A) data
// encoding and, on top of it, UBF(C)'s conversation rules as the ubf 2.x
// Erlang server speaks them.
//
// # UBF(A)
//
// Decoder reads UBF(A) as the byte-coded stack machine it is: integers of
// any size, "strings" and 'atoms' (a backslash makes the next byte
// literal; ubf writes only \" \' and \\ but reads a backslash before any
// byte, and so do we), binaries N~bytes~ (white space may come between N
// and '~'; any byte may be inside), tuples {...}, lists written last
// element first with '#' (push []) and '&' (cons the top onto the list
// under it), comments %...%, tags X`tag` (decoded as {'$TYPE', "tag", X},
// as ubf does), registers (>C pops the top of the stack into register C,
// any byte but a control character; a bare C pushes it again), and ',',
// space, tab, CR and LF as separators. '$' ends an object when exactly one
// item is on the stack. Any other control character is an error.
//
// Registers last for one object. ubf's driver starts each object with an
// empty register table (ubf_driver:decode/4 calls ubf:decode_init/2 after
// every object) and its encoder writes the register definitions of an
// object at its start, so a register used in a later object than the one
// that set it is an error here, as it is in ubf.
//
// The decoder works on one buffer that it reuses: a frame may be split
// across reads at any byte, even inside a binary's length. The bytes it
// consumed for a frame are returned with it, so forwarding them reproduces
// the stream exactly. Limits are checked before memory is spent: a
// binary's length against MaxBinary and the frame's remaining budget as
// soon as its '~' is read, strings and atoms against MaxBinary while they
// are read, nesting against MaxDepth, integers against MaxIntDigits, and
// the frame against MaxFrame. Registers let a small frame describe a huge
// term (a register holding a tuple of itself, twice, thirty times); the
// size of the term with every register use expanded is bounded by
// MaxFrame too, so what the checker walks is never larger than a frame
// without registers could be, and so are the elements copied when a frame
// conses onto a list taken from a register.
//
// The memory a frame costs is bounded by Limits.MaxFrameMemory. The
// decoder charges to the frame everything it allocates for it — each
// stack item (16 bytes, plus 12 for a tuple or list), each element of a
// tuple or list and of a list under construction (16), each boxed
// integer, string, atom, binary and tuple header, the growth of its
// working slices — and refuses the frame, with a limit error at the byte
// where it happened, once that is over the budget for the bytes read so
// far: 8 bytes per byte plus 1 MiB with the default limits. What the
// decoder holds while it decodes a frame of b bytes is thus at most
// 8b + 1 MiB, plus the read buffer (about 2b at most) and the scratch a
// decoder keeps between frames (a few dozen KiB at most). Cheap tokens
// cost what they cost and no more: '#' pushes a shared empty list (a list
// takes working storage only from its first '&'), "{}" a shared empty
// tuple, and an integer from -1 to 255 a shared boxed value. A decoder
// allocates its register table (256 bytes) at its first '>', and its
// caches of atoms and strings (4 KiB each) at their first use, so an idle
// decoder holds about 17 KiB, a quarter of it its read buffer.
//
// AppendEncode and Encode write canonical UBF(A): no registers, no tags,
// ',' between tuple elements, nothing between other tokens. Floats and maps
// cannot be encoded.
//
// # UBF(C)
//
// A Session classifies frames. From the client: {'event_in', E} is an Event
// whose Term is E; anything else is a Call. From the server: {'ubf1.0',
// Service, Help} as the first frame is the Greeting; {'event_out', E} is an
// Event whose Term is E; a reply is {Reply, NextState} with NextState an
// atom (Term is Reply, NextState its name), or, with Wire.SimpleRPC,
// the bare reply. The answer to the call 'contract' is {'contract',
// ContractTerm} without a state (the contract manager answers it itself):
// it is a Reply whose Term is the whole {'contract', ContractTerm} and whose
// NextState is "", meaning the state does not change. The session knows
// which reply answers 'contract' because ubf answers calls in order; a
// {'contract', X} reply whose X is not an atom is taken as such an answer
// even when that is not known; a proxy that drops a call it did not forward
// says so with Dropped (wrappers.Dropper) so that the pairing stays right.
// A server frame that fits none of these is a *wrappers.FrameError.
//
// ErrorReply writes ubf's own violation replies:
//
//	{{clientBrokeContract, Request, Expects}, State}$
//	{{serverBrokeContract, {Request, Reply}, Expects}, State}$
//
// The second is ubf's shape when the request the service was answering is
// known (Violation.Request); without it, {serverBrokeContract, Reply,
// Expects}. Expects is the list of the expected types as strings in the
// contract notation (ubf sends its internal type terms, which no client
// can read without ubf's code). State is the session's state as an atom,
// or a list of atoms when the session may be in several, or 'undefined'
// when none is known. When there was no message (a reply time-out, a
// malformed frame), Request or Reply is the explanation as a string (for a
// malformed frame, the decoder's error: what is wrong, and where), or
// 'undefined' when there is none; otherwise the explanation has no place
// in ubf's shape and is left out. A message whose text is longer than
// wrappers.MaxEcho is sent as that text, truncated, as a string
// (wrappers.Echo): a small frame can stand for a huge term (registers), and
// an error reply must not amplify it. With Wire.SimpleRPC the error reply is
// bare, {clientBrokeContract, Request, Expects}$, as ubf's own are in
// simple rpc. An illegal event (Violation.Event) gets the same error reply
// as a request: a proxy asks for one only when the event ends the session
// (kill mode), and the client may be waiting for the reply to a call.
package ubf

import (
	"io"
	"sync"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// Wire is the ubf wire format (UBF(A) frames, UBF(C) conversation).
type Wire struct {
	// SimpleRPC: the service's replies are bare, without {Reply,
	// NextState} (ubf's simple rpc).
	SimpleRPC bool
	// Meta: sessions begin in the service's meta service, as with a real
	// ubf 2.x server without a start plugin (see Prelude).
	Meta bool
}

// Name implements wrappers.Wire.
func (Wire) Name() string { return "ubf" }

// NewSession implements wrappers.Wire.
func (w Wire) NewSession(opts wrappers.Options) wrappers.Session {
	s := NewSession(opts)
	s.simpleRPC = w.SimpleRPC
	return s
}

// LockStep implements wrappers.LockStepper: the real ubf server drops a
// connection that sends two requests in one read.
func (Wire) LockStep() bool { return true }

// Session is the codec of one UBF(C) connection.
type Session struct {
	opts      wrappers.Options
	simpleRPC bool // Wire.SimpleRPC

	mu         sync.Mutex
	pending    []bool // one per call not yet answered: whether it was 'contract'
	serverSeen bool   // the server has sent a frame
}

// NewSession returns the codec of one connection whose replies carry
// their state (Wire.NewSession configures simple rpc).
func NewSession(opts wrappers.Options) *Session {
	opts.Limits = opts.Limits.WithDefaults()
	return &Session{opts: opts}
}

var (
	atomEventIn  = term.Atom("event_in")
	atomEventOut = term.Atom("event_out")
	atomHello    = term.Atom("ubf1.0")
	atomContract = term.Atom("contract")
)

// ClientDecoder implements wrappers.Session.
func (s *Session) ClientDecoder(r io.Reader) wrappers.Decoder {
	return &clientDecoder{s: s, d: NewDecoder(r, s.opts.Limits)}
}

// ServerDecoder implements wrappers.Session.
func (s *Session) ServerDecoder(r io.Reader) wrappers.Decoder {
	return &serverDecoder{s: s, d: NewDecoder(r, s.opts.Limits)}
}

type clientDecoder struct {
	s *Session
	d *Decoder
}

// Trim implements wrappers.Trimmer.
func (c *clientDecoder) Trim() { c.d.Trim() }

// Park implements wrappers.Parker.
func (c *clientDecoder) Park() wrappers.Parked { return c.s.park(c.d, false) }

func (c *clientDecoder) Next() (wrappers.Message, error) {
	t, raw, err := c.d.Frame()
	if err != nil {
		return wrappers.Message{}, err
	}
	if t == nil {
		return wrappers.Message{Kind: wrappers.Filler, Raw: raw}, nil
	}
	if tup, ok := t.(term.Tuple); ok && len(tup) == 2 && tup[0] == term.Term(atomEventIn) {
		return wrappers.Message{Kind: wrappers.Event, Term: tup[1], Raw: raw}, nil
	}
	c.s.mu.Lock()
	c.s.pending = append(c.s.pending, t == term.Term(atomContract))
	c.s.mu.Unlock()
	return wrappers.Message{Kind: wrappers.Call, Term: t, Raw: raw}, nil
}

type serverDecoder struct {
	s *Session
	d *Decoder
}

// Trim implements wrappers.Trimmer.
func (sd *serverDecoder) Trim() { sd.d.Trim() }

// Park implements wrappers.Parker.
func (sd *serverDecoder) Park() wrappers.Parked { return sd.s.park(sd.d, true) }

// parked is a decoder of either direction that parked (wrappers.Parker):
// what a new one needs to go on, a few words where the decoder is several
// hundred bytes.
type parked struct {
	s      *Session
	rd     bufread.Parked
	server bool
}

// park returns d parked, or nil when it cannot park now.
func (s *Session) park(d *Decoder, server bool) wrappers.Parked {
	rd, ok := d.park()
	if !ok {
		return nil
	}
	return &parked{s: s, rd: rd, server: server}
}

// Resume implements wrappers.Parked.
func (p *parked) Resume(r io.Reader) wrappers.Decoder {
	d := newDecoder(p.rd.Resume(r, p.s.opts.Limits, "ubf"))
	if p.server {
		return &serverDecoder{s: p.s, d: d}
	}
	return &clientDecoder{s: p.s, d: d}
}

func (sd *serverDecoder) Next() (wrappers.Message, error) {
	t, raw, err := sd.d.Frame()
	if err != nil {
		return wrappers.Message{}, err
	}
	// The frame's first byte, however many calls it took.
	at := sd.d.rd.Offset(sd.d.rd.Start)
	if t == nil {
		return wrappers.Message{Kind: wrappers.Filler, Raw: raw}, nil
	}
	s := sd.s
	s.mu.Lock()
	first := !s.serverSeen
	s.serverSeen = true
	s.mu.Unlock()
	tup, isTuple := t.(term.Tuple)
	if first && isTuple && len(tup) == 3 && tup[0] == term.Term(atomHello) {
		return wrappers.Message{Kind: wrappers.Greeting, Term: t, Raw: raw}, nil
	}
	if isTuple && len(tup) == 2 && tup[0] == term.Term(atomEventOut) {
		return wrappers.Message{Kind: wrappers.Event, Term: tup[1], Raw: raw}, nil
	}
	s.mu.Lock()
	contractCall := false
	if len(s.pending) > 0 {
		contractCall = s.pending[0]
		s.pending = s.pending[1:]
	}
	s.mu.Unlock()
	if s.simpleRPC {
		return wrappers.Message{Kind: wrappers.Reply, Term: t, Raw: raw}, nil
	}
	if isTuple && len(tup) == 2 {
		next, isAtom := tup[1].(term.Atom)
		if tup[0] == term.Term(atomContract) && (contractCall || !isAtom) {
			return wrappers.Message{Kind: wrappers.Reply, Term: t, Raw: raw}, nil
		}
		if isAtom {
			return wrappers.Message{Kind: wrappers.Reply, Term: tup[0], NextState: string(next), Raw: raw}, nil
		}
	}
	err = &wrappers.FrameError{Offset: at, Msg: "server frame " + term.Truncated(t, 80) +
		" is neither a reply {Reply, NextState} with an atom for the state, an event {'event_out', E}, nor the greeting {'ubf1.0', Service, Help}"}
	sd.d.err = err
	return wrappers.Message{}, err
}

// Dropped implements wrappers.Dropper: a call the proxy did not forward
// will get no reply, so it must not be paired with the next one.
func (s *Session) Dropped(side wrappers.Side, m wrappers.Message) {
	if side != wrappers.Client || m.Kind != wrappers.Call {
		return
	}
	s.mu.Lock()
	if n := len(s.pending); n > 0 {
		s.pending = s.pending[:n-1]
	}
	s.mu.Unlock()
}

var _ wrappers.Dropper = (*Session)(nil)

// ErrorReply implements wrappers.Session: ubf's
// {{clientBrokeContract, Request, Expects}, State}$ or
// {{serverBrokeContract, {Request, Reply}, Expects}, State}$, followed by a
// newline; with simple rpc, without the state.
func (s *Session) ErrorReply(v wrappers.Violation) []byte {
	return errorReply(v, s.simpleRPC)
}

// ErrorReply returns the UBF(C) frame reporting v, with the state (see the
// package documentation for its shape).
func ErrorReply(v wrappers.Violation) []byte { return errorReply(v, false) }

func errorReply(v wrappers.Violation, bare bool) []byte {
	tag := term.Atom("clientBrokeContract")
	if v.Side == wrappers.Server {
		tag = "serverBrokeContract"
	}
	msg := wrappers.Echo(v.Message)
	switch {
	case msg != nil:
	case v.Explanation != "":
		msg = term.String(v.Explanation)
	default:
		msg = term.Atom("undefined")
	}
	if v.Side == wrappers.Server && v.Request != nil {
		msg = term.Tuple{wrappers.Echo(v.Request), msg}
	}
	expects := make(term.List, len(v.Expected))
	for i, e := range v.Expected {
		expects[i] = term.String(e)
	}
	var state term.Term
	switch len(v.States) {
	case 0:
		state = term.Atom("undefined")
	case 1:
		state = term.Atom(v.States[0])
	default:
		l := make(term.List, len(v.States))
		for i, st := range v.States {
			l[i] = term.Atom(st)
		}
		state = l
	}
	report := term.Tuple{tag, msg, expects}
	var reply term.Term = term.Tuple{report, state}
	if bare {
		reply = report
	}
	b, err := AppendEncode(nil, reply)
	if err != nil {
		// The message holds something UBF(A) cannot carry (a float or a
		// map from another wire format): send its text instead.
		report[1] = term.String(term.Truncated(msg, wrappers.MaxEcho))
		b, _ = AppendEncode(nil, reply)
	}
	return append(b, '\n')
}

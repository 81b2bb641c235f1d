// Package wrappers defines what a wire format must provide so the proxy can
// check a service's traffic: framing one direction of a byte stream into
// messages, decoding each to a term while keeping its original bytes,
// classifying it (greeting, call, reply, event), and encoding the error
// replies the format has for contract violations. Each format lives in a
// sub-package (ubf, json, resp, and text for the line protocols); this package holds only the shared
// vocabulary and imports nothing but term and internal/violation (the
// words for a broken contract it shares with the checker).
//
// A decoder reads through an io.Reader that may be a Lender and may answer
// ErrParked between frames or ErrWouldBlock at any offset, mid-frame
// included: Next returns either without keeping it and goes on, at the
// next call, as if the stream had never stopped (docs/wires/writing-a-wire.md).
package wrappers

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ubfproxy/ubfproxy/internal/violation"
	"github.com/ubfproxy/ubfproxy/term"
)

// Kind classifies a decoded frame.
type Kind uint8

// Frame kinds.
const (
	// Filler is bytes that carry no message (white space or comments left
	// at the end of a stream). They are forwarded unchecked.
	Filler Kind = iota
	// Greeting is a frame of the wire format itself that the service sends
	// before any request (UBF(C)'s {'ubf1.0', Service, Help}); it is passed
	// through and not checked against the contract.
	Greeting
	// Call is a client request.
	Call
	// Reply is the server's answer to the oldest outstanding call.
	Reply
	// Event is an unsolicited message, from the client (the client
	// decoder) or from the server (the server decoder).
	Event
	// Unknown is a message whose wire does not say whether it is a call,
	// a reply, a transition or an event (text lines): the contract
	// decides (docs/language.md: transitions in both directions).
	Unknown
)

var kindNames = [...]string{Filler: "filler", Greeting: "greeting", Call: "call", Reply: "reply", Event: "event", Unknown: "unknown"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// Message is one decoded frame.
type Message struct {
	Kind Kind
	// Term is the message as the contract sees it: for a UBF(C) reply
	// {Reply, NextState}, only Reply.
	Term term.Term
	// NextState is the state the server announced with a reply, when the
	// wire format carries one (UBF(C) without simple rpc); "" otherwise.
	NextState string
	// Raw holds every byte the decoder consumed for this frame, including
	// separators before it, so that forwarding the Raw of every message
	// reproduces the stream byte for byte. It is only valid until the next
	// call to Next; copy it to keep it.
	Raw []byte
}

// Decoder reads the messages of one direction of a stream.
type Decoder interface {
	// Next returns the next message. At the end of the stream it returns
	// io.EOF (after a Filler message for any trailing separators). A
	// malformed frame gives a *FrameError; the stream cannot be read
	// further after it.
	Next() (Message, error)
}

// Side names a party to a conversation (violation.Side, the checker's
// Side too).
type Side = violation.Side

// The sides.
const (
	Client = violation.Client
	Server = violation.Server
)

// Violation is what a wire format needs to know to tell a client that the
// contract was broken.
type Violation struct {
	Side        Side
	Message     term.Term // the offending message, nil if there was none (e.g. a timeout)
	States      []string  // the states the session was in
	Expected    []string  // the expected types, in contract notation
	Explanation string    // why the message did not match, in words
	// Request is, for a violation by the service, the request it was
	// answering, when known (nil otherwise).
	Request term.Term
	// Event is true when Message was an unsolicited message (an event),
	// not a request or a reply. A format whose peers never expect an
	// answer to an event may then have no error reply to send.
	Event bool
}

// MaxEcho bounds the text of a message an error reply echoes: a frame of a
// few kilobytes can stand for a term of megabytes (UBF(A) registers, JSON
// references), and an error reply must not amplify what it reports.
const MaxEcho = 1024

// Echo returns t as an error reply carries it: t itself when its text
// notation is at most MaxEcho bytes long, or else that text cut to MaxEcho
// bytes and marked "..." (term.Truncated), as a String. It costs O(MaxEcho)
// plus the largest atom, string or binary in t, whatever t's size.
func Echo(t term.Term) term.Term {
	if t == nil {
		return nil
	}
	if s := term.Truncated(t, MaxEcho); len(s) > MaxEcho {
		return term.String(s)
	}
	return t
}

// Session is one connection's codec: it makes the decoder of each direction
// and holds whatever the two directions must share (SMTP's DATA mode after
// the server's 354, RESP's subscriber mode).
type Session interface {
	// ClientDecoder decodes the bytes the client sends.
	ClientDecoder(r io.Reader) Decoder
	// ServerDecoder decodes the bytes the service sends.
	ServerDecoder(r io.Reader) Decoder
	// ErrorReply returns the bytes to send to the client to report v, or
	// nil when the format has no way to say it.
	ErrorReply(v Violation) []byte
}

// Wire is a wire format.
type Wire interface {
	// Name is the format's name on the command line (ubf, json, resp, smtp,
	// ftp, pop3, irc, memcached, line).
	Name() string
	// NewSession returns the codec of one connection.
	NewSession(opts Options) Session
}

// Options configure a wire format for one connection.
type Options struct {
	Limits Limits
	// RecordFields, when set, gives the field names of the record type
	// called name in the contract's order, or nil when the contract has no
	// such record. Formats that carry records as named fields (JSON's
	// {"$R": name, field: value, ...}) use it to order the tuple.
	RecordFields func(name string) []string
}

// Limits bound what a decoder accepts. They are checked before memory is
// allocated for the thing they bound.
type Limits struct {
	MaxFrame  int // bytes in one frame
	MaxDepth  int // nesting of tuples, lists and maps
	MaxBinary int // bytes in one binary or string
	// MaxIntDigits bounds the digits of one integer: converting a very
	// long integer costs time quadratic in its length.
	MaxIntDigits int
	// MaxFrameMemory bounds the memory a decoder may hold for one frame:
	// the term it builds and its working storage (stack, lists under
	// construction), as the decoder counts them; not the read buffer
	// that holds the frame's bytes, nor a decoder's fixed overhead of a
	// few KiB. The bound grows with the frame: it is MemoryFloor (or
	// MaxFrameMemory, if less) before the first byte, and grows linearly
	// to MaxFrameMemory at MaxFrame bytes. With the default, 8 times
	// MaxFrame plus MemoryFloor, a frame of b bytes may cost at most
	// 8b + 1 MiB: a flood of cheap tokens that would make a decoder
	// hold many times what was sent ('#' or "{}" repeated, each a
	// stack item and a term of 16 bytes or more) is refused after a
	// fraction of it. Ordinary data (integers, atoms, strings,
	// records) costs 3 to 7 bytes per byte; tuples of one-digit
	// integers or of register uses cost more and are refused once they
	// pass the MiB that any frame may cost. Decoders whose terms cannot
	// cost more than a small multiple of the frame need not count.
	MaxFrameMemory int
	// Budget, when set, is memory the decoders of many connections share
	// (a process-wide bound): a decoder asks it before it holds more than
	// BudgetFree bytes of read buffer or of decoding state, gives back
	// what it took when the frame ends, and refuses the frame with a
	// limit error when the budget says no. Nil means no shared bound.
	Budget Budget
}

// Budget is memory shared by many decoders. Its methods are called from
// the goroutines of many connections at once.
type Budget interface {
	// Take asks for n more bytes; it reports false, and takes nothing,
	// when they are not available.
	Take(n int64) bool
	// Give returns n bytes that Take granted.
	Give(n int64)
}

// BudgetFree is how much read buffer, and how much decoding state, one
// decoder may hold without asking Limits.Budget: the small frames of
// ordinary traffic never touch the shared budget.
const BudgetFree = 64 << 10

// MemoryFloor is the memory any frame may cost, however short, unless
// Limits.MaxFrameMemory is lower: a small frame may legitimately cost
// many times its size.
const MemoryFloor = 1 << 20

// DefaultLimits are the limits used when none are given.
func DefaultLimits() Limits {
	return Limits{MaxFrame: 16 << 20, MaxDepth: 1000, MaxBinary: 16 << 20, MaxIntDigits: 10000,
		MaxFrameMemory: 8*16<<20 + MemoryFloor}
}

// WithDefaults returns l with every zero limit replaced by its default.
// A zero MaxFrameMemory becomes 8 times MaxFrame plus MemoryFloor (after
// MaxFrame took its default), whatever MaxFrame is.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFrame <= 0 {
		l.MaxFrame = d.MaxFrame
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxBinary <= 0 {
		l.MaxBinary = d.MaxBinary
	}
	if l.MaxIntDigits <= 0 {
		l.MaxIntDigits = d.MaxIntDigits
	}
	if l.MaxFrameMemory <= 0 {
		l.MaxFrameMemory = math.MaxInt
		if l.MaxFrame <= (math.MaxInt-MemoryFloor)/8 {
			l.MaxFrameMemory = 8*l.MaxFrame + MemoryFloor
		}
	}
	return l
}

// FrameError reports a malformed or over-limit frame.
type FrameError struct {
	Offset int64  // byte offset in the stream where the problem was found
	Msg    string // what was wrong
	Limit  bool   // a limit was exceeded (rather than a syntax error)
	// Truncated: the stream ended inside the frame (the peer closed or
	// left mid-frame), rather than holding a wrong byte.
	Truncated bool
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("malformed frame at byte %d: %s", e.Offset, e.Msg)
}

// Dropper is implemented by a Session whose two decoders share state that
// depends on which messages actually reach the other side: RESP pairs each
// reply with the call it answers (to merge the confirmations of one
// SUBSCRIBE), and SMTP reads the client's next lines as a message body only
// after the server's 354 reached the client. A proxy that does not forward
// a message a decoder returned — reject mode drops an illegal call, or
// replaces an illegal reply by the error reply — must call Dropped with the
// side that sent it, before it asks that side's decoder for the next
// message, so the session can undo what the message set. Sessions without
// such state need not implement it.
type Dropper interface {
	Dropped(side Side, m Message)
}

// Bufferer is implemented by a Decoder that can tell how many bytes it has
// already read from its reader but not yet returned in a message. A proxy
// may hold back the Raw of the messages it forwards while more are
// buffered, and write them in one call once none are, so that a pipelined
// batch that arrived in one read also leaves in one write (one system call
// and one TCP segment instead of one per message).
type Bufferer interface {
	Buffered() int
}

// Recycler is implemented by a Decoder that can reuse the memory of the
// terms it returned. Decoders hand out terms that outlive their next step,
// so each message costs memory the garbage collector must find and free;
// a proxy that knows when the last reference to a message's term is gone
// (its reply was checked and the checker keeps none of it) gives the term
// back, and the decoder builds a later message in the same memory.
//
// Recycle(t) promises that t, the Term of a Message this decoder returned,
// and every part of it, are no longer referenced anywhere and will not be
// read again (a consumer may keep a message's atoms, as the checker keeps
// the last tag it looked up: a decoder builds no atom in memory it
// reuses), and that t is given back once only: the decoder may
// overwrite it at once, and build a later term in the same memory (which a
// second Recycle of t would give back while in use). A term the decoder
// cannot reuse is ignored. Like Next, Recycle is called from the decoder's
// own goroutine, never while Next runs.
type Recycler interface {
	Recycle(t term.Term)
}

// Batcher is implemented by a client Decoder that tells the server
// decoder of its Session about each message it returns (RESP: the call
// the next reply answers) through state the two decoders share under a
// lock, which two goroutines on two cores take in turn. After Batch, the
// decoder keeps what it would tell until Flush, so that a pipelined batch
// read at once takes that lock once, not once per message.
//
// A proxy that calls Batch, once and before the first Next, then owes the
// decoder a Flush before any byte of a message it returned reaches the
// server (a reply cannot come sooner), and before it calls the Session's
// Dropped for such a message. Like Next, Batch and Flush are called from
// the decoder's own goroutine. A decoder that parks (Parker) keeps
// batching in the one its Parked resumes.
type Batcher interface {
	Batch()
	Flush()
}

// Lender is implemented by an io.Reader that lends the buffers it reads
// into, so that a decoder holds no buffer while its connection is idle: a
// decoder with nothing buffered gives its buffer back (Return) and gets
// the next one with the next bytes (ReadLent), which waits for them
// without a buffer in hand. With thousands of idle connections, the read
// buffers are then as many as the connections that have bytes to decode.
//
// The bytes of a returned buffer may be overwritten by any other reader
// of the lender, so a decoder returns it only when nothing it has handed
// out (a Message's Raw) may still be read: at the start of the next
// message, when Raw has become invalid anyway.
type Lender interface {
	io.Reader
	// ReadLent waits until the stream has bytes or fails, then reads
	// them into a lent buffer, which it returns with the number of bytes
	// read (as Read does) when n > 0 or err == nil. It lends no buffer
	// (nil) when it returns n == 0 with an error.
	//
	// ReadLent, and Read, may return ErrWouldBlock instead of waiting
	// (and ReadLent ErrParked); see there for what a decoder does then.
	ReadLent() (buf []byte, n int, err error)
	// Return gives back a buffer ReadLent lent; the caller no longer uses
	// it.
	Return(buf []byte)
}

// ErrParked is what a Lender's ReadLent returns, having read nothing, when
// its owner stops waiting for input for now: a proxy lets an idle
// connection's reader go rather than keep it blocked in a read. ReadLent is
// only called with nothing buffered, between frames, so the decoder has
// nothing to keep: its Next returns ErrParked (wrapped or not, for
// errors.Is) and, unlike every other error, does not keep it; the next call
// of Next reads again and decodes the next frame as if nothing happened.
var ErrParked = errors.New("reading parked with nothing buffered")

// ErrWouldBlock is what a Lender's Read or ReadLent returns, having read
// nothing, when its owner must not wait for bytes now, though the stream
// may have more later: a proxy that decodes inside the callback of
// syscall.RawConn.Read finds the socket empty, returns from the callback
// so that the runtime's poller waits for it, and calls Next again when the
// socket is readable. It may come at any offset of the stream, between
// frames or in the middle of one, any number of times in a row.
//
// Unlike every other read error, a decoder does not keep it: its Next
// returns it (wrapped or not, for errors.Is) having consumed nothing a
// caller can see (no message; the session it shares with the other
// direction changed no more than a blocking read inside the same frame
// would have left it), and the next call of Next goes on from exactly
// where the stream stopped. A frame split by ErrWouldBlock decodes as if it had
// arrived whole: the same Kind, Term and Raw, and the same offsets in any
// later error. Bytes read before it stay buffered (a Bufferer counts
// them). A decoder may keep its scan state and go on scanning, or parse
// the frame again from its first byte; either way it must not count the
// frame's memory twice against Limits.Budget. Trim is not called after it:
// it may come in the middle of a frame.
var ErrWouldBlock error = &wouldBlockError{}

// wouldBlockError is ErrWouldBlock's type, its own so that IsWouldBlock
// can tell it by its type alone.
type wouldBlockError struct{ _ byte }

func (*wouldBlockError) Error() string { return "reading would block" }

// IsWouldBlock reports whether err is ErrWouldBlock, wrapped or not, as
// errors.Is does. ErrWouldBlock comes once per wakeup of a reader, and
// the check is a comparison of its type word: errors.Is, or even ==
// (which calls the runtime to compare two interfaces of the same type),
// cost more on that path.
func IsWouldBlock(err error) bool {
	if _, ok := err.(*wouldBlockError); ok {
		return true
	}
	return err != nil && errors.Is(err, ErrWouldBlock)
}

// Trimmer is implemented by a Decoder that keeps scratch between frames:
// stacks, caches and arenas sized by the frames it decoded. Trim lets go
// of it, leaving every term already decoded intact; it is called between
// frames, when a proxy parks an idle connection (see ErrParked), and
// costs the frames after it the allocations the scratch saved.
type Trimmer interface {
	Trim()
}

// Parker is implemented by a Decoder that can let go of all of itself
// while its connection is idle, not only of its scratch (Trimmer): a
// decoder is a few hundred bytes of state and hooks, of which an idle
// stream needs a few words. Park is called where Trim would be, after Next
// returned ErrParked; it returns those few words, or nil when the decoder
// cannot let go now (it holds part of a frame, or an error), and the
// caller then trims it. After a Park that returned a Parked, the decoder is
// not used again: Parked.Resume makes the one that decodes the rest of the
// stream exactly as the parked one would have (the same terms, and the
// same offsets in errors).
type Parker interface {
	Park() Parked
}

// Parked is what a Parker keeps of a parked decoder: not its reader,
// which the caller keeps anyway.
type Parked interface {
	// Resume returns the decoder that goes on with the stream read from
	// r, the reader the parked decoder read; it is called once.
	Resume(r io.Reader) Decoder
}

// LockStepper is implemented by a Wire whose services cannot take a request
// before they have answered the previous one, nor an event in the same read
// as a request (the real ubf 2.x server drops such a connection,
// docs/wires/ubf.md). A proxy then keeps one request outstanding
// towards the service and writes every message on its own.
type LockStepper interface {
	LockStep() bool
}

// Prelude is implemented by a Wire whose sessions may begin with a service
// of the wire's own before the guarded one: ubf's meta service, where a
// client asks for help, the list of services and their contracts, and
// then asks for the service it wants with {startSession, Name, Args}. A
// proxy checks that phase against the prelude's contract, and the guarded
// contract from the reply that starts the guarded service on.
type Prelude interface {
	// PreludeContract returns the contract of the prelude, in the contract
	// language, with a file name for the positions of its diagnostics; ok
	// is false when the wire, as configured, has no prelude.
	PreludeContract() (file string, src []byte, ok bool)
	// StartRequest returns the name of the service req asks to start,
	// when req is such a request.
	StartRequest(req term.Term) (service string, ok bool)
	// Started reports whether reply, the answer to a start request,
	// started the service.
	Started(reply term.Term) bool
	// StartExpected is the request that starts service, in contract
	// notation, as a violation record names what was expected.
	StartExpected(service string) string
	// GreetingService returns the service a greeting (a Greeting
	// message's Term) names, when it names one. A proxy with a contract
	// for that service starts it at once: the session is inside it
	// already (ubf's startplugin servers); a greeting naming another
	// (ubf's meta server) leaves the session in the prelude.
	GreetingService(greeting term.Term) (service string, ok bool)
}

// SelfReporter is implemented by a Wire whose services have a contract
// checker of their own and send its report in the place of a reply (ubf's
// clientBrokeContract and serverBrokeContract). Such a reply breaks the
// proxy's contract, yet it is the service's answer, not a fault: a proxy
// forwards it and records the report.
type SelfReporter interface {
	// SelfReport reports whether reply, answering req, is such a report,
	// and returns it: Side is who broke the contract in the service's
	// view; Message the offending message (req when the client broke it,
	// the service's own reply otherwise); Request, when the service broke
	// it, the request it answered; Explanation what the report says.
	SelfReport(reply, req term.Term) (Violation, bool)
}

// Package resp is the wire format of Redis: RESP2 and RESP3, as spoken by
// redis-server, its clients and the servers compatible with it (KeyDB,
// Valkey, Dragonfly).
//
// # Terms
//
// A client command, sent as an array of bulk strings or as an inline line
// (PING\r\n, with Redis's quoting rules), is the tuple of its lowercased
// name as an atom followed by its arguments as binaries: SET k v is
// {set, <<"k">>, <<"v">>}. A command without arguments is the bare atom,
// as in UBF: PING is ping, MULTI is multi, QUIT is quit. So a contract
// writes `ping -> pong` and `{ping, binary()} -> binary()`.
//
// Server frames become:
//
//	+OK, +PONG, +QUEUED    simple string: the atom of its lowercased text (ok, pong, queued)
//	-ERR x, !N blob error  {error, <<"ERR x">>}
//	:42, (12345...         integer (big numbers of any size)
//	$N bulk, $? streamed   binary
//	=N verbatim            binary, without its "txt:" format prefix
//	$-1, *-1, _            the atom nil
//	*N array, ~N set       list
//	%N map                 map (term.Map, keys in wire order)
//	,1.5 ,inf ,nan         float
//	#t, #f                 true, false
//	|N attribute           dropped: the term is the value it annotates; its bytes stay in Raw
//	>N push                an event: the tuple of its first element as a lowercased atom and the rest
//
// # Classification
//
// Every client frame is a call; every server frame is the reply to the
// oldest outstanding call, except:
//
//   - pushes (RESP3 >) and, while the connection is subscribed (RESP2), the
//     arrays "message", "pmessage" and "smessage" are events:
//     {message, Channel, Payload}, {pmessage, Pattern, Channel, Payload},
//     {smessage, Channel, Payload};
//   - the confirmations of one SUBSCRIBE (and PSUBSCRIBE, SSUBSCRIBE and
//     their UNSUBSCRIBE forms) are merged into ONE reply, so that the
//     checker sees one reply per call: SUBSCRIBE a b, answered by Redis
//     with two arrays, gives the reply {subscribe, [<<"a">>, <<"b">>], 2}
//     — the kind, the channels in order, and the subscription count after
//     the last one. An UNSUBSCRIBE without arguments is answered for every
//     channel the connection had (the session counts them from the
//     confirmations), or once with a nil channel when it had none:
//     {unsubscribe, [nil], 0}. A contract can thus send a client back to
//     its normal state when the count reaches 0;
//   - while subscribed (RESP2), the reply to PING is {pong, Payload};
//   - after MONITOR is answered +OK, the feed's lines are events
//     {monitor, <<"1700000000.123 [0 127.0.0.1:5000] \"get\" \"k\"">>};
//   - a server frame while no call is outstanding (an error before the
//     first command, a confirmation nobody asked for) is an event.
//
// Redis writes the confirmations of one command back to back; should
// another frame come between them, the reply holds the confirmations read
// so far and the rest are classified as events.
//
// Not covered: CLIENT REPLY OFF|SKIP (replies the client turned off would
// be paired with later calls; a contract should not allow it), and RESP3
// streamed aggregates are decoded but attributes inside them are dropped
// like all others.
//
// # Memory
//
// A term stays valid after later calls to Next (the proxy keeps a request
// until its reply arrives). To decode without an allocation per message,
// the decoders carve terms from blocks of a few KiB that they never write
// again: a term kept alive keeps its blocks alive, at most about 16 KiB
// however many terms share them.
//
// # Limits
//
// Bulk lengths, aggregate counts and nesting are checked against
// wrappers.Limits when their header is read, before any memory is taken:
// $99999999999\r\n is refused at once with a *wrappers.FrameError naming
// the byte offset of the header.
package resp

import (
	"io"
	"strings"
	"sync"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// Wire is the RESP wire format. Its zero value is ready to use.
type Wire struct{}

// Name implements wrappers.Wire.
func (Wire) Name() string { return "resp" }

// NewSession implements wrappers.Wire.
func (Wire) NewSession(opts wrappers.Options) wrappers.Session {
	return &Session{lim: opts.Limits.WithDefaults()}
}

// op is what a call means for the pairing of replies.
type op uint8

const (
	opOther op = iota
	opSubscribe
	opUnsubscribe
	opPsubscribe
	opPunsubscribe
	opSsubscribe
	opSunsubscribe
	// The ops whose replies change the session's state (changesState).
	opMonitor
	opReset
	numOps
)

var opNames = [numOps]string{
	opSubscribe:    "subscribe",
	opUnsubscribe:  "unsubscribe",
	opPsubscribe:   "psubscribe",
	opPunsubscribe: "punsubscribe",
	opSsubscribe:   "ssubscribe",
	opSunsubscribe: "sunsubscribe",
	opMonitor:      "monitor",
	opReset:        "reset",
}

func opOf(name term.Atom) op {
	switch name {
	case "subscribe":
		return opSubscribe
	case "unsubscribe":
		return opUnsubscribe
	case "psubscribe":
		return opPsubscribe
	case "punsubscribe":
		return opPunsubscribe
	case "ssubscribe":
		return opSsubscribe
	case "sunsubscribe":
		return opSunsubscribe
	case "monitor":
		return opMonitor
	case "reset":
		return opReset
	}
	return opOther
}

// confOp returns the op whose confirmations use word, or opOther.
func confOp(word []byte) op {
	for o := opSubscribe; o <= opSunsubscribe; o++ {
		if len(word) == len(opNames[o]) && strings.EqualFold(string(word), opNames[o]) {
			return o
		}
	}
	return opOther
}

// call is one outstanding client command.
type call struct {
	op   op
	args int // number of arguments after the command name
}

// Session is the codec of one connection. The client decoder records each
// call; the server decoder pairs replies with them and keeps the pub/sub
// state both directions depend on. It implements wrappers.Session and
// wrappers.Dropper.
type Session struct {
	lim wrappers.Limits

	mu    sync.Mutex
	calls []call // outstanding calls, oldest at head
	head  int
	// Subscriptions the server confirmed: channels, patterns, shard
	// channels. Redis's counts tell them apart (see confirm).
	nch, npat, nshard int64
	monitor           bool
	// Confirmations still due for a merged reply that was cut short by
	// another frame; they are classified as events. int32: every session
	// holds the array, and a reply merges at most a frame's arguments.
	stray [numOps]int32
}

// ClientDecoder implements wrappers.Session.
func (s *Session) ClientDecoder(r io.Reader) wrappers.Decoder {
	return &clientDecoder{s: s, p: newParser(bufread.New(r, s.lim, "resp"))}
}

// ServerDecoder implements wrappers.Session.
func (s *Session) ServerDecoder(r io.Reader) wrappers.Decoder {
	return &serverDecoder{s: s, p: newParser(bufread.New(r, s.lim, "resp"))}
}

// newParser returns the parser of a decoder reading rd.
func newParser(rd bufread.Reader) parser { return parser{rd: rd, names: newNames()} }

// Dropped implements wrappers.Dropper: a call the proxy did not forward
// will get no reply from the server, so it leaves the queue.
func (s *Session) Dropped(side wrappers.Side, m wrappers.Message) {
	if side != wrappers.Client || m.Kind != wrappers.Call {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) > s.head {
		s.calls = s.calls[:len(s.calls)-1]
	}
}

func (s *Session) push(c call) {
	s.mu.Lock()
	if s.head == len(s.calls) {
		s.calls, s.head = s.calls[:0], 0
	}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// peek returns the oldest outstanding call; s.mu must be held.
func (s *Session) peek() (call, bool) {
	if s.head == len(s.calls) {
		return call{}, false
	}
	return s.calls[s.head], true
}

// changesState reports whether the reply to a call of o changes the
// session's state (see classify): serverDecoder.Next leaves those replies
// to classify.
func (o op) changesState() bool { return o == opMonitor || o == opReset }

// pop removes the oldest outstanding call; s.mu must be held.
func (s *Session) pop() {
	if s.head < len(s.calls) {
		s.head++
	}
}

// subscribed reports whether the connection is in Redis's subscribed
// context; s.mu must be held.
func (s *Session) subscribed() bool { return s.nch+s.npat+s.nshard > 0 }

// confirm records a confirmation of kind o carrying the subscription count
// Redis reports after it: for channels and patterns the count of both
// together, for shard channels their own count. s.mu must be held.
func (s *Session) confirm(o op, count int64) {
	switch o {
	case opSubscribe, opUnsubscribe:
		s.nch = max(count-s.npat, 0)
	case opPsubscribe, opPunsubscribe:
		s.npat = max(count-s.nch, 0)
	case opSsubscribe, opSunsubscribe:
		s.nshard = max(count, 0)
	}
}

// expected returns how many confirmations answer c; s.mu must be held.
func (s *Session) expected(c call) int {
	if c.args > 0 {
		return c.args
	}
	var n int64
	switch c.op {
	case opUnsubscribe:
		n = s.nch
	case opPunsubscribe:
		n = s.npat
	case opSunsubscribe:
		n = s.nshard
	}
	return int(max(n, 1))
}

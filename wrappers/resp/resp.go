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
	"math"
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

// numConfOps counts the ops confirmed by confirmation arrays, opSubscribe
// to opSunsubscribe.
const numConfOps = opSunsubscribe - opSubscribe + 1

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
// state. It implements wrappers.Session and wrappers.Dropper.
//
// The two decoders run on two goroutines, often on two cores. A lock both
// take for every message costs two locked instructions each time and, when
// both sides are busy at once, moves its cache line between the cores. So
// the calls pass from one to the other in batches: the client decoder
// appends each call to queued under mu; the server decoder takes all the
// calls queued so far at once into batch, its own, and pairs replies with
// them without a lock until it reaches the batch's last call, the only one
// Dropped may still take back (see Dropped and settle): two locks per
// batch rather than one per reply. Everything else the server decoder
// reads for a reply it owns: the pub/sub state is read and written by it
// alone.
type Session struct {
	// Owned by the server decoder (its Next, Trim and Park, which the
	// proxy runs on one goroutine at a time). Those it reads or writes
	// for every reply first, far from mu and queued.
	batch   []call // calls taken from queued, oldest first; paired up to head
	head    int
	monitor bool // MONITOR was answered +OK: simple strings with a space are its feed
	// Under mu, but written by the server decoder once a batch and by
	// Dropped, seldom, so kept on its side. tailHeld: the batch's last
	// call is not yet paired; it stays set when calls are pushed after
	// it, but Dropped reads it only while queued is empty, when that
	// call is the one pushed last. tailDropped: Dropped took that call
	// back; the server decoder removes it when it reaches it.
	tailHeld, tailDropped bool
	// Confirmations still due for a merged reply that was cut short by
	// another frame, by confirmation op (o-opSubscribe); they are
	// classified as events. int32: every session holds the array, and a
	// reply merges at most a frame's arguments.
	stray [numConfOps]int32
	// Subscriptions the server confirmed: channels, patterns, shard
	// channels. Redis's counts tell them apart (see confirm). int32, as
	// stray, so that the session stays in a 160-byte size class: no
	// connection holds 2^31 subscriptions, and larger counts are capped.
	nch, npat, nshard int32

	// Read only, after NewSession; it also keeps the fields above off
	// the cache line of those below (TestSessionLayout).
	lim wrappers.Limits

	// Shared by the client decoder (push, Dropped, its Trim and Park) and
	// the server decoder (settle, popLast), under mu, with tailHeld and
	// tailDropped.
	mu     sync.Mutex
	queued []call // calls pushed since the server decoder last took them, oldest first
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
// will get no reply from the server, so it leaves the queue. It is the call
// pushed last: still in queued, or, when the server decoder has taken it
// since, the last of its batch, which it learns when it reaches that call.
// One it has already paired (a frame nobody asked for came first) stays
// paired.
func (s *Session) Dropped(side wrappers.Side, m wrappers.Message) {
	if side != wrappers.Client || m.Kind != wrappers.Call {
		return
	}
	s.mu.Lock()
	if n := len(s.queued); n > 0 {
		s.queued = s.queued[:n-1]
	} else if s.tailHeld {
		s.tailDropped = true
	}
	s.mu.Unlock()
}

// push queues a call; client decoder only.
func (s *Session) push(c call) {
	s.mu.Lock()
	s.queued = append(s.queued, c)
	s.mu.Unlock()
}

// maxKeptCalls bounds the capacity of a call slice handed back for reuse:
// a flood of pipelined commands leaves a large one for the collector
// rather than in the session.
const maxKeptCalls = 256

// The methods below, down to expected, are the server decoder's.

// peek returns the oldest outstanding call.
func (s *Session) peek() (call, bool) {
	if s.head+1 < len(s.batch) {
		return s.batch[s.head], true
	}
	s.mu.Lock()
	s.settle()
	c, ok := call{}, s.head < len(s.batch)
	if ok {
		c = s.batch[s.head]
	}
	s.mu.Unlock()
	return c, ok
}

// pop removes the call peek returned.
func (s *Session) pop() {
	if s.head+1 < len(s.batch) {
		s.head++
		return
	}
	s.mu.Lock()
	s.popLast()
	s.mu.Unlock()
}

// popQuickLast pops the oldest call, the batch's last or one taken from
// queued, for a reply of type c (a bulk string, null, integer or simple
// string) when that is all classify would do with it (quickPairs), as
// serverDecoder.Next does for the calls before the last. It reports
// whether it did.
func (s *Session) popQuickLast(c byte) bool {
	s.mu.Lock()
	s.settle()
	ok := s.head < len(s.batch) && s.quickPairs(c)
	if ok {
		if s.head+1 < len(s.batch) {
			s.head++
		} else {
			s.popLast()
		}
	}
	s.mu.Unlock()
	return ok
}

// quickPairs reports whether pairing a reply of type c (a bulk string,
// null, integer or simple string) with the call at head, which there must
// be, is all classify would do with it: its tests are of arrays, of
// MONITOR's feed and of the replies that change the session's state, so
// for a simple string no MONITOR feed may be on and the call's reply must
// not change the state.
func (s *Session) quickPairs(c byte) bool {
	return c != '+' || !s.monitor && !s.batch[s.head].op.changesState()
}

// settle, with mu held, removes the batch's last call if Dropped took it
// back, and takes the queued calls once the batch is paired.
func (s *Session) settle() {
	if s.tailDropped {
		s.batch = s.batch[:len(s.batch)-1]
		s.tailHeld, s.tailDropped = false, false
	}
	if s.head == len(s.batch) {
		s.take()
	}
}

// popLast pops the batch's last call, with mu held, and takes the calls
// queued since. A Dropped after the peek that returned the call comes too
// late: a frame was paired with it.
func (s *Session) popLast() {
	s.head++
	s.tailHeld, s.tailDropped = false, false
	s.take()
}

// take swaps the paired batch for the queued calls, with mu held, so that
// both slices keep their capacity (see maxKeptCalls).
func (s *Session) take() {
	done := s.batch[:0]
	if cap(done) > maxKeptCalls {
		done = nil
	}
	s.batch, s.queued, s.head = s.queued, done, 0
	s.tailHeld = len(s.batch) > 0
}

// trimBatch lets go of a paired batch (server decoder's Trim and Park).
func (s *Session) trimBatch() {
	if s.head == len(s.batch) {
		s.batch, s.head = nil, 0
	}
}

// trimQueued lets go of an empty queue (client decoder's Trim and Park).
func (s *Session) trimQueued() {
	s.mu.Lock()
	if len(s.queued) == 0 {
		s.queued = nil
	}
	s.mu.Unlock()
}

// changesState reports whether the reply to a call of o changes the
// session's state (see classify): serverDecoder.Next leaves those replies
// to classify.
func (o op) changesState() bool { return o == opMonitor || o == opReset }

// subscribed reports whether the connection is in Redis's subscribed
// context.
func (s *Session) subscribed() bool { return s.nch > 0 || s.npat > 0 || s.nshard > 0 }

// confirm records a confirmation of kind o carrying the subscription count
// Redis reports after it: for channels and patterns the count of both
// together, for shard channels their own count.
func (s *Session) confirm(o op, count int64) {
	switch o {
	case opSubscribe, opUnsubscribe:
		s.nch = count32(count - int64(s.npat))
	case opPsubscribe, opPunsubscribe:
		s.npat = count32(count - int64(s.nch))
	case opSsubscribe, opSunsubscribe:
		s.nshard = count32(count)
	}
}

// count32 is a count n (of subscriptions, of stray confirmations), capped
// to 0 and math.MaxInt32.
func count32(n int64) int32 { return int32(min(max(n, 0), math.MaxInt32)) }

// strays returns the count of stray confirmations of o, a confirmation op.
func (s *Session) strays(o op) *int32 { return &s.stray[o-opSubscribe] }

// addStrays adds n to the stray confirmations of o, capped as count32
// caps: a service that cuts merged replies short again and again could
// otherwise wrap the count round to a negative one, which would stop the
// strays from being told apart.
func (s *Session) addStrays(o op, n int) {
	k := s.strays(o)
	*k = count32(int64(*k) + int64(n))
}

// expected returns how many confirmations answer c.
func (s *Session) expected(c call) int {
	if c.args > 0 {
		return c.args
	}
	var n int32
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

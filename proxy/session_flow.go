package proxy

import (
	"errors"
	"sync/atomic"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// direction is one of the two ways messages go through a session. Each has
// its own reader goroutine, counts and metric labels.
type direction uint8

// The directions.
const (
	clientToService direction = iota // read by the client reader
	serviceToClient                  // read by the service reader
)

// label is the direction as the metrics name it.
func (d direction) label() string {
	if d == serviceToClient {
		return "server_to_client"
	}
	return "client_to_server"
}

// sender is the side that sends the messages of d.
func (d direction) sender() wrappers.Side {
	if d == serviceToClient {
		return wrappers.Server
	}
	return wrappers.Client
}

// directionFrom is the direction of the messages side sends.
func directionFrom(side wrappers.Side) direction {
	if side == wrappers.Server {
		return serviceToClient
	}
	return clientToService
}

// verdict is how a message was judged, as the metrics count it.
type verdict uint8

// The verdicts.
const (
	verdictOK        verdict = iota // checked and legal
	verdictViolation                // checked and illegal
	verdictUnchecked                // forwarded without a check (filler, greeting, monitor mode's follow-ups)
	numVerdicts
)

var verdictLabels = [numVerdicts]string{verdictOK: "ok", verdictViolation: "violation", verdictUnchecked: "unchecked"}

// flow is what one direction's reader reads and counts.
type flow struct {
	// read (the reader only): the reader read from the connection since
	// its last message (see fresh); set by the endpoint's beforeRead hook.
	read bool
	// more (the reader only): the decoder still held bytes after the
	// last message, so the next may come without a read; the decision to
	// hold a write back for the messages after it asks the same.
	more bool
	// held (the reader only) are counts not yet added to tally and to
	// msgs and bytes, which other goroutines read: the reader adds them
	// there (publish) in its endpoint's beforeRead hook, before every
	// read (one that finds nothing waits), and when it stops, so a
	// pipelined batch pays the atomic additions once, not per message.
	// The client reader publishes before it sends to the service too
	// (beforeServiceSend): the record of the session's end, which the
	// service reader writes after publishing its own, counts a request
	// whose reply ended the session.
	held heldCounts
	// msgs and bytes count what the direction carried, for the record of
	// the session's end.
	msgs, bytes atomic.Int64
	// tally holds the counts not yet added to the Prometheus counters.
	tally tally
	// rec is the direction's decoder as a wrappers.Recycler when the
	// session recycles its messages (see session.recycles and
	// useDecoder), for the one goroutine that gives them back: the
	// service reader for replies, the client reader for requests. Held
	// here, not asserted per message, and in the room that keeps the
	// fields written per message (read, more, held) on lines of their
	// own, apart from the other direction's flow, which follows.
	rec wrappers.Recycler
}

// heldCounts are counts of one direction its reader has not published.
type heldCounts struct {
	msgs, bytes uint64
	msg         [numVerdicts]uint64
}

// empty reports whether h holds no count. Field by field: comparing the
// struct with its zero value calls memequal.
func (h *heldCounts) empty() bool {
	return h.msgs|h.bytes|h.msg[0]|h.msg[1]|h.msg[2] == 0
}

// empty names the verdicts one by one: a new verdict fails to compile
// here until it is added there.
var _ = [1]struct{}{}[numVerdicts-3]

// count counts a message of n bytes read.
func (f *flow) count(n int) {
	f.held.msgs++
	f.held.bytes += uint64(n)
}

// publish adds the held counts to those other goroutines read. It runs
// before every read, and most reads that wait follow one that published
// already: with nothing held it returns at once.
func (f *flow) publish() {
	h := &f.held
	if h.empty() {
		return
	}
	if h.msgs != 0 {
		f.msgs.Add(int64(h.msgs))
		f.bytes.Add(int64(h.bytes))
		f.tally.bytes.Add(h.bytes)
	}
	// By index: ranging over the array's values would copy it first.
	for v := range h.msg {
		if n := h.msg[v]; n != 0 {
			f.tally.msg[v].Add(n)
		}
	}
	*h = heldCounts{}
}

// flow returns direction d's flow.
func (s *session) flow(d direction) *flow {
	if d == serviceToClient {
		return &s.down
	}
	return &s.up
}

// endpointOf returns the endpoint direction d is read from.
func (s *session) endpointOf(d direction) endpoint {
	if d == serviceToClient {
		return s.service
	}
	return s.client
}

// next reads the next message for the reader of direction d into *m
// (filled in place: a Message is 8 words): it reads the clock only for a
// message that came from a fresh read, and counts the message. It reports
// false when the reader must stop (the session ended, or the read failed
// and was dealt with).
func (s *session) next(d direction, m *wrappers.Message) bool {
	ep, f := s.endpointOf(d), s.flow(d)
	buffered := f.more // nothing reads the decoder between its messages
	var err error
	if dec := s.decs[d]; dec != nil {
		*m, err = dec.Next()
	} else {
		*m, err = ep.next()
	}
	if s.isEnded() {
		return false
	}
	if err != nil {
		if wrappers.IsWouldBlock(err) {
			// Inside the poller's callback, the socket is drained: the
			// loop returns for the callback to wait (runInline).
			s.wouldBlock(d, ep)
			return false
		}
		if errors.Is(err, wrappers.ErrParked) {
			// Kicked while waiting between frames: the reader parks
			// (park.go).
			s.parks[d].parking = true
			return false
		}
		if d == clientToService {
			s.clientReadError(err)
		} else {
			s.serviceReadError(err)
		}
		return false
	}
	f.more = ep.more()
	if fresh(buffered, &f.read) {
		at := s.touch()
		if d == clientToService {
			s.clientAt = at
		}
	}
	f.count(len(m.Raw))
	if h := s.srv.testHook; h != nil {
		h(s.id, d.sender(), *m)
	}
	return true
}

// fresh reports whether a message needs touch: whether its last bytes came
// from a read (*read, set by the endpoint's beforeRead hook) or the decoder
// held none before it, so that it read. A message decoded wholly from
// bytes read for an earlier one arrived with it, and that one touched
// after the read; so a pipelined batch reads the clock once.
func fresh(buffered bool, read *bool) bool {
	r := *read
	*read = false
	return r || !buffered
}

// beforeRead is the hook the endpoint of direction d runs before each
// read, on the reader's goroutine: what the reader held back goes out, and
// what it counted is published, before it waits for input (a read may
// wait even with bytes buffered: the start of a frame).
func (s *session) beforeRead(d direction) func() {
	if d == clientToService {
		return func() {
			s.up.read = true
			s.up.publish()
			s.flushService()
		}
	}
	return func() {
		s.down.read = true
		s.down.publish()
		s.flushClient()
	}
}

// count counts one message of direction d with verdict v in that
// direction's tally, once its reader publishes it. Only that direction's
// reader calls it.
func (s *session) count(d direction, v verdict) {
	s.flow(d).held.msg[v]++
}

// countNow counts one message of direction d with verdict v straight in
// the totals, for the counts any goroutine may make.
func (s *session) countNow(d direction, v verdict) {
	s.srv.metrics.flows.totals(d).msg[v].Add(1)
}

// flushTally moves direction d's tally to the totals, for a reader that
// stops: it may count after the session was let go.
func (s *session) flushTally(d direction) {
	s.flow(d).publish()
	s.srv.mu.Lock()
	s.srv.metrics.flows.move(d, &s.flow(d).tally)
	s.srv.mu.Unlock()
}

// flushTallies moves both tallies to the totals (srv.mu held), as the
// session is let go.
func (s *session) flushTallies() {
	s.srv.metrics.flows.move(clientToService, &s.up.tally)
	s.srv.metrics.flows.move(serviceToClient, &s.down.tally)
}

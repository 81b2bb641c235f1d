// Package text is the line engine of the text protocols: SMTP, FTP's
// control connection, POP3, IRC, memcached's text protocol, and the generic
// line wire that has no protocol rules at all. The engine reads lines,
// keeps every byte for forwarding, and pairs each answer with the request
// it answers where the framing of the answer depends on it; a Family is the
// short description of one protocol on top of it: how a command line
// splits into a verb and arguments, the reply syntax, multi-line replies,
// data blocks, and the protocol's error reply. No rule of one family fires
// in another, and what a message contains never changes how the next one
// is framed: only the protocol's own commands and replies do (SMTP's DATA
// answered 354, a memcached set naming its block's length, POP3's LIST
// without an argument).
//
// The terms each family makes are documented in docs/wires/ (one page per
// wire) and in the family's own file. Across the families: a command is
// {verb, Arg, ...}, or the bare verb atom without arguments; the verb is a
// lower-case atom whatever its case on the wire (except memcached, whose
// verbs are case-sensitive); reply codes are integers; a multi-line reply
// is one term; a data block is one binary.
//
// The wire does not say which message is a call, a reply, a transition or
// an event: every message comes out with Kind wrappers.Unknown, and the
// contract decides (docs/language.md: transitions in both directions).
package text

import (
	"io"
	"sync"

	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// Wire is the wire format of one text protocol family.
type Wire struct {
	Family *Family
}

// NewWire returns the wire of family f.
func NewWire(f *Family) Wire { return Wire{Family: f} }

// Name implements wrappers.Wire: the family's name (smtp, ftp, pop3, irc,
// memcached, line).
func (w Wire) Name() string { return w.Family.Name }

// NewSession implements wrappers.Wire.
func (w Wire) NewSession(opts wrappers.Options) wrappers.Session {
	return &Session{fam: w.Family, lim: opts.Limits.WithDefaults(), greeted: !w.Family.greets}
}

// Families returns the families, in the order the documentation lists
// them.
func Families() []*Family {
	return []*Family{SMTP, FTP, POP3, IRC, Memcached, Line}
}

// ByName returns the family called name, or nil.
func ByName(name string) *Family {
	for _, f := range Families() {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Session is the codec of one connection. The client's requests decide how
// the server's answers are framed (POP3's LIST, memcached's get), and the
// server's answers decide how the client's next lines are read (SMTP's 354
// after DATA): the two decoders share a queue of the requests still
// waiting for their answer. It implements wrappers.Session and
// wrappers.Dropper.
type Session struct {
	fam *Family
	lim wrappers.Limits

	mu      sync.Mutex
	queue   []request // requests sent and not yet answered, oldest first
	greeted bool      // the greeting was read, or the family has none
	next    follow    // how the client's next line is read
	// queued tells whether the client message last returned put a
	// request on the queue (a memcached noreply command does not), so
	// that Dropped takes off only what the message put there.
	queued bool
	// nextBefore is next as it was before the server message last
	// returned, so that Dropped can undo what that message set.
	nextBefore follow
}

// ClientDecoder implements wrappers.Session.
func (s *Session) ClientDecoder(r io.Reader) wrappers.Decoder {
	return &clientDecoder{s: s, side: newSide(r, s.lim, s.fam.Name)}
}

// ServerDecoder implements wrappers.Session.
func (s *Session) ServerDecoder(r io.Reader) wrappers.Decoder {
	return &serverDecoder{s: s, side: newSide(r, s.lim, s.fam.Name)}
}

// ErrorReply implements wrappers.Session with the family's own refusal.
func (s *Session) ErrorReply(v wrappers.Violation) []byte {
	return s.fam.errorReply(v)
}

// Dropped implements wrappers.Dropper. A request the proxy did not forward
// gets no answer from the server; an answer the client never saw does not
// change how its next line is read.
func (s *Session) Dropped(side wrappers.Side, _ wrappers.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch side {
	case wrappers.Client:
		if s.queued && len(s.queue) > 0 {
			s.queue = s.queue[:len(s.queue)-1]
		}
		s.queued = false
	case wrappers.Server:
		s.next = s.nextBefore
	}
}

// push queues a request the server will answer.
func (s *Session) push(r request) {
	s.mu.Lock()
	s.queue = append(s.queue, r)
	s.queued = true
	s.mu.Unlock()
}

// head returns the oldest request waiting for an answer, and whether there
// is one. The greeting answers none.
func (s *Session) head() (request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.greeted || len(s.queue) == 0 {
		return request{}, false
	}
	return s.queue[0], true
}

// answered records the server's answer: it takes the request it answered
// (if any) off the queue, and sets how the client's next line is read.
func (s *Session) answered(had bool, next follow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextBefore = s.next
	if !s.greeted {
		s.greeted = true
	} else if had && len(s.queue) > 0 {
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			// Start again at the front of the array, unless a long
			// pipeline grew it: then let it go.
			if cap(s.queue) > 256 {
				s.queue = nil
			} else {
				s.queue = s.queue[:0:cap(s.queue)]
			}
		}
	}
	if next != followCommand {
		s.next = next
	}
}

// follow returns how the client's next line is read, and resets it: a
// body or an AUTH response is one line or block, then commands again.
func (s *Session) follow() follow {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.next
	s.next = followCommand
	s.queued = false
	return f
}

func newSide(r io.Reader, lim wrappers.Limits, name string) side {
	return side{in: input{rd: bufread.New(r, lim, name)}, verbs: newVerbs()}
}

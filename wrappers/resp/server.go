package resp

import (
	"bytes"
	"encoding/binary"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// serverDecoder reads what the server sends.
type serverDecoder struct {
	s *Session
	p parser
	// m is the merged reply being read when a wrappers.ErrWouldBlock
	// came between its confirmations (nil otherwise): the session has
	// already paired it with its call, so the next Next goes on with it.
	// A pointer, since every connection's decoder would otherwise carry
	// it for the rare (un)subscribe split by a read.
	m *merging
}

// merging is a reply merged from the confirmations of one call: the first
// want of kind o, those read so far on channels chans, the count after the
// last one n, and where the next one starts, relative to the frame's
// start (the merged reply's first byte).
type merging struct {
	o     op
	chans term.List
	n     int64
	want  int
	next  int
}

// Atoms of the replies the session watches for; constants, so that storing
// one in a term.Term allocates nothing.
const (
	atomMonitor = term.Atom("monitor")
	atomPong    = term.Atom("pong")
	atomOK      = term.Atom("ok")
	atomReset   = term.Atom("reset")
)

// Next implements wrappers.Decoder.
func (d *serverDecoder) Next() (wrappers.Message, error) {
	rd := &d.p.rd
	if d.m != nil {
		// The merged reply goes on at the confirmation a read that
		// would block cut.
		if err := rd.Frame(); err != nil {
			return wrappers.Message{}, err
		}
		rd.Pos = rd.Start + d.m.next
		return d.merge()
	}
	if !rd.Ready() {
		if err := rd.Frame(); err != nil {
			return wrappers.Message{}, err
		}
	}
	v, c, ok := d.quickValue()
	if ok {
		// A bulk string, null, integer or simple string answers the
		// oldest call when that is all classify would do with it (see
		// quickPairs). Done here for the calls of the batch but its
		// last, which need no lock, to spare every reply a call;
		// popQuickLast does the same for the last.
		s := d.s
		if s.head+1 < len(s.batch) {
			if s.quickPairs(c) {
				s.head++
				return wrappers.Message{Kind: wrappers.Reply, Term: v, Raw: rd.Raw()}, nil
			}
		} else if s.popQuickLast(c) {
			return wrappers.Message{Kind: wrappers.Reply, Term: v, Raw: rd.Raw()}, nil
		}
	} else {
		var err error
		v, c, err = d.p.value(0)
		if err != nil {
			d.p.interrupted(err)
			return wrappers.Message{}, err
		}
		if d.p.endSeq {
			return wrappers.Message{}, rd.ErrAt(rd.Offset(rd.Start), "end marker '.' outside a streamed aggregate")
		}
	}
	return d.classify(v, c)
}

// quickSimple is the longest simple string quickValue takes.
const quickSimple = 32

// quickValue decodes the usual replies straight from the buffer: a bulk
// string of up to 99 bytes, a null bulk string, a short simple string, an
// integer of up to 18 digits, all of it buffered. It gives what value
// would, and consumes what value would; anything else it leaves alone
// (ok false, nothing consumed) for value, which also reports the errors.
func (d *serverDecoder) quickValue() (term.Term, byte, bool) {
	p := &d.p
	rd := &p.rd
	buf := p.quickBuf()
	if len(buf) < 4 {
		return nil, 0, false
	}
	switch c := buf[0]; c {
	case '$':
		b, e, ok := quickBulk(buf, 0, rd.Lim.MaxBinary)
		if !ok {
			if len(buf) >= 5 && binary.LittleEndian.Uint32(buf[1:]) == '-'|'1'<<8|'\r'<<16|'\n'<<24 {
				rd.Pos += 5
				return atomNil, c, true
			}
			return nil, 0, false
		}
		rd.Pos += e + 2
		return p.ar.replyBinary(buf[b:e]), c, true
	case '+', ':':
		e := quickLine(buf)
		if e < 0 {
			return nil, 0, false
		}
		line := buf[1:e]
		if c == '+' {
			if len(line) > rd.Lim.MaxBinary {
				return nil, 0, false
			}
			rd.Pos += e + 2
			return p.atom(line), c, true
		}
		v, ok := digits(line)
		if !ok {
			return nil, 0, false
		}
		rd.Pos += e + 2
		return p.ar.integer(v), c, true
	}
	return nil, 0, false
}

// quickLine returns the index of the CR that ends the one-line value at
// the start of buf when the line is at most quickSimple bytes long and
// its CRLF is in buf, or -1.
func quickLine(buf []byte) int {
	for i := 1; i < len(buf)-1 && i <= quickSimple+1; i++ {
		switch buf[i] {
		case '\r':
			if buf[i+1] == '\n' {
				return i
			}
			return -1
		case '\n':
			return -1
		}
	}
	return -1
}

// classify decides what a whole server frame is; see the package comment.
//
// The oldest call is read once, first: a frame is judged against one call
// throughout. Read twice, the client's Dropped of that call and a push of
// the next between the two reads could have a frame that did not answer
// the first judged as the reply of the second.
func (d *serverDecoder) classify(v term.Term, c byte) (wrappers.Message, error) {
	rd := &d.p.rd
	s := d.s
	head, hasHead := s.peek()
	if l, ok := v.(term.List); ok && (c == '>' || c == '*') {
		if o, ch, n, ok := confirmation(l); ok {
			if k := s.strays(o); *k > 0 {
				*k--
				s.confirm(o, n)
				return d.event(term.Tuple{term.Atom(opNames[o]), ch, term.Int(n)}), nil
			}
			if hasHead && head.op == o {
				want := s.expected(head)
				s.confirm(o, n)
				s.pop()
				chans := make(term.List, 1, min(want, 64))
				chans[0] = ch
				d.m = &merging{o: o, chans: chans, n: n, want: want}
				return d.merge()
			}
			if c == '>' || s.subscribed() {
				s.confirm(o, n)
				return d.event(term.Tuple{term.Atom(opNames[o]), ch, term.Int(n)}), nil
			}
		}
		if c == '>' || s.subscribed() && isPubsubMessage(l) {
			return d.event(pushTuple(&d.p, l)), nil
		}
		if s.subscribed() && len(l) == 2 && isWord(l[0], "pong") {
			if hasHead {
				s.pop()
				return d.reply(term.Tuple{atomPong, l[1]}), nil
			}
		}
	}
	if c == '+' && s.monitor && bytes.IndexByte(rd.Raw(), ' ') >= 0 {
		text := rd.Raw()
		text = text[1 : len(text)-2]
		return d.event(d.p.ar.tuple2(atomMonitor, d.p.ar.binary(text))), nil
	}
	if !hasHead {
		return d.event(v), nil
	}
	s.pop()
	switch {
	case head.op == opMonitor && v == term.Term(atomOK):
		s.monitor = true
	case head.op == opReset && v == term.Term(atomReset):
		s.monitor = false
		s.nch, s.npat, s.nshard = 0, 0, 0
		s.stray = [numConfOps]int32{}
	}
	return d.reply(v), nil
}

func (d *serverDecoder) event(t term.Term) wrappers.Message {
	return wrappers.Message{Kind: wrappers.Event, Term: t, Raw: d.p.rd.Raw()}
}

func (d *serverDecoder) reply(t term.Term) wrappers.Message {
	return wrappers.Message{Kind: wrappers.Reply, Term: t, Raw: d.p.rd.Raw()}
}

// merge reads the rest of the confirmations of d.m, and returns them as one
// reply {Kind, [Channel, ...], FinalCount}. When reading one would block,
// it returns wrappers.ErrWouldBlock with the reply held (the next Next
// reads that confirmation again and goes on).
func (d *serverDecoder) merge() (wrappers.Message, error) {
	rd := &d.p.rd
	o := d.m.o
	for len(d.m.chans) < d.m.want {
		mark := rd.Pos - rd.Start // fill may move the frame; keep the mark relative
		v, c, err := d.p.value(0)
		if wrappers.IsWouldBlock(err) {
			// The confirmation, or what came instead, is parsed again
			// once the skipper has seen it end.
			d.m.next = mark
			d.p.rewindTo(mark)
			return wrappers.Message{}, err
		}
		var (
			o2  op
			ch2 term.Term
			n2  int64
			ok  bool
		)
		if err == nil && !d.p.endSeq && (c == '*' || c == '>') {
			if l, isList := v.(term.List); isList {
				o2, ch2, n2, ok = confirmation(l)
			}
		}
		if !ok || o2 != o {
			// Something else came between the confirmations: deliver
			// those read so far; the frame is read again by the next Next
			// (and an error, if that was one, is reported then).
			rd.Pos = rd.Start + mark
			d.p.endSeq = false
			d.s.addStrays(o, d.m.want-len(d.m.chans))
			break
		}
		d.s.confirm(o, n2)
		d.m.chans = append(d.m.chans, ch2)
		d.m.n = n2
	}
	m := d.m
	d.m = nil
	return d.reply(term.Tuple{term.Atom(opNames[o]), m.chans, term.Int(m.n)}), nil
}

// confirmation recognises a (un)subscribe confirmation [Kind, Channel, Count].
func confirmation(l term.List) (op, term.Term, int64, bool) {
	if len(l) != 3 {
		return opOther, nil, 0, false
	}
	kind, ok := l[0].(term.Binary)
	if !ok {
		return opOther, nil, 0, false
	}
	o := confOp(kind)
	if o == opOther {
		return opOther, nil, 0, false
	}
	switch l[1].(type) {
	case term.Binary:
	case term.Atom:
		if l[1] != term.Term(atomNil) {
			return opOther, nil, 0, false
		}
	default:
		return opOther, nil, 0, false
	}
	n, ok := l[2].(term.Integer)
	if !ok || !n.IsInt64() {
		return opOther, nil, 0, false
	}
	return o, l[1], n.Int64(), true
}

// isPubsubMessage recognises the RESP2 arrays that carry published messages.
func isPubsubMessage(l term.List) bool {
	switch len(l) {
	case 3:
		return isWord(l[0], "message") || isWord(l[0], "smessage")
	case 4:
		return isWord(l[0], "pmessage")
	}
	return false
}

func isWord(t term.Term, w string) bool {
	b, ok := t.(term.Binary)
	return ok && string(b) == w
}

// pushTuple turns a pushed list into the tuple of its kind (the first
// element, lowercased, as an atom) and the rest.
func pushTuple(p *parser, l term.List) term.Term {
	if len(l) == 0 {
		return term.Tuple{}
	}
	tu := term.Tuple(p.ar.slots(len(l)))
	copy(tu, l)
	if b, ok := l[0].(term.Binary); ok {
		tu[0] = p.atom(b)
	}
	return p.ar.tuple(tu)
}

// Buffered implements wrappers.Bufferer.
func (d *serverDecoder) Buffered() int { return d.p.rd.Buffered() }

// Recycle implements wrappers.Recycler: the record of a short bulk string
// (the usual value of a GET; see arena.binary) is reused for a later one.
func (d *serverDecoder) Recycle(t term.Term) { d.p.ar.recycle(t) }

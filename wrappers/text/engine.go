package text

import (
	"errors"
	"io"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/carve"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/intern"
)

// Family describes one text protocol on the shared engine. Its functions
// read one message each through the decoder they are given, which offers
// the pieces every family frames with: a line, a data block of a given
// length, a dot-terminated body or list.
type Family struct {
	// Name is the wire's name on the command line.
	Name string
	// greets: the server speaks first; its first message answers no
	// request.
	greets bool
	// command reads one client message, read as f says (a command line,
	// a message body, an AUTH response), and returns its term (nil for a
	// line that carries no message) and the request it makes. A request
	// whose answer is answerUntracked is not queued: the server's answer
	// to it is framed alike whatever it answers.
	command func(d *clientDecoder, f follow) (term.Term, request, error)
	// reply reads one server message. req is the request it answers when
	// ok, the oldest one waiting; without one (the greeting, a line the
	// server sends unasked, a family that queues nothing) ok is false. It
	// returns the term and how the client's next line is to be read.
	reply func(d *serverDecoder, req request, ok bool) (term.Term, follow, error)
	// errorReply is the protocol's own refusal (wrappers.Session).
	errorReply func(v wrappers.Violation) []byte
	// encodeCommand and encodeReply write a client's and a server's
	// message: the inverse of command and reply (AppendEncode).
	encodeCommand, encodeReply func(b []byte, t term.Term) ([]byte, error)
}

// follow says how the client's next line is read.
type follow uint8

const (
	followCommand follow = iota
	followBody           // a dot-terminated body (the family says when: SMTP's mail after 354)
	followAuth           // one line answering a challenge (SMTP's 334, POP3's "+ ")
)

// answer says how the answer to a request is framed.
type answer uint8

const (
	answerUntracked answer = iota // nothing to queue: the answer frames itself, or there is none
	answerLine                    // one status line (the family's own syntax)
	answerLines                   // POP3: a dot-terminated list of lines when the status is +OK
	answerBody                    // POP3: a dot-terminated mail when the status is +OK
	answerValues                  // memcached get: VALUE blocks up to END
	answerStats                   // memcached stats: lines up to END
	answerData                    // a positive answer makes the client send a body (SMTP's DATA)
	answerAuth                    // a challenge makes the client send a response (AUTH)
)

// request is what the server decoder needs to know of a request to frame
// its answer.
type request struct {
	answer answer
}

// input is one direction's reader with the framing pieces the families
// share. Every slice it returns is valid until its next read.
type input struct {
	rd bufread.Reader
	// part is the multi-line message a read that would block cut, when
	// it was cut after some of its lines; dot finds the end of a
	// dot-terminated body it cut. Both are made by the first such cut,
	// so that a decoder never cut does not carry them.
	part *partial
	dot  *dotEnd
}

// partial is what a parse of a multi-line message (an answer of many
// lines or values) had taken when a read that would block
// (wrappers.ErrWouldBlock) cut it after some of its lines. The frame
// rewinds as any other, so that bufread waits for the line or block the
// read was for (see bufread.Reader.Rewind), but the next parse does not
// start over: it goes on at next with the items taken before, so that a
// long answer trickling in is parsed once, not once for every piece that
// takes it past its last stop.
type partial struct {
	on    bool
	next  int       // the first line not taken yet, relative to the frame's start
	items term.List // the lines or values taken before it
	code  int64     // the code of a multi-line coded reply
}

// stop keeps p, the parse up to the line at p.next, when err is
// wrappers.ErrWouldBlock, and returns err.
func (in *input) stop(err error, p partial) error {
	if wrappers.IsWouldBlock(err) {
		if in.part == nil {
			in.part = new(partial)
		}
		p.on = true
		*in.part = p
	}
	return err
}

// resumed returns the parse a read that would block cut (see partial),
// with the parse position moved to its next line, or false when the
// message is parsed from its start. It is called first by a family's
// parse of a message that may have lines after its first.
func (in *input) resumed() (partial, bool) {
	if in.part == nil || !in.part.on {
		return partial{}, false
	}
	p := *in.part
	*in.part = partial{}
	in.rd.Pos = in.rd.Start + p.next
	return p, true
}

// line reads one line up to LF, CR before it allowed, and returns it
// without its line end. The stream ending inside it is a FrameError.
func (in *input) line(what string) ([]byte, error) {
	at := in.rd.Off()
	line, _, err := in.rd.Line(what)
	if err == io.EOF {
		return nil, in.rd.EndedAt(in.rd.Offset(in.rd.End), "stream ended inside %s (frame started at byte %d)", what, in.rd.Offset(in.rd.Start))
	}
	if err != nil {
		return nil, err
	}
	if len(line) > in.rd.Lim.MaxBinary {
		return nil, in.rd.LimitAt(at, "%s of %d bytes exceeds the limit of %d bytes", what, len(line), in.rd.Lim.MaxBinary)
	}
	return line, nil
}

// block reads n bytes and, when crlf, the CRLF that must follow them, and
// returns a copy of the n bytes as a binary. Bytes other than CRLF after
// the n are a FrameError: the block was not the length its command named.
func (in *input) block(n int64, crlf bool, what string) (term.Binary, error) {
	at := in.rd.Off()
	end := n
	if crlf {
		end += 2
	}
	if n > int64(in.rd.Lim.MaxBinary) {
		return nil, in.rd.LimitAt(at, "%s of %d bytes exceeds the limit of %d bytes", what, n, in.rd.Lim.MaxBinary)
	}
	if int64(in.rd.Pos-in.rd.Start)+end > int64(in.rd.Lim.MaxFrame) {
		return nil, in.rd.LimitAt(at, "%s of %d bytes exceeds the frame limit of %d bytes", what, n, in.rd.Lim.MaxFrame)
	}
	if err := in.rd.Need(int(end), what); err != nil {
		return nil, err
	}
	b := make(term.Binary, n)
	copy(b, in.rd.Buf[in.rd.Pos:])
	if crlf {
		if t := in.rd.Buf[in.rd.Pos+int(n) : in.rd.Pos+int(end)]; t[0] != '\r' || t[1] != '\n' {
			return nil, in.rd.ErrAt(at+n, "%s is not the %d bytes its command named: %q follows them instead of CRLF", what, n, t)
		}
	}
	in.rd.Pos += int(end)
	return b, nil
}

// dotBody reads lines up to one holding a lone "." and returns them as one
// binary, line ends kept, with the dot-stuffing undone (RFC 5321 4.5.2,
// RFC 1939 3): "..x" is ".x". The "." line is not part of it.
func (in *input) dotBody(what string, scratch *[]byte) (term.Binary, error) {
	body := (*scratch)[:0]
	from := in.rd.Pos - in.rd.Start
	for {
		rel := in.rd.Pos - in.rd.Start // a read may move the frame in the buffer
		line, err := in.line(what)
		if err != nil {
			if wrappers.IsWouldBlock(err) {
				// The frame is parsed again only once the body ended
				// (or is too long): a mail is not copied once a piece.
				in.waitDot(from, in.rd.Lim.MaxBinary, in.rd.Lim.MaxBinary)
			}
			return nil, err
		}
		if len(line) == 1 && line[0] == '.' {
			break
		}
		at := in.rd.Start + rel
		if len(line) > 0 && line[0] == '.' {
			at++
		}
		if len(body)+in.rd.Pos-at > in.rd.Lim.MaxBinary {
			return nil, in.rd.LimitAt(in.rd.Offset(in.rd.Start), "%s exceeds the limit of %d bytes", what, in.rd.Lim.MaxBinary)
		}
		body = append(body, in.rd.Buf[at:in.rd.Pos]...)
	}
	out := make(term.Binary, len(body))
	copy(out, body)
	if cap(body) <= 1<<20 {
		*scratch = body[:0]
	}
	return out, nil
}

// dotLines reads lines up to one holding a lone "." and returns them as a
// list of strings, dot-stuffing undone.
func (in *input) dotLines(what string) (term.List, error) {
	var l term.List
	from := in.rd.Pos - in.rd.Start
	for {
		line, err := in.line(what)
		if err != nil {
			if wrappers.IsWouldBlock(err) {
				// As for dotBody: the list is parsed again once whole,
				// or once a line of it is too long.
				in.waitDot(from, in.rd.Lim.MaxFrame, in.rd.Lim.MaxBinary)
			}
			return nil, err
		}
		if len(line) == 1 && line[0] == '.' {
			return l, nil
		}
		if len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		l = append(l, term.String(line))
	}
}

// side is what each direction's decoder holds.
type side struct {
	in    input
	verbs intern.Cache[term.Term]
	elems carve.Slices[term.Term] // the elements of tuples
	body  []byte                  // scratch for a mail body before it is copied out
	// err is the FrameError the stream broke with: it cannot be read
	// further, and every later call returns it again.
	err error
}

// fail records a FrameError (not the end of the stream or a read error,
// which the reader keeps itself) so that later calls return it again.
func (d *side) fail(err error) error {
	var fe *wrappers.FrameError
	if errors.As(err, &fe) {
		d.err = err
	}
	return err
}

// Trim implements wrappers.Trimmer.
func (d *side) Trim() {
	d.in.part, d.in.dot = nil, nil
	d.verbs.Reset()
	d.elems = carve.Slices[term.Term]{}
	d.body = nil
}

// rewind handles wrappers.ErrWouldBlock in the middle of a message: the
// family's parse is not incremental, so the message is parsed again from
// its first byte by the next Next (bufread.Reader.Rewind bounds how
// often). It reports whether err was that.
func (d *side) rewind(err error) bool {
	if !wrappers.IsWouldBlock(err) {
		return false
	}
	d.in.rd.Rewind()
	return true
}

// clientDecoder reads what a client sends.
type clientDecoder struct {
	side
	s *Session
	// held is how the message a wrappers.ErrWouldBlock interrupted is
	// read, kept for its parse again: Session.follow resets it.
	held    follow
	holding bool
}

// Next implements wrappers.Decoder.
func (d *clientDecoder) Next() (wrappers.Message, error) {
	if d.err != nil {
		return wrappers.Message{}, d.err
	}
	if err := d.in.rd.Frame(); err != nil {
		return wrappers.Message{}, err
	}
	f := d.held
	if !d.holding {
		f = d.s.follow()
	}
	t, req, err := d.s.fam.command(d, f)
	d.held, d.holding = f, d.rewind(err)
	if err != nil {
		return wrappers.Message{}, d.fail(err)
	}
	if t == nil {
		return wrappers.Message{Kind: wrappers.Filler, Raw: d.in.rd.Raw()}, nil
	}
	if req.answer != answerUntracked {
		d.s.push(req)
	}
	return wrappers.Message{Kind: wrappers.Unknown, Term: t, Raw: d.in.rd.Raw()}, nil
}

// Buffered implements wrappers.Bufferer.
func (d *clientDecoder) Buffered() int { return d.in.rd.Buffered() }

// serverDecoder reads what a server sends.
type serverDecoder struct {
	side
	s *Session
	// held is the request the message a wrappers.ErrWouldBlock
	// interrupted answers, kept for its parse again: the client may
	// queue one meanwhile, which the message does not answer.
	held            request
	heldOK, holding bool
}

// Next implements wrappers.Decoder.
func (d *serverDecoder) Next() (wrappers.Message, error) {
	if d.err != nil {
		return wrappers.Message{}, d.err
	}
	if err := d.in.rd.Frame(); err != nil {
		return wrappers.Message{}, err
	}
	req, ok := d.held, d.heldOK
	if !d.holding {
		req, ok = d.s.head()
	}
	t, next, err := d.s.fam.reply(d, req, ok)
	d.held, d.heldOK, d.holding = req, ok, d.rewind(err)
	if err != nil {
		return wrappers.Message{}, d.fail(err)
	}
	if t == nil {
		return wrappers.Message{Kind: wrappers.Filler, Raw: d.in.rd.Raw()}, nil
	}
	d.s.answered(ok, next)
	return wrappers.Message{Kind: wrappers.Unknown, Term: t, Raw: d.in.rd.Raw()}, nil
}

// Buffered implements wrappers.Bufferer.
func (d *serverDecoder) Buffered() int { return d.in.rd.Buffered() }

package line

import (
	"bytes"
	"io"
	"strconv"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

var (
	atomData         = term.Atom("data")
	atomBdat         = term.Atom("bdat")
	atomAuthResponse = term.Atom("auth_response")
)

// clientDecoder reads the lines a client sends.
type clientDecoder struct {
	s     *Session
	rd    bufread.Reader
	names interner
	body  []byte // scratch for a DATA body before it is copied out
}

// Next implements wrappers.Decoder.
func (d *clientDecoder) Next() (wrappers.Message, error) {
	rd := &d.rd
	err := rd.Frame()
	if err != nil {
		return wrappers.Message{}, err
	}
	d.s.mu.Lock()
	mode := d.s.next
	d.s.next = nextCommand
	d.s.mu.Unlock()

	var t term.Term
	switch mode {
	case nextData:
		t, err = d.data()
	case nextAuth:
		var line []byte
		if line, err = d.line("AUTH response"); err == nil {
			t = term.Tuple{atomAuthResponse, term.String(bytes.TrimRight(line, " \t"))}
		}
	default:
		t, err = d.command()
	}
	if err != nil {
		return wrappers.Message{}, err
	}
	d.s.mu.Lock()
	d.s.pending++
	d.s.mu.Unlock()
	return wrappers.Message{Kind: wrappers.Call, Term: t, Raw: rd.Raw()}, nil
}

// line reads one line without its CRLF or LF, bounded by MaxBinary.
func (d *clientDecoder) line(what string) ([]byte, error) {
	at := d.rd.Off()
	line, _, err := d.rd.Line(what)
	if err == io.EOF {
		return nil, d.rd.ErrAt(d.rd.Offset(d.rd.End), "stream ended inside %s (frame started at byte %d)", what, at)
	}
	if err != nil {
		return nil, err
	}
	if len(line) > d.rd.Lim.MaxBinary {
		return nil, d.rd.LimitAt(at, "%s of %d bytes exceeds the limit of %d bytes", what, len(line), d.rd.Lim.MaxBinary)
	}
	return line, nil
}

// command reads a command line; BDAT takes its chunk with it.
func (d *clientDecoder) command() (term.Term, error) {
	at := d.rd.Off()
	line, err := d.line("a command line")
	if err != nil {
		return nil, err
	}
	t := words(line, &d.names)
	tu, ok := t.(term.Tuple)
	if !ok || tu[0] != term.Term(atomBdat) {
		return t, nil
	}
	// BDAT Size [LAST]: the Size bytes after the line belong to it.
	size, perr := strconv.ParseInt(string(tu[1].(term.String)), 10, 64)
	if perr != nil || size < 0 {
		return t, nil // the server will refuse it; nothing follows
	}
	if size > int64(d.rd.Lim.MaxBinary) {
		return nil, d.rd.LimitAt(at, "BDAT chunk of %d bytes exceeds the limit of %d bytes", size, d.rd.Lim.MaxBinary)
	}
	if int64(d.rd.Pos-d.rd.Start)+size > int64(d.rd.Lim.MaxFrame) {
		return nil, d.rd.LimitAt(at, "BDAT chunk of %d bytes exceeds the frame limit of %d bytes", size, d.rd.Lim.MaxFrame)
	}
	if err := d.rd.Need(int(size), "a BDAT chunk"); err != nil {
		return nil, err
	}
	chunk := make([]byte, size)
	copy(chunk, d.rd.Buf[d.rd.Pos:])
	d.rd.Pos += int(size)
	return append(tu, term.Binary(chunk)), nil
}

// data reads a message body up to the line holding a lone ".".
func (d *clientDecoder) data() (term.Term, error) {
	body := d.body[:0]
	for {
		rel := d.rd.Pos - d.rd.Start // fill may move the frame in the buffer
		line, _, err := d.rd.Line("a DATA body")
		if err == io.EOF {
			return nil, d.rd.ErrAt(d.rd.Offset(d.rd.End), "stream ended inside a DATA body (frame started at byte %d)", d.rd.Offset(d.rd.Start))
		}
		if err != nil {
			return nil, err
		}
		if len(line) == 1 && line[0] == '.' {
			break
		}
		at := d.rd.Start + rel
		if len(line) > 0 && line[0] == '.' {
			at++ // undo dot-stuffing
		}
		if len(body)+d.rd.Pos-at > d.rd.Lim.MaxBinary {
			return nil, d.rd.LimitAt(d.rd.Offset(d.rd.Start), "DATA body exceeds the limit of %d bytes", d.rd.Lim.MaxBinary)
		}
		body = append(body, d.rd.Buf[at:d.rd.Pos]...)
	}
	out := make([]byte, len(body))
	copy(out, body)
	if cap(body) <= 1<<20 {
		d.body = body[:0]
	}
	return term.Tuple{atomData, term.Binary(out)}, nil
}

// serverDecoder reads the lines a server sends.
type serverDecoder struct {
	s     *Session
	rd    bufread.Reader
	names interner
	texts term.List // scratch for a multi-line reply
}

// Next implements wrappers.Decoder.
func (d *serverDecoder) Next() (wrappers.Message, error) {
	rd := &d.rd
	err := rd.Frame()
	if err != nil {
		return wrappers.Message{}, err
	}
	t, err := d.reply()
	if err != nil {
		return wrappers.Message{}, err
	}
	kind := wrappers.Reply
	d.s.mu.Lock()
	switch {
	case !d.s.greeted:
		d.s.greeted = true
		kind = wrappers.Event
	case d.s.pending == 0:
		kind = wrappers.Event
	default:
		d.s.pending--
		switch code, _ := replyCode(t); code {
		case 354:
			d.s.next = nextData
		case 334:
			d.s.next = nextAuth
		}
	}
	d.s.mu.Unlock()
	return wrappers.Message{Kind: kind, Term: t, Raw: rd.Raw()}, nil
}

// reply reads one server message: a coded reply of one or more lines, or a
// line without a code.
func (d *serverDecoder) reply() (term.Term, error) {
	at := d.rd.Off()
	line, err := d.line(at)
	if err != nil {
		return nil, err
	}
	code, sep, text, ok := coded(line)
	if !ok {
		return words(line, &d.names), nil
	}
	if sep != '-' {
		return term.Tuple{term.Int(code), term.String(text)}, nil
	}
	texts := append(d.texts[:0], term.String(text))
	for sep == '-' {
		lat := d.rd.Off()
		line, err := d.line(lat)
		if err != nil {
			return nil, err
		}
		var code2 int64
		code2, sep, text, ok = coded(line)
		if !ok || code2 != code {
			return nil, d.rd.ErrAt(lat, "line %d of a multi-line %d reply does not start with %d: %q", len(texts)+1, code, code, truncate(line))
		}
		texts = append(texts, term.String(text))
	}
	d.texts = texts[:0]
	return term.Tuple{term.Int(code), append(term.List(nil), texts...)}, nil
}

func (d *serverDecoder) line(at int64) ([]byte, error) {
	line, _, err := d.rd.Line("a reply line")
	if err == io.EOF {
		return nil, d.rd.ErrAt(d.rd.Offset(d.rd.End), "stream ended inside a reply (frame started at byte %d)", d.rd.Offset(d.rd.Start))
	}
	if err != nil {
		return nil, err
	}
	if len(line) > d.rd.Lim.MaxBinary {
		return nil, d.rd.LimitAt(at, "reply line of %d bytes exceeds the limit of %d bytes", len(line), d.rd.Lim.MaxBinary)
	}
	return line, nil
}

// coded splits "250-text", "250 text" or "250" into its parts; sep is '-',
// ' ' or 0.
func coded(line []byte) (code int64, sep byte, text []byte, ok bool) {
	if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, 0, nil, false
	}
	if len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, 0, nil, false
	}
	code = int64(line[0]-'0')*100 + int64(line[1]-'0')*10 + int64(line[2]-'0')
	if len(line) == 3 {
		return code, 0, nil, true
	}
	return code, line[3], line[4:], true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// truncate shortens b for an error message.
func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// Buffered implements wrappers.Bufferer.
func (d *clientDecoder) Buffered() int { return d.rd.Buffered() }

// Buffered implements wrappers.Bufferer.
func (d *serverDecoder) Buffered() int { return d.rd.Buffered() }

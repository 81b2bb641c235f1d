package text

import (
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// SMTP is the family of SMTP and LMTP (RFC 5321, RFC 3030's BDAT, RFC
// 4954's AUTH).
//
// A command is {verb, Word, ...}: the verb lower-cased, the other words
// strings, split at runs of spaces (MAIL FROM:<a@b> SIZE=10 is {mail,
// "FROM:<a@b>", "SIZE=10"}; QUIT is quit). BDAT Size [LAST] carries the
// Size bytes after its line: {bdat, "Size", Bytes} or {bdat, "Size",
// "LAST", Bytes}. When the server answers DATA with 354, the client's
// lines up to the lone "." are {data, Body}, Body a binary with the
// dot-stuffing undone and the line ends kept; when it answers AUTH (or an
// AUTH response) with 334, the client's next line is {auth_response,
// "base64"}. A 354 or 334 answering anything else changes nothing.
//
// A reply is {Code, Text}, Code an integer; a multi-line reply (250-a,
// 250-b, 250 c) is one term {Code, ["a", "b", "c"]}, and a line in it with
// another code is a malformed frame. A server line without a code is read
// like a command line.
var SMTP = &Family{
	Name:          "smtp",
	greets:        true,
	command:       smtpCommand,
	reply:         smtpReply,
	errorReply:    smtpErrorReply,
	encodeCommand: smtpEncodeCommand,
	encodeReply:   appendCoded,
}

var (
	atomData         = term.Atom("data")
	atomBdat         = term.Atom("bdat")
	atomAuth         = term.Atom("auth")
	atomAuthResponse = term.Atom("auth_response")
)

func smtpCommand(d *clientDecoder, f follow) (term.Term, request, error) {
	switch f {
	case followBody:
		body, err := d.in.dotBody("a mail body", &d.body)
		if err != nil {
			return nil, request{}, err
		}
		return term.Tuple{atomData, body}, request{answerLine}, nil
	case followAuth:
		return authResponse(d)
	}
	at := d.in.rd.Off()
	line, err := d.in.line("a command line")
	if err != nil {
		return nil, request{}, err
	}
	t := d.words(line, true, nil)
	switch t {
	case term.Term(atomData):
		return t, request{answerData}, nil
	}
	tu, ok := t.(term.Tuple)
	if !ok {
		return t, request{answerLine}, nil
	}
	switch tu[0] {
	case term.Term(atomAuth):
		return t, request{answerAuth}, nil
	case term.Term(atomBdat):
		// BDAT Size [LAST]: the Size bytes after the line belong to it.
		n := number([]byte(tu[1].(term.String)))
		if n < 0 || len(tu) > 3 {
			return t, request{answerLine}, nil // the server refuses it; no chunk follows
		}
		if n > int64(d.in.rd.Lim.MaxBinary) {
			return nil, request{}, d.in.rd.LimitAt(at, "BDAT chunk of %d bytes exceeds the limit of %d bytes", n, d.in.rd.Lim.MaxBinary)
		}
		chunk, err := d.in.block(n, false, "a BDAT chunk")
		if err != nil {
			return nil, request{}, err
		}
		return append(tu, chunk), request{answerLine}, nil
	}
	return t, request{answerLine}, nil
}

// authResponse reads the client's answer to an AUTH challenge: one line,
// a request the server answers again.
func authResponse(d *clientDecoder) (term.Term, request, error) {
	line, err := d.in.line("an AUTH response")
	if err != nil {
		return nil, request{}, err
	}
	return term.Tuple{atomAuthResponse, term.String(trimRight(line))}, request{answerAuth}, nil
}

func smtpReply(d *serverDecoder, req request, ok bool) (term.Term, follow, error) {
	t, code, err := codedReply(d, true)
	if err != nil || !ok {
		return t, followCommand, err
	}
	switch {
	case code == 354 && req.answer == answerData:
		return t, followBody, nil
	case code == 334 && req.answer == answerAuth:
		return t, followAuth, nil
	}
	return t, followCommand, nil
}

// codedReply reads a reply of one or more lines: {Code, Text} or {Code,
// [Text, ...]}. strict (SMTP) wants every line of a multi-line reply to
// start with its code; otherwise (FTP, RFC 959 4.2) the middle lines are
// any text, a leading "Code-" taken off, and the reply ends at the first
// line that starts with "Code " (or is just "Code"). code is -1 for a line
// without a code, which is read like a command line.
func codedReply(d *serverDecoder, strict bool) (t term.Term, code int64, err error) {
	var texts term.List
	if p, ok := d.in.resumed(); ok {
		code, texts = p.code, p.items
	} else {
		line, err := d.in.line("a reply line")
		if err != nil {
			return nil, 0, err
		}
		var (
			sep  byte
			text []byte
		)
		code, sep, text, ok = coded(line)
		if !ok {
			return d.words(line, true, nil), -1, nil
		}
		if sep != '-' {
			return term.Tuple{term.Int(code), term.String(text)}, code, nil
		}
		texts = term.List{term.String(text)}
	}
	for {
		rel, lat := d.in.rd.Pos-d.in.rd.Start, d.in.rd.Off()
		line, err := d.in.line("a line of a multi-line reply")
		if err != nil {
			return nil, 0, d.in.stop(err, partial{next: rel, items: texts, code: code})
		}
		code2, sep, text, ok := coded(line)
		switch {
		case ok && code2 == code:
		case strict:
			return nil, 0, d.in.rd.ErrAt(lat, "line %d of a multi-line %d reply does not start with %d: %q", len(texts)+1, code, code, quote(line))
		default:
			sep, text = '-', line
		}
		texts = append(texts, term.String(text))
		if sep != '-' {
			return term.Tuple{term.Int(code), texts}, code, nil
		}
	}
}

func trimRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// smtpErrorReply is one reply line: 503 5.5.1 ("bad sequence of
// commands", RFC 3463 "invalid command") for a client that broke the
// contract, which a client handles whether the session then goes on or
// ends; 451 4.3.0 ("local error in processing") when the service broke
// it, a transient failure, so that a client retries later rather than
// bouncing the mail. At most the 512 bytes RFC 5321 allows a reply line.
func smtpErrorReply(v wrappers.Violation) []byte {
	if v.Side == wrappers.Server {
		return replyLine("451 4.3.0 Contract violation by the service", v, 512)
	}
	return replyLine("503 5.5.1 Contract violation", v, 512)
}

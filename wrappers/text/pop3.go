package text

import (
	"bytes"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// POP3 is the family of POP3 (RFC 1939, RFC 2449's CAPA, RFC 5034's
// AUTH).
//
// A command is {verb, Word, ...}: the verb lower-cased, the other words
// strings, split at runs of spaces (LIST 1 is {list, "1"}; STAT is stat).
// After the server's "+ " challenge to AUTH, the client's next line is
// {auth_response, "base64"}.
//
// A status line is {ok, Text} or {err, Text} (+OK 2 messages is {ok, "2
// messages"}; a bare +OK is {ok, ""}), and a challenge "+ Text" is
// {continue, Text}. Whether a +OK answer goes on with a dot-terminated
// block depends on the command it answers, never on what the lines hold:
// CAPA, LIST and UIDL without an argument, and AUTH without one, are
// answered {ok, Text, [Line, ...]}, a list of strings; RETR and TOP are
// answered {ok, Text, Mail}, Mail a binary with the dot-stuffing undone
// and the CRLF line ends kept. -ERR is always one line. Commands may be
// pipelined (RFC 2449): each answer is framed by its own command.
var POP3 = &Family{
	Name:          "pop3",
	greets:        true,
	command:       pop3Command,
	reply:         pop3Reply,
	errorReply:    pop3ErrorReply,
	encodeCommand: pop3EncodeCommand,
	encodeReply:   pop3EncodeReply,
}

var (
	atomOK       = term.Atom("ok")
	atomErr      = term.Atom("err")
	atomContinue = term.Atom("continue")
)

func pop3Command(d *clientDecoder, f follow) (term.Term, request, error) {
	if f == followAuth {
		return authResponse(d)
	}
	line, err := d.in.line("a command line")
	if err != nil {
		return nil, request{}, err
	}
	t := d.words(line, true, nil)
	name, args := t, 0
	if tu, ok := t.(term.Tuple); ok {
		name, args = tu[0], len(tu)-1
	}
	switch name {
	case term.Atom("capa"):
		return t, request{answerLines}, nil
	case term.Atom("list"), term.Atom("uidl"):
		if args == 0 {
			return t, request{answerLines}, nil
		}
	case term.Atom("retr"), term.Atom("top"):
		return t, request{answerBody}, nil
	case term.Atom("auth"):
		if args == 0 {
			return t, request{answerLines}, nil
		}
		return t, request{answerAuth}, nil
	}
	return t, request{answerLine}, nil
}

func pop3Reply(d *serverDecoder, req request, ok bool) (term.Term, follow, error) {
	line, err := d.in.line("a status line")
	if err != nil {
		return nil, followCommand, err
	}
	var status term.Atom
	var text []byte
	switch {
	case bytes.HasPrefix(line, []byte("+OK")) && (len(line) == 3 || line[3] == ' '):
		status, text = atomOK, line[min(4, len(line)):]
	case bytes.HasPrefix(line, []byte("-ERR")) && (len(line) == 4 || line[4] == ' '):
		return term.Tuple{atomErr, term.String(line[min(5, len(line)):])}, followCommand, nil
	case len(line) >= 1 && line[0] == '+' && (len(line) == 1 || line[1] == ' '):
		next := followCommand
		if ok && req.answer == answerAuth {
			next = followAuth
		}
		return term.Tuple{atomContinue, term.String(line[min(2, len(line)):])}, next, nil
	default:
		return d.words(line, true, nil), followCommand, nil
	}
	if !ok {
		return term.Tuple{status, term.String(text)}, followCommand, nil
	}
	// text is in the buffer, which reading on may move: keep a copy.
	head := term.String(text)
	switch req.answer {
	case answerLines:
		l, err := d.in.dotLines("a multi-line answer")
		if err != nil {
			return nil, followCommand, err
		}
		return term.Tuple{status, head, l}, followCommand, nil
	case answerBody:
		mail, err := d.in.dotBody("a mail", &d.body)
		if err != nil {
			return nil, followCommand, err
		}
		return term.Tuple{status, head, mail}, followCommand, nil
	}
	return term.Tuple{status, head}, followCommand, nil
}

// pop3ErrorReply is -ERR, the only refusal POP3 has, for either side.
func pop3ErrorReply(v wrappers.Violation) []byte {
	if v.Side == wrappers.Server {
		return replyLine("-ERR Contract violation by the service", v, 512)
	}
	return replyLine("-ERR Contract violation", v, 512)
}

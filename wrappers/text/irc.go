package text

import (
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/intern"
)

// IRC is the family of IRC (RFC 1459, RFC 2812, and IRCv3's message
// tags), the same syntax from either side.
//
// A message [@tags] [:prefix] COMMAND middle ... [:trailing] is {verb,
// Param, ...}: the command a lower-cased atom, or an integer for a
// three-digit numeric (001 is 1, 433 is 433); every parameter a string,
// the trailing one as it is, spaces and colons included, never split
// (PRIVMSG #a :hi there is {privmsg, "#a", "hi there"}). A command without
// parameters is the bare atom (QUIT is quit). A prefix wraps the message:
// {from, Prefix, Message}, so that PRIVMSG from the server and from the
// client differ only by it (:bob!~b@h PRIVMSG #a :hi is {from, "bob!~b@h",
// {privmsg, "#a", "hi"}}); tags wrap the rest likewise, {tags, "a=b;c",
// Message}. An empty line is no message: it is forwarded unchecked.
var IRC = &Family{
	Name:          "irc",
	command:       ircClient,
	reply:         ircServer,
	errorReply:    ircErrorReply,
	encodeCommand: ircEncode,
	encodeReply:   ircEncode,
}

var (
	atomFrom = term.Atom("from")
	atomTags = term.Atom("tags")
)

func ircClient(d *clientDecoder, _ follow) (term.Term, request, error) {
	t, err := d.ircMessage()
	return t, request{}, err
}

func ircServer(d *serverDecoder, _ request, _ bool) (term.Term, follow, error) {
	t, err := d.ircMessage()
	return t, followCommand, err
}

// ircMessage reads one message; nil for an empty line.
func (d *side) ircMessage() (term.Term, error) {
	line, err := d.in.line("a message")
	if err != nil {
		return nil, err
	}
	return ircParse(&d.verbs, line), nil
}

// ircMaxParams is the number of parameters RFC 2812 allows: after 14
// middle ones, the rest of the line is the trailing one, colon or not.
const ircMaxParams = 15

// ircParse parses one line; nil for an empty line.
func ircParse(verbs *intern.Cache[term.Term], line []byte) term.Term {
	var outer [2]struct {
		tag  term.Atom
		text []byte
	}
	nw := 0
	i := 0
	for _, mark := range []struct {
		c   byte
		tag term.Atom
	}{{'@', atomTags}, {':', atomFrom}} {
		if i < len(line) && line[i] == mark.c {
			j := i + 1
			for j < len(line) && line[j] != ' ' {
				j++
			}
			outer[nw].tag, outer[nw].text = mark.tag, line[i+1:j]
			nw++
			for j < len(line) && line[j] == ' ' {
				j++
			}
			i = j
		}
	}
	w, i := nextWord(line, i)
	if w == nil && nw == 0 {
		return nil
	}
	var cmd term.Term
	switch {
	case len(w) == 3 && digits(w):
		cmd = term.Int(number(w))
	default:
		cmd = verb(verbs, w, true)
	}
	msg := cmd
	var tu term.Tuple
	for {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			break
		}
		if tu == nil {
			tu = term.Tuple{cmd}
		}
		if line[i] == ':' || len(tu) == ircMaxParams {
			if line[i] == ':' {
				i++
			}
			tu = append(tu, term.String(line[i:]))
			break
		}
		var p []byte
		p, i = nextWord(line, i)
		tu = append(tu, term.String(p))
	}
	if tu != nil {
		msg = tu
	}
	for k := nw - 1; k >= 0; k-- {
		msg = term.Tuple{outer[k].tag, term.String(outer[k].text), msg}
	}
	return msg
}

// ircErrorReply: for a client, the numeric 421 (ERR_UNKNOWNCOMMAND) that
// every client shows and survives, from the server name "ubfproxy" to the
// nick "*" (the wire does not know the client's nick); for a service that
// broke the contract, ERROR, which a server sends before it closes the
// link.
func ircErrorReply(v wrappers.Violation) []byte {
	if v.Side == wrappers.Server {
		return replyLine("ERROR :Contract violation by the service", v, 512)
	}
	cmd := "*"
	if v.Message != nil {
		cmd = ircCommandName(v.Message)
	}
	return replyLine(":ubfproxy 421 * "+cmd+" :Contract violation", v, 512)
}

// ircCommandName returns the command of a message term, upper-cased, as a
// 421 names it.
func ircCommandName(t term.Term) string {
	for {
		tu, ok := t.(term.Tuple)
		if !ok {
			break
		}
		if len(tu) == 3 && (tu[0] == term.Term(atomFrom) || tu[0] == term.Term(atomTags)) {
			if _, isStr := tu[1].(term.String); isStr {
				t = tu[2]
				continue
			}
		}
		t = tu[0]
	}
	var name string
	switch c := t.(type) {
	case term.Atom:
		name = string(c)
	default:
		name = t.String()
	}
	b := []byte(name)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c <= ' ' || c == ':' || c >= 0x7f:
			b[i] = '_'
		}
	}
	if len(b) == 0 || len(b) > 32 {
		return "*"
	}
	return string(b)
}

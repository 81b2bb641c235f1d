package text

import (
	"bytes"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// FTP is the family of FTP's control connection (RFC 959, RFC 2389's
// FEAT).
//
// A command is {verb, Argument}: the verb lower-cased, and the rest of
// the line after the first space as one string, spaces and all (RETR my
// file.txt is {retr, "my file.txt"}; a second space belongs to the
// argument). A command without an argument is the bare verb atom (PWD is
// pwd).
//
// A reply is {Code, Text}; a multi-line reply is {Code, [Line, ..., Last]}
// as RFC 959 defines it: it starts "Code-", its middle lines are any text
// (a leading "Code-" is taken off; other lines are kept as they are,
// leading spaces included, as FEAT's " SIZE"), and it ends at the first
// line that starts "Code ". A transfer is answered twice — 150, then 226
// or 426 — each its own message.
var FTP = &Family{
	Name:          "ftp",
	greets:        true,
	command:       ftpCommand,
	reply:         ftpReply,
	errorReply:    ftpErrorReply,
	encodeCommand: ftpEncodeCommand,
	encodeReply:   appendCoded,
}

func ftpCommand(d *clientDecoder, _ follow) (term.Term, request, error) {
	line, err := d.in.line("a command line")
	if err != nil {
		return nil, request{}, err
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return verb(&d.verbs, line, true), request{}, nil
	}
	return term.Tuple{verb(&d.verbs, line[:sp], true), term.String(line[sp+1:])}, request{}, nil
}

func ftpReply(d *serverDecoder, _ request, _ bool) (term.Term, follow, error) {
	t, _, err := codedReply(d, false)
	return t, followCommand, err
}

// ftpErrorReply: 503 ("bad sequence of commands") for a client that broke
// the contract — clients take a 5xx as the refusal of that one command —
// and 451 ("local error in processing") when the service broke it.
func ftpErrorReply(v wrappers.Violation) []byte {
	if v.Side == wrappers.Server {
		return replyLine("451 Contract violation by the service", v, 512)
	}
	return replyLine("503 Contract violation", v, 512)
}

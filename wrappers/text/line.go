package text

import (
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// Line is the generic line wire, for protocols no other family describes:
// one line (ended by LF, CR before it allowed) is one message, from either
// side, with no protocol rules at all — no greeting, no multi-line replies,
// no data blocks.
//
// A line is {Word, Word, ...} split at runs of spaces: the first word a
// lower-cased atom, or an integer when it is all digits (a reply code:
// 250 ok is {250, "ok"}), the others strings. A line of one word is that
// word alone (QUIT is quit), an empty line the empty atom ”.
var Line = &Family{
	Name:          "line",
	command:       lineClient,
	reply:         lineServer,
	errorReply:    lineErrorReply,
	encodeCommand: lineEncode,
	encodeReply:   lineEncode,
}

func lineClient(d *clientDecoder, _ follow) (term.Term, request, error) {
	t, err := d.lineTerm()
	return t, request{}, err
}

func lineServer(d *serverDecoder, _ request, _ bool) (term.Term, follow, error) {
	t, err := d.lineTerm()
	return t, followCommand, err
}

func (d *side) lineTerm() (term.Term, error) {
	line, err := d.in.line("a line")
	if err != nil {
		return nil, err
	}
	t := d.words(line, true, nil)
	first, _ := nextWord(line, 0)
	n := number(first)
	if n < 0 {
		return t, nil
	}
	if tu, ok := t.(term.Tuple); ok {
		tu[0] = term.Int(n)
		return tu, nil
	}
	return term.Int(n), nil
}

// lineErrorReply: the generic wire knows no protocol's refusal, so it
// says it in words a person reading the stream understands, on one line.
func lineErrorReply(v wrappers.Violation) []byte {
	if v.Side == wrappers.Server {
		return replyLine("ubfproxy: contract violation by the service", v, 1024)
	}
	return replyLine("ubfproxy: contract violation", v, 1024)
}

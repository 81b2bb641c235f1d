package text

import (
	"bytes"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// Memcached is the family of memcached's text protocol (its protocol.txt:
// the classic commands and the meta commands).
//
// A command is {verb, Word, ...}, split at runs of spaces. Unlike the
// other families the verb keeps its case: memcached's commands are
// case-sensitive (it answers SET with ERROR), so SET is the atom 'SET',
// which no rule written for set matches. A storage command carries the
// data block its line announces, as a binary at the end: set k 0 0 5 then
// hello is {set, "k", "0", "0", "5", <<"hello">>}, with noreply {set, "k",
// "0", "0", "5", "noreply", <<"hello">>}; likewise add, replace, append,
// prepend, cas, and the meta ms. The block is exactly the length the
// command named, followed by CRLF; anything else is a malformed frame
// from the client. A command line memcached refuses before it reads the
// block (too many words, a key over 250 bytes, a field that is not a
// number as memcached reads numbers) carries no block, as memcached reads
// none: its block's bytes are the next command, for memcached and the
// wire alike.
//
// An answer is framed by the command it answers, never by what a value
// holds. A one-line answer is the lower-cased atom of its word (STORED is
// stored, END is 'end', NOT_FOUND is not_found, the meta HD is hd); a
// number is an integer (incr's 8); ERROR, CLIENT_ERROR and SERVER_ERROR
// with a message are {error, Text}, {client_error, Text} and
// {server_error, Text}; other lines are {word, Word, ...} as commands are
// (VERSION 1.6.18 is {version, "1.6.18"}). The answer to get, gets, gat
// and gats is the list of its values up to END, each {value, Key, Flags,
// Bytes, Data} or with gets {value, Key, Flags, Bytes, Cas, Data}, Data a
// binary ([] for END alone); the answer to stats is the list of its lines
// up to END ({stat, Name, Value}, ...). A meta VA answer carries its
// block: {va, Size, Flag, ..., Data}. Commands with noreply (and meta
// commands with the q flag) get no answer; they wait for none.
var Memcached = &Family{
	Name:          "memcached",
	command:       memcachedCommand,
	reply:         memcachedReply,
	errorReply:    memcachedErrorReply,
	encodeCommand: memcachedEncodeCommand,
	encodeReply:   memcachedEncodeReply,
}

// memcachedMaxKey is the longest key memcached takes.
const memcachedMaxKey = 250

var (
	atomError       = term.Atom("error")
	atomClientError = term.Atom("client_error")
	atomServerError = term.Atom("server_error")
)

// blockOf names the data block of a command that has one, for errors.
func blockOf(verb []byte) string {
	switch string(verb) {
	case "set":
		return "the data block of set"
	case "add":
		return "the data block of add"
	case "replace":
		return "the data block of replace"
	case "append":
		return "the data block of append"
	case "prepend":
		return "the data block of prepend"
	case "cas":
		return "the data block of cas"
	}
	return "the data block of ms"
}

// fields splits line into at most len(buf) words.
func fields(line []byte, buf [][]byte) [][]byte {
	f := buf[:0]
	for i := 0; len(f) < cap(f); {
		var w []byte
		if w, i = nextWord(line, i); w == nil {
			break
		}
		f = append(f, w)
	}
	return f
}

func memcachedCommand(d *clientDecoder, _ follow) (term.Term, request, error) {
	line, err := d.in.line("a command line")
	if err != nil {
		return nil, request{}, err
	}
	var buf [8][]byte
	f := fields(line, buf[:])
	if len(f) == 0 {
		return d.words(line, false, nil), request{answerLine}, nil
	}
	noreply := bytes.Equal(f[len(f)-1], []byte("noreply"))
	size := int64(-1) // the length of the data block the line announces
	req := request{answerLine}
	switch string(f[0]) {
	case "set", "add", "replace", "append", "prepend":
		// verb key flags exptime bytes [noreply]; more words is ERROR
		if len(f) <= 6 && len(f) >= 5 && storageLine(f[1], f[2], f[3]) {
			size = blockSize(f[4])
		}
	case "cas":
		// cas key flags exptime bytes unique [noreply]
		if len(f) <= 7 && len(f) >= 6 && storageLine(f[1], f[2], f[3]) && unsigned(f[5]) {
			size = blockSize(f[4])
		}
	case "ms":
		// ms key datalen flag*
		if len(f) >= 3 && len(f[1]) <= memcachedMaxKey {
			size = blockSize(f[2])
		}
		noreply = metaQuiet(f[3:])
	case "mg", "md", "ma", "mn", "me":
		noreply = len(f) > 2 && metaQuiet(f[2:])
	case "get", "gets", "gat", "gats":
		req = request{answerValues}
	case "stats":
		req = request{answerStats}
	case "lru_crawler":
		if len(f) > 1 && string(f[1]) == "metadump" {
			req = request{answerStats}
		}
	case "delete", "incr", "decr", "touch", "flush_all", "verbosity":
	default:
		noreply = false // only the commands that take it
	}
	if size < 0 {
		t := d.words(line, false, nil)
		if noreply {
			req = request{answerUntracked}
		}
		return t, req, nil
	}
	// The term is made before the block is read: reading may move the
	// line in the buffer. Its last element is the block's place.
	what := blockOf(f[0])
	t := d.words(line, false, term.Binary(nil)).(term.Tuple)
	b, err := d.in.block(size, true, what)
	if err != nil {
		return nil, request{}, err
	}
	t[len(t)-1] = b
	if noreply {
		req = request{answerUntracked}
	}
	return t, req, nil
}

// storageLine reports whether memcached reads the block of a storage
// command with this key, flags and exptime: it refuses the line without
// reading the block otherwise (observed: a key over 250 bytes, flags that
// are negative or over 64 bits, an exptime that is not a number).
func storageLine(key, flags, exptime []byte) bool {
	if len(key) > memcachedMaxKey || !unsigned(flags) {
		return false
	}
	_, ok := signed(exptime)
	return ok
}

// unsigned reports whether b is a number memcached reads as unsigned 64
// bits (strtoull with its checks): digits, a '+' before them allowed.
func unsigned(b []byte) bool {
	if len(b) > 0 && b[0] == '+' {
		b = b[1:]
	}
	if !digits(b) {
		return false
	}
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return false
		}
		n = n*10 + d
	}
	return true
}

// signed returns the value of b as memcached reads a signed 64-bit number
// (strtoll): digits with an optional sign.
func signed(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg, b = b[0] == '-', b[1:]
	}
	if !digits(b) {
		return 0, false
	}
	var n int64
	for _, c := range b {
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}

// blockSize is the length of a data block as memcached takes it, or -1
// when it refuses the line: not a number, negative, or so big that the
// length with its CRLF overflows an int32.
func blockSize(b []byte) int64 {
	n, ok := signed(b)
	if !ok || n < 0 || n > 1<<31-3 {
		return -1
	}
	return n
}

// metaQuiet reports whether meta flags hold q: the command is answered
// only when it fails.
func metaQuiet(flags [][]byte) bool {
	for _, fl := range flags {
		if len(fl) == 1 && fl[0] == 'q' {
			return true
		}
	}
	return false
}

func memcachedReply(d *serverDecoder, req request, ok bool) (term.Term, follow, error) {
	if p, resumed := d.in.resumed(); resumed {
		l, err := memcachedList(d, req.answer, p.items, nil)
		return l, followCommand, err
	}
	line, err := d.in.line("an answer line")
	if err != nil {
		return nil, followCommand, err
	}
	if !ok {
		req = request{answerLine}
	}
	switch {
	case bytes.HasPrefix(line, []byte("VA ")):
		t, err := memcachedBlockLine(d, line, d.in.rd.Offset(d.in.rd.Start), 1, "the data block of a VA answer")
		return t, followCommand, err
	case req.answer == answerValues && bytes.HasPrefix(line, []byte("VALUE ")):
	case req.answer == answerValues && string(line) == "END":
		return term.List{}, followCommand, nil
	case req.answer == answerStats && statsLine(line):
	default:
		return memcachedLine(d, line), followCommand, nil
	}
	l, err := memcachedList(d, req.answer, nil, line)
	return l, followCommand, err
}

// memcachedList reads the items of the list answering a get (answer is
// answerValues) or a stats (answerStats) up to END, after the items l
// taken before. line is the first line to take, read already at the
// frame's start, or nil when the next one is read.
func memcachedList(d *serverDecoder, answer answer, l term.List, line []byte) (term.Term, error) {
	mark := 0 // where the item of line starts, relative to the frame's start
	for {
		if line == nil {
			mark = d.in.rd.Pos - d.in.rd.Start
			var err error
			if line, err = d.in.line("an answer line"); err != nil {
				return nil, d.in.stop(err, partial{next: mark, items: l})
			}
		}
		if string(line) == "END" {
			return l, nil
		}
		var t term.Term
		switch {
		case answer == answerStats:
			t = memcachedLine(d, line)
		case bytes.HasPrefix(line, []byte("VALUE ")):
			// VALUE key flags bytes [cas]
			var err error
			if t, err = memcachedBlockLine(d, line, d.in.rd.Offset(d.in.rd.Start+mark), 3, "the data block of a VALUE"); err != nil {
				return nil, d.in.stop(err, partial{next: mark, items: l})
			}
		default:
			return nil, d.in.rd.ErrAt(d.in.rd.Offset(d.in.rd.Start+mark), "in the answer to a get, %q where a VALUE line or END belongs", quote(line))
		}
		l = append(l, t)
		line = nil
	}
}

// statsLine reports whether line starts the list answering stats (or
// lru_crawler metadump), rather than being a one-line answer (OK, RESET,
// an error).
func statsLine(line []byte) bool {
	for _, p := range []string{"STAT ", "PREFIX ", "ITEM ", "key="} {
		if bytes.HasPrefix(line, []byte(p)) {
			return true
		}
	}
	return string(line) == "END"
}

// memcachedBlockLine reads the block whose length is word n of line, which
// starts at stream offset at, and returns {word, Word, ..., Data}.
func memcachedBlockLine(d *serverDecoder, line []byte, at int64, n int, what string) (term.Term, error) {
	var buf [8][]byte
	f := fields(line, buf[:])
	size := int64(-1)
	if n < len(f) {
		size = blockSize(f[n])
	}
	if size < 0 {
		return nil, d.in.rd.ErrAt(at, "%q does not give the length of its data block", quote(line))
	}
	t := d.words(line, true, term.Binary(nil)).(term.Tuple) // before the read moves line
	b, err := d.in.block(size, true, what)
	if err != nil {
		return nil, err
	}
	t[len(t)-1] = b
	return t, nil
}

// memcachedLine is a one-line answer.
func memcachedLine(d *serverDecoder, line []byte) term.Term {
	if n := number(line); n >= 0 {
		return term.Int(n)
	}
	if digits(line) && len(line) <= 20 { // a 64-bit counter past what number takes
		if v, ok := term.ParseInteger(string(line)); ok {
			return v
		}
	}
	for _, e := range []struct {
		word string
		atom term.Atom
	}{{"ERROR", atomError}, {"CLIENT_ERROR", atomClientError}, {"SERVER_ERROR", atomServerError}} {
		if rest, ok := bytes.CutPrefix(line, []byte(e.word)); ok && len(rest) > 0 && (rest[0] == ' ' || rest[0] == ':') {
			return term.Tuple{e.atom, term.String(bytes.TrimLeft(rest[1:], " "))}
		}
	}
	return d.words(line, true, nil)
}

// memcachedErrorReply: CLIENT_ERROR, what memcached answers a command it
// will not take, for a client; SERVER_ERROR when the service broke the
// contract. A client that sent noreply waits for no answer and would take
// the line for the answer to its next command: it gets none.
func memcachedErrorReply(v wrappers.Violation) []byte {
	if v.Side == wrappers.Server {
		return replyLine("SERVER_ERROR contract violation by the service", v, 1024)
	}
	if v.Event || hasNoreply(v.Message) {
		return nil
	}
	return replyLine("CLIENT_ERROR contract violation", v, 1024)
}

// hasNoreply reports whether a command term says noreply (or is a quiet
// meta command).
func hasNoreply(t term.Term) bool {
	tu, ok := t.(term.Tuple)
	if !ok {
		return false
	}
	for _, e := range tu[1:] {
		if s, ok := e.(term.String); ok && (s == "noreply" || s == "q") {
			return true
		}
	}
	return false
}

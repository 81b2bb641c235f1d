package fileserver

import (
	"fmt"
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
)

// conversation is the server's side of one connection: its open files and
// the state it announces with every reply. It is deliberately naive, the way
// legacy services are: it keeps a handle usable after close, reads from it
// as if nothing happened, and trusts the client to follow the protocol.
type conversation struct {
	files   map[string][]string
	handles map[int64]*handle
	next    int64 // last handle given out
	state   string
}

type handle struct {
	name   string
	lines  []string
	pos    int
	closed bool // recorded, never checked: the bug the contract catches
}

func newConversation(files map[string][]string) *conversation {
	return &conversation{files: files, handles: make(map[int64]*handle), state: "start"}
}

// answer computes the reply to one request and the state the server
// announces with it.
func (c *conversation) answer(req term.Term) (reply term.Term, state string) {
	reply = c.reply(req)
	return reply, c.state
}

func (c *conversation) reply(req term.Term) term.Term {
	if a, ok := req.(term.Atom); ok && a == "info" {
		return term.String(fmt.Sprintf("file server: %d files, %d open", len(c.files), c.openHandles()))
	}
	t, ok := req.(term.Tuple)
	if !ok || len(t) == 0 {
		return errorReply("unknown request " + term.Truncated(req, 60))
	}
	tag, _ := t[0].(term.Atom)
	switch {
	case tag == "open" && len(t) == 3:
		return c.open(t[1], t[2])
	case tag == "read_line" && len(t) == 2:
		h, err := c.lookup(t[1])
		if err != nil {
			return errorReply(err.Error())
		}
		// A closed handle reads on: the naive server never checks h.closed.
		if h.pos >= len(h.lines) {
			c.state = "atEof"
			return term.Atom("eof")
		}
		line := h.lines[h.pos]
		h.pos++
		c.state = "ready"
		return term.Tuple{term.Atom("ok"), term.String(line)}
	case tag == "rewind" && len(t) == 2:
		h, err := c.lookup(t[1])
		if err != nil {
			return errorReply(err.Error())
		}
		h.pos = 0
		c.state = "ready"
		return term.Atom("true")
	case tag == "close" && len(t) == 2:
		h, err := c.lookup(t[1])
		if err != nil {
			return errorReply(err.Error())
		}
		h.closed = true
		c.state = "stop"
		return term.Atom("true")
	}
	return errorReply("unknown request " + term.Truncated(req, 60))
}

func (c *conversation) open(name, mode term.Term) term.Term {
	fileName, ok := stringValue(name)
	if !ok {
		return errorReply("file name must be a string, got " + term.Truncated(name, 60))
	}
	m, _ := mode.(term.Atom)
	var lines []string
	switch m {
	case "read":
		content, ok := c.files[fileName]
		if !ok {
			c.state = "stop"
			return errorReply(fileName + ": no such file")
		}
		lines = content
	case "write":
		// Writing is not part of the protocol beyond opening: the file
		// starts empty, as with O_TRUNC.
	default:
		return errorReply("mode must be read or write, got " + term.Truncated(mode, 60))
	}
	c.next++
	c.handles[c.next] = &handle{name: fileName, lines: lines}
	c.state = "ready"
	return term.Tuple{term.Atom("ok"), term.Int(c.next)}
}

func (c *conversation) lookup(t term.Term) (*handle, error) {
	i, ok := t.(term.Integer)
	if !ok || !i.IsInt64() {
		return nil, fmt.Errorf("bad file handle %s", term.Truncated(t, 60))
	}
	h, ok := c.handles[i.Int64()]
	if !ok {
		return nil, fmt.Errorf("bad file handle %s", i)
	}
	return h, nil
}

func (c *conversation) openHandles() int {
	n := 0
	for _, h := range c.handles {
		if !h.closed {
			n++
		}
	}
	return n
}

func errorReply(why string) term.Term {
	return term.Tuple{term.Atom("error"), term.String(why)}
}

// stringValue accepts a string as UBF(A) sends it ("...") or, as ubf does,
// a list of character codes.
func stringValue(t term.Term) (string, bool) {
	switch v := t.(type) {
	case term.String:
		return string(v), true
	case term.List:
		if !v.IsString() {
			return "", false
		}
		var b strings.Builder
		for _, e := range v {
			b.WriteRune(rune(e.(term.Integer).Int64()))
		}
		return b.String(), true
	}
	return "", false
}

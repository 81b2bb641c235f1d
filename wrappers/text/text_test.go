package text

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/internal/golden"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

func TestByName(t *testing.T) {
	for _, f := range Families() {
		if ByName(f.Name) != f || NewWire(f).Name() != f.Name {
			t.Errorf("family %s is not found by its name", f.Name)
		}
	}
	if ByName("smtp ") != nil {
		t.Errorf("ByName found a family that does not exist")
	}
}

// pipeSession is one session whose two streams the test writes to.
type pipeSession struct {
	s              *Session
	client, server *bytes.Buffer
	cd, sd         wrappers.Decoder
}

func newPipeSession(fam *Family) *pipeSession {
	p := &pipeSession{client: &bytes.Buffer{}, server: &bytes.Buffer{}}
	p.s = NewWire(fam).NewSession(wrappers.Options{}).(*Session)
	p.cd, p.sd = p.s.ClientDecoder(p.client), p.s.ServerDecoder(p.server)
	return p
}

func next(t *testing.T, d wrappers.Decoder, buf *bytes.Buffer, data string) wrappers.Message {
	t.Helper()
	buf.WriteString(data)
	m, err := d.Next()
	if err != nil {
		t.Fatalf("decoding %q: %v", data, err)
	}
	return m
}

// TestDropped: a request the proxy did not forward is answered by nobody,
// so the next answer is framed by the request before it; an answer the
// client never saw does not change how its next line is read.
func TestDropped(t *testing.T) {
	p := newPipeSession(POP3)
	next(t, p.sd, p.server, "+OK ready\r\n")
	next(t, p.cd, p.client, "STAT\r\n")
	m := next(t, p.cd, p.client, "LIST\r\n")
	p.s.Dropped(wrappers.Client, m) // LIST never reaches the server
	if got := next(t, p.sd, p.server, "+OK 2 181\r\n").Term.String(); got != `{ok, "2 181"}` {
		t.Fatalf("answer to STAT: %s", got)
	}
	// Had LIST stayed queued, this +OK would swallow the next lines as a list.
	next(t, p.cd, p.client, "NOOP\r\n")
	if got := next(t, p.sd, p.server, "+OK\r\n").Term.String(); got != `{ok, ""}` {
		t.Fatalf("answer to NOOP: %s", got)
	}

	// A memcached noreply queued nothing: dropping it takes nothing off.
	p = newPipeSession(Memcached)
	next(t, p.cd, p.client, "get a\r\n")
	m = next(t, p.cd, p.client, "delete a noreply\r\n")
	p.s.Dropped(wrappers.Client, m)
	if got := next(t, p.sd, p.server, "VALUE a 0 1\r\nx\r\nEND\r\n").Term.String(); got != `[{value, "a", "0", "1", <<"x">>}]` {
		t.Fatalf("answer to get: %s", got)
	}

	// SMTP: the proxy replaced the 354 by its error reply.
	p = newPipeSession(SMTP)
	next(t, p.sd, p.server, "220 hi\r\n")
	next(t, p.cd, p.client, "DATA\r\n")
	m = next(t, p.sd, p.server, "354 go\r\n")
	p.s.Dropped(wrappers.Server, m)
	if got := next(t, p.cd, p.client, "QUIT\r\n").Term.String(); got != "quit" {
		t.Fatalf("line after a dropped 354: %s", got)
	}
}

// TestVerbs: verbs are lower-case atoms whatever their case, except
// memcached's, which are case-sensitive on the wire.
func TestVerbs(t *testing.T) {
	tests := []struct {
		fam  *Family
		line string
		want string
	}{
		{SMTP, "MaIl FROM:<a@b>", `{mail, "FROM:<a@b>"}`},
		{FTP, "Retr my file.txt", `{retr, "my file.txt"}`},
		{FTP, "CDUP", "cdup"},
		{POP3, "uIdL 1", `{uidl, "1"}`},
		{IRC, "PrivMsg #a :x", `{privmsg, "#a", "x"}`},
		{Memcached, "GET a", `{'GET', "a"}`},
		{Memcached, "get a", `{get, "a"}`},
		{Line, "HeLLo World", `{hello, "World"}`},
		{Line, "042 x", `{42, "x"}`},
	}
	for _, tt := range tests {
		p := newPipeSession(tt.fam)
		if got := next(t, p.cd, p.client, tt.line+"\r\n").Term.String(); got != tt.want {
			t.Errorf("%s %q: got %s, want %s", tt.fam.Name, tt.line, got, tt.want)
		}
	}
}

// TestLimits: a line or a block over the binary limit is refused before it
// is copied, as a limit error at its start.
func TestLimits(t *testing.T) {
	lim := wrappers.Limits{MaxFrame: 1 << 16, MaxBinary: 12}
	tests := []struct {
		fam    *Family
		client string
		at     int64
		want   string
	}{
		{Line, "0123456789abc\r\n", 0, "a line of 13 bytes exceeds the limit of 12 bytes"},
		{Memcached, "set k 0 0 13\r\n0123456789abc\r\n", 14, "the data block of set of 13 bytes exceeds the limit of 12 bytes"},
		{SMTP, "BDAT 13\r\n0123456789abc", 0, "BDAT chunk of 13 bytes exceeds the limit of 12 bytes"},
	}
	for _, tt := range tests {
		s := NewWire(tt.fam).NewSession(wrappers.Options{Limits: lim})
		_, err := s.ClientDecoder(strings.NewReader(tt.client)).Next()
		var fe *wrappers.FrameError
		if !errors.As(err, &fe) || !fe.Limit || fe.Offset != tt.at || !strings.Contains(fe.Msg, tt.want) {
			t.Errorf("%s %q: got %v, want a limit error at byte %d: %s", tt.fam.Name, tt.client, err, tt.at, tt.want)
		}
	}
	// A frame limit holds for a dot-terminated answer as it grows.
	s := NewWire(POP3).NewSession(wrappers.Options{Limits: wrappers.Limits{MaxFrame: 64, MaxBinary: 1 << 10}})
	cd := s.ClientDecoder(strings.NewReader("RETR 1\r\n"))
	sd := s.ServerDecoder(strings.NewReader("+OK hi\r\n+OK\r\n" + strings.Repeat("line\r\n", 20) + ".\r\n"))
	if _, err := sd.Next(); err != nil { // the greeting
		t.Fatal(err)
	}
	if _, err := cd.Next(); err != nil {
		t.Fatal(err)
	}
	var fe *wrappers.FrameError
	if _, err := sd.Next(); !errors.As(err, &fe) || !fe.Limit {
		t.Errorf("a mail of 120 bytes under a frame limit of 64: got %v, want a limit error", err)
	}
}

// TestEndOfStream: the stream may end between messages, not inside one.
func TestEndOfStream(t *testing.T) {
	tests := []struct {
		fam    *Family
		client string
		msgs   int
		err    string
	}{
		{Line, "a\r\nb\r\n", 2, ""},
		{Line, "a\r\nb", 1, "stream ended inside a line"},
		{Memcached, "set k 0 0 5\r\nab", 0, "stream ended inside the data block of set"},
		{SMTP, "BDAT 5\r\nab", 0, "stream ended inside a BDAT chunk"},
	}
	for _, tt := range tests {
		d := NewWire(tt.fam).NewSession(wrappers.Options{}).ClientDecoder(strings.NewReader(tt.client))
		n := 0
		var err error
		for {
			var m wrappers.Message
			if m, err = d.Next(); err != nil {
				break
			}
			if m.Kind != wrappers.Unknown {
				t.Errorf("%s: a message of kind %s", tt.fam.Name, m.Kind)
			}
			n++
		}
		if n != tt.msgs || (tt.err == "") != errors.Is(err, io.EOF) || tt.err != "" && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s %q: %d messages then %v; want %d then %q", tt.fam.Name, tt.client, n, err, tt.msgs, tt.err)
		}
	}
}

// TestErrorReplies writes each family's error reply for a client and for
// a service that broke the contract to a golden file, and checks that
// each is one line of the protocol's own refusal.
func TestErrorReplies(t *testing.T) {
	client := wrappers.Violation{
		Side: wrappers.Client, Message: term.Tuple{term.Atom("dele"), term.String("my file.txt")},
		States: []string{"ready"}, Explanation: "dele is not allowed in state ready",
	}
	server := wrappers.Violation{
		Side: wrappers.Server, Message: term.Tuple{term.Int(999), term.String("x\r\ny")},
		States: []string{"ready"}, Expected: []string{"{200, string()}"},
	}
	long := client
	long.Explanation = strings.Repeat("very long explanation ", 100)
	prefixes := map[string][2]string{
		"smtp":      {"503 5.5.1 ", "451 4.3.0 "},
		"ftp":       {"503 ", "451 "},
		"pop3":      {"-ERR ", "-ERR "},
		"irc":       {":ubfproxy 421 * DELE :", "ERROR :"},
		"memcached": {"CLIENT_ERROR ", "SERVER_ERROR "},
		"line":      {"ubfproxy: ", "ubfproxy: "},
	}
	var out bytes.Buffer
	for _, f := range Families() {
		for _, v := range []wrappers.Violation{client, server, long} {
			b := f.errorReply(v)
			fmt.Fprintf(&out, "%s %s: %q\n", f.Name, v.Side, b)
			want := prefixes[f.Name][int(v.Side)-1]
			if !bytes.HasPrefix(b, []byte(want)) {
				t.Errorf("%s: %q does not start with %q", f.Name, b, want)
			}
			if bytes.Count(b, []byte("\n")) != 1 || !bytes.HasSuffix(b, []byte("\r\n")) || len(b) > 1024 {
				t.Errorf("%s: %q is not one line of at most 1024 bytes", f.Name, b)
			}
		}
	}
	golden.Check(t, "testdata/errorreplies.golden", out.Bytes())

	noreply := client
	noreply.Message = term.Tuple{term.Atom("delete"), term.String("k"), term.String("noreply")}
	if b := Memcached.errorReply(noreply); b != nil {
		t.Errorf("memcached answers a noreply command: %q", b)
	}
}

// TestLongStream: terms made from a line stay right when reading the rest
// of the message moves the buffer (streams longer than the buffer, read in
// pieces that end anywhere).
func TestLongStream(t *testing.T) {
	var c, s strings.Builder
	for i := range 3000 {
		v := strings.Repeat(string(rune('a'+i%26)), i%97)
		fmt.Fprintf(&c, "set key:%d %d 0 %d\r\n%s\r\nget key:%d\r\n", i, i, len(v), v, i)
		fmt.Fprintf(&s, "STORED\r\nVALUE key:%d %d %d\r\n%s\r\nEND\r\n", i, i, len(v), v)
	}
	for _, wrap := range []func(io.Reader) io.Reader{iotest.HalfReader, iotest.OneByteReader} {
		sess := NewWire(Memcached).NewSession(wrappers.Options{})
		cd, sd := sess.ClientDecoder(wrap(strings.NewReader(c.String()))), sess.ServerDecoder(wrap(strings.NewReader(s.String())))
		for i := range 3000 {
			v := strings.Repeat(string(rune('a'+i%26)), i%97)
			want := []string{
				fmt.Sprintf(`{set, "key:%d", "%d", "0", "%d", %s}`, i, i, len(v), term.Binary(v)),
				fmt.Sprintf(`{get, "key:%d"}`, i),
			}
			for _, w := range want {
				m, err := cd.Next()
				if err != nil || m.Term.String() != w {
					t.Fatalf("command %d: got %v, %v; want %s", i, m.Term, err, w)
				}
			}
			for _, w := range []string{"stored", fmt.Sprintf(`[{value, "key:%d", "%d", "%d", %s}]`, i, i, len(v), term.Binary(v))} {
				m, err := sd.Next()
				if err != nil || m.Term.String() != w {
					t.Fatalf("answer %d: got %v, %v; want %s", i, m.Term, err, w)
				}
			}
		}
	}
}

// TestNoCrossRules: the lines that mean something in one protocol are
// plain lines in the others — one message each, no bytes swallowed, no
// mode switched.
func TestNoCrossRules(t *testing.T) {
	lines := []string{"354 go", "DATA", "BDAT 5", "250-x", "VALUE x 0 1", "+OK", "AUTH PLAIN", ".", "END", "RETR 1", "get x", ":p 001 x"}
	stream := strings.Join(lines, "\r\n") + "\r\n"
	tests := []struct {
		fam    *Family
		client bool // decode the lines as the client's (else as the server's)
	}{
		{FTP, true}, {POP3, true}, {IRC, true}, {IRC, false}, {Memcached, true}, {Memcached, false}, {Line, true}, {Line, false},
	}
	for _, tt := range tests {
		sess := NewWire(tt.fam).NewSession(wrappers.Options{})
		d := sess.ServerDecoder(strings.NewReader(stream))
		if tt.client {
			d = sess.ClientDecoder(strings.NewReader(stream))
		}
		n := 0
		for {
			m, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.fam.Name, err)
			}
			if n < len(lines) && string(m.Raw) != lines[n]+"\r\n" {
				t.Errorf("%s (client %v): message %d is %q, want the line %q", tt.fam.Name, tt.client, n, m.Raw, lines[n])
			}
			n++
		}
		if n != len(lines) {
			t.Errorf("%s (client %v): %d messages from %d lines", tt.fam.Name, tt.client, n, len(lines))
		}
	}
}

// TestAnswerErrorOffsets: a malformed line of a memcached answer is
// refused at its first byte, whether it ends in LF or CRLF, and whether it
// is the answer's first line or one after values.
func TestAnswerErrorOffsets(t *testing.T) {
	for _, c := range []struct {
		request, answer string
		at              int64
	}{
		{"get a\r\n", "VALUE a 0 1\r\nx\r\nSTORED\r\n", 16},
		{"get a\n", "VALUE a 0 1\nx\r\nSTORED\n", 15},
		{"get a b\r\n", "VALUE a 0 1\r\nx\r\nVALUE b 0 z\r\n", 16},
		{"get a\r\n", "VALUE a 0\r\n", 0},
		{"mg a v\r\n", "VA x\r\n", 0},
		{"mg a v\nmg a v\n", "VA\tx\nVA x\n", 5},
	} {
		s := NewWire(Memcached).NewSession(wrappers.Options{})
		if _, err := s.ClientDecoder(strings.NewReader(c.request)).Next(); err != nil {
			t.Fatal(err)
		}
		d := s.ServerDecoder(strings.NewReader(c.answer))
		var err error
		for range 3 {
			if _, err = d.Next(); err != nil {
				break
			}
		}
		var fe *wrappers.FrameError
		if !errors.As(err, &fe) || fe.Offset != c.at {
			t.Errorf("%q answering %q: got %v, want a FrameError at byte %d", c.answer, c.request, err, c.at)
		}
	}
}

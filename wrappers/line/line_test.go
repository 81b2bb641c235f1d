package line

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

// srv and cli are a turn of a scripted conversation: the bytes one side
// sends and the one message they must decode to ("call {mail, ...}",
// "event {220, ...}").
func srv(in, want string) wiretest.Turn {
	return wiretest.Turn{Side: wrappers.Server, In: in, Want: []string{want}}
}

func cli(in, want string) wiretest.Turn {
	return wiretest.Turn{Side: wrappers.Client, In: in, Want: []string{want}}
}

// smtpSession is a whole SMTP conversation as swaks and Postfix hold it,
// with a multi-line EHLO reply, pipelined recipients, a dot-stuffed body,
// RSET, NOOP, an AUTH exchange and an error reply.
var smtpSession = []wiretest.Turn{
	srv("220 mx.example.org ESMTP Postfix\r\n", `event {220, "mx.example.org ESMTP Postfix"}`),
	cli("EHLO client.example.com\r\n", `call {ehlo, "client.example.com"}`),
	srv("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
		`reply {250, ["mx.example.org", "PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN", "8BITMIME"]}`),
	cli("AUTH LOGIN\r\n", `call {auth, "LOGIN"}`),
	srv("334 VXNlcm5hbWU6\r\n", `reply {334, "VXNlcm5hbWU6"}`),
	cli("am9l\r\n", `call {auth_response, "am9l"}`),
	srv("334 UGFzc3dvcmQ6\r\n", `reply {334, "UGFzc3dvcmQ6"}`),
	cli("c2VjcmV0\r\n", `call {auth_response, "c2VjcmV0"}`),
	srv("235 2.7.0 Authentication successful\r\n", `reply {235, "2.7.0 Authentication successful"}`),
	cli("MAIL FROM:<joe@example.com> SIZE=120\r\n", `call {mail, "FROM:<joe@example.com>", "SIZE=120"}`),
	srv("250 2.1.0 Ok\r\n", `reply {250, "2.1.0 Ok"}`),
	cli("rcpt to:<ann@example.org>\r\n", `call {rcpt, "to:<ann@example.org>"}`),
	cli("RCPT TO:<bob@example.org>\n", `call {rcpt, "TO:<bob@example.org>"}`),
	srv("250 2.1.5 Ok\r\n", `reply {250, "2.1.5 Ok"}`),
	srv("550 5.1.1 <bob@example.org>: Recipient address rejected\r\n", `reply {550, "5.1.1 <bob@example.org>: Recipient address rejected"}`),
	cli("DATA\r\n", `call data`),
	srv("354 End data with <CR><LF>.<CR><LF>\r\n", `reply {354, "End data with <CR><LF>.<CR><LF>"}`),
	cli("Subject: hi\r\n\r\n..leading dot\r\n..\r\nQUIT in the body\r\n.\r\n",
		`call {data, <<"Subject: hi\r\n\r\n.leading dot\r\n.\r\nQUIT in the body\r\n">>}`),
	srv("250 2.0.0 Ok: queued as 4F2A1\r\n", `reply {250, "2.0.0 Ok: queued as 4F2A1"}`),
	cli("RSET\r\n", `call rset`),
	srv("250 2.0.0 Ok\r\n", `reply {250, "2.0.0 Ok"}`),
	cli("NOOP\r\n", `call noop`),
	srv("250\r\n", `reply {250, ""}`),
	cli("\r\n", `call ''`),
	srv("500 5.5.2 Error: bad syntax\r\n", `reply {500, "5.5.2 Error: bad syntax"}`),
	cli("BDAT 5 LAST\r\nab\r\nc", `call {bdat, "5", "LAST", <<"ab\r\nc">>}`),
	srv("250 2.0.0 Ok\r\n", `reply {250, "2.0.0 Ok"}`),
	cli("QUIT\r\n", `call quit`),
	srv("221 2.0.0 Bye\r\n", `reply {221, "2.0.0 Bye"}`),
	srv("421 4.4.2 timeout\r\n", `event {421, "4.4.2 timeout"}`),
}

// TestWire checks SMTP and POP3 conversations with wiretest: each message
// decoded the same, and forwarded byte for byte, however the bytes arrive
// (the old play test wrote each step through a pipe whole and one byte at
// a time; wiretest tries every split).
func TestWire(t *testing.T) {
	if err := wiretest.TestWire(Wire{}, wiretest.Conversation{Name: "smtp", Turns: smtpSession}); err != nil {
		t.Error(err)
	}
	err := wiretest.TestWire(Wire{ClientFirst: true}, wiretest.Conversation{Name: "client first", Turns: []wiretest.Turn{
		cli("USER joe\r\n", `call {user, "joe"}`),
		srv("+OK send your password\r\n", `reply {'+ok', "send", "your", "password"}`),
		cli("LIST\r\n", `call list`),
		srv("211-two lines\r\n211 end\r\n", `reply {211, ["two lines", "end"]}`),
	}})
	if err != nil {
		t.Error(err)
	}
}

// drain reads every message of d, copying what Next only lends.
func drain(d wrappers.Decoder) (texts []string, raw []byte, err error) {
	for range 100000 {
		m, err := d.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return texts, raw, nil
			}
			return texts, raw, err
		}
		texts = append(texts, m.Kind.String()+" "+m.Term.String())
		raw = append(raw, m.Raw...)
	}
	panic("decoder does not stop")
}

func TestMalformed(t *testing.T) {
	lim := wrappers.Limits{MaxFrame: 100, MaxBinary: 50}
	tests := []struct {
		name   string
		server bool
		data   bool // the client is in DATA mode
		in     string
		want   string
		offset int64
		limit  bool
	}{
		{"multi-line code changes", true, false, "250-a\r\n251 b\r\n", `line 2 of a multi-line 250 reply does not start with 250: "251 b"`, 7, false},
		{"multi-line without code", true, false, "220 hi\r\n250-a\r\nb\r\n", `line 2 of a multi-line 250 reply does not start with 250: "b"`, 15, false},
		{"reply cut by the end", true, false, "250-a\r\n250-b", "stream ended inside a reply line (frame started at byte 0)", 12, false},
		{"command cut by the end", false, false, "NOOP\r\nQUI", "stream ended inside a command line (frame started at byte 6)", 9, false},
		{"body cut by the end", false, true, "line\r\n", "stream ended inside a DATA body (frame started at byte 0)", 6, false},
		{"long command", false, false, strings.Repeat("a", 60) + "\r\n", "a command line of 60 bytes exceeds the limit of 50 bytes", 0, true},
		{"line over the frame limit", false, false, strings.Repeat("a", 200), "is longer than the frame limit of 100 bytes", 0, true},
		{"long body", false, true, strings.Repeat("abcdefghi\r\n", 6) + ".\r\n", "DATA body exceeds the limit of 50 bytes", 0, true},
		{"long reply line", true, false, "250 " + strings.Repeat("x", 60) + "\r\n", "reply line of 64 bytes exceeds the limit of 50 bytes", 0, true},
		{"BDAT over the limit", false, false, "BDAT 99999999999 LAST\r\n", "BDAT chunk of 99999999999 bytes exceeds the limit of 50 bytes", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Wire{ClientFirst: true}.NewSession(wrappers.Options{Limits: lim}).(*Session)
			s.pending = 5
			var d wrappers.Decoder
			if tc.server {
				d = s.ServerDecoder(strings.NewReader(tc.in))
			} else {
				if tc.data {
					s.next = nextData
				}
				d = s.ClientDecoder(strings.NewReader(tc.in))
			}
			_, _, err := drain(d)
			var fe *wrappers.FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FrameError", err)
			}
			if !strings.Contains(fe.Msg, tc.want) || fe.Offset != tc.offset || fe.Limit != tc.limit {
				t.Errorf("got %q at %d (limit %v)\nwant %q at %d (limit %v)", fe.Msg, fe.Offset, fe.Limit, tc.want, tc.offset, tc.limit)
			}
		})
	}
}

func TestOffsetsAfterTheBufferMoves(t *testing.T) {
	// Enough good lines that the buffer is compacted many times before the
	// bad reply; the offset must still count from the start of the stream.
	prefix := strings.Repeat("250 ok\r\n", 10000)
	s := Wire{ClientFirst: true}.NewSession(wrappers.Options{}).(*Session)
	s.pending = 1 << 20
	_, _, err := drain(s.ServerDecoder(iotest.HalfReader(strings.NewReader(prefix + "250-a\r\n999 b\r\n"))))
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || fe.Offset != int64(len(prefix)+7) {
		t.Fatalf("got %v, want a FrameError at %d", err, len(prefix)+7)
	}
}

func TestDropped(t *testing.T) {
	sess := Wire{}.NewSession(wrappers.Options{}).(*Session)
	cr, cw := io.Pipe()
	c := sess.ClientDecoder(cr)
	srv := sess.ServerDecoder(strings.NewReader("220 hi\r\n354 go\r\n250 ok\r\n"))
	if m, err := srv.Next(); err != nil || m.Kind != wrappers.Event {
		t.Fatalf("greeting: %v %v", m, err)
	}
	go cw.Write([]byte("DATA\r\n"))
	if _, err := c.Next(); err != nil {
		t.Fatal(err)
	}
	m, err := srv.Next()
	if err != nil || m.Kind != wrappers.Reply {
		t.Fatalf("354: %v %v", m, err)
	}
	// Reject mode replaced the 354 with an error reply: the client's next
	// line is a command, not a body.
	sess.Dropped(wrappers.Server, m)
	go cw.Write([]byte("RSET\r\n"))
	m, err = c.Next()
	if err != nil || m.Term.String() != "rset" {
		t.Fatalf("after a dropped 354: %v %v", m.Term, err)
	}
	// A call that was not forwarded gets no reply: the next server line
	// answers nothing and is an event.
	sess.Dropped(wrappers.Client, m)
	if m, err := srv.Next(); err != nil || m.Kind != wrappers.Event {
		t.Fatalf("after a dropped call: %v %v", m.Kind, err)
	}
}

func TestErrorReply(t *testing.T) {
	s := Wire{}.NewSession(wrappers.Options{})
	got := string(s.ErrorReply(wrappers.Violation{
		Side:        wrappers.Client,
		Message:     term.MustParse(`{rcpt, "TO:<b@c>"}`),
		States:      []string{"greeted"},
		Expected:    []string{`{mail, string()}`, "quit"},
		Explanation: "no rule of state greeted\r\naccepts rcpt",
	}))
	want := `503 5.5.1 Contract violation: client sent {rcpt, "TO:<b@c>"} in state greeted: no rule of state greeted  accepts rcpt` + "\r\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	b := s.ErrorReply(wrappers.Violation{Side: wrappers.Server, Explanation: strings.Repeat("é", 600)})
	if len(b) > maxReplyLine || !bytes.HasPrefix(b, []byte("451 4.3.0 ")) || bytes.Count(b, []byte("\n")) != 1 {
		t.Errorf("server reply not one bounded line: %q", b)
	}
	for _, c := range b[:len(b)-2] {
		if c < ' ' || c >= 0x7f {
			t.Fatalf("reply holds byte %#x", c)
		}
	}
	// It decodes as a reply line of this wire.
	sess := Wire{ClientFirst: true}.NewSession(wrappers.Options{}).(*Session)
	sess.pending = 1
	m, err := sess.ServerDecoder(bytes.NewReader(b)).Next()
	if code, _ := replyCode(m.Term); err != nil || code != 451 {
		t.Errorf("error reply decodes as %v, %v", m.Term, err)
	}
}

var (
	_ wrappers.Bufferer = (*clientDecoder)(nil)
	_ wrappers.Bufferer = (*serverDecoder)(nil)
	_ wrappers.Dropper  = (*Session)(nil)
)

func TestBuffered(t *testing.T) {
	d := Wire{}.NewSession(wrappers.Options{}).ClientDecoder(strings.NewReader("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"))
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if n := d.(wrappers.Bufferer).Buffered(); n != len("RCPT TO:<c@d>\r\n") {
		t.Errorf("Buffered after the first of two pipelined lines: %d", n)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if n := d.(wrappers.Bufferer).Buffered(); n != 0 {
		t.Errorf("Buffered after the last line: %d", n)
	}
}

// BenchmarkDecode measures decoding an SMTP transaction each way.
func BenchmarkDecode(b *testing.B) {
	var client, server bytes.Buffer
	const n = 200
	for range n {
		client.WriteString("MAIL FROM:<joe@example.com>\r\nRCPT TO:<ann@example.org>\r\nRSET\r\n")
		server.WriteString("250 2.1.0 Ok\r\n250-first\r\n250-second\r\n250 last\r\n250 2.0.0 Ok\r\n")
	}
	b.Run("client", func(b *testing.B) {
		b.SetBytes(int64(client.Len()))
		b.ReportAllocs()
		for b.Loop() {
			d := Wire{}.NewSession(wrappers.Options{}).ClientDecoder(bytes.NewReader(client.Bytes()))
			for {
				if _, err := d.Next(); err != nil {
					break
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*3*n), "ns/msg")
	})
	b.Run("server", func(b *testing.B) {
		b.SetBytes(int64(server.Len()))
		b.ReportAllocs()
		for b.Loop() {
			s := Wire{ClientFirst: true}.NewSession(wrappers.Options{}).(*Session)
			s.pending = 3 * n
			d := s.ServerDecoder(bytes.NewReader(server.Bytes()))
			for {
				if _, err := d.Next(); err != nil {
					break
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*3*n), "ns/msg")
	})
}

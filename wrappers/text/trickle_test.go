package text

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// trickle is a service that sends its bytes a piece at a time, as a
// proxy decoding inside the poller's callback reads them: a read returns
// what is left of the piece the test let out, and would block
// (wrappers.ErrWouldBlock) once it is read.
type trickle struct {
	pieces []string
	i      int // the piece being read
	off    int // bytes of pieces[i] read
	out    bool
}

func (t *trickle) Read(p []byte) (int, error) {
	if !t.out || t.i == len(t.pieces) {
		return 0, wrappers.ErrWouldBlock
	}
	n := copy(p, t.pieces[t.i][t.off:])
	t.off += n
	if t.off == len(t.pieces[t.i]) {
		t.i, t.off, t.out = t.i+1, 0, false
	}
	return n, nil
}

// wake lets the next piece out, and reports whether there was one.
func (t *trickle) wake() bool {
	t.out = t.i < len(t.pieces)
	return t.out
}

// lines splits s after each LF.
func lines(s string) []string { return strings.SplitAfter(s, "\n")[:strings.Count(s, "\n")] }

// trickled is a multi-line answer of a family, the client's request
// before it and the server's greeting before that, if any.
type trickled struct {
	name             string
	fam              *Family
	greeting, client string
	reply            func(n int) string
	// items returns the number of lines or values of the answer's term.
	items func(t term.Term) int
	// dot is set for a dot-terminated answer, which a cut makes wait for
	// its "." line (dotEnd) rather than go on where it stopped.
	dot bool
}

func listLen(t term.Term) int { l, _ := t.(term.List); return len(l) }

func codedLen(t term.Term) int {
	tu, _ := t.(term.Tuple)
	if len(tu) != 2 {
		return -1
	}
	return listLen(tu[1])
}

func pop3Len(t term.Term) int {
	tu, _ := t.(term.Tuple)
	if len(tu) != 3 {
		return -1
	}
	if b, ok := tu[2].(term.Binary); ok {
		return strings.Count(string(b), "\n")
	}
	return listLen(tu[2])
}

func repeatLines(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

var trickledReplies = []trickled{
	{name: "FTP multi-line reply", fam: FTP, items: codedLen, reply: func(n int) string {
		return "211-features\r\n" + repeatLines(n-2, " LINE%d\r\n") + "211 end\r\n"
	}},
	{name: "SMTP multi-line reply", fam: SMTP, greeting: "220 hi\r\n", client: "EHLO me\r\n", items: codedLen, reply: func(n int) string {
		return "250-hello\r\n" + repeatLines(n-2, "250-EXT%d\r\n") + "250 end\r\n"
	}},
	{name: "memcached get", fam: Memcached, client: "get k\r\n", items: listLen, reply: func(n int) string {
		return repeatLines(n, "VALUE k%d 0 1\r\nv\r\n") + "END\r\n"
	}},
	{name: "memcached stats", fam: Memcached, client: "stats\r\n", items: listLen, reply: func(n int) string {
		return repeatLines(n, "STAT s%d 1\r\n") + "END\r\n"
	}},
	{name: "POP3 list", fam: POP3, greeting: "+OK hi\r\n", client: "LIST\r\n", items: pop3Len, dot: true, reply: func(n int) string {
		return "+OK\r\n" + repeatLines(n, "%d 100\r\n") + ".\r\n"
	}},
	{name: "POP3 mail", fam: POP3, greeting: "+OK hi\r\n", client: "RETR 1\r\n", items: pop3Len, dot: true, reply: func(n int) string {
		return "+OK\r\n" + repeatLines(n, "line %d\r\n") + ".\r\n"
	}},
}

// start decodes the greeting and the client's request, and returns the
// server decoder and the trickle the answer, reply, comes through.
func (c trickled) start(tb testing.TB, reply string) (*serverDecoder, *trickle) {
	tb.Helper()
	s := NewWire(c.fam).NewSession(wrappers.Options{Limits: wrappers.Limits{MaxFrame: 1 << 30, MaxBinary: 1 << 30}})
	tr := &trickle{pieces: append([]string{c.greeting}, lines(reply)...)}
	sd := s.ServerDecoder(tr).(*serverDecoder)
	if c.greeting != "" {
		tr.wake()
		if _, err := sd.Next(); err != nil {
			tb.Fatalf("greeting: %v", err)
		}
	} else {
		tr.i++
	}
	if c.client != "" {
		if _, err := s.ClientDecoder(strings.NewReader(c.client)).Next(); err != nil {
			tb.Fatalf("request: %v", err)
		}
	}
	return sd, tr
}

// decode feeds reply, an answer of n items, a line per wakeup, each
// wakeup ending in wrappers.ErrWouldBlock, and checks the message it
// decodes.
func (c trickled) decode(tb testing.TB, reply string, n int) {
	sd, tr := c.start(tb, reply)
	for tr.wake() {
		m, err := sd.Next()
		if err == wrappers.ErrWouldBlock {
			// Copying the body allocates nothing, so the allocations
			// do not show a body parsed again at every wakeup: the
			// cut must have made the frame wait for the body's end.
			if c.dot && tr.i > 2 && (sd.in.dot == nil || sd.in.dot.max == 0) {
				tb.Fatalf("after %d lines of the answer the frame does not wait for its \".\" line", tr.i-1)
			}
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		if k := c.items(m.Term); k != n {
			tb.Fatalf("the answer has %d items, want %d", k, n)
		}
		if len(m.Raw) != len(reply) {
			tb.Fatalf("Raw has %d bytes, want %d", len(m.Raw), len(reply))
		}
		return
	}
	tb.Fatalf("the answer was read whole and Next still says it would block")
}

// TestTrickledReplies: a long multi-line answer that arrives a line at a
// time, each wakeup ending in wrappers.ErrWouldBlock, costs the parse its
// length, not its length times its lines: what was parsed is not parsed
// again. A parse builds the terms of the lines it takes, so the work is
// counted as allocations, which grow four times with an answer four times
// longer, sixteen times were every wakeup to parse the answer again.
func TestTrickledReplies(t *testing.T) {
	const n = 500
	for _, c := range trickledReplies {
		t.Run(c.name, func(t *testing.T) {
			// The replies are made outside: they are not the parse's work.
			shortReply, longReply := c.reply(n), c.reply(4*n)
			short := testing.AllocsPerRun(1, func() { c.decode(t, shortReply, n) })
			long := testing.AllocsPerRun(1, func() { c.decode(t, longReply, 4*n) })
			if long > 6*short {
				t.Fatalf("%.0f allocations for %d items, %.0f for %d: the parse takes again what it took before", short, n, long, 4*n)
			}
		})
	}
}

// BenchmarkTrickledReply decodes a multi-line answer that arrives a line
// per wakeup, for growing answers: ns/line stays flat when a wakeup costs
// only its new line.
func BenchmarkTrickledReply(b *testing.B) {
	for _, c := range trickledReplies {
		for _, n := range []int{1000, 4000, 16000} {
			b.Run(fmt.Sprintf("%s/lines=%d", strings.ReplaceAll(c.name, " ", "_"), n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					sd, tr := c.start(b, c.reply(n))
					b.StartTimer()
					for tr.wake() {
						if _, err := sd.Next(); err != wrappers.ErrWouldBlock {
							if err != nil && err != io.EOF {
								b.Fatal(err)
							}
							break
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/line")
			})
		}
	}
}

package resp

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// TestSkipperFindsTheEnd: over every prefix of a well-formed frame, the
// skipper wants more bytes, and over the whole frame (with the next one
// after it) it stops exactly at its end. Stopping early would cost a parse
// more; wanting bytes past the end would leave a frame undecoded until
// the next one arrived.
func TestSkipperFindsTheEnd(t *testing.T) {
	frames := []string{
		"+OK\r\n",
		"-ERR bad\r\n",
		":42\r\n",
		"(123456789012345678901234567890\r\n",
		",1.5\r\n",
		"#t\r\n",
		"_\r\n",
		"$5\r\nhe\nlo\r\n",
		"$0\r\n\r\n",
		"$-1\r\n",
		"*-1\r\n",
		"*0\r\n",
		"!3\r\nerr\r\n",
		"=7\r\ntxt:abc\r\n",
		"$?\r\n;2\r\nab\r\n;1\r\n\n\r\n;0\r\n",
		"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n",
		"*2\r\n*2\r\n:1\r\n:2\r\n*0\r\n",
		"%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n_\r\n",
		"~2\r\n+a\r\n+b\r\n",
		">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n",
		"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
		"*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n",
		"|0\r\n+x\r\n",
		"*?\r\n:1\r\n*?\r\n.\r\n.\r\n",
		"%?\r\n+a\r\n:1\r\n.\r\n",
		"*1\r\n%?\r\n+a\r\n|1\r\n+k\r\n+v\r\n:1\r\n.\r\n",
	}
	lim := wrappers.DefaultLimits()
	for _, f := range frames {
		for k := 1; k < len(f); k++ {
			var s skipper
			s.start(0)
			rd := bufread.Bytes([]byte(f[:k]), lim, "resp")
			rd.Begin()
			if !s.more(&rd) {
				t.Errorf("%q: the skipper stops after %d of its %d bytes", f, k, len(f))
				break
			}
		}
		var s skipper
		s.start(0)
		rd := bufread.Bytes([]byte(f+"+NEXT\r\n"), lim, "resp")
		rd.Begin()
		if s.more(&rd) || s.at != len(f) {
			t.Errorf("%q: the skipper stops at %d (wants more: %v), want at its end, %d", f, s.at, s.more(&rd), len(f))
		}
	}
}

// TestSkipperGivesUp: on what the parser refuses, or past a limit, the
// skipper stops and leaves the error to the parse.
func TestSkipperGivesUp(t *testing.T) {
	lim := wrappers.Limits{MaxFrame: 64, MaxBinary: 16, MaxDepth: 2}.WithDefaults()
	for _, f := range []string{"?x\r\n", "+no cr\n", "$x\r\n", "$17\r\n", "%-1\r\n", ".\r\n", "*1\r\n*1\r\n*1\r\n", "$-2\r\n", "*40\r\n" + strings.Repeat("+a\r\n", 30)} {
		var s skipper
		s.start(0)
		rd := bufread.Bytes([]byte(f), lim, "resp")
		rd.Begin()
		if s.more(&rd) {
			t.Errorf("%q: the skipper wants more", f)
		}
	}
}

// pieces reads its pieces one a call, each after a read answered with
// wrappers.ErrWouldBlock.
type pieces struct {
	p       []string
	blocked bool
}

func (r *pieces) Read(b []byte) (int, error) {
	if len(r.p) == 0 {
		return 0, io.EOF
	}
	if r.blocked = !r.blocked; r.blocked {
		return 0, wrappers.ErrWouldBlock
	}
	n := copy(b, r.p[0])
	if r.p[0] = r.p[0][n:]; r.p[0] == "" {
		r.p = r.p[1:]
	}
	return n, nil
}

// TestLongArrayInPiecesParsedOnce: an array of a thousand elements that
// arrives an element a read, each read first blocked, is parsed again once
// when whole, not once a piece: it allocates about what the whole one
// does, not a thousand times that.
func TestLongArrayInPiecesParsedOnce(t *testing.T) {
	const n = 1000
	elems := make([]string, n)
	for i := range elems {
		elems[i] = "$3\r\nabc\r\n"
	}
	decode := func(p []string) {
		d := Wire{}.NewSession(wrappers.Options{}).ServerDecoder(&pieces{p: p})
		for {
			m, err := d.Next()
			if errors.Is(err, wrappers.ErrWouldBlock) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if l, ok := m.Term.(term.List); !ok || len(l) != n {
				t.Fatalf("got %v", m.Term)
			}
			return
		}
	}
	frame := "*1000\r\n" + strings.Join(elems, "")
	whole := testing.AllocsPerRun(5, func() { decode([]string{frame}) })
	split := testing.AllocsPerRun(5, func() { decode(append([]string{"*1000\r\n"}, elems...)) })
	if split > 2*whole+50 {
		t.Fatalf("%.0f allocations when the array comes in pieces, %.0f when whole", split, whole)
	}
}

// TestMergedReplyInPiecesParsedOnce: the confirmations of a SUBSCRIBE of
// many channels, merged into one reply, arriving one a read, each read
// first blocked, are each parsed once (the cut one twice), not the whole
// merged reply again each time: it allocates about what the whole one
// does.
func TestMergedReplyInPiecesParsedOnce(t *testing.T) {
	const n = 500
	var cmd, conf strings.Builder
	fmt.Fprintf(&cmd, "*%d\r\n$9\r\nSUBSCRIBE\r\n", n+1)
	confs := make([]string, n)
	for i := range n {
		ch := fmt.Sprintf("channel%04d", i)
		fmt.Fprintf(&cmd, "$%d\r\n%s\r\n", len(ch), ch)
		confs[i] = fmt.Sprintf("*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:%d\r\n", len(ch), ch, i+1)
		conf.WriteString(confs[i])
	}
	decode := func(p []string) {
		s := Wire{}.NewSession(wrappers.Options{})
		if _, err := s.ClientDecoder(strings.NewReader(cmd.String())).Next(); err != nil {
			t.Fatal(err)
		}
		d := s.ServerDecoder(&pieces{p: p})
		for {
			m, err := d.Next()
			if errors.Is(err, wrappers.ErrWouldBlock) {
				continue
			}
			if err != nil {
				t.Fatalf("%d pieces: %v", len(p), err)
			}
			if tu, ok := m.Term.(term.Tuple); !ok || len(tu) != 3 || len(tu[1].(term.List)) != n {
				t.Fatalf("got %v", m.Term)
			}
			return
		}
	}
	whole := testing.AllocsPerRun(5, func() { decode([]string{conf.String()}) })
	split := testing.AllocsPerRun(5, func() { decode(append([]string(nil), confs...)) }) // pieces uses up its slice
	if split > 2*whole+50 {
		t.Fatalf("%.0f allocations when the confirmations come one a read, %.0f when whole", split, whole)
	}
}

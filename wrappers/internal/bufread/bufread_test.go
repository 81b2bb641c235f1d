package bufread

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

func lim(frame int) wrappers.Limits {
	return wrappers.Limits{MaxFrame: frame, MaxDepth: 10, MaxBinary: frame, MaxIntDigits: 10}
}

// lines reads every line of one frame and returns them, or the first error.
func lines(r io.Reader, l wrappers.Limits, n int) ([]string, error) {
	rd := New(r, l, "test")
	rd.Begin()
	var out []string
	for range n {
		line, _, err := rd.Line("a line")
		if err != nil {
			return out, err
		}
		out = append(out, string(line))
	}
	return out, nil
}

func TestLineSplitReads(t *testing.T) {
	in := "one\r\ntwo\nthree\r\n"
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
		"half":     iotest.HalfReader(strings.NewReader(in)),
	} {
		got, err := lines(r, lim(1<<10), 3)
		if err != nil || strings.Join(got, "|") != "one|two|three" {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
}

func TestLineFrameLimit(t *testing.T) {
	// Three lines of 5 bytes in one frame of at most 12: the third is
	// refused whether it arrives in the same read as the first or later.
	in := "aaaa\nbbbb\ncccc\n"
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
	} {
		got, err := lines(r, lim(12), 3)
		var fe *wrappers.FrameError
		if !errors.As(err, &fe) || !fe.Limit {
			t.Fatalf("%s: got %q, %v; want a limit error", name, got, err)
		}
		if len(got) != 2 {
			t.Errorf("%s: %d lines before the limit, want 2", name, len(got))
		}
		if fe.Offset != 10 {
			t.Errorf("%s: limit error at byte %d, want 10 (the third line)", name, fe.Offset)
		}
	}
}

func TestLineEOF(t *testing.T) {
	rd := New(strings.NewReader(""), lim(100), "test")
	rd.Begin()
	if _, _, err := rd.Line("a line"); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	rd = New(strings.NewReader("abc"), lim(100), "test")
	rd.Begin()
	_, _, err := rd.Line("a line")
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || fe.Limit || !strings.Contains(fe.Msg, "stream ended inside a line") {
		t.Errorf("cut line: %v, want a frame error naming the line", err)
	}
}

func TestNeed(t *testing.T) {
	rd := New(iotest.OneByteReader(strings.NewReader("0123456789")), lim(8), "test")
	rd.Begin()
	if err := rd.Need(8, "a chunk"); err != nil {
		t.Fatal(err)
	}
	if got := string(rd.Buf[rd.Pos : rd.Pos+8]); got != "01234567" {
		t.Errorf("Need(8) made %q available", got)
	}
	rd.Pos += 8
	var fe *wrappers.FrameError
	if err := rd.Need(1, "a chunk"); !errors.As(err, &fe) || !fe.Limit {
		t.Errorf("Need past the frame limit: %v, want a limit error", err)
	}
	rd.Begin()
	if err := rd.Need(3, "a chunk"); !errors.As(err, &fe) || fe.Limit || fe.Offset != 10 {
		t.Errorf("Need past the end: %v, want a frame error at byte 10", err)
	}
}

func TestReadErrorNamesWrapper(t *testing.T) {
	rd := New(iotest.ErrReader(errors.New("boom")), lim(100), "line")
	rd.Begin()
	if _, _, err := rd.Line("a reply line"); err == nil || err.Error() != "line: reading a reply line: boom" {
		t.Errorf("got %v", err)
	}
	if err := rd.Frame(); err == nil || err.Error() != "line: boom" {
		t.Errorf("Frame: got %v", err)
	}
}

func TestShrinkAfterBigFrame(t *testing.T) {
	big := strings.Repeat("x", ShrinkAbove*2) + "\nsmall\n"
	rd := New(strings.NewReader(big), lim(ShrinkAbove*4), "test")
	rd.Begin()
	if _, _, err := rd.Line("a line"); err != nil {
		t.Fatal(err)
	}
	rd.Begin()
	if cap(rd.Buf) > ShrinkAbove {
		t.Errorf("buffer of %d bytes kept after the big frame", cap(rd.Buf))
	}
	if line, _, err := rd.Line("a line"); err != nil || string(line) != "small" {
		t.Errorf("after shrinking: %q, %v", line, err)
	}
	if rd.Offset(rd.Start) != int64(ShrinkAbove*2+1) {
		t.Errorf("offset %d after shrinking, want %d", rd.Offset(rd.Start), ShrinkAbove*2+1)
	}
}

// TestBytes: a Reader of a byte slice gives its bytes, then io.EOF, and
// never writes to the slice.
func TestBytes(t *testing.T) {
	in := []byte("one\ntwo")
	rd := Bytes(in, lim(100), "test")
	rd.Begin()
	line, _, err := rd.Line("a line")
	if err != nil || string(line) != "one" {
		t.Fatalf("Line = %q, %v", line, err)
	}
	rd.Begin()
	var fe *wrappers.FrameError
	if _, _, err := rd.Line("a line"); !errors.As(err, &fe) || fe.Offset != 7 {
		t.Fatalf("a last line without LF: %v, want a FrameError at byte 7", err)
	}
	if rd.Err() != io.EOF || rd.Fill() != io.EOF {
		t.Errorf("Err = %v after the bytes, want io.EOF", rd.Err())
	}
	if string(in) != "one\ntwo" {
		t.Errorf("the input was written to: %q", in)
	}
}

// TestOffsetsAcrossStartingOver: when a frame used up the buffer, the next
// starts at its front again, and stream offsets go on counting.
func TestOffsetsAcrossStartingOver(t *testing.T) {
	rd := New(iotest.OneByteReader(strings.NewReader("ab\ncd\n")), lim(100), "test")
	for i, want := range []int64{0, 3} {
		rd.Begin()
		if got := rd.Off(); got != want {
			t.Errorf("frame %d starts at offset %d, want %d", i, got, want)
		}
		if _, _, err := rd.Line("a line"); err != nil {
			t.Fatal(err)
		}
		if rd.Buffered() != 0 {
			t.Fatalf("%d bytes buffered after a one-byte read's line", rd.Buffered())
		}
	}
	if rd.Start != 0 {
		t.Errorf("the second frame starts at index %d, want 0 (the buffer starts over)", rd.Start)
	}
}

// TestBufferBoundedByFrame: a buffer grows by doubling, but not past a
// frame of the limit and one read.
func TestBufferBoundedByFrame(t *testing.T) {
	const frame = 10000
	rd := New(strings.NewReader(strings.Repeat("x", 3*frame)), lim(frame), "test")
	rd.Begin()
	_, _, err := rd.Line("a line")
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || !fe.Limit {
		t.Fatalf("a line past the limit: %v", err)
	}
	if cap(rd.Buf) > frame+minRead {
		t.Errorf("buffer of %d bytes for a frame limit of %d", cap(rd.Buf), frame)
	}
}

// lender is a wrappers.Lender over r that lends buffers of size bytes and
// counts them.
type lender struct {
	r        io.Reader
	size     int
	out      int      // buffers lent and not returned
	returned [][]byte // every buffer given back
}

func (l *lender) Read(p []byte) (int, error) { return l.r.Read(p) }

func (l *lender) ReadLent() ([]byte, int, error) {
	buf := make([]byte, l.size)
	n, err := l.r.Read(buf)
	if n == 0 && err != nil {
		return nil, 0, err
	}
	l.out++
	return buf, n, err
}

func (l *lender) Return(buf []byte) {
	l.out--
	l.returned = append(l.returned, buf)
}

// TestLender: a Reader over a Lender reads into lent buffers, holds none
// between frames when nothing is buffered, keeps one while bytes wait,
// gives a lent buffer back when a big frame grows it, and decodes the same
// lines as without a lender, whatever the reads.
func TestLender(t *testing.T) {
	in := "one\ntwo\nthree-" + strings.Repeat("x", 100) + "\nfour\n"
	want := []string{"one", "two", "three-" + strings.Repeat("x", 100), "four"}
	for name, mk := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(in) },
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
	} {
		l := &lender{r: mk(), size: 16}
		rd := New(l, lim(1<<10), "test")
		var got []string
		for {
			if err := rd.Frame(); err != nil {
				if err != io.EOF {
					t.Fatalf("%s: %v", name, err)
				}
				break
			}
			line, _, err := rd.Line("a line")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, string(line))
			if rd.Buffered() > 0 && rd.Buf == nil {
				t.Fatalf("%s: bytes buffered without a buffer", name)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
		if l.out != 0 {
			t.Errorf("%s: %d buffers still lent at the end", name, l.out)
		}
		if len(l.returned) == 0 {
			t.Errorf("%s: no buffer given back", name)
		}
	}

	// Between frames with nothing buffered, no buffer is held.
	l := &lender{r: strings.NewReader("a\nb\n"), size: 64}
	rd := New(l, lim(1<<10), "test")
	if err := rd.Frame(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rd.Line("a line"); err != nil {
		t.Fatal(err)
	}
	if l.out != 1 || rd.Buffered() != 2 {
		t.Fatalf("%d buffers lent, %d bytes buffered after the first line; want 1 and 2", l.out, rd.Buffered())
	}
	rd.Frame()
	rd.Line("a line")
	rd.Begin()
	if l.out != 0 || rd.Buf != nil {
		t.Errorf("%d buffers lent (buffer %v) with nothing buffered; want none", l.out, rd.Buf != nil)
	}
}

// countingBudget is a wrappers.Budget of max bytes.
type countingBudget struct{ max, used int64 }

func (b *countingBudget) Take(n int64) bool {
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *countingBudget) Give(n int64) { b.used -= n }

// TestBufferBudget: a buffer past wrappers.BudgetFree is paid for from the
// shared budget, given back once the frame that grew it ends; a buffer the
// budget cannot pay for refuses the frame with a limit error, and small
// frames never touch the budget.
func TestBufferBudget(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	b := &countingBudget{max: 4 << 20}
	l := lim(8 << 20)
	l.Budget = b
	rd := New(strings.NewReader("short\n"+long+"\nshort\n"), l, "test")
	rd.Begin()
	if _, _, err := rd.Line("a line"); err != nil || b.used != 0 {
		t.Fatalf("short line: %v, %d bytes of the budget taken", err, b.used)
	}
	rd.Begin()
	if _, _, err := rd.Line("a line"); err != nil {
		t.Fatal(err)
	}
	if b.used < 1<<20 {
		t.Fatalf("a buffer for a 1 MiB line took %d bytes of the budget", b.used)
	}
	rd.Begin()
	if _, _, err := rd.Line("a line"); err != nil {
		t.Fatal(err)
	}
	rd.Begin() // nothing buffered: the big buffer goes
	if b.used != 0 {
		t.Fatalf("%d bytes of the budget still taken after the frame ended", b.used)
	}

	b = &countingBudget{max: 512 << 10}
	l.Budget = b
	rd = New(strings.NewReader(long+"\n"), l, "test")
	rd.Begin()
	_, _, err := rd.Line("a line")
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || !fe.Limit || !strings.Contains(fe.Msg, "shared memory budget") {
		t.Fatalf("over the budget: %v, want a limit error", err)
	}
	if b.used > b.max {
		t.Fatalf("%d bytes taken of a budget of %d", b.used, b.max)
	}
	rd.Release()
	if b.used != 0 {
		t.Fatalf("Release left %d bytes of the budget taken", b.used)
	}
}

// script is a reader that plays its steps in order: a string is read (all
// of it, the reads being large enough), "" is wrappers.ErrWouldBlock; then
// io.EOF.
type script struct{ steps []string }

func (s *script) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	if step == "" {
		return 0, wrappers.ErrWouldBlock
	}
	return copy(p, step), nil
}

// TestWouldBlockNotKept: a read that would block is returned by Fill,
// Need, Line and Frame, and the next read goes on.
func TestWouldBlockNotKept(t *testing.T) {
	rd := New(&script{steps: []string{"", "ab", "", "c\n"}}, lim(100), "test")
	if err := rd.Frame(); !wrappers.IsWouldBlock(err) {
		t.Fatalf("Frame = %v, want ErrWouldBlock", err)
	}
	if err := rd.Frame(); err != nil {
		t.Fatalf("Frame again = %v", err)
	}
	if _, _, err := rd.Line("a line"); !wrappers.IsWouldBlock(err) || rd.Err() != nil {
		t.Fatalf("Line = %v (kept %v), want ErrWouldBlock not kept", err, rd.Err())
	}
	if rd.Buffered() != 2 {
		t.Fatalf("Buffered = %d, want the 2 bytes read", rd.Buffered())
	}
	line, _, err := rd.Line("a line")
	if err != nil || string(line) != "abc" || string(rd.Raw()) != "abc\n" {
		t.Fatalf("Line = %q, %v (Raw %q), want abc", line, err, rd.Raw())
	}
}

// TestRewind: a rewound frame is parsed again only once the bytes the
// interrupted read wanted arrived, from its first byte, with its offsets.
func TestRewind(t *testing.T) {
	tests := []struct {
		name  string
		want  string
		steps []string
		parse func(rd *Reader) (string, error)
	}{
		{"need", "abcdefghij", []string{"x\n", "ab", "", "c", "", "de", "", "fghij"}, func(rd *Reader) (string, error) {
			if err := rd.Need(10, "a block"); err != nil {
				return "", err
			}
			rd.Pos += 10
			return string(rd.Raw()), nil
		}},
		{"line", "abcdef", []string{"x\n", "ab", "", "c", "", "de", "", "f\ng"}, func(rd *Reader) (string, error) {
			line, _, err := rd.Line("a line")
			return string(line), err
		}},
		{"finder", "abc", []string{"x\n", "a\n", "", "b\n", "", "c\n", "", ".\r\n"}, func(rd *Reader) (string, error) {
			body := ""
			for {
				line, _, err := rd.Line("a body line")
				if err != nil {
					if wrappers.IsWouldBlock(err) {
						rd.WaitFor(&endsWith{end: "\n.\r\n"})
					}
					return "", err
				}
				if string(line) == "." {
					return body, nil
				}
				body += string(line)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := New(&script{steps: tt.steps}, lim(100), "test")
			if err := rd.Frame(); err != nil {
				t.Fatal(err)
			}
			if line, _, err := rd.Line("the first line"); err != nil || string(line) != "x" {
				t.Fatalf("first line %q, %v", line, err)
			}
			parses, blocks := 0, 0
			for {
				err := rd.Frame()
				if err == nil {
					parses++
					var got string
					if got, err = tt.parse(&rd); err == nil {
						if rd.Offset(rd.Start) != 2 || got != tt.want {
							t.Fatalf("parsed %q at offset %d", got, rd.Offset(rd.Start))
						}
						break
					}
					if !wrappers.IsWouldBlock(err) {
						t.Fatal(err)
					}
					rd.Rewind()
				}
				if !wrappers.IsWouldBlock(err) {
					t.Fatal(err)
				}
				if blocks++; blocks > 10 {
					t.Fatal("no end")
				}
			}
			// The first parse stopped after "ab" wanting more than the
			// next two pieces bring: it is parsed again only once.
			if parses != 2 || blocks != 3 {
				t.Fatalf("%d parses and %d blocks, want 2 and 3", parses, blocks)
			}
		})
	}
}

// TestHold: a held frame keeps its parse position through Begin, and
// Buffered counts it from its start meanwhile.
func TestHold(t *testing.T) {
	rd := New(&script{steps: []string{"abc", "", "def"}}, lim(100), "test")
	rd.Begin()
	if err := rd.Fill(); err != nil {
		t.Fatal(err)
	}
	rd.Pos = 2
	if err := rd.Fill(); !wrappers.IsWouldBlock(err) {
		t.Fatalf("Fill = %v, want ErrWouldBlock", err)
	}
	rd.Hold()
	if rd.Buffered() != 3 {
		t.Fatalf("Buffered = %d while held, want 3", rd.Buffered())
	}
	rd.Begin()
	if rd.Start != 0 || rd.Pos != 2 {
		t.Fatalf("Begin moved a held frame: Start %d, Pos %d", rd.Start, rd.Pos)
	}
	if err := rd.Fill(); err != nil || rd.Buffered() != 4 {
		t.Fatalf("Fill = %v, Buffered %d, want 4", err, rd.Buffered())
	}
}

// endsWith is a Finder for the tests: the frame ends with end.
type endsWith struct {
	end  string
	from int // where the search goes on, relative to Start
}

func (f *endsWith) Ended(b *Reader) bool {
	buf := b.Buf[b.Start:b.End]
	if bytes.Contains(buf[f.from:], []byte(f.end)) {
		return true
	}
	f.from = max(f.from, len(buf)-len(f.end)+1)
	return false
}

// TestFinderLetGo: the Finder a rewound frame waited for is let go once
// the frame is parsed again (the reader holds no decoder state between
// frames), and a later cut without one waits for what its read wanted,
// one byte more.
func TestFinderLetGo(t *testing.T) {
	rd := New(&script{steps: []string{"ab", "", "c", "", "d"}}, lim(100), "test")
	if err := rd.Frame(); err != nil {
		t.Fatal(err)
	}
	rd.WaitFor(&endsWith{end: "c"})
	rd.Rewind()
	if err := rd.Frame(); !wrappers.IsWouldBlock(err) {
		t.Fatalf("Frame = %v before the end, want ErrWouldBlock", err)
	}
	if err := rd.Frame(); err != nil || rd.wait.find != nil {
		t.Fatalf("Frame = %v, finder %v: want the frame again and the finder let go", err, rd.wait.find)
	}
	if err := rd.Fill(); !wrappers.IsWouldBlock(err) {
		t.Fatalf("Fill = %v, want ErrWouldBlock", err)
	}
	rd.Rewind()
	if err := rd.Frame(); err != nil || string(rd.Buf[rd.Start:rd.End]) != "abcd" {
		t.Fatalf("Frame = %v with %q, want the frame again once one more byte came", err, rd.Buf[rd.Start:rd.End])
	}
}

// scripted returns its reads in turn, then wrappers.ErrWouldBlock; lent
// (see lender), as the proxy's readers lend, a Reader with nothing
// buffered holds no buffer.
type scripted struct{ reads []string }

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.reads) == 0 {
		return 0, wrappers.ErrWouldBlock
	}
	n := copy(p, s.reads[0])
	s.reads = s.reads[1:]
	return n, nil
}

// lentScript is a lender of reads.
func lentScript(reads ...string) *lender { return &lender{r: &scripted{reads: reads}, size: 64} }

// TestParkBetweenFrames: a Reader whose frame wrappers.ErrWouldBlock
// interrupted before any of its bytes came parks, whether its decoder
// holds (Hold) or rewinds (Rewind) the frame, and the Reader that resumes
// goes on at the same stream offset; one holding part of a frame does not
// park.
func TestParkBetweenFrames(t *testing.T) {
	lim := wrappers.Limits{MaxFrame: 1 << 10}
	for _, held := range []struct {
		name string
		mark func(*Reader)
	}{{"hold", (*Reader).Hold}, {"rewind", (*Reader).Rewind}} {
		t.Run(held.name, func(t *testing.T) {
			b := New(lentScript("ab\n"), lim, "t")
			if err := b.Frame(); err != nil {
				t.Fatal(err)
			}
			b.Pos = b.End // the decoder took the whole frame
			if err := b.Frame(); !wrappers.IsWouldBlock(err) {
				t.Fatalf("second frame: %v, want ErrWouldBlock", err)
			}
			held.mark(&b)
			p, ok := b.Park()
			if !ok {
				t.Fatal("a Reader between frames did not park")
			}
			r := p.Resume(lentScript("cd\n"), lim, "t")
			if err := r.Frame(); err != nil {
				t.Fatal(err)
			}
			if got := r.Offset(r.Start); got != 3 {
				t.Errorf("the resumed Reader's frame starts at offset %d, want 3", got)
			}

			part := New(lentScript("ab"), lim, "t")
			if err := part.Frame(); err != nil {
				t.Fatal(err)
			}
			part.Pos = part.End
			if err := part.Fill(); !wrappers.IsWouldBlock(err) {
				t.Fatalf("fill: %v, want ErrWouldBlock", err)
			}
			held.mark(&part)
			if _, ok := part.Park(); ok {
				t.Error("a Reader holding part of a frame parked")
			}
		})
	}
}

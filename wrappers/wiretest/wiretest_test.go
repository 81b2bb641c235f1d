package wiretest

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/bufread"
)

// lines is a toy wire: each line is a message, a call from the client and
// a reply from the server, its term the line as a string. Its fields
// plant the bugs TestWire must find.
type lines struct {
	shortRaw    bool // Raw leaves out the line end
	greedy      bool // the first message waits for the end of the stream
	lyingBuffer bool // Buffered says 0
	looseError  bool // the error of a long line is at the end of what was read
	keepParked  bool // a parked read is kept as the error of every later call
	keepBlocked bool // a read that would block is kept as the error of every later call
	dropCut     bool // the bytes of a line cut by a read that would block are dropped
}

func (w lines) Name() string { return "lines" }

func (w lines) NewSession(opts wrappers.Options) wrappers.Session {
	return session{w: w, lim: opts.Limits.WithDefaults()}
}

type session struct {
	w   lines
	lim wrappers.Limits
}

func (s session) ClientDecoder(r io.Reader) wrappers.Decoder {
	return &decoder{w: s.w, kind: wrappers.Call, rd: bufread.New(r, s.lim, "lines")}
}

func (s session) ServerDecoder(r io.Reader) wrappers.Decoder {
	return &decoder{w: s.w, kind: wrappers.Reply, rd: bufread.New(r, s.lim, "lines")}
}

func (s session) ErrorReply(wrappers.Violation) []byte { return nil }

type decoder struct {
	w    lines
	kind wrappers.Kind
	rd   bufread.Reader
	err  error
}

func (d *decoder) Next() (wrappers.Message, error) {
	if d.err != nil {
		return wrappers.Message{}, d.err
	}
	if err := d.rd.Frame(); err != nil {
		if d.w.keepParked || !errors.Is(err, wrappers.ErrParked) && !d.blocked(err) {
			d.err = err
		}
		return wrappers.Message{}, err
	}
	if d.w.greedy {
		for d.rd.Fill() == nil {
		}
	}
	if d.w.looseError {
		for d.rd.End-d.rd.Start <= d.rd.Lim.MaxFrame && d.rd.Fill() == nil {
		}
		if d.rd.End-d.rd.Start > d.rd.Lim.MaxFrame {
			d.err = d.rd.LimitAt(d.rd.Offset(d.rd.End), "line longer than the limit")
			return wrappers.Message{}, d.err
		}
	}
	line, _, err := d.rd.Line("a line")
	if err != nil {
		if d.blocked(err) {
			if d.w.dropCut {
				d.rd.Pos = d.rd.End // the next frame starts after them
			} else {
				d.rd.Rewind()
			}
		} else {
			d.err = err
		}
		return wrappers.Message{}, err
	}
	m := wrappers.Message{Kind: d.kind, Term: term.String(line), Raw: d.rd.Raw()}
	if d.w.shortRaw {
		m.Raw = m.Raw[:len(m.Raw)-1]
	}
	return m, nil
}

// blocked reports whether err is wrappers.ErrWouldBlock that the decoder
// must not keep.
func (d *decoder) blocked(err error) bool {
	return !d.w.keepBlocked && errors.Is(err, wrappers.ErrWouldBlock)
}

func (d *decoder) Buffered() int {
	if d.w.lyingBuffer {
		return 0
	}
	return d.rd.Buffered()
}

var chat = Conversation{Name: "chat", Turns: []Turn{
	{Side: wrappers.Client, In: "hello\nhow are you\n", Want: []string{`call "hello"`, `call "how are you"`}},
	{Side: wrappers.Server, In: "fine\n", Want: []string{`reply "fine"`}},
	{Side: wrappers.Client, In: "bye\n", Want: []string{`call "bye"`}},
}}

var tooLong = Conversation{Name: "too long", Options: wrappers.Options{Limits: wrappers.Limits{MaxFrame: 8}}, Turns: []Turn{
	{Side: wrappers.Client, In: "short\n" + strings.Repeat("x", 20) + "\n", Want: []string{`call "short"`}, Err: "longer than", Limit: true},
}}

func TestWirePasses(t *testing.T) {
	if err := TestWire(lines{}, chat, tooLong); err != nil {
		t.Fatal(err)
	}
}

// TestWireFindsBugs: each planted bug fails, with a message that names it.
func TestWireFindsBugs(t *testing.T) {
	tests := []struct {
		name string
		w    lines
		conv Conversation
		want string
	}{
		{"raw short", lines{shortRaw: true}, chat, "does not end inside the turn"},
		{"reads past its turn", lines{greedy: true}, chat, "read past the turn"},
		{"buffered lies", lines{lyingBuffer: true}, chat, "Buffered says 0 bytes, but 12 were read"},
		{"error depends on the reads", lines{looseError: true}, tooLong, "bytes one at a time"},
		{"keeps a parked read", lines{keepParked: true}, chat, "parked between frames: turn 0"},
		{"keeps a blocked read", lines{keepBlocked: true}, chat, "Next returned wrappers.ErrWouldBlock that the reader had not answered"},
		{"loses a line cut by a blocked read", lines{dropCut: true}, chat, "one at a time, each read first blocked 1 time(s): turn 0"},
		{"wrong message", lines{}, Conversation{Name: "x", Turns: []Turn{{Side: wrappers.Client, In: "a\n", Want: []string{`call "b"`}}}}, `want call "b"`},
		{"missing error", lines{}, Conversation{Name: "x", Turns: []Turn{{Side: wrappers.Client, In: "a\n", Want: []string{`call "a"`}, Err: "boom"}}}, "want a FrameError"},
		{"message left over", lines{}, Conversation{Name: "x", Turns: []Turn{{Side: wrappers.Client, In: "a\nb\n", Want: []string{`call "a"`}}}}, `not the bytes sent "a\nb\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TestWire(tt.w, tt.conv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("TestWire = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestAtLimit: a wire that counts more than a frame's bytes against
// MaxFrame fails the run at the limit.
func TestAtLimit(t *testing.T) {
	err := TestWire(strictLines{}, chat)
	if err == nil || !strings.Contains(err.Error(), "with MaxFrame 12, its longest message") {
		t.Fatalf("TestWire = %v, want a failure with MaxFrame at the longest message", err)
	}
}

// strictLines refuses a line of exactly MaxFrame bytes.
type strictLines struct{ lines }

func (w strictLines) NewSession(opts wrappers.Options) wrappers.Session {
	opts.Limits = opts.Limits.WithDefaults()
	opts.Limits.MaxFrame--
	return w.lines.NewSession(opts)
}

func TestCheckBytes(t *testing.T) {
	small := wrappers.Options{Limits: wrappers.Limits{MaxFrame: 8}}
	if err := CheckBytes(lines{}, small, []byte("a\nbb\n"+strings.Repeat("c", 20))); err != nil {
		t.Fatalf("a good wire: %v", err)
	}
	tests := []struct {
		name string
		w    lines
		data string
		want string
	}{
		{"raw short", lines{shortRaw: true}, "a\nb\n", `"ab", is not a prefix`},
		{"error depends on the reads", lines{looseError: true}, "a\n" + strings.Repeat("c", 20), "when the bytes come whole"},
		{"blocked read kept", lines{keepBlocked: true}, "a\nbb\n", "each read first blocked twice: Next returned wrappers.ErrWouldBlock that the reader had not answered"},
		{"cut line dropped", lines{dropCut: true}, "a\nbb\n", "each read first blocked twice: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBytes(tt.w, small, []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckBytes = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// Package wiretest checks a wire format (a wrappers.Wire) against scripted
// conversations, as testing/fstest.TestFS checks a file system: one call
// decodes every conversation through a session of the wire, with the
// bytes arriving whole, one at a time, in halves, with the end of the
// stream in the same read as the last bytes, split at every byte and in
// random pieces, and checks in each case what a proxy relies on:
//
//   - every message decodes to its kind and term, and the Raw of all the
//     messages of a stream put together are its bytes (so forwarding Raw
//     reproduces the stream byte for byte);
//   - a turn's messages need no byte of a later turn, and their Raw ends
//     inside the turn (it may leave bytes that need no more input, such
//     as UBF(A)'s newline after '$', to the next message when they had
//     not arrived yet);
//   - a decoder that is a wrappers.Bufferer says exactly how many bytes it
//     read and has not returned;
//   - the end of each stream is io.EOF, again on every later call;
//   - a malformed or over-limit frame gives the same *wrappers.FrameError
//     however the bytes arrive, and again on every later call;
//   - a conversation that decodes within the limits still decodes, the
//     same, with MaxFrame lowered to its longest message (a limit counts
//     a frame's bytes, nothing more);
//   - a decoder that reads through a wrappers.Lender decodes the same when
//     every read between frames is first answered with wrappers.ErrParked
//     (a proxy parking an idle connection): Next returns it, and the next
//     call goes on, on the decoder a wrappers.Parker's Parked resumes
//     when it parks, else after Trim when the decoder is a
//     wrappers.Trimmer;
//   - a decoder decodes the same, Raw and errors included, when every read,
//     from Read and from ReadLent, at every offset of the stream (between
//     frames and inside them) is first answered with
//     wrappers.ErrWouldBlock, once or several times in a row: Next
//     returns it without keeping it, and the next call goes on.
package wiretest

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// Turn is what one side sends at one point of a conversation, and what
// its decoder must make of it.
type Turn struct {
	Side wrappers.Side
	In   string // the bytes sent
	// Want is the messages In decodes to, each as Describe writes it
	// ("call {get, <<\"k\">>}", "filler").
	Want []string
	// Err, when set, is part of the text of the *wrappers.FrameError
	// that decoding In gives after the Want messages; the conversation
	// ends there. Limit says it must be a limit error.
	Err   string
	Limit bool
}

// Conversation is a scripted exchange through one session of a wire.
type Conversation struct {
	Name    string
	Options wrappers.Options
	Turns   []Turn
}

// Describe writes a message as Turn.Want lists it: its kind, and its term
// in text notation when it has one.
func Describe(m wrappers.Message) string {
	if m.Term == nil {
		return m.Kind.String()
	}
	return m.Kind.String() + " " + m.Term.String()
}

// chunkRandomly is how many random chunkings of each conversation are
// tried.
const chunkRandomly = 50

// TestWire checks w against each conversation (see the package comment)
// and returns an error describing every failure, or nil.
func TestWire(w wrappers.Wire, convs ...Conversation) error {
	var errs []error
	if err := blockedAllocs(w); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", w.Name(), err))
	}
	for _, c := range convs {
		if err := testConversation(w, c); err != nil {
			errs = append(errs, fmt.Errorf("%s: conversation %q: %w", w.Name(), c.Name, err))
		}
	}
	return errors.Join(errs...)
}

func testConversation(w wrappers.Wire, c Conversation) error {
	if len(c.Turns) == 0 {
		return errors.New("no turns")
	}
	var longest [3]int
	for _, tn := range c.Turns {
		if tn.Side != wrappers.Client && tn.Side != wrappers.Server {
			return fmt.Errorf("a turn with side %d", tn.Side)
		}
		longest[tn.Side] += len(tn.In)
	}
	var errs []error
	wantErr := "" // the frame error of the first plan, for the others
	try := func(p plan) {
		if len(errs) >= 5 {
			return
		}
		got, err := play(w, c.Options, c.Turns, p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("bytes %s: %w", p.name, err))
		case wantErr == "":
			wantErr = got
		case got != wantErr:
			errs = append(errs, fmt.Errorf("bytes %s: the frame error is %q, but %q when the bytes come whole", p.name, got, wantErr))
		}
	}
	whole := plan{name: "whole"}
	try(whole)
	try(plan{name: "one at a time", wrap: iotest.OneByteReader})
	try(plan{name: "in halves", wrap: iotest.HalfReader})
	try(plan{name: "with the end in the last read", wrap: iotest.DataErrReader})
	try(plan{name: "one at a time, the end in the last read", wrap: func(r io.Reader) io.Reader {
		return iotest.DataErrReader(iotest.OneByteReader(r))
	}})
	try(plan{name: "parked between frames", park: true})
	// Reads that would block must change nothing, Raw included, from the
	// same reads unblocked.
	tryBlocked := func(mk func(block int) plan, block int) {
		var got, want []string
		record := func(to *[]string) func(wrappers.Message) {
			return func(m wrappers.Message) { *to = append(*to, fmt.Sprintf("%s, Raw %q", Describe(m), m.Raw)) }
		}
		p, twin := mk(block), mk(0)
		p.onMessage, twin.onMessage = record(&got), record(&want)
		n := len(errs)
		try(p)
		if _, err := play(w, c.Options, c.Turns, twin); err != nil || len(errs) > n {
			return // reported already, or to be by the plain plans
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				errs = append(errs, fmt.Errorf("bytes %s: message %d is %s, but %s when the same reads are not blocked", p.name, i, got[i], want[i]))
				return
			}
		}
	}
	tryBlocked(func(block int) plan {
		return plan{name: fmt.Sprintf("one at a time, each read first blocked %d time(s)", block), block: block, oneByte: true}
	}, 1)
	tryBlocked(func(block int) plan {
		return plan{name: fmt.Sprintf("one at a time, each read first blocked %d time(s)", block), block: block, oneByte: true}
	}, 3)
	tryBlocked(func(block int) plan {
		return plan{name: fmt.Sprintf("whole, each read first blocked %d time(s)", block), block: block}
	}, 1)
	for i := range 3 {
		tryBlocked(func(block int) plan {
			return plan{name: fmt.Sprintf("in random pieces (%d), each read first blocked %d time(s)", i, block), block: block,
				rng: rand.New(rand.NewPCG(uint64(i), uint64(len(c.Turns))))}
		}, 1)
	}
	for i := 1; i < max(longest[wrappers.Client], longest[wrappers.Server]); i++ {
		try(plan{name: fmt.Sprintf("split at byte %d", i), splitAt: i})
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(c.Turns))))
	for i := range chunkRandomly {
		try(plan{name: fmt.Sprintf("in random pieces (%d)", i), rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))})
	}
	if len(errs) == 0 && !endsInError(c.Turns) {
		if err := atLimit(w, c.Options, c.Turns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func endsInError(turns []Turn) bool { return turns[len(turns)-1].Err != "" }

// atLimit plays the conversation again with MaxFrame lowered to its
// longest message.
func atLimit(w wrappers.Wire, opts wrappers.Options, turns []Turn) error {
	longest, err := longestRaw(w, opts, turns)
	if err != nil {
		return err
	}
	lim := opts.Limits.WithDefaults()
	if longest >= lim.MaxFrame {
		return nil
	}
	opts.Limits.MaxFrame = longest
	if _, err := play(w, opts, turns, plan{name: "whole"}); err != nil {
		return fmt.Errorf("with MaxFrame %d, its longest message: %w", longest, err)
	}
	return nil
}

func longestRaw(w wrappers.Wire, opts wrappers.Options, turns []Turn) (int, error) {
	longest := 0
	p := plan{name: "whole", onMessage: func(m wrappers.Message) { longest = max(longest, len(m.Raw)) }}
	_, err := play(w, opts, turns, p)
	return longest, err
}

// plan is a way for the bytes of a stream to arrive.
type plan struct {
	name    string
	wrap    func(io.Reader) io.Reader // an iotest reader around the stream
	splitAt int                       // the first read ends at this byte of the stream
	rng     *rand.Rand                // reads of 1 to 17 bytes, drawn from rng
	park    bool                      // the stream is a Lender that parks once before each read between frames
	// The stream is a Lender (blockingFeed) when block is set or
	// oneByte: block is how many times in a row it answers
	// wrappers.ErrWouldBlock at each offset before it reads; oneByte
	// makes its reads one byte long, so that it blocks at every offset.
	block     int
	oneByte   bool
	onMessage func(wrappers.Message)
}

// open returns the feed of data, with none of its bytes available yet,
// its reader (feed.r) made as p says.
func (p plan) open(data string) *feed {
	f := &feed{data: data, splitAt: p.splitAt, rng: p.rng, block: p.block, blockedAt: -1, oneByte: p.oneByte}
	var r io.Reader = f
	if p.wrap != nil {
		r = p.wrap(r)
	}
	if p.park {
		r = &parkingFeed{feed: f, parkedAt: -1}
	}
	if p.block > 0 || p.oneByte {
		r = blockingFeed{f}
	}
	f.r = r
	return f
}

// blockedAllocs checks that each side's decoder, with nothing to read
// and a reader that would block, says so without allocating: a proxy that
// decodes inside the poller's callback ends nearly every wakeup that way,
// once a message.
func blockedAllocs(w wrappers.Wire) error {
	sess := w.NewSession(wrappers.Options{})
	for _, side := range []wrappers.Side{wrappers.Client, wrappers.Server} {
		var d wrappers.Decoder
		if side == wrappers.Client {
			d = sess.ClientDecoder(neverReady{})
		} else {
			d = sess.ServerDecoder(neverReady{})
		}
		if _, err := d.Next(); !errors.Is(err, wrappers.ErrWouldBlock) {
			return fmt.Errorf("%s decoder, reader that would block: Next returned %v, want wrappers.ErrWouldBlock", side, err)
		}
		if n := testing.AllocsPerRun(20, func() { _, _ = d.Next() }); n != 0 {
			return fmt.Errorf("%s decoder: %v allocations for a read that would block, want none", side, n)
		}
	}
	return nil
}

// neverReady is a Lender with nothing to read yet.
type neverReady struct{}

func (neverReady) Read([]byte) (int, error)       { return 0, wrappers.ErrWouldBlock }
func (neverReady) ReadLent() ([]byte, int, error) { return nil, 0, wrappers.ErrWouldBlock }
func (neverReady) Return([]byte)                  {}

// play runs the conversation through a new session of w, the bytes of each
// side arriving as p says. It returns the text of the frame error the
// conversation ends in, if it does.
func play(w wrappers.Wire, opts wrappers.Options, turns []Turn, p plan) (frameErr string, err error) {
	sess := w.NewSession(opts)
	var feeds [3]*feed
	var decs [3]wrappers.Decoder
	for _, side := range []wrappers.Side{wrappers.Client, wrappers.Server} {
		var stream strings.Builder
		for _, tn := range turns {
			if tn.Side == side {
				stream.WriteString(tn.In)
			}
		}
		f := p.open(stream.String())
		feeds[side] = f
		if side == wrappers.Client {
			decs[side] = sess.ClientDecoder(f.r)
		} else {
			decs[side] = sess.ServerDecoder(f.r)
		}
	}
	var raws [3][]byte // the Raw of each side's messages so far
	for i, tn := range turns {
		f, d := feeds[tn.Side], &decs[tn.Side]
		start := f.avail
		f.avail += len(tn.In)
		raw := raws[tn.Side]
		for j, want := range tn.Want {
			m, err := next(d, f)
			if err != nil {
				return "", fmt.Errorf("turn %d (%s %q), message %d: %w%s", i, tn.Side, tn.In, j, err, f.starved())
			}
			if p.onMessage != nil {
				p.onMessage(m)
			}
			if got := Describe(m); got != want {
				return "", fmt.Errorf("turn %d (%s %q), message %d:\n got %s\nwant %s", i, tn.Side, tn.In, j, got, want)
			}
			raw = append(raw, m.Raw...)
			if b, ok := (*d).(wrappers.Bufferer); ok {
				// An iotest reader between the feed and the decoder
				// may hold bytes the decoder has not seen.
				if n, read := b.Buffered(), f.off-len(raw); n > read || p.wrap == nil && n != read {
					return "", fmt.Errorf("turn %d (%s %q), message %d: Buffered says %d bytes, but %d were read and not returned",
						i, tn.Side, tn.In, j, n, read)
				}
			}
		}
		if tn.Err != "" {
			return wantError(d, f, tn, i)
		}
		raws[tn.Side] = raw
		if len(raw) <= start || !strings.HasPrefix(f.data[:f.avail], string(raw)) {
			return "", fmt.Errorf("turn %d (%s): the Raw of the stream's messages so far is %q, which does not end inside the turn's bytes %q",
				i, tn.Side, raw, tn.In)
		}
	}
	for _, side := range []wrappers.Side{wrappers.Client, wrappers.Server} {
		if string(raws[side]) != feeds[side].data {
			return "", fmt.Errorf("%s stream: the Raw of its messages put together are %q, not the bytes sent %q", side, raws[side], feeds[side].data)
		}
	}
	for _, side := range []wrappers.Side{wrappers.Client, wrappers.Server} {
		for k := range 2 {
			if m, err := next(&decs[side], feeds[side]); err != io.EOF {
				return "", fmt.Errorf("%s stream, call %d after the last turn: got %q, %v; want io.EOF", side, k+1, Describe(m), err)
			}
		}
		// A Parker may decline in the middle of something, but one
		// that never parks between the frames of a whole stream
		// does not let go of itself at all.
		if _, ok := decs[side].(wrappers.Parker); ok && feeds[side].parks > 0 && feeds[side].parked == 0 {
			return "", fmt.Errorf("%s stream: the decoder is a wrappers.Parker, but Park returned nil all %d times it was parked", side, feeds[side].parks)
		}
	}
	return "", nil
}

// wantError checks that decoding turn tn, number i, now fails as it says,
// and again on the next call, and returns the error's text.
func wantError(d *wrappers.Decoder, f *feed, tn Turn, i int) (string, error) {
	var first error
	for k := range 2 {
		m, err := next(d, f)
		var fe *wrappers.FrameError
		if !errors.As(err, &fe) || !strings.Contains(fe.Msg, tn.Err) || fe.Limit != tn.Limit {
			return "", fmt.Errorf("turn %d (%s %q), call %d after its messages: got %q, %v; want a FrameError (limit %v) containing %q",
				i, tn.Side, tn.In, k+1, Describe(m), err, tn.Limit, tn.Err)
		}
		if first == nil {
			first = err
		} else if err.Error() != first.Error() {
			return "", fmt.Errorf("turn %d: the error changed on the next call: %v, then %v", i, first, err)
		}
	}
	return first.Error(), nil
}

// errKept is what next finds of a decoder that kept a blocked or parked
// read as its error.
var errKept = errors.New("a blocked or parked read must not be kept")

// next is (*d).Next, called again while it returns wrappers.ErrParked (a
// parkingFeed parks at most once at each offset, so twice in a row is a
// decoder that kept the error), and called again while it returns
// wrappers.ErrWouldBlock that f answered during the call (one f did not
// answer is a decoder that kept it). After wrappers.ErrParked the decoder
// is parked as a proxy parks it: *d becomes the decoder its Parked
// resumes when it is a wrappers.Parker that parks, else it is trimmed
// when it is a wrappers.Trimmer.
func next(d *wrappers.Decoder, f *feed) (wrappers.Message, error) {
	m, err := (*d).Next()
	for range 1 << 20 {
		if !errors.Is(err, wrappers.ErrWouldBlock) {
			break
		}
		if f.blocked == 0 {
			return m, fmt.Errorf("Next returned wrappers.ErrWouldBlock that the reader had not answered: %w: %w", errKept, err)
		}
		if m.Raw != nil || m.Term != nil {
			return m, fmt.Errorf("Next returned a message with wrappers.ErrWouldBlock: %s", Describe(m))
		}
		f.blocked = 0
		m, err = (*d).Next()
	}
	f.blocked = 0
	if errors.Is(err, wrappers.ErrParked) {
		f.parks++
		if park(d, f.r) {
			f.parked++
		}
		m, err = (*d).Next()
		if errors.Is(err, wrappers.ErrParked) {
			return m, fmt.Errorf("Next returned wrappers.ErrParked again, without reading: %w: %w", errKept, err)
		}
	}
	return m, err
}

// park lets go of *d, whose Next returned wrappers.ErrParked, as a proxy
// does: all of it when it parks (wrappers.Parker), *d then being the
// decoder its Parked resumes reading r, else its scratch
// (wrappers.Trimmer). It reports whether *d parked.
func park(d *wrappers.Decoder, r io.Reader) bool {
	if p, ok := (*d).(wrappers.Parker); ok {
		if pd := p.Park(); pd != nil {
			*d = pd.Resume(r)
			return true
		}
	}
	if t, ok := (*d).(wrappers.Trimmer); ok {
		t.Trim()
	}
	return false
}

// feed is one side's stream as its decoder reads it: only the bytes of the
// turns played so far, in pieces as the plan says, then io.EOF after the
// last byte.
type feed struct {
	data    string
	off     int // bytes read
	avail   int // bytes of the turns played so far
	splitAt int
	rng     *rand.Rand
	empty   int // reads in a row that found no byte available
	// block is how many times in a row a read at a new offset is
	// answered with wrappers.ErrWouldBlock (0: never); blockedAt is that
	// offset, blockedN how many it got, and blocked how many the
	// decoder got since next last looked.
	block, blockedAt, blockedN, blocked int
	oneByte                             bool // reads of one byte
	// parks is how many times next parked the decoder, parked how many
	// of them it let go of itself (wrappers.Parker).
	parks, parked int
	// r is what the decoder reads: the feed, or what open wrapped it in.
	r io.Reader
}

// maxEmpty is how many reads in a row may find no byte before the feed
// fails them.
const maxEmpty = 1000

var errStarved = errors.New("wiretest: the decoder read past its turn: its message needs bytes of a later one")

func (f *feed) Read(p []byte) (int, error) {
	if f.block > 0 {
		if f.off != f.blockedAt {
			f.blockedAt, f.blockedN = f.off, 0
		}
		if f.blockedN < f.block {
			f.blockedN++
			f.blocked++
			return 0, wrappers.ErrWouldBlock
		}
	}
	if f.oneByte {
		p = p[:min(len(p), 1)] // one byte a read: a block at every offset
	}
	if f.off == len(f.data) {
		return 0, io.EOF
	}
	n := min(len(p), f.avail-f.off)
	if n == 0 {
		// The decoder wants a byte of a later turn: it gets none, and
		// io.ErrNoProgress after retrying (or errStarved, for a reader
		// between that retries without end).
		f.empty++
		if f.empty > maxEmpty {
			return 0, errStarved
		}
		return 0, nil
	}
	f.empty = 0
	if f.off < f.splitAt {
		n = min(n, f.splitAt-f.off)
	}
	if f.rng != nil {
		n = 1 + f.rng.IntN(min(n, 17))
	}
	copy(p, f.data[f.off:f.off+n])
	f.off += n
	return n, nil
}

// starved explains an error when the decoder asked for bytes beyond its
// turn.
func (f *feed) starved() string {
	if f.empty == 0 || f.off == len(f.data) {
		return ""
	}
	return " (the decoder read past the turn: its message needs bytes of a later one)"
}

// parkingFeed is a feed as a proxy's parking reader is: a wrappers.Lender
// whose ReadLent (asked only between frames, with nothing buffered) first
// answers wrappers.ErrParked, once at each offset of the stream, and reads
// when asked again.
type parkingFeed struct {
	*feed
	parkedAt int // the offset of the last park
}

// ReadLent implements wrappers.Lender.
func (f *parkingFeed) ReadLent() ([]byte, int, error) {
	if f.off != f.parkedAt {
		f.parkedAt = f.off
		return nil, 0, wrappers.ErrParked
	}
	return readLent(f, 4096)
}

// Return implements wrappers.Lender.
func (f *parkingFeed) Return([]byte) {}

// blockingFeed is a feed as a proxy's reader is when it decodes inside
// syscall.RawConn.Read: a wrappers.Lender whose Read and ReadLent answer
// wrappers.ErrWouldBlock (feed.block times) at each new offset before
// they read.
type blockingFeed struct{ *feed }

// ReadLent implements wrappers.Lender.
func (f blockingFeed) ReadLent() ([]byte, int, error) { return readLent(f, 4096) }

// readLent is a Lender's ReadLent made of r's Read: it lends a new buffer
// of size bytes, or none when nothing was read.
func readLent(r io.Reader, size int) ([]byte, int, error) {
	buf := make([]byte, size)
	n, err := r.Read(buf)
	if n == 0 && err != nil {
		return nil, 0, err
	}
	return buf, n, err
}

// Return implements wrappers.Lender.
func (f blockingFeed) Return([]byte) {}

package wiretest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// CheckBytes decodes data, any bytes at all, as a client stream and as a
// server stream through one session of w, a message of each side in turn
// (so that what one side's message sets, such as SMTP's 354, reaches the
// other), and checks what must hold for any input: the Raw of each side's
// messages is a prefix of data, all of it unless decoding stopped at a
// *wrappers.FrameError, whose offset is then at or past the bytes
// decoded; no term changes while later messages are decoded (a proxy
// keeps a request until its reply); and the bytes arriving one at a time,
// with or without the end in the last read, or each read first answered
// with wrappers.ErrWouldBlock twice (so at every offset, inside frames
// too), change nothing, the errors included. It is made for fuzz targets.
func CheckBytes(w wrappers.Wire, opts wrappers.Options, data []byte) error {
	whole, err := transcribe(w, opts, data, plan{name: "whole"})
	if err != nil {
		return err
	}
	for side, raw := range whole.raw {
		if !bytes.HasPrefix(data, raw) {
			return fmt.Errorf("%s: the Raw of its messages, %q, is not a prefix of the input", wrappers.Side(side+1), raw)
		}
		var fe *wrappers.FrameError
		switch e := whole.errs[side]; {
		case e == nil && len(raw) != len(data):
			return fmt.Errorf("%s: io.EOF after %d of the %d bytes, without an error", wrappers.Side(side+1), len(raw), len(data))
		case e != nil && !errors.As(e, &fe):
			return fmt.Errorf("%s: the error %v is not a FrameError", wrappers.Side(side+1), e)
		case e != nil && (fe.Offset < int64(len(raw)) || fe.Offset > int64(len(data))):
			return fmt.Errorf("%s: error offset %d outside [%d, %d]", wrappers.Side(side+1), fe.Offset, len(raw), len(data))
		}
	}
	for _, p := range []plan{
		{name: "one at a time", wrap: iotest.OneByteReader},
		{name: "one at a time, the end in the last read", wrap: func(r io.Reader) io.Reader { return iotest.DataErrReader(iotest.OneByteReader(r)) }},
		{name: "one at a time, each read first blocked twice", block: 2, oneByte: true},
	} {
		got, err := transcribe(w, opts, data, p)
		if err != nil {
			return fmt.Errorf("bytes %s: %w", p.name, err)
		}
		if d := whole.diff(got); d != "" {
			return fmt.Errorf("bytes %s: %s", p.name, d)
		}
	}
	return nil
}

// transcript is what the two decoders of a session made of a stream.
type transcript struct {
	// msgs are the messages of both sides but filler, as Describe writes
	// them, in the order read. Filler may come as one message or two
	// depending on the reads (UBF(A)'s newline after '$' is the frame's
	// when it arrived with it), so only the Raw counts it.
	msgs []string
	raw  [2][]byte
	errs [2]error // the error each side stopped at, nil for io.EOF
}

func (t transcript) diff(u transcript) string {
	if len(t.msgs) != len(u.msgs) {
		return fmt.Sprintf("%d messages, but %d when the bytes come whole", len(u.msgs), len(t.msgs))
	}
	for i := range t.msgs {
		if t.msgs[i] != u.msgs[i] {
			return fmt.Sprintf("message %d is %s, but %s when the bytes come whole", i, u.msgs[i], t.msgs[i])
		}
	}
	for side := range t.raw {
		// Before an error, the Raw may differ by the bytes that were
		// the last frame's when they came with it (see msgs).
		a, b := t.raw[side], u.raw[side]
		sameRaw := bytes.Equal(a, b) || t.errs[side] != nil && (bytes.HasPrefix(a, b) || bytes.HasPrefix(b, a))
		if !sameRaw || fmt.Sprint(t.errs[side]) != fmt.Sprint(u.errs[side]) {
			return fmt.Sprintf("%s: Raw %q and error %v, but %q and %v when the bytes come whole",
				wrappers.Side(side+1), u.raw[side], u.errs[side], t.raw[side], t.errs[side])
		}
	}
	return ""
}

// maxMessages bounds a transcript, in case a decoder never stops.
const maxMessages = 100000

func transcribe(w wrappers.Wire, opts wrappers.Options, data []byte, p plan) (transcript, error) {
	var t transcript
	sess := w.NewSession(opts)
	// The server first: a line protocol's greeting comes from it.
	var feeds [2]*feed
	for side := range feeds {
		feeds[side] = p.open(string(data))
		feeds[side].avail = len(data)
	}
	decs := [2]wrappers.Decoder{sess.ClientDecoder(feeds[0].r), sess.ServerDecoder(feeds[1].r)}
	order := [2]int{1, 0}
	var done [2]bool
	var kept []term.Term // every term, and its text when it was decoded
	var texts []string
	for !done[0] || !done[1] {
		for _, side := range order {
			if done[side] {
				continue
			}
			if len(t.msgs) == maxMessages {
				return t, fmt.Errorf("more than %d messages from %d bytes", maxMessages, len(data))
			}
			m, err := next(&decs[side], feeds[side])
			if errors.Is(err, errKept) {
				return t, err
			}
			if err != nil {
				done[side] = true
				if err != io.EOF {
					t.errs[side] = err
				}
				continue
			}
			t.raw[side] = append(t.raw[side], m.Raw...)
			if m.Kind != wrappers.Filler {
				t.msgs = append(t.msgs, Describe(m))
			}
			if m.Term != nil {
				kept = append(kept, m.Term)
				texts = append(texts, m.Term.String())
			}
		}
	}
	for i, k := range kept {
		if k.String() != texts[i] {
			return t, fmt.Errorf("a term changed while later messages were decoded: %s, was %s", k, texts[i])
		}
	}
	return t, nil
}

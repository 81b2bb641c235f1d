package resp

import (
	"errors"
	"io"
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// pausingLender lends the chunks of a stream one read at a time and, as a
// proxy's reader that parks while its connection is idle, answers
// wrappers.ErrParked once before each chunk but the first; io.EOF after
// the last.
type pausingLender struct {
	chunks  []string
	started bool // a chunk was read: the next ReadLent parks first
}

func (l *pausingLender) ReadLent() ([]byte, int, error) {
	if len(l.chunks) == 0 {
		return nil, 0, io.EOF
	}
	if l.started {
		l.started = false
		return nil, 0, wrappers.ErrParked
	}
	buf := make([]byte, 4096)
	n, err := l.Read(buf)
	return buf, n, err
}

func (l *pausingLender) Return([]byte) {}

func (l *pausingLender) Read(p []byte) (int, error) {
	if len(l.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, l.chunks[0])
	if l.chunks[0] = l.chunks[0][n:]; l.chunks[0] == "" {
		l.chunks, l.started = l.chunks[1:], true
	}
	return n, nil
}

// parkResume checks that d's next read parks and that d lets go of
// itself then (wrappers.Parker), and returns the decoder its Parked
// resumes reading r, the reader d read.
func parkResume(t *testing.T, d wrappers.Decoder, r io.Reader) wrappers.Decoder {
	t.Helper()
	if m, err := d.Next(); !errors.Is(err, wrappers.ErrParked) {
		t.Fatalf("got %v, %v; want wrappers.ErrParked", m, err)
	}
	p := d.(wrappers.Parker).Park()
	if p == nil {
		t.Fatal("Park between frames returned nil: the decoder did not let go of itself")
	}
	return p.Resume(r)
}

// TestParkResume: decoders of both directions parked between frames go
// on from where they stopped: the next message, and the offsets of a
// later error counted from the start of the stream.
func TestParkResume(t *testing.T) {
	s := newSession()
	cl := &pausingLender{chunks: []string{"*1\r\n$4\r\nPING\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"}}
	sv := &pausingLender{chunks: []string{"+PONG\r\n", "$10\r\nabc"}}
	c, d := s.ClientDecoder(cl), s.ServerDecoder(sv)
	want := func(d wrappers.Decoder, kind wrappers.Kind, text string) {
		t.Helper()
		m, err := d.Next()
		if err != nil || m.Kind != kind || m.Term.String() != text {
			t.Fatalf("got %v %v, %v; want %v %s", m.Kind, m.Term, err, kind, text)
		}
	}
	want(c, wrappers.Call, "ping")
	want(d, wrappers.Reply, "pong")
	c = parkResume(t, c, cl)
	want(c, wrappers.Call, `{get, <<"k">>}`)
	d = parkResume(t, d, sv)
	_, err := d.Next()
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || fe.Offset != 15 || fe.Msg != "stream ended inside bulk string (frame started at byte 7)" {
		t.Fatalf("got %v; want the end of the stream at byte 15, inside the frame that started at byte 7", err)
	}
	if c.(wrappers.Parker).Park() != nil {
		t.Error("a decoder that has not parked (its reader has bytes) let go of itself")
	}
}

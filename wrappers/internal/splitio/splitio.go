// Package splitio provides readers that hand out a stream in awkward pieces,
// so that the wire-format tests can show a decoder copes with a frame split
// at any byte (testing/iotest has the one-byte reader, not these).
package splitio

import (
	"io"
	"math/rand/v2"
)

// At returns a reader that gives data in two reads: the bytes before at,
// then the rest. An at of 0 or past the end gives it in one read.
func At(data []byte, at int) io.Reader { return &splitReader{data: data, at: at} }

type splitReader struct {
	data []byte
	at   int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := len(s.data)
	if s.at > 0 && s.at < n {
		n = s.at
	}
	n = copy(p, s.data[:n])
	s.data = s.data[n:]
	s.at -= n
	return n, nil
}

// Every returns a reader that gives data in reads of n bytes (the last
// one shorter), n at least 1.
func Every(data []byte, n int) io.Reader { return &everyReader{data: data, n: max(n, 1)} }

type everyReader struct {
	data []byte
	n    int
}

func (e *everyReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), e.n)], e.data)
	e.data = e.data[n:]
	return n, nil
}

// Chunks returns a reader that gives data in reads of 1 to 17 bytes, the
// sizes drawn from rng.
func Chunks(data []byte, rng *rand.Rand) io.Reader { return &chunkReader{data: data, rng: rng} }

type chunkReader struct {
	data []byte
	rng  *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := 1 + c.rng.IntN(min(len(c.data), len(p), 17))
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

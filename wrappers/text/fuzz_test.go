package text

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

// fuzzOptions are the limits the fuzz targets decode with.
var fuzzOptions = wrappers.Options{Limits: wrappers.Limits{MaxFrame: 4096, MaxBinary: 1024}}

// decodeBoth decodes data through one session of fam as the client's
// stream and as the server's, taking one message from each in turn so that
// each decoder's framing sees what the other decoded.
func decodeBoth(fam *Family, data []byte, wrap func(io.Reader) io.Reader) (out []string, raw [2][]byte, errs [2]error) {
	s := NewWire(fam).NewSession(fuzzOptions)
	decs := [2]wrappers.Decoder{s.ClientDecoder(wrap(bytes.NewReader(data))), s.ServerDecoder(wrap(bytes.NewReader(data)))}
	var done [2]bool
	for range 10000 {
		if done[0] && done[1] {
			break
		}
		for i, d := range decs {
			if done[i] {
				continue
			}
			m, err := d.Next()
			if err != nil {
				done[i] = true
				if !errors.Is(err, io.EOF) {
					errs[i] = err
				}
				continue
			}
			raw[i] = append(raw[i], m.Raw...)
			if m.Kind != wrappers.Filler && m.Kind != wrappers.Unknown {
				out = append(out, "kind "+m.Kind.String())
			}
			if m.Term != nil {
				out = append(out, m.Term.String())
			} else {
				out = append(out, "filler")
			}
		}
	}
	return out, raw, errs
}

// fuzzFamily checks that any input is decoded without a panic into
// messages whose raw bytes are the input (up to a FrameError at a place
// inside it), that no message is of a kind the wire cannot know, and that
// reading a byte at a time decodes the same.
func fuzzFamily(f *testing.F, fam *Family) {
	for _, c := range conversationSeeds(f, fam) {
		f.Add(c)
	}
	// The rules of every family, for each of them: none may fire in another.
	f.Add([]byte("DATA\r\n354 go\r\nBDAT 3\r\nabcset k 0 0 2\r\nhi\r\nVALUE k 0 2\r\nhi\r\nEND\r\n"))
	f.Add([]byte("+OK\r\nLIST\r\n+OK 1\r\n1 2\r\n..x\r\n.\r\n211-a\r\n b\r\n211 c\r\n@t=1 :p 001 n :x y\r\n"))
	f.Add([]byte("AUTH PLAIN\r\n334 x\r\n+ \r\nmg k v\r\nVA 2\r\nhi\r\nget k\nEND\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, raw, errs := decodeBoth(fam, data, func(r io.Reader) io.Reader { return r })
		for i := range raw {
			if !bytes.HasPrefix(data, raw[i]) {
				t.Fatalf("decoder %d: raw bytes are not the input's prefix", i)
			}
			if errs[i] != nil {
				var fe *wrappers.FrameError
				if !errors.As(errs[i], &fe) {
					t.Fatalf("decoder %d: error %v is not a FrameError", i, errs[i])
				}
				if fe.Offset < int64(len(raw[i])) || fe.Offset > int64(len(data)) {
					t.Fatalf("decoder %d: error offset %d outside [%d, %d]", i, fe.Offset, len(raw[i]), len(data))
				}
			} else if len(raw[i]) != len(data) {
				t.Fatalf("decoder %d: stopped at %d of %d bytes without an error", i, len(raw[i]), len(data))
			}
		}
		for _, o := range out {
			if len(o) > 5 && o[:5] == "kind " {
				t.Fatalf("a text wire made a message of %s", o)
			}
		}
		out1, raw1, errs1 := decodeBoth(fam, data, iotest.OneByteReader)
		if len(out1) != len(out) {
			t.Fatalf("one-byte reads decode %d messages, whole reads %d", len(out1), len(out))
		}
		for i := range out {
			if out[i] != out1[i] {
				t.Fatalf("message %d: %s vs %s", i, out[i], out1[i])
			}
		}
		for i := range raw {
			if !bytes.Equal(raw[i], raw1[i]) || (errs[i] == nil) != (errs1[i] == nil) {
				t.Fatalf("decoder %d differs with one-byte reads", i)
			}
		}
		// And with every read first answered with wrappers.ErrWouldBlock,
		// so that a message is cut at every offset.
		if err := wiretest.CheckBytes(NewWire(fam), fuzzOptions, data); err != nil {
			t.Fatal(err)
		}
	})
}

// conversationSeeds returns, for each conversation of fam under testdata,
// its client bytes and its server bytes.
func conversationSeeds(f *testing.F, fam *Family) [][]byte {
	f.Helper()
	files := conversationFiles(fam)
	if len(files) == 0 {
		f.Fatalf("no conversations for %s", fam.Name)
	}
	var seeds [][]byte
	for _, file := range files {
		var sides [2][]byte
		for _, c := range readConversation(f, file) {
			i := 0
			if c.side == wrappers.Server {
				i = 1
			}
			sides[i] = append(sides[i], c.data...)
		}
		seeds = append(seeds, sides[0], sides[1])
	}
	return seeds
}

func FuzzSMTP(f *testing.F)      { fuzzFamily(f, SMTP) }
func FuzzFTP(f *testing.F)       { fuzzFamily(f, FTP) }
func FuzzPOP3(f *testing.F)      { fuzzFamily(f, POP3) }
func FuzzIRC(f *testing.F)       { fuzzFamily(f, IRC) }
func FuzzMemcached(f *testing.F) { fuzzFamily(f, Memcached) }
func FuzzLine(f *testing.F)      { fuzzFamily(f, Line) }

// fuzzEncode checks, for a family whose client lines frame alike whatever
// came before, that every term the client decoder makes is encoded to
// bytes that decode to that term again, or refused with an error.
func fuzzEncode(f *testing.F, fam *Family) {
	for _, c := range conversationSeeds(f, fam) {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewWire(fam).NewSession(wrappers.Options{}).ClientDecoder(bytes.NewReader(data))
		for range 1000 {
			m, err := d.Next()
			if err != nil {
				return
			}
			if m.Term == nil {
				continue
			}
			b, err := fam.AppendEncode(nil, wrappers.Client, m.Term)
			if err != nil {
				continue // a term the wire cannot carry as it is
			}
			d2 := NewWire(fam).NewSession(wrappers.Options{}).ClientDecoder(bytes.NewReader(b))
			m2, err := d2.Next()
			if err != nil || m2.Term == nil || !term.Equal(m2.Term, m.Term) {
				t.Fatalf("%s encodes to %q, which decodes to %v (%v)", m.Term, b, m2.Term, err)
			}
		}
	})
}

func FuzzEncodeIRC(f *testing.F)  { fuzzEncode(f, IRC) }
func FuzzEncodeFTP(f *testing.F)  { fuzzEncode(f, FTP) }
func FuzzEncodeLine(f *testing.F) { fuzzEncode(f, Line) }

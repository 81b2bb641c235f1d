package text

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

// fuzzOptions are the limits the fuzz targets decode with.
var fuzzOptions = wrappers.Options{Limits: wrappers.Limits{MaxFrame: 4096, MaxBinary: 1024}}

// kinds decodes data through one session of fam as the client's stream
// and as the server's, a message of each in turn, and returns an error
// for the first message of a kind a text wire cannot know: it does not
// tell calls from replies, so every message is Unknown or Filler.
func kinds(fam *Family, data []byte) error {
	s := NewWire(fam).NewSession(fuzzOptions)
	decs := [2]wrappers.Decoder{s.ClientDecoder(bytes.NewReader(data)), s.ServerDecoder(bytes.NewReader(data))}
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
				continue
			}
			if m.Kind != wrappers.Filler && m.Kind != wrappers.Unknown {
				return fmt.Errorf("a text wire made a message of kind %s: %s", m.Kind, wiretest.Describe(m))
			}
		}
	}
	return nil
}

// fuzzFamily checks that any input is decoded as wiretest.CheckBytes
// wants (no panic, the Raw of the messages is the input up to a
// FrameError inside it, and the same comes out however the bytes arrive,
// with reads that would block at every offset), and that no message is of
// a kind the wire cannot know.
func fuzzFamily(f *testing.F, fam *Family) {
	for _, c := range conversationSeeds(f, fam) {
		f.Add(c)
	}
	// The rules of every family, for each of them: none may fire in another.
	f.Add([]byte("DATA\r\n354 go\r\nBDAT 3\r\nabcset k 0 0 2\r\nhi\r\nVALUE k 0 2\r\nhi\r\nEND\r\n"))
	f.Add([]byte("+OK\r\nLIST\r\n+OK 1\r\n1 2\r\n..x\r\n.\r\n211-a\r\n b\r\n211 c\r\n@t=1 :p 001 n :x y\r\n"))
	f.Add([]byte("AUTH PLAIN\r\n334 x\r\n+ \r\nmg k v\r\nVA 2\r\nhi\r\nget k\nEND\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := wiretest.CheckBytes(NewWire(fam), fuzzOptions, data); err != nil {
			t.Fatal(err)
		}
		if err := kinds(fam, data); err != nil {
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

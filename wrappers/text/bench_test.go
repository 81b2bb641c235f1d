package text

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// benchStream decodes a client stream and the server stream answering it
// through one session, message by message in the order a proxy sees them
// (each command before its answer), and reports the bytes of both.
func benchStream(b *testing.B, fam *Family, client, server string, perRound int) {
	b.Helper()
	b.SetBytes(int64(len(client) + len(server)))
	b.ReportAllocs()
	cr, sr := strings.NewReader(""), strings.NewReader("")
	for b.Loop() {
		cr.Reset(client)
		sr.Reset(server)
		s := NewWire(fam).NewSession(wrappers.Options{})
		cd, sd := s.ClientDecoder(cr), s.ServerDecoder(sr)
		for {
			for range perRound {
				if _, err := cd.Next(); err != nil {
					if err == io.EOF {
						goto done
					}
					b.Fatal(err)
				}
			}
			for range perRound {
				if _, err := sd.Next(); err != nil {
					b.Fatal(err)
				}
			}
		}
	done:
	}
}

// BenchmarkMemcached: 100 set/get pairs of a 32-byte value, one command
// at a time and 8 in flight.
func BenchmarkMemcached(b *testing.B) {
	var c, s bytes.Buffer
	val := strings.Repeat("v", 32)
	for range 100 {
		c.WriteString("set key:0001 0 0 32\r\n" + val + "\r\nget key:0001\r\n")
		s.WriteString("STORED\r\nVALUE key:0001 0 32\r\n" + val + "\r\nEND\r\n")
	}
	b.Run("unpipelined", func(b *testing.B) { benchStream(b, Memcached, c.String(), s.String(), 1) })
	b.Run("8-in-flight", func(b *testing.B) { benchStream(b, Memcached, c.String(), s.String(), 8) })
}

// BenchmarkIRC: 100 channel messages of 50 words relayed by the server.
func BenchmarkIRC(b *testing.B) {
	var c, s bytes.Buffer
	words := strings.TrimSpace(strings.Repeat("word ", 50))
	for range 100 {
		c.WriteString("PRIVMSG #test :" + words + "\r\n")
		s.WriteString(":bob!~bob@127.0.0.1 PRIVMSG #test :" + words + "\r\n")
	}
	benchStream(b, IRC, c.String(), s.String(), 1)
}

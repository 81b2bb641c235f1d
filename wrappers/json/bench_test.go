package json

import (
	"bytes"
	stdjson "encoding/json"
	"io"
	"runtime"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// typicalTerms are messages like those of the file server and irc examples
// in both directions: small tuples of atoms, strings, integers, short
// lists and a binary.
var typicalTerms = []string{
	`{open, "/var/data/report-2024.txt", read}`,
	`{{ok, 42}, ready}`,
	`{read_line, 42}`,
	`{{ok, "The quick brown fox jumps over the lazy dog"}, ready}`,
	`{event_out, {msg, "joe", "erlang", "hello everybody, how are things?"}}`,
	`{write, 42, <<"0123456789012345678901234567890123456789012345678901234567890123">>}`,
	`{{ok, [{file, "a.txt", 1024}, {file, "b.txt", 2048}, {dir, "sub", 0}]}, ready}`,
	`{close, 42}`,
}

// plainJSON is what a JSON service typically exchanges: objects with
// string keys, no JSF.
var plainJSON = []string{
	`{"method": "open", "path": "/var/data/report-2024.txt", "mode": "read", "id": 1}`,
	`{"result": {"ok": true, "handle": 42}, "id": 1}`,
	`{"method": "read_line", "handle": 42, "id": 2}`,
	`{"result": "The quick brown fox jumps over the lazy dog", "id": 2}`,
	`{"event": {"from": "joe", "group": "erlang", "text": "hello everybody, how are things?"}}`,
	`{"result": [{"name": "a.txt", "size": 1024}, {"name": "b.txt", "size": 2048}, {"name": "sub", "dir": true}], "id": 3}`,
	`{"method": "close", "handle": 42, "id": 4, "tags": ["x", "y", null, 1.5]}`,
}

const benchMessages = 800

func encodeStream(b *testing.B, enc func([]byte, term.Term) ([]byte, error)) []byte {
	var out []byte
	for i := 0; i < benchMessages; i++ {
		var err error
		out, err = enc(out, term.MustParse(typicalTerms[i%len(typicalTerms)]))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, '\n')
	}
	return out
}

func plainStream() []byte {
	var out []byte
	for i := 0; i < benchMessages; i++ {
		out = append(out, plainJSON[i%len(plainJSON)]...)
		out = append(out, '\n')
	}
	return out
}

// run decodes data with next (which returns false at the end) b.N times
// and reports MB/s, messages per second and allocations per message.
func run(b *testing.B, data []byte, decode func(r io.Reader) int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	r := bytes.NewReader(data)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	msgs := 0
	for b.Loop() {
		r.Reset(data)
		msgs += decode(r)
	}
	runtime.ReadMemStats(&after)
	if msgs == 0 {
		b.Fatal("no messages decoded")
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(msgs), "allocs/msg")
}

func decodeUBF(b *testing.B) func(io.Reader) int {
	return func(r io.Reader) int {
		d := ubf.NewDecoder(r, wrappers.Limits{})
		n := 0
		for {
			t, _, err := d.Frame()
			if err == io.EOF {
				return n
			}
			if err != nil {
				b.Fatal(err)
			}
			if t != nil {
				n++
			}
		}
	}
}

func decodeOurs(b *testing.B) func(io.Reader) int {
	return func(r io.Reader) int {
		d := NewDecoder(r, wrappers.Options{})
		n := 0
		for {
			t, _, err := d.Frame()
			if err == io.EOF {
				return n
			}
			if err != nil {
				b.Fatal(err)
			}
			if t != nil {
				n++
			}
		}
	}
}

func decodeStd(b *testing.B) func(io.Reader) int {
	return func(r io.Reader) int {
		d := stdjson.NewDecoder(r)
		d.UseNumber() // keep integers exact, as ours does
		n := 0
		for {
			var v any
			err := d.Decode(&v)
			if err == io.EOF {
				return n
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
}

// BenchmarkDecode compares, on one run, the UBF(A) decoder, this package's
// JSON decoder and encoding/json decoding into any, on the same messages.
func BenchmarkDecode(b *testing.B) {
	ubfData := encodeStream(b, ubf.AppendEncode)
	jsfData := encodeStream(b, AppendEncode)
	plain := plainStream()
	b.Run("typical/ubf", func(b *testing.B) { run(b, ubfData, decodeUBF(b)) })
	b.Run("typical/json", func(b *testing.B) { run(b, jsfData, decodeOurs(b)) })
	b.Run("typical/encoding-json", func(b *testing.B) { run(b, jsfData, decodeStd(b)) })
	b.Run("plain/json", func(b *testing.B) { run(b, plain, decodeOurs(b)) })
	b.Run("plain/encoding-json", func(b *testing.B) { run(b, plain, decodeStd(b)) })
}

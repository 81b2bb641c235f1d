package json

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/splitio"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

// FuzzJSONDecode feeds arbitrary bytes, in chunks of arbitrary sizes, to a
// decoder with small limits. It must never panic, never hold a buffer
// beyond the line limit, give back exactly the bytes it consumed, and every
// value it decodes that JSON can carry must encode and decode to itself.
func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{
		"{\"$T\": [{\"$A\": \"open\"}, \"foo.dat\", {\"$A\": \"read\"}]}\r\n",
		"[1, 123456789012345678901234567890, -2.5e-3, null, true, false]\n\n",
		"{\"$R\": \"person\", \"name\": \"Joe\", \"age\": 123}\n{\"$E\": 1}\n",
		"\"\\ud83d\\ude00 \\u00e9 \\n\"\n",
		"{\"$B\": \"AP8K\"}\n[[[[[[[[[[1]]]]]]]]]]\n",
		"1 2\n",
		"\"unterminated\n",
	} {
		f.Add([]byte(s), uint64(1))
	}
	lim := wrappers.Options{Limits: wrappers.Limits{MaxFrame: 256, MaxDepth: 8, MaxBinary: 64, MaxIntDigits: 40}}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		// Through a session, the same however the bytes arrive.
		if err := wiretest.CheckBytes(Wire{}, lim, data); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, seed))
		d := NewDecoder(splitio.Chunks(data, rng), lim)
		var raw []byte
		for {
			tm, b, err := d.Frame()
			if cap(d.rd.Buf) > lim.Limits.MaxFrame+4096 {
				t.Fatalf("buffer of %d bytes, beyond the limit", cap(d.rd.Buf))
			}
			if err == io.EOF {
				if !bytes.Equal(raw, data) {
					t.Fatalf("raw bytes %q differ from the input %q", raw, data)
				}
				return
			}
			if err != nil {
				var fe *wrappers.FrameError
				if !errors.As(err, &fe) {
					t.Fatalf("error %v is not a FrameError", err)
				}
				if fe.Offset < int64(len(raw)) || fe.Offset > int64(len(data)) {
					t.Fatalf("error offset %d outside [%d, %d]", fe.Offset, len(raw), len(data))
				}
				return
			}
			raw = append(raw, b...)
			if tm == nil {
				if len(bytes.Trim(b, " \t\r\n")) != 0 {
					t.Fatalf("blank line %q holds more than white space", b)
				}
				continue
			}
			enc, err := AppendEncode(nil, tm)
			if err != nil {
				t.Fatalf("decoded %s cannot be encoded: %v", tm, err)
			}
			back, err := Decode(enc, wrappers.Options{})
			if err != nil {
				t.Fatalf("re-decoding %q: %v", enc, err)
			}
			if !term.Equal(back, tm) && !hasDuplicateKeys(tm) {
				t.Fatalf("re-decoding %q gave %s; want %s", enc, back, tm)
			}
		}
	})
}

// hasDuplicateKeys reports whether a map in t repeats a key: JSON allows
// it, and map equality cannot tell such maps apart.
func hasDuplicateKeys(t term.Term) bool {
	switch v := t.(type) {
	case term.Map:
		for i, e := range v {
			for _, f := range v[:i] {
				if term.Equal(e.Key, f.Key) {
					return true
				}
			}
			if hasDuplicateKeys(e.Value) {
				return true
			}
		}
	case term.Tuple:
		for _, e := range v {
			if hasDuplicateKeys(e) {
				return true
			}
		}
	case term.List:
		for _, e := range v {
			if hasDuplicateKeys(e) {
				return true
			}
		}
	}
	return false
}

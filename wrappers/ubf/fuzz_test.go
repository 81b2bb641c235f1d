package ubf

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

// FuzzUBFDecode feeds arbitrary bytes, in chunks of arbitrary sizes, to a
// decoder with small limits. It must never panic, never hold a buffer
// beyond the frame limit, give back exactly the bytes it consumed, and
// every object it decodes must encode and decode to itself.
func FuzzUBFDecode(f *testing.F) {
	for _, s := range []string{
		`'person'>p # {p "Joe" 123} & {p 'fred' 3~abc~} & $`,
		"'ok'>!{{!,!},'start'}$\n",
		"{'ubf1.0',\"meta\",\"help 'info'$\"}$\n",
		"{1 -2 123456789012345678901234567890}`tag`$ %c% \"s\\\"\"$",
		"3 ~a$~~$\r\n#$",
		"99999999999~",
		"{{{{{{{{{{{{1}}}}}}}}}}}}$",
		"{1 1}>a{a a}>a{a a}>a{a a}>a{a a}>a a$",
		"\xff>\xff\xff$",
	} {
		f.Add([]byte(s), uint64(1))
	}
	lim := wrappers.Limits{MaxFrame: 256, MaxDepth: 8, MaxBinary: 64, MaxIntDigits: 40}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		// Through a session, the same however the bytes arrive.
		if err := wiretest.CheckBytes(Wire{}, wrappers.Options{Limits: lim}, data); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, seed))
		d := NewDecoder(splitio.Chunks(data, rng), lim)
		var raw []byte
		for {
			tm, b, err := d.Frame()
			if cap(d.rd.Buf) > lim.MaxFrame+4096 {
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
					t.Fatalf("error offset %d outside the frame [%d, %d]", fe.Offset, len(raw), len(data))
				}
				if !bytes.HasPrefix(data, raw) {
					t.Fatalf("raw bytes %q are not a prefix of the input", raw)
				}
				return
			}
			raw = append(raw, b...)
			if tm == nil {
				// Filler holds only separators and comments.
				got, err := Decode(append(append([]byte(nil), b...), " 1$"...), wrappers.Limits{})
				if err != nil || !term.Equal(got, term.Int(1)) {
					t.Fatalf("filler %q is not only separators and comments: %v, %v", b, got, err)
				}
				continue
			}
			enc, err := AppendEncode(nil, tm)
			if err != nil {
				t.Fatalf("decoded %s cannot be encoded: %v", tm, err)
			}
			back, err := Decode(enc, wrappers.Limits{})
			if err != nil || !term.Equal(back, tm) {
				t.Fatalf("re-decoding %q gave %v, %v; want %s", enc, back, err, tm)
			}
		}
	})
}

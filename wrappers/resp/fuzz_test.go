package resp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// decodeBoth decodes data as a client stream and as a server stream (after
// the calls of the client stream) through one session. It keeps every term
// to the end, as the proxy keeps requests until their replies, and checks
// that none changed while later messages were decoded.
func decodeBoth(t *testing.T, data []byte, wrap func(io.Reader) io.Reader) (out []string, raw [2][]byte, errs [2]error) {
	t.Helper()
	var kept []term.Term
	s := Wire{}.NewSession(wrappers.Options{Limits: wrappers.Limits{MaxFrame: 4096, MaxDepth: 8, MaxBinary: 1024}}).(*Session)
	decs := []wrappers.Decoder{s.ClientDecoder(wrap(bytes.NewReader(data))), s.ServerDecoder(wrap(bytes.NewReader(data)))}
	for i, d := range decs {
		for range 10000 {
			m, err := d.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					errs[i] = err
				}
				break
			}
			raw[i] = append(raw[i], m.Raw...)
			text := "<nil>"
			if m.Term != nil {
				text = m.Term.String()
			}
			out = append(out, m.Kind.String()+" "+text)
			kept = append(kept, m.Term)
		}
	}
	for i, k := range kept {
		text := "<nil>"
		if k != nil {
			text = k.String()
		}
		if want := out[i][strings.IndexByte(out[i], ' ')+1:]; text != want {
			t.Fatalf("message %d changed after later messages were decoded: %s, was %s", i, text, want)
		}
	}
	return out, raw, errs
}

func FuzzRESPDecode(f *testing.F) {
	f.Add([]byte(clientStream))
	f.Add([]byte(serverStream))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"))
	f.Add([]byte("|1\r\n+a\r\n:1\r\n%1\r\n~1\r\n#t\r\n=7\r\ntxt:abc\r\n"))
	f.Add([]byte("$?\r\n;2\r\nab\r\n;0\r\n*?\r\n(123\r\n,1.5\r\n.\r\n"))
	f.Add([]byte("SET \"a\\x41\" 'b\\'c'\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, raw, errs := decodeBoth(t, data, func(r io.Reader) io.Reader { return r })
		for i := range raw {
			if !bytes.HasPrefix(data, raw[i]) {
				t.Fatalf("decoder %d: raw bytes are not the input's prefix", i)
			}
			var fe *wrappers.FrameError
			if errs[i] != nil {
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
		// Reads of one byte must not change what is decoded.
		out1, raw1, errs1 := decodeBoth(t, data, iotest.OneByteReader)
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
				t.Fatalf("decoder %d differs with one-byte reads: %v vs %v", i, errs[i], errs1[i])
			}
		}
	})
}

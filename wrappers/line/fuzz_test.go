package line

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// decodeAlternating decodes data as a client stream and as a server
// stream through one session, taking one server message after each client
// message so that 354 and 334 switch the client decoder's mode.
func decodeAlternating(data []byte, wrap func(io.Reader) io.Reader) (out []string, raw [2][]byte, errs [2]error) {
	s := Wire{}.NewSession(wrappers.Options{Limits: wrappers.Limits{MaxFrame: 4096, MaxDepth: 8, MaxBinary: 1024}})
	decs := [2]wrappers.Decoder{s.ServerDecoder(wrap(bytes.NewReader(data))), s.ClientDecoder(wrap(bytes.NewReader(data)))}
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
			out = append(out, m.Kind.String()+" "+m.Term.String())
		}
	}
	return out, raw, errs
}

func FuzzLineDecode(f *testing.F) {
	for _, st := range smtpSession {
		f.Add([]byte(st.In))
	}
	f.Add([]byte("220 hi\r\n354 go\r\n250-a\r\n250 b\r\n"))
	f.Add([]byte("DATA\r\nx\r\n..y\r\n.\r\nQUIT\r\n"))
	f.Add([]byte("BDAT 3 LAST\r\nabcNOOP\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, raw, errs := decodeAlternating(data, func(r io.Reader) io.Reader { return r })
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
		out1, raw1, errs1 := decodeAlternating(data, iotest.OneByteReader)
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
	})
}

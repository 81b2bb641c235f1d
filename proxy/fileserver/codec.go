package fileserver

import (
	"fmt"
	"io"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// requestDecoder reads the client's side of a UBF(C) connection with the
// ubf wrapper's own decoder, so the server frames exactly as the proxy does.
type requestDecoder struct {
	dec wrappers.Decoder
}

func newRequestDecoder(r io.Reader, l wrappers.Limits) *requestDecoder {
	return &requestDecoder{dec: ubf.NewSession(wrappers.Options{Limits: l}).ClientDecoder(r)}
}

// next returns the next request, or isCall false for a client event.
func (d *requestDecoder) next() (req term.Term, isCall bool, err error) {
	for {
		msg, err := d.dec.Next()
		if err != nil {
			return nil, false, err
		}
		switch msg.Kind {
		case wrappers.Call:
			return msg.Term, true, nil
		case wrappers.Event:
			return msg.Term, false, nil
		}
		// Filler: separators at the end of the stream.
	}
}

// greeting returns the UBF(C) greeting {'ubf1.0', Service, Help}$ naming
// service, or nil when service is "".
func greeting(service string) []byte {
	if service == "" {
		return nil
	}
	out, _ := ubf.AppendEncode(nil, term.Tuple{term.Atom("ubf1.0"), term.String(service),
		term.String("the file server of the talk: open, read_line, rewind, close, info")})
	return append(out, '\n')
}

// appendReply appends the UBF(C) reply {Reply, State}$ and the newline ubf
// servers end their frames with.
func appendReply(dst []byte, reply term.Term, state string) ([]byte, error) {
	out, err := ubf.AppendEncode(dst, term.Tuple{reply, term.Atom(state)})
	if err != nil {
		return dst, fmt.Errorf("encoding reply %s: %w", term.Truncated(reply, 80), err)
	}
	return append(out, '\n'), nil
}

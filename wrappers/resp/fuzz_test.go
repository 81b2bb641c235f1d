package resp

import (
	"fmt"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ubfproxy/ubfproxy/term"

	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/internal/splitio"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

func FuzzRESPDecode(f *testing.F) {
	f.Add([]byte(clientStream))
	f.Add([]byte(serverStream))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"))
	f.Add([]byte("|1\r\n+a\r\n:1\r\n%1\r\n~1\r\n#t\r\n=7\r\ntxt:abc\r\n"))
	f.Add([]byte("$?\r\n;2\r\nab\r\n;0\r\n*?\r\n(123\r\n,1.5\r\n.\r\n"))
	f.Add([]byte("SET \"a\\x41\" 'b\\'c'\r\n"))
	opts := wrappers.Options{Limits: wrappers.Limits{MaxFrame: 4096, MaxDepth: 8, MaxBinary: 1024}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := wiretest.CheckBytes(Wire{}, opts, data); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRESPRecycle decodes data as a client stream and as a server stream,
// in reads of a size the plan picks, once plainly and once giving terms
// back as the plan says (each at once, a few messages later, or never),
// and checks that every message is what it is without giving back and
// that a term never given back does not change: recycling reuses only
// the records of terms given back. As a server stream, it is decoded once
// more with calls that the proxy drops (wrappers.Dropper) between the
// answered ones, which must change nothing either.
func FuzzRESPRecycle(f *testing.F) {
	var gets, replies strings.Builder
	for i := range 40 {
		fmt.Fprintf(&gets, "*2\r\n$3\r\nGET\r\n$3\r\nk%02d\r\n", i)
		fmt.Fprintf(&replies, "$3\r\nv%02d\r\n$-1\r\n:%d\r\n$20\r\n%020d\r\n", i, i, i)
	}
	f.Add([]byte(gets.String()), []byte{200, 1})
	f.Add([]byte(gets.String()+"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"+gets.String()), []byte{0x81, 2, 1, 0, 6, 1})
	f.Add([]byte(replies.String()), []byte{0x42, 1, 1, 0, 10})
	f.Add([]byte(clientStream), []byte{0x31, 1, 2, 0})
	f.Add([]byte(serverStream), []byte{0x05, 1, 14, 1, 0})
	f.Add([]byte(serverStream), []byte{0x05, 0x21, 0x20, 0x22})
	f.Fuzz(func(t *testing.T, data, plan []byte) {
		if len(plan) == 0 {
			return
		}
		for _, side := range []wrappers.Side{wrappers.Client, wrappers.Server} {
			want := decodeRecycling(t, side, data, plan, false, false)
			sameMessages(t, side, "giving terms back", decodeRecycling(t, side, data, plan, true, false), want)
			if side == wrappers.Server {
				sameMessages(t, side, "with dropped calls", decodeRecycling(t, side, data, plan, false, true), want)
			}
		}
	})
}

// sameMessages fails t unless got, decoded as how says, is want.
func sameMessages(t *testing.T, side wrappers.Side, how string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages %s, %d without", side, len(got), how, len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: message %d is %s %s, %s without", side, i, got[i], how, want[i])
		}
	}
}

// decodeRecycling decodes data as side's stream in reads of plan[0]*4+1
// bytes, and returns the text of each message's term as it was decoded.
// With recycle, the term of message i is given back as plan[1+i%(len-1)]
// says: 0 never (it is then checked not to change), 1 at once, n > 1
// after n-1 more messages. With drops (server side), the call that
// message i answers is followed, when plan[1+i%(len-1)] has bit 0x20, by
// a SUBSCRIBE that the proxy drops once message i is decoded: the server
// decoder may have taken it with the answered call by then, and pairing
// a confirmation with it would merge what is otherwise not merged.
func decodeRecycling(t *testing.T, side wrappers.Side, data, plan []byte, recycle, drops bool) []string {
	s := Wire{}.NewSession(wrappers.Options{Limits: wrappers.Limits{MaxFrame: 4096, MaxDepth: 8, MaxBinary: 1024}}).(*Session)
	r := iotest.DataErrReader(splitio.Every(data, int(plan[0])*4+1))
	var d wrappers.Decoder
	if side == wrappers.Client {
		d = s.ClientDecoder(r)
	} else {
		d = s.ServerDecoder(r)
	}
	type held struct {
		t    term.Term
		text string
	}
	var (
		texts []string
		kept  []held
		due   = map[int][]term.Term{} // terms to give back after message i
	)
	for i := 0; ; i++ {
		step := byte(1)
		if len(plan) > 1 {
			step = plan[1+i%(len(plan)-1)]
		}
		drop := drops && step&0x20 != 0
		if side == wrappers.Server {
			s.push(call{}) // every frame answers a call
			if drop {
				s.push(call{op: opSubscribe, args: 1})
			}
		}
		m, err := d.Next()
		if drop {
			s.Dropped(wrappers.Client, wrappers.Message{Kind: wrappers.Call})
		}
		if err != nil {
			break
		}
		text := fmt.Sprint(m.Term)
		texts = append(texts, text)
		if recycle && m.Term != nil {
			when := int(step % 16)
			if when == 0 {
				kept = append(kept, held{m.Term, text})
			} else {
				due[i+when-1] = append(due[i+when-1], m.Term)
			}
		}
		for _, x := range due[i] {
			d.(wrappers.Recycler).Recycle(x)
		}
		delete(due, i)
		for _, k := range kept {
			if got := fmt.Sprint(k.t); got != k.text {
				t.Fatalf("%s: a term never given back changed from %s to %s", side, k.text, got)
			}
		}
	}
	return texts
}

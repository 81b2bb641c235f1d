package resp

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

// TestKnownNames: the table finds every known name in any case of its
// letters, with the atom and op the decoder's cache would make, and finds
// nothing else; the decoder gives the same names either way.
func TestKnownNames(t *testing.T) {
	for _, k := range knownNames {
		for _, spelling := range []string{k, strings.ToUpper(k), mixedCase(k)} {
			got, ok := knownName([]byte(spelling))
			want := makeName(spelling)
			if !ok || got.atom != want.atom || got.op != want.op {
				t.Errorf("knownName(%q) = %v, %v, %v; want %v, %v", spelling, got.atom, got.op, ok, want.atom, want.op)
			}
		}
	}
	for _, unknown := range []string{"", "gett", "ge", "get ", "g\x00t", "\u212aeys", "get\x00", "\xc7ET", "g\xc5t", strings.Repeat("x", maxKnownName+1), "georadiusbymember_rw"} {
		if n, ok := knownName([]byte(unknown)); ok {
			t.Errorf("knownName(%q) = %v; want none", unknown, n.atom)
		}
	}
	// A name that only Unicode lowercases to a known one (the Kelvin sign
	// K) is made by the cache, as before: it is still the atom keys.
	p := parser{names: newNames()}
	for _, spelling := range []string{"\u212aEYS", "KEYS", "keys", "MyModule.Cmd"} {
		if got, want := p.lookup([]byte(spelling)), makeName(spelling); got.atom != want.atom || got.op != want.op {
			t.Errorf("lookup(%q) = %v; want %v", spelling, got.atom, want.atom)
		}
	}
	// Through the recent names: spellings that pack to the same word
	// but differ in length, or in case, and one past 8 bytes, in a buffer
	// with bytes after them (one load takes them) and without.
	for range 2 {
		for _, spelling := range []string{"GET", "GET\x00", "get", "Get", "GE", "\x00", "MYMODULE", "MYMODULE.X", "set", "GET"} {
			for _, b := range [][]byte{[]byte(spelling + "\x00\x00\x00\x00\x00\x00\x00\x00")[:len(spelling)], []byte(spelling)[:len(spelling):len(spelling)]} {
				if got, want := p.lookup(b), makeName(spelling); got.atom != want.atom || got.op != want.op {
					t.Errorf("lookup(%q) = %v; want %v", spelling, got.atom, want.atom)
				}
			}
		}
	}
	// Spellings of one packed word and every length up to 8: more than
	// the recent entries, so some share one.
	for range 2 {
		for _, base := range []string{"a", "GET", "PING"} {
			for k := 0; len(base)+k <= 8; k++ {
				spelling := base + strings.Repeat("\x00", k)
				b := []byte(spelling + "\x00\x00\x00\x00\x00\x00\x00\x00")[:len(spelling)] // room for the word load
				if got, want := p.lookup(b), makeName(spelling); got.atom != want.atom {
					t.Errorf("lookup(%q) = %v; want %v", spelling, got.atom, want.atom)
				}
			}
		}
	}
	if got := p.lookup([]byte("SUBSCRIBE")); got.op != opSubscribe || got.atom != term.Term(term.Atom("subscribe")) {
		t.Errorf("lookup(SUBSCRIBE) = %v, op %d", got.atom, got.op)
	}
}

// TestPack: pack lowers exactly the ASCII capitals, in every byte of the
// word, and keeps every other byte.
func TestPack(t *testing.T) {
	for c := range 256 {
		for i := range 8 {
			b := bytes.Repeat([]byte{'a'}, 8)
			b[i] = byte(c)
			want := bytes.Repeat([]byte{'a'}, 8)
			want[i] = asciiLower[c]
			w := pack(b)
			var got [8]byte
			for k := range got {
				got[k] = byte(w >> (8 * k))
			}
			if !bytes.Equal(got[:], want) {
				t.Fatalf("pack(%q) = %q; want %q", b, got, want)
			}
			// A short name packs the same whether the bytes after it
			// can be loaded with it or not.
			for n := 1; n < 8; n++ {
				if w1, w2 := pack(b[:n]), pack(bytes.Clone(b[:n])[:n:n]); w1 != w2 || w1 != w&(1<<(8*n)-1) {
					t.Fatalf("pack(%q) = %#x with the bytes after it, %#x without; want %#x", b[:n], w1, w2, w&(1<<(8*n)-1))
				}
			}
		}
	}
}

func mixedCase(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i += 2 {
		b[i] = bytes.ToUpper(b[i : i+1])[0]
	}
	return string(b)
}

// TestQuickPaths: the commands and replies the quick paths decode, and the
// ones just past what they take (lengths of three digits, nine words,
// lengths at the binary and frame limits, malformed lengths and ends),
// decode as the general path decodes them byte by byte, errors included.
func TestQuickPaths(t *testing.T) {
	opts := wrappers.Options{Limits: wrappers.Limits{MaxFrame: 64, MaxDepth: 8, MaxBinary: 20}}
	inputs := []string{
		"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n",
		"*2\r\n$3\r\nget\r\n$20\r\n" + strings.Repeat("k", 20) + "\r\n",
		"*2\r\n$3\r\nget\r\n$21\r\n" + strings.Repeat("k", 21) + "\r\n",
		"*2\r\n$3\r\nGET\r\n$03\r\nkey\r\n",
		"*2\r\n$3\r\nGET\r\n$100\r\n" + strings.Repeat("k", 100) + "\r\n",
		"*3\r\n$3\r\nSET\r\n$10\r\n0123456789\r\n$19\r\n" + strings.Repeat("v", 19) + "\r\n", // past the frame limit
		"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n",
		"*9\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n$1\r\ni\r\n",
		"*1\r\n$4\r\nPING\r\n*0\r\n*-1\r\n",
		"*2\r\n$3\r\nGET\r\n$3\r\nkeyX\r\n",
		"*2\r\n$3\r\nGET\r\n$-1\r\n",
		"*2\r\n:3\r\nGET\r\n",
		"*2\r\n$3\r\nGET\r\n$3\r",
		"*1\r\n$3\nGET\r\n",
		"$3\r\nxxx\r\n$-1\r\n$0\r\n\r\n:42\r\n:-42\r\n+OK\r\n+QUEUED\r\n+Ok\r\n+a\rb\r\n+\r\n",
		"$21\r\n" + strings.Repeat("x", 21) + "\r\n",
		"+" + strings.Repeat("s", 32) + "\r\n+" + strings.Repeat("s", 33) + "\r\n",
		":123456789012345678\r\n:1234567890123456789\r\n:12a\r\n",
		"$3\r\nxx\r\n",
		"$-1\n",
		"+OK\n",
		// The memo of a command's start (commandMemo): the same start
		// with other arguments, other counts, other cases, a longer
		// name, a name that differs only past its length, a start cut
		// short, and names of 6 and 7 bytes.
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$2\r\nbb\r\n*2\r\n$3\r\nget\r\n$1\r\nc\r\n*3\r\n$3\r\nGET\r\n$1\r\nd\r\n$0\r\n\r\n",
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\n\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\n",
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nGET\x00\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
		"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*2\r\n$7\r\nunknown\r\n$1\r\n1\r\n*2\r\n$7\r\nunknown\r\n$1\r\n1\r\n",
		"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPONG\r\n*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n",
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$20\r\n" + strings.Repeat("k", 20) + "\r\n*2\r\n$3\r\nGET\r\n$21\r\n" + strings.Repeat("k", 21) + "\r\n",
		// Commands of 1 to 4 words, arguments of 15 to 17 bytes.
		"*3\r\n$3\r\nSET\r\n$15\r\n" + strings.Repeat("a", 15) + "\r\n$16\r\n" + strings.Repeat("b", 16) + "\r\n",
		"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$17\r\n" + strings.Repeat("c", 17) + "\r\n$0\r\n\r\n",
		"*2\r\n$3\r\nGET\r\n$9\r\n012345678\r\n$9\r\n012345678\r\n$10\r\n0123456789\r\n$-1\r\n$-2\r\n",
	}
	for _, in := range inputs {
		if err := wiretest.CheckBytes(Wire{}, opts, []byte(in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

package resp

import (
	"bytes"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/term"
)

// TestBoxedTermsBehaveAsConverted checks that the terms the arena boxes in
// place are indistinguishable from ordinary conversions to term.Term.
func TestBoxedTermsBehaveAsConverted(t *testing.T) {
	var a arena
	bin := a.binary([]byte("abc"))
	tu := a.tuple2(term.Atom("x"), bin)
	l := a.list(term.List{bin, a.integer(-7)})
	n := a.integer(1 << 40)
	m := a.mapTerm(term.Map{{Key: bin, Value: n}})
	tests := []struct {
		got, want term.Term
	}{
		{bin, term.Binary("abc")},
		{tu, term.Tuple{term.Atom("x"), term.Binary("abc")}},
		{l, term.List{term.Binary("abc"), term.Int(-7)}},
		{n, term.Int(1 << 40)},
		{m, term.Map{{Key: term.Binary("abc"), Value: term.Int(1 << 40)}}},
	}
	for _, tt := range tests {
		if reflect.TypeOf(tt.got) != reflect.TypeOf(tt.want) {
			t.Errorf("%v has type %T, want %T", tt.got, tt.got, tt.want)
		}
		if !term.Equal(tt.got, tt.want) || tt.got.String() != tt.want.String() || tt.got.Kind() != tt.want.Kind() {
			t.Errorf("got %v, want %v", tt.got, tt.want)
		}
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%v is not deeply equal to %v", tt.got, tt.want)
		}
	}
	if b, ok := bin.(term.Binary); !ok || string(b) != "abc" {
		t.Errorf("type assertion of a boxed binary gives %q, %v", b, ok)
	}
	if n != term.Term(term.Int(1<<40)) || n == term.Term(term.Int(1<<41)) {
		t.Error("== on boxed integers does not compare their values")
	}
}

// TestRetainedTermsStayValid keeps every term of a long stream, as the
// proxy keeps requests until their replies, and checks that none was
// overwritten when the arena's blocks filled up and were replaced, also
// after garbage collections.
func TestRetainedTermsStayValid(t *testing.T) {
	var client, server bytes.Buffer
	var wantCalls, wantReplies []string
	long := strings.Repeat("L", maxCarved+1)
	for i := range 3000 {
		key := fmt.Sprintf("key:%d", i)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&client, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(long), long)
			wantCalls = append(wantCalls, fmt.Sprintf("{set, <<%q>>, <<%q>>}", key, long))
			server.WriteString("-ERR " + key + "\r\n")
			wantReplies = append(wantReplies, fmt.Sprintf("{error, <<\"ERR %s\">>}", key))
		case 1:
			fmt.Fprintf(&client, "*%d\r\n$4\r\nMGET\r\n", maxElems+2)
			want := "{mget"
			fmt.Fprintf(&server, "*%d\r\n", maxElems+1)
			items := make([]string, 0, maxElems+1)
			for j := range maxElems + 1 {
				k := fmt.Sprintf("%s.%d", key, j)
				fmt.Fprintf(&client, "$%d\r\n%s\r\n", len(k), k)
				want += fmt.Sprintf(", <<%q>>", k)
				fmt.Fprintf(&server, ":%d\r\n", i*100+j)
				items = append(items, fmt.Sprint(i*100+j))
			}
			wantCalls = append(wantCalls, want+"}")
			wantReplies = append(wantReplies, "["+strings.Join(items, ", ")+"]")
		case 2:
			fmt.Fprintf(&client, "GET %s\r\n", key)
			wantCalls = append(wantCalls, fmt.Sprintf("{get, <<%q>>}", key))
			fmt.Fprintf(&server, "*2\r\n$%d\r\n%s\r\n_\r\n", len(key), key)
			wantReplies = append(wantReplies, fmt.Sprintf("[<<%q>>, nil]", key))
		default:
			client.WriteString("PING\r\n")
			wantCalls = append(wantCalls, "ping")
			fmt.Fprintf(&server, "$%d\r\n%s\r\n", len(key), key)
			wantReplies = append(wantReplies, fmt.Sprintf("<<%q>>", key))
		}
	}
	s := newSession()
	keep := func(stream []byte, server bool) []term.Term {
		d := s.ClientDecoder(bytes.NewReader(stream))
		if server {
			d = s.ServerDecoder(bytes.NewReader(stream))
		}
		var kept []term.Term
		for {
			m, err := d.Next()
			if err != nil {
				break
			}
			kept = append(kept, m.Term)
		}
		return kept
	}
	calls := keep(client.Bytes(), false)
	replies := keep(server.Bytes(), true)
	runtime.GC()
	runtime.GC()
	for _, c := range []struct {
		got  []term.Term
		want []string
	}{{calls, wantCalls}, {replies, wantReplies}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("decoded %d messages, want %d", len(c.got), len(c.want))
		}
		for i, g := range c.got {
			if g.String() != c.want[i] {
				t.Fatalf("message %d is %s, want %s", i, term.Truncated(g, 300), c.want[i])
			}
		}
	}
}

// TestDecodeAllocations bounds the allocations of decoding pipelined
// commands and replies: the arena's blocks, amortised over many messages.
func TestDecodeAllocations(t *testing.T) {
	const n = 4000
	var client, server bytes.Buffer
	for i := range n {
		fmt.Fprintf(&client, "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$3\r\nxxx\r\n", i)
		server.WriteString("+OK\r\n$3\r\nxxx\r\n:12\r\n*2\r\n$1\r\na\r\n:1\r\n")
	}
	s := newSession()
	cd := s.ClientDecoder(bytes.NewReader(client.Bytes()))
	// The decoders read their first buffer and learn the names first.
	if _, err := cd.Next(); err != nil {
		t.Fatal(err)
	}
	perCall := allocsPer(n/2, func() {
		if _, err := cd.Next(); err != nil {
			t.Fatal(err)
		}
	})
	for range 4 * n {
		s.push(call{})
	}
	sd := s.ServerDecoder(bytes.NewReader(server.Bytes()))
	if _, err := sd.Next(); err != nil {
		t.Fatal(err)
	}
	perReply := allocsPer(2*n, func() {
		if _, err := sd.Next(); err != nil {
			t.Fatal(err)
		}
	})
	// Before the arena: 4 allocations per SET, 1 per reply.
	if perCall > 0.25 || perReply > 0.25 {
		t.Errorf("%.2f allocations per command, %.2f per reply; want at most 0.25", perCall, perReply)
	}
	t.Logf("%.3f allocations per command, %.3f per reply", perCall, perReply)
}

// allocsPer returns the average number of heap allocations of f over runs
// calls, as a fraction (testing.AllocsPerRun rounds down to an integer).
func allocsPer(runs int, f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(runs)
}

var protoSink term.Term

// TestBoxAssumptions checks what box relies on, so that a change of Go's
// interface layout or of the term types fails here rather than corrupting
// terms: a term.Term is two words, and converting the zero value of each
// boxed type to term.Term allocates nothing.
func TestBoxAssumptions(t *testing.T) {
	if unsafe.Sizeof(term.Term(nil)) != unsafe.Sizeof(iface{}) {
		t.Fatalf("term.Term is %d bytes, iface %d", unsafe.Sizeof(term.Term(nil)), unsafe.Sizeof(iface{}))
	}
	for _, proto := range []func() term.Term{
		func() term.Term { return term.Binary(nil) },
		func() term.Term { return term.Tuple(nil) },
		func() term.Term { return term.List(nil) },
		func() term.Term { return term.Map(nil) },
		func() term.Term { return term.Integer{} },
	} {
		if n := testing.AllocsPerRun(100, func() { protoSink = proto() }); n != 0 {
			t.Errorf("converting the zero %T to term.Term allocates %v times", proto(), n)
		}
	}
}

// TestShortCopies: the binaries the arena copies, of every length around
// the 16 bytes copyShort moves at once, alone or in the records of
// commands, in buffers with room after them and without, equal their
// sources, have their length as capacity (no append reaches another
// term's bytes), and do not change while more are copied.
func TestShortCopies(t *testing.T) {
	var a arena
	src := []byte(strings.Repeat("0123456789abcdefghij", 4))
	type kept struct {
		got  term.Term
		want string
	}
	var all []kept
	name := term.Atom("get")
	for round := range 3 {
		for n := range 20 {
			for _, b := range [][]byte{src[:n], src[:n:n], src[40-n : 40], src[len(src)-n:]} {
				bin := a.binary(b)
				c1 := a.command(name, b, nil, false)
				y := src[30-n/2 : 30]
				c2 := a.command(name, b, y, true)
				for _, tu := range []term.Term{c1, c2} {
					for _, e := range tu.(term.Tuple)[1:] {
						if e := e.(term.Binary); cap(e) != len(e) {
							t.Fatalf("an argument of %v has capacity %d", tu, cap(e))
						}
					}
				}
				if got := bin.(term.Binary); string(got) != string(b) || cap(got) != len(got) {
					t.Fatalf("round %d: binary(%q) = %q with capacity %d", round, b, got, cap(got))
				}
				all = append(all,
					kept{bin, term.Binary(b).String()},
					kept{c1, term.Tuple{name, term.Binary(b)}.String()},
					kept{c2, term.Tuple{name, term.Binary(b), term.Binary(y)}.String()})
			}
		}
		for _, k := range all {
			if k.got.String() != k.want {
				t.Fatalf("a copy changed: %v, want %s", k.got, k.want)
			}
		}
	}
}

package resp

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/internal/sizeclass"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// dataOf is the address a boxed term points at.
func dataOf(t term.Term) unsafe.Pointer { return (*iface)(unsafe.Pointer(&t)).data }

// TestRecycle decodes a stream of commands of every shape twice, once
// plainly and once giving each term back as soon as it was read, and checks
// that every message is the same both ways, that the usual commands reuse
// the records of those given back before them, that a term given back is
// emptied, and that terms the arena cannot reuse are left whole.
func TestRecycle(t *testing.T) {
	long := strings.Repeat("k", 40)
	cmds := []string{
		"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n",
		"*3\r\n$3\r\nSET\r\n$5\r\nkey:2\r\n$3\r\nxxx\r\n",
		"*2\r\n$3\r\nGET\r\n$40\r\n" + long + "\r\n",
		"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n",
		"PING\r\n",
		"GET inline\r\n",
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000003\r\n$17\r\nvalue:00000000003\r\n",
		"*2\r\n$3\r\nGET\r\n$5\r\nkey:4\r\n",
	}
	var stream bytes.Buffer
	for range 3 {
		for _, c := range cmds {
			stream.WriteString(c)
		}
	}
	decode := func(recycle bool) (got []string, stale []term.Term, reused int) {
		d := newSession().ClientDecoder(bytes.NewReader(stream.Bytes()))
		r := d.(wrappers.Recycler)
		givenBack := map[unsafe.Pointer]bool{}
		for {
			m, err := d.Next()
			if err != nil {
				break
			}
			if m.Kind != wrappers.Call {
				continue
			}
			if givenBack[dataOf(m.Term)] {
				reused++
			}
			got = append(got, m.Term.String())
			if recycle {
				givenBack[dataOf(m.Term)] = true
				r.Recycle(m.Term)
				stale = append(stale, m.Term)
			}
		}
		return got, stale, reused
	}
	want, _, _ := decode(false)
	got, stale, reused := decode(true)
	if len(want) != 3*len(cmds) {
		t.Fatalf("decoded %d commands, want %d", len(want), 3*len(cmds))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("with recycling:\n%v\nwant\n%v", got, want)
	}
	// Every command but the first is built in the record given back
	// before it when both have one or two arguments and a record.
	emptied := 0
	for i, s := range stale {
		tu, ok := s.(term.Tuple)
		switch {
		case !ok:
			// ping, an atom
		case len(tu) == 0:
			emptied++
		case tu.String() != want[i]:
			t.Errorf("command %d, given back but not reused, changed: %s, want %s", i, tu, want[i])
		}
	}
	// GET, SET, GET long, the SET of two 16-byte and longer binaries,
	// GET: 5 of the 9 per round have a record; inline and HSET do not;
	// the first GET came before the first recycle.
	if emptied != 5*3-1 {
		t.Errorf("%d commands were emptied when given back, want %d", emptied, 5*3-1)
	}
	if reused == 0 {
		t.Error("no command was built in a record given back before it")
	}
}

// TestRecycleIgnoresForeignTerms gives back terms the arena did not issue
// — made elsewhere, made by it but not as a record, or issued before the
// first recycle — and checks they stay whole and no record is taken.
func TestRecycleIgnoresForeignTerms(t *testing.T) {
	var a arena
	early := a.command(term.Atom("get"), []byte("early"), nil, false)
	a.recycle(early) // the first recycle starts the bookkeeping; early was not issued
	terms := []term.Term{
		early,
		term.Tuple{term.Atom("get"), term.Binary("k")},
		term.Tuple{term.Atom("set"), term.Binary("k"), term.Binary("v")},
		a.tuple2(term.Atom("get"), a.binary([]byte("k"))), // header and elements in blocks of their own
		a.binary([]byte("a binary longer than sixteen bytes")),
		term.Binary("xy"),
		term.Atom("ok"),
		term.Tuple{},
		nil,
	}
	var want []string
	for _, x := range terms {
		want = append(want, fmt.Sprint(x))
	}
	for i, x := range terms {
		a.recycle(x)
		if got := fmt.Sprint(x); got != want[i] {
			t.Errorf("term %d changed when given back: %s, want %s", i, got, want[i])
		}
	}
	if n := a.rc.freeRecords(); n != 0 {
		t.Errorf("the free lists took %d records of terms not issued", n)
	}
}

// TestRecycleOrder: records come back in the order they were issued, a
// record skipped over is not taken back later, and one issued more than
// maxIssued records ago is not taken back at all.
func TestRecycleOrder(t *testing.T) {
	var a arena
	a.recycle(nil) // start the bookkeeping
	get := func(k string) term.Term { return a.command(term.Atom("get"), []byte(k), nil, false) }
	x, y, z := get("x"), get("y"), get("z")
	a.recycle(y) // x is skipped over
	a.recycle(x)
	if fmt.Sprint(x) != `{get, <<"x">>}` || fmt.Sprint(y) != "{}" {
		t.Fatalf("after giving back y then x: x = %s, y = %s; want x whole and y emptied", x, y)
	}
	old := get("old")
	var held []term.Term
	for i := range maxIssued {
		held = append(held, get(fmt.Sprint(i)))
	}
	a.recycle(old)
	if fmt.Sprint(old) != `{get, <<"old">>}` {
		t.Fatalf("a record issued %d records ago was taken back: %s", maxIssued, old)
	}
	for _, h := range append(held, z) {
		a.recycle(h)
	}
	// The maxIssued held ones were all taken back; a free list keeps
	// maxFree of them.
	if n := a.rc.freeRecords(); n != min(maxIssued, maxFree) {
		t.Fatalf("%d records free, want %d", n, min(maxIssued, maxFree))
	}
}

// TestRecycledDecodeAllocations: a client whose commands are given back
// once answered, 16 in flight as with redis-benchmark -P 16, makes the
// decoder allocate nothing per command; without, the records' blocks cost
// one allocation every 64 commands. (The counts take in whatever else the
// process allocates meanwhile, hence a ratio, not zero.)
func TestRecycledDecodeAllocations(t *testing.T) {
	const n = 20000
	var client bytes.Buffer
	for i := range n + 64 {
		fmt.Fprintf(&client, "*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n", i)
	}
	per := func(recycle bool) float64 {
		d := newSession().ClientDecoder(bytes.NewReader(client.Bytes()))
		r := d.(wrappers.Recycler)
		inFlight := make([]term.Term, 0, 16)
		next := func() {
			m, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			if len(inFlight) == cap(inFlight) {
				if recycle {
					r.Recycle(inFlight[0])
				}
				inFlight = append(inFlight[:0], inFlight[1:]...)
			}
			inFlight = append(inFlight, m.Term)
		}
		for range 64 {
			next()
		}
		return allocsPer(n, next)
	}
	without, with := per(false), per(true)
	t.Logf("%.4f allocations per command without recycling, %.4f with", without, with)
	if without < 1.0/80 || with > without/8 {
		t.Errorf("%.4f allocations per command with recycling, %.4f without; want about 1/64 without and nearly none with", with, without)
	}
}

// TestRecycledReplies: short bulk replies given back once judged are
// built in the records of those given back before them, each still the
// reply it should be, and the decoder allocates nothing per reply.
func TestRecycledReplies(t *testing.T) {
	const n = 20000
	var server bytes.Buffer
	for i := range 2*n + 64 {
		fmt.Fprintf(&server, "$5\r\nv%04d\r\n", i%10000)
	}
	per := func(recycle bool) (allocs float64, reused int) {
		s := newSession()
		for range 2*n + 64 {
			s.push(call{op: opOf(term.Atom("get")), args: 1})
		}
		d := s.ServerDecoder(bytes.NewReader(server.Bytes()))
		r := d.(wrappers.Recycler)
		addrs := make([]unsafe.Pointer, 0, 2*n+64)
		next := func() term.Term {
			m, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(addrs[max(len(addrs)-2*maxIssued, 0):], dataOf(m.Term)) {
				reused++
			}
			addrs = append(addrs, dataOf(m.Term))
			return m.Term
		}
		for i := range n + 64 {
			m := next()
			if got, want := m.String(), fmt.Sprintf(`<<"v%04d">>`, i%10000); got != want {
				t.Fatalf("reply %d is %s, want %s", i, got, want)
			}
			if recycle {
				r.Recycle(m)
			}
		}
		allocs = allocsPer(n, func() {
			if m := next(); recycle {
				r.Recycle(m)
			}
		})
		return allocs, reused
	}
	without, _ := per(false)
	with, reused := per(true)
	t.Logf("%.4f allocations per reply without recycling, %.4f with", without, with)
	// A value that ends within 16 bytes of the end of a read is copied
	// another way (see copyShort), and that reply has no record.
	if reused < 2*n*99/100 {
		t.Errorf("%d of %d replies were built in the record of one of the %d before, want at least 99%%", reused, 2*n+64, 2*maxIssued)
	}
	if without < 1.0/80 || with > without/8 {
		t.Errorf("%.4f allocations per reply with recycling, %.4f without; want about 1/64 without and nearly none with", with, without)
	}
}

// TestRecycleOnlyWholeTerms: the parts of other terms (the arguments of a
// longer command, the elements of an array reply) are not issued, so that
// many of them between a command and its reply do not push the command's
// record out of the ring, which would stop recycling.
func TestRecycleOnlyWholeTerms(t *testing.T) {
	var a arena
	a.recycle(nil) // start the bookkeeping
	get := a.command(term.Atom("get"), []byte("k"), nil, false)
	inBuffer := func(s string) []byte { return append(make([]byte, 0, 16), s...) } // as in a read buffer
	reply := a.replyBinary(inBuffer("value"))
	for range 4 * maxIssued {
		a.tuple2(term.Atom("hset"), a.binary(inBuffer("part")))
	}
	a.recycle(get)
	a.recycle(reply)
	if fmt.Sprint(get) != "{}" || fmt.Sprint(reply) != "<<>>" {
		t.Fatalf("after %d parts of other terms, given back: %s and %s; want both emptied (taken back)", 4*maxIssued, get, reply)
	}
}

// freeRecords counts the records rc may reuse.
func (rc *recycling) freeRecords() int {
	n := 0
	for _, k := range rc.nfree {
		n += int(k)
	}
	return n
}

// TestRecyclingSizeClass: a recycling is made when a session starts
// recycling and let go of when its reader parks. In the 896-byte size
// class, which the proxy's session is in, each parked session kept the
// freed slot of its recycling beside it, and the heap kept those half-used
// spans: 0.9 KiB per idle RESP session. With the 8-byte header the Go
// runtime puts before an object of more than 512 bytes that holds
// pointers, past 760 bytes it is back in that class (maxFree); the
// allocator says which class it takes (sizeclass.Of).
func TestRecyclingSizeClass(t *testing.T) {
	got, err := sizeclass.Of[recycling]()
	if err != nil {
		t.Fatal(err)
	}
	if got != 768 {
		t.Errorf("a recycling (%d bytes) is allocated from the %d-byte size class, want 768", unsafe.Sizeof(recycling{}), got)
	}
}

// TestRecycleFullFreeList gives back more commands at once than a free
// list holds (a client that pipelines more than maxFree): those past it
// are left to the collector, emptied all the same, and the next commands
// are built in the records kept, each once.
func TestRecycleFullFreeList(t *testing.T) {
	var a arena
	a.recycle(nil) // start the bookkeeping
	n := min(maxIssued, maxFree+3)
	var out []term.Term
	for i := range n {
		out = append(out, a.command(term.Atom("get"), []byte(fmt.Sprintf("k%d", i)), nil, false))
	}
	kept := map[unsafe.Pointer]bool{}
	for _, x := range out {
		kept[dataOf(x)] = true
		a.recycle(x)
		if tu := x.(term.Tuple); len(tu) != 0 {
			t.Fatalf("a command given back was not emptied: %v", tu)
		}
	}
	if got := a.rc.nfree[kindCommand]; got != maxFree {
		t.Fatalf("%d records on the free list, want %d", got, maxFree)
	}
	seen := map[unsafe.Pointer]bool{}
	for i := range maxFree + 2 {
		x := a.command(term.Atom("get"), []byte(fmt.Sprintf("n%d", i)), nil, false)
		if want := fmt.Sprintf("{get, <<\"n%d\">>}", i); x.String() != want {
			t.Fatalf("command %d is %s, want %s", i, x, want)
		}
		p := dataOf(x)
		if seen[p] {
			t.Fatalf("command %d reuses a record another live command holds", i)
		}
		seen[p] = true
		if reused := kept[p]; reused != (i < maxFree) {
			t.Errorf("command %d: built in a record given back = %v, want %v", i, reused, i < maxFree)
		}
	}
}

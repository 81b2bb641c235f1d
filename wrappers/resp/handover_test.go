package resp

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestDroppedAfterTake: a call Dropped after the server decoder took it
// into its batch (with the call before it) is not paired with the next
// reply, on the general path (a merged confirmation) and on the quick one
// (a bulk string); and a frame after the last reply has no call left.
func TestDroppedAfterTake(t *testing.T) {
	sess := newSession()
	var client, server bytes.Buffer
	c, d := sess.ClientDecoder(&client), sess.ServerDecoder(&server)
	steps := []struct {
		client string // a command the client decoder reads; "" for a server frame
		drop   bool   // the proxy drops the command
		server string // a frame the server decoder reads
		want   string // its message
	}{
		{client: "GET a\r\n"},
		{client: "SUBSCRIBE x\r\n"},
		{server: "$1\r\nv\r\n", want: `reply <<"v">>`}, // takes GET a and SUBSCRIBE x
		{client: "FLUSHALL\r\n"},
		// Pairing SUBSCRIBE x, the batch's last, takes FLUSHALL.
		{server: "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n", want: `reply {subscribe, [<<"x">>], 1}`},
		{client: "", drop: true},
		{client: "SUBSCRIBE y\r\n"},
		{server: "*3\r\n$9\r\nsubscribe\r\n$1\r\ny\r\n:2\r\n", want: `reply {subscribe, [<<"y">>], 2}`},
		{client: "GET b\r\n"},
		{client: "FLUSHALL\r\n"},
		{server: "$1\r\nw\r\n", want: `reply <<"w">>`}, // takes GET b and FLUSHALL
		{client: "", drop: true},
		{client: "GET c\r\n"},
		{server: "$1\r\nz\r\n", want: `reply <<"z">>`},
		{server: ":1\r\n", want: "event 1"},
	}
	var last wrappers.Message
	for i, st := range steps {
		switch {
		case st.drop:
			sess.Dropped(wrappers.Client, last)
		case st.client != "":
			client.WriteString(st.client)
			m, err := c.Next()
			if err != nil || m.Kind != wrappers.Call {
				t.Fatalf("step %d: client got %v, %v; want a call", i, m, err)
			}
			last = m
		default:
			server.WriteString(st.server)
			m, err := d.Next()
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if got := m.Kind.String() + " " + m.Term.String(); got != st.want {
				t.Fatalf("step %d: server got %s, want %s", i, got, st.want)
			}
		}
	}
}

// chanReader reads the chunks sent on ch, then io.EOF once it is closed.
type chanReader struct {
	ch  <-chan []byte
	cur []byte
}

func (r *chanReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		b, ok := <-r.ch
		if !ok {
			return 0, io.EOF
		}
		r.cur = b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// TestHandOverConcurrent runs the two decoders of a session on two
// goroutines as the proxy does: the client decoder's goroutine decodes a
// stream of commands, drops some of them (Dropped, sometimes after
// yielding so that the server decoder may take the call first) and sends
// the replies of the others, a few at a time, to the server decoder, which
// the test goroutine drains. Every reply must be paired with its call
// (a misplaced SUBSCRIBE confirmation comes out as an event) and the frame
// after the last reply with none. Run it with -race.
func TestHandOverConcurrent(t *testing.T) {
	const calls = 20000
	rng := rand.New(rand.NewPCG(15, 2026))
	type planned struct {
		cmd, reply, want string // reply "": dropped
	}
	plan := make([]planned, calls)
	var stream strings.Builder
	var want []string
	for i := range plan {
		switch rng.IntN(4) {
		case 0, 1:
			v := fmt.Sprintf("v%d", i%10)
			plan[i] = planned{"GET k\r\n", "$2\r\n" + v + "\r\n", `reply <<"` + v + `">>`}
		case 2:
			plan[i] = planned{cmd: "SUBSCRIBE c\r\n",
				reply: "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n", want: `reply {subscribe, [<<"c">>], 1}`}
		default:
			plan[i] = planned{cmd: "FLUSHALL\r\n"}
		}
		stream.WriteString(plan[i].cmd)
		if plan[i].want != "" {
			want = append(want, plan[i].want)
		}
	}
	want = append(want, "event 7")

	sess := newSession()
	c := sess.ClientDecoder(strings.NewReader(stream.String()))
	ch := make(chan []byte, calls+1) // the client's side never waits for the server's
	go func() {
		defer close(ch)
		var held []byte
		for i, p := range plan {
			m, err := c.Next()
			if err != nil || m.Kind != wrappers.Call {
				t.Errorf("call %d: got %v, %v; want a call", i, m, err)
				return
			}
			if p.reply == "" {
				if rng.IntN(2) == 0 {
					runtime.Gosched()
				}
				sess.Dropped(wrappers.Client, m)
				continue
			}
			held = append(held, p.reply...)
			if rng.IntN(3) == 0 {
				ch <- held
				held = nil
			}
		}
		ch <- append(held, ":7\r\n"...)
	}()

	// The drain ends: the client's goroutine always closes ch, and drain
	// stops after a bounded count of messages.
	got, err := drain(t, sess.ServerDecoder(&chanReader{ch: ch}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		if s := m.kind.String() + " " + m.text; s != want[i] {
			t.Fatalf("message %d: got %s, want %s", i, s, want[i])
		}
	}
}

// TestSessionLayout: the fields the server decoder reads and writes for
// every reply (or batch) do not share a cache line (64 bytes) with mu and
// queued, which the client decoder writes for every call; and the session
// stays in the 160-byte size class, which BenchmarkIdleSessionMemory in
// proxy sees (at 192 bytes, an idle session measured about 250 bytes more).
func TestSessionLayout(t *testing.T) {
	var s Session
	hotEnd := max(unsafe.Offsetof(s.batch)+unsafe.Sizeof(s.batch),
		unsafe.Offsetof(s.head)+unsafe.Sizeof(s.head),
		unsafe.Offsetof(s.monitor)+unsafe.Sizeof(s.monitor),
		unsafe.Offsetof(s.tailHeld)+unsafe.Sizeof(s.tailHeld),
		unsafe.Offsetof(s.tailDropped)+unsafe.Sizeof(s.tailDropped))
	shared := min(unsafe.Offsetof(s.mu), unsafe.Offsetof(s.queued))
	if shared < hotEnd+64 {
		t.Errorf("the server decoder's fields end at byte %d, the shared ones start at %d: less than a cache line apart", hotEnd, shared)
	}
	if size := unsafe.Sizeof(s); size > 160 {
		t.Errorf("a Session is %d bytes, more than the 160 of its size class", size)
	}
}

// TestParkedSessionLetsGoOfCalls: once a pipelined batch is answered and
// both decoders have parked, the session holds no slice of calls.
func TestParkedSessionLetsGoOfCalls(t *testing.T) {
	s := newSession()
	// The second chunks are read after parking.
	cl := &pausingLender{chunks: []string{strings.Repeat("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", pipelineDepth), "PING\r\n"}}
	sv := &pausingLender{chunks: []string{strings.Repeat("$1\r\nv\r\n", pipelineDepth), "+PONG\r\n"}}
	c, d := s.ClientDecoder(cl), s.ServerDecoder(sv)
	for range pipelineDepth {
		if m, err := c.Next(); err != nil || m.Kind != wrappers.Call {
			t.Fatalf("client: got %v, %v; want a call", m, err)
		}
	}
	for range pipelineDepth {
		if m, err := d.Next(); err != nil || m.Kind != wrappers.Reply {
			t.Fatalf("server: got %v, %v; want a reply", m, err)
		}
	}
	if cap(s.batch)+cap(s.queued) == 0 {
		t.Fatal("the session holds no calls' capacity before parking: the test checks nothing")
	}
	parkResume(t, c, cl)
	parkResume(t, d, sv)
	if cap(s.batch) != 0 || cap(s.queued) != 0 {
		t.Errorf("parked session holds calls: batch cap %d, queue cap %d", cap(s.batch), cap(s.queued))
	}
}

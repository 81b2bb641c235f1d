package resp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestBatch: a batching client decoder (wrappers.Batcher) tells the
// server decoder of no call until Flush, which hands over every call held,
// in order, in one go: a reply before it is a message nobody asked for, the
// replies after it pair up. Dropped after a Flush takes back the call of
// the command dropped; Trim keeps the calls held; a decoder holding calls
// does not park, and one that parks batches on once resumed.
func TestBatch(t *testing.T) {
	sess := newSession()
	in := &pausingLender{chunks: []string{
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\nSUBSCRIBE x\r\n", "GET b\r\nFLUSHALL\r\n", "GET c\r\n"}}
	var server bytes.Buffer
	c, d := sess.ClientDecoder(in), sess.ServerDecoder(&server)
	b, ok := c.(wrappers.Batcher)
	if !ok {
		t.Fatal("the client decoder is not a wrappers.Batcher")
	}
	b.Batch()
	call := func() wrappers.Message {
		t.Helper()
		m, err := c.Next()
		if err != nil || m.Kind != wrappers.Call {
			t.Fatalf("got %v, %v; want a call", m, err)
		}
		return m
	}
	idle := func() {
		t.Helper()
		if m, err := c.Next(); !errors.Is(err, wrappers.ErrParked) {
			t.Fatalf("got %v, %v; want wrappers.ErrParked", m, err)
		}
	}
	reply := func(frame, want string) {
		t.Helper()
		server.WriteString(frame)
		m, err := d.Next()
		if err != nil {
			t.Fatalf("%q: %v", frame, err)
		}
		if got := m.Kind.String() + " " + m.Term.String(); got != want {
			t.Fatalf("%q: got %s, want %s", frame, got, want)
		}
	}

	call()                     // GET a
	call()                     // SUBSCRIBE x
	reply(":7\r\n", "event 7") // told of no call yet
	idle()
	if c.(wrappers.Parker).Park() != nil {
		t.Fatal("a decoder holding calls parked")
	}
	c.(wrappers.Trimmer).Trim()
	b.Flush()
	reply("$1\r\nv\r\n", `reply <<"v">>`)
	reply("*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n", `reply {subscribe, [<<"x">>], 1}`)

	call() // GET b
	dropped := call()
	b.Flush()
	sess.Dropped(wrappers.Client, dropped)
	reply("$1\r\nw\r\n", `reply <<"w">>`)
	reply(":1\r\n", "event 1") // FLUSHALL's call went with the drop

	idle()
	p := c.(wrappers.Parker).Park()
	if p == nil {
		t.Fatal("a decoder holding nothing did not park")
	}
	c = p.Resume(in)
	b = c.(wrappers.Batcher)
	call()                     // GET c
	reply(":2\r\n", "event 2") // the resumed decoder batches too
	b.Flush()
	reply("$1\r\nz\r\n", `reply <<"z">>`)
}
